#!/usr/bin/env python3
"""The repository stands alone: no tracked file reads a path outside it.

A user's clone has nothing beside it, so a test that reads from a sibling folder passes only
where CI happens to lay one next to the checkout (`shared`). Run by scripts/test.sh; exits 1
naming each offending place. It reads every tracked source, script and manifest (shell scripts without an
extension too, found by their `#!` line) and flags:

* any string literal holding a relative path that climbs out of the repository from where it
  is read: Rust's `include_*!` from the file's folder, any other Rust literal from the crate's
  folder (where `cargo test` runs it), scripts' literals from their folder or the root;
* Rust path expressions: `env!("CARGO_MANIFEST_DIR")`, `workspace_root()` or a literal,
  followed by `.join("…")` steps (across line breaks, as rustfmt wraps them), and
  `concat!(env!("CARGO_MANIFEST_DIR"), "…")`, resolved step by step;
* `CARGO_MANIFEST_DIR` or `workspace_root()` followed by `.parent()` steps past the root, and
  `format!("{}/../…", env!("CARGO_MANIFEST_DIR"))`;
* shell `$(dirname "$0")/..`, `$root/..` forms, `../` words and `cd ..` in shell commands;
  Python's `.parent`/`parents[n]`/`os.pardir` climbing past the root from the script;
* `path = "…"` or `'…'` dependencies in Cargo manifests;
* the CI layout's sibling folder by name (`shared/data`, or `shared` one level up), even as an absolute path.

What it cannot see: a path built at run time from the environment or from data. Code review
keeps those out.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
SELF = "scripts/check-self-contained.py"
CODE = (".rs", ".sh", ".py", ".js", ".php", ".toml")


def tracked():
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True, check=True).stdout
    for rel in out.decode().split("\0"):
        if not rel or rel == SELF:
            continue
        path = os.path.join(ROOT, rel)
        if rel.endswith(CODE):
            yield rel, path
        elif "." not in os.path.basename(rel) and os.path.isfile(path):
            with open(path, "rb") as f:
                if f.read(2) == b"#!":
                    yield rel, path


def crate_dir(path):
    d = os.path.dirname(path)
    while d.startswith(ROOT):
        if os.path.exists(os.path.join(d, "Cargo.toml")):
            return d
        d = os.path.dirname(d)
    return ROOT


def outside(base, rel):
    p = os.path.normpath(os.path.join(base, rel))
    return not (p == ROOT or p.startswith(ROOT + os.sep))


STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
INCLUDE = re.compile(r'include_(?:bytes|str)!\(\s*"([^"]*)"')
# A module's `#[path = "…"]`, like `include_str!`, is relative to the file it is written in.
PATH_ATTR = re.compile(r'#\[path\s*=\s*"([^"]*)"')
PARENTS = re.compile(r'(CARGO_MANIFEST_DIR"\)\)?|workspace_root\(\))((?:\s*\.\s*parent\(\)(?:\s*\.\s*(?:unwrap|expect)\([^)]*\))?)+)')
FORMAT_DIR = re.compile(r'format!\(\s*"\{\}(/[^"]*)"\s*,\s*env!\("CARGO_MANIFEST_DIR"\)')
PY_PARENTS = re.compile(r'(?:\.parent){2,}|parents\[(\d+)\]|os\.pardir')
SHELL_CD = re.compile(r'\bcd\s+((?:\.\.)(?:/\.\.)*)(?=\s|;|&|$)', re.M)
SIBLING = re.compile(r"(\.\./)+shared\b|\bshared/data\b")
JOIN_CHAIN = re.compile(
    r'(CARGO_MANIFEST_DIR"\)\)?|workspace_root\(\)|Path::new\(\s*"([^"]*)"\s*\))((?:\s*\.\s*join\(\s*"[^"]*"\s*\))+)'
)
JOIN_STEP = re.compile(r'join\(\s*"([^"]*)"\s*\)')
CONCAT = re.compile(r'concat!\(\s*env!\("CARGO_MANIFEST_DIR"\)\s*,\s*"([^"]*)"')
SHELL_CLIMB = re.compile(r'(?:\$\(dirname "\$0"\)|\$\{?root\}?|\$\{?here\}?)/((?:\.\./?)+)')
SHELL_WORD = re.compile(r'(?:^|[\s=<>(])((?:\.\./)+[\w./-]*)')
TOML_PATH = re.compile(r'^[^#\n]*\bpath\s*=\s*["\']([^"\']*)["\']', re.M)


def line_of(text, index):
    return text.count("\n", 0, index) + 1


def check(rel, path, bad):
    try:
        text = open(path, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError):
        return
    here, crate = os.path.dirname(path), crate_dir(path)
    flag = lambda i, why: bad.append(f"{rel}:{line_of(text, i)}: {why}")
    for m in SIBLING.finditer(text):
        flag(m.start(), f"names the CI layout's sibling folder ({m.group(0)})")
    included = {m.start(1) for m in INCLUDE.finditer(text)} | {m.start(1) for m in PATH_ATTR.finditer(text)}
    for m in STRING.finditer(text):
        s = m.group(1)
        # A leading "/" is an absolute path or a `concat!` suffix (resolved below).
        if not ("../" in s or s == "..") or s.startswith("/"):
            continue
        if rel.endswith(".rs"):
            bases = (here,) if m.start(1) in included else (crate,)
        else:
            bases = (here, ROOT)
        if all(outside(base, s) for base in bases):
            flag(m.start(), f"relative path {s!r} climbs out of the repository")
    if rel.endswith(".rs"):
        for m in JOIN_CHAIN.finditer(text):
            start = ROOT if m.group(1).startswith("workspace_root") else crate
            if m.group(2) is not None:
                start = os.path.join(here, m.group(2))
            steps = JOIN_STEP.findall(m.group(3))
            if outside(start, os.path.join(*steps)):
                flag(m.start(), f"path {'/'.join(steps)!r} joined onto {m.group(1)!r} leaves the repository")
        for m in PARENTS.finditer(text):
            start = ROOT if m.group(1).startswith("workspace_root") else crate
            ups = m.group(2).count("parent()")
            if outside(start, "/".join([".."] * ups)):
                flag(m.start(), f"{ups} .parent() steps from {m.group(1)!r} leave the repository")
        for m in FORMAT_DIR.finditer(text):
            if outside(crate, m.group(1).lstrip("/")):
                flag(m.start(), f"format!(\"{{}}{m.group(1)}\", CARGO_MANIFEST_DIR) leaves the repository")
        for m in CONCAT.finditer(text):
            if outside(crate, m.group(1).lstrip("/")):
                flag(m.start(), f"concat!(CARGO_MANIFEST_DIR, {m.group(1)!r}) leaves the repository")
    if rel.endswith((".sh", ".py")) or "." not in os.path.basename(rel):
        for m in SHELL_CLIMB.finditer(text):
            base = ROOT if "root" in m.group(0) else here
            if outside(base, m.group(1)):
                flag(m.start(), f"{m.group(0)!r} climbs out of the repository")
        if not rel.endswith(".py"):
            for m in SHELL_WORD.finditer(text):
                if all(outside(base, m.group(1)) for base in (here, ROOT)):
                    flag(m.start(1), f"{m.group(1)!r} climbs out of the repository")
            for m in SHELL_CD.finditer(text):
                if all(outside(base, m.group(1)) for base in (here, ROOT)):
                    flag(m.start(), f"cd {m.group(1)} climbs out of the repository")
        else:
            depth = rel.count("/")
            for m in PY_PARENTS.finditer(text):
                n = int(m.group(1)) + 1 if m.group(1) else m.group(0).count(".parent")
                if m.group(0) == "os.pardir" or n > depth + 1:
                    flag(m.start(), f"{m.group(0)!r} may climb out of the repository")
    if rel.endswith(".toml"):
        for m in TOML_PATH.finditer(text):
            if outside(here, m.group(1)):
                flag(m.start(), f"path {m.group(1)!r} leaves the repository")


bad = []
for rel, path in tracked():
    check(rel, path, bad)
if bad:
    print("check-self-contained: these read outside the repository (copy the data in):", file=sys.stderr)
    print("\n".join(sorted(set(bad))), file=sys.stderr)
    sys.exit(1)
