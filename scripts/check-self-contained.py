#!/usr/bin/env python3
"""The repository stands alone: no tracked file reads a path outside it.

A user's clone has nothing beside it, so a test that reads `../shared/...` passes only where
CI happens to lay a folder next to the checkout. Run by scripts/test.sh; exits 1 naming each
offending line. What it resolves:

* Rust: `env!("CARGO_MANIFEST_DIR")` followed on the same line by `.join("p")` or
  `concat!(…, "p")`, resolved from the crate's folder; `workspace_root().join("p")` from the
  repository root; `include_bytes!`/`include_str!("p")` from the file's folder.
* Shell and Python: a literal path that climbs out of the repository from the script's folder
  (`$(dirname "$0")/../..`, `"$root/.."`).
* Anywhere: the CI layout's sibling folder named as `../shared` or `shared/data`.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
files = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True, check=True).stdout.decode().split("\0")
files = [f for f in files if f.endswith((".rs", ".sh", ".toml", ".py", ".js", ".php", ".md")) and f != "scripts/check-self-contained.py"]


def crate_dir(rel):
    d = os.path.dirname(os.path.join(ROOT, rel))
    while d.startswith(ROOT):
        if os.path.exists(os.path.join(d, "Cargo.toml")):
            return d
        d = os.path.dirname(d)
    return ROOT


def outside(base, path):
    p = os.path.normpath(os.path.join(base, path))
    return not (p == ROOT or p.startswith(ROOT + os.sep))


RUST = [
    (re.compile(r'CARGO_MANIFEST_DIR"\)\)?(?:\s*\.\s*join\(|\s*,\s*)"([^"]*)"'), "crate"),
    (re.compile(r'workspace_root\(\)\s*\.\s*join\("([^"]*)"'), "root"),
    (re.compile(r'include_(?:bytes|str)!\("([^"]*)"'), "file"),
]
SIBLING = re.compile(r'(\.\./)+shared\b|(?<![\w/.-])shared/data\b')
CLIMB = re.compile(r'(?:\$\(dirname "\$0"\)|\$\{?root\}?|\$\{?here\}?)/((?:\.\./?)+)')

bad = []
for rel in files:
    path = os.path.join(ROOT, rel)
    try:
        text = open(path, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError):
        continue
    for n, line in enumerate(text.splitlines(), 1):
        if rel.endswith(".md"):
            continue  # prose may name the CI layout; code may not
        if SIBLING.search(line):
            bad.append(f"{rel}:{n}: {line.strip()}")
            continue
        if rel.endswith(".rs"):
            for rx, base in RUST:
                for m in rx.finditer(line):
                    b = {"crate": crate_dir(rel), "root": ROOT, "file": os.path.dirname(path)}[base]
                    if outside(b, m.group(1).lstrip("/")):
                        bad.append(f"{rel}:{n}: {line.strip()}")
        elif rel.endswith((".sh", ".py")):
            for m in CLIMB.finditer(line):
                base = ROOT if "root" in m.group(0) else os.path.dirname(path)
                if outside(base, m.group(1)):
                    bad.append(f"{rel}:{n}: {line.strip()}")

if bad:
    print("check-self-contained: these lines read outside the repository (copy the data in):", file=sys.stderr)
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
