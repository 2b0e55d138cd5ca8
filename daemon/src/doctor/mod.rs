//! `paywatch doctor`: checks, before the first payment goes missing, what otherwise fails
//! silently later: each chain's node (`bitcoin.rs` with its ZMQ probe in `zmq.rs`, `evm.rs`)
//! and this machine's side (`local.rs`: the store's directory, its lock, the plugins). Every
//! check yields a [`Check`]: a name, the chain, a [`Verdict`], what was found and the fix.
//! Network calls have short timeouts and nothing waits for the chain to move
//! (`docs/doctor.md`).

mod bitcoin;
mod evm;
mod local;
mod zmq;

#[cfg(test)]
mod tests;

use crate::config::{ChainNode, Config};
use serde::Serialize;
use std::time::Duration;

/// The longest any one request to a node may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock skew over this is a warning: invoices expire and rates age by the local clock.
const MAX_SKEW_SECS: i64 = 60;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    /// Works, but something is worth a look (not counted as a problem).
    Warning,
    /// Will fail, or fail silently: `paywatch doctor` exits non-zero.
    Problem,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked (`rpc`, `credentials`, `network`, `zmq.topics`…; `docs/doctor.md`).
    pub name: &'static str,
    /// The chain, by its name in the config; `None` for this machine's checks.
    pub chain: Option<String>,
    pub verdict: Verdict,
    /// What was found.
    pub detail: String,
    /// What to do about it (warnings and problems).
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, chain: Option<&str>, verdict: Verdict, detail: String, fix: Option<String>) -> Self {
        Self { name, chain: chain.map(str::to_string), verdict, detail, fix }
    }

    fn ok(name: &'static str, chain: Option<&str>, detail: impl Into<String>) -> Self {
        Self::new(name, chain, Verdict::Ok, detail.into(), None)
    }

    fn warning(name: &'static str, chain: Option<&str>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, chain, Verdict::Warning, detail.into(), Some(fix.into()))
    }

    fn problem(name: &'static str, chain: Option<&str>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, chain, Verdict::Problem, detail.into(), Some(fix.into()))
    }
}

/// Every check `paywatch doctor` made, chains first, in the config's order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    pub problems: usize,
    pub warnings: usize,
}

impl Report {
    fn new(checks: Vec<Check>) -> Self {
        let count = |v| checks.iter().filter(|c| c.verdict == v).count();
        let (problems, warnings) = (count(Verdict::Problem), count(Verdict::Warning));
        Self { checks, problems, warnings }
    }

    /// Whether every check passed (warnings allowed).
    pub fn healthy(&self) -> bool {
        self.problems == 0
    }
}

impl std::fmt::Display for Report {
    /// One line per check (`ok`, `warning`, `PROBLEM`, the chain or `local`, the check, what
    /// was found), the fix indented below it, and a summary line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in &self.checks {
            let verdict = match c.verdict {
                Verdict::Ok => "ok",
                Verdict::Warning => "warning",
                Verdict::Problem => "PROBLEM",
            };
            writeln!(f, "{verdict:<8} {:<10} {:<14} {}", c.chain.as_deref().unwrap_or("local"), c.name, c.detail)?;
            if let Some(fix) = &c.fix {
                writeln!(f, "{:<34} fix: {fix}", "")?;
            }
        }
        write!(f, "{} problem(s), {} warning(s), {} check(s)", self.problems, self.warnings, self.checks.len())
    }
}

/// Runs every check of `config`: each chain's node, then this machine's side.
pub(crate) fn run(config: &Config) -> Report {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let c = Check::problem("runtime", None, format!("cannot start the async runtime: {e}"), "see the error");
            return Report::new(vec![c]);
        }
    };
    let mut checks = Vec::new();
    for chain in &config.chains {
        checks.extend(match &chain.node {
            ChainNode::Bitcoin(node) => rt.block_on(bitcoin::check(chain, node)),
            ChainNode::Evm(node) => rt.block_on(evm::check(chain, node)),
        });
    }
    checks.extend(local::check(config));
    Report::new(checks)
}

/// `chains[NAME].KEY`, as the fixes name a config key.
fn key(chain: &str, key: &str) -> String {
    format!("chains[{chain}].{key}")
}

/// How far `node` is ahead of `local`, in seconds, as text.
fn skew_text(skew: i64) -> String {
    match skew {
        0 => "the same second".to_string(),
        s if s > 0 => format!("{s} s ahead of this machine"),
        s => format!("{} s behind this machine", -s),
    }
}
