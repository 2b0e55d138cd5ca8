//! The result of a conformance run: one line per check.

use super::PluginLib;
use std::fmt;

/// What became of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed; what was checked.
    Passed(String),
    /// Failed; what was wrong, naming the offending value.
    Failed(String),
    /// Not applicable here; why.
    Skipped(String),
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short name, e.g. `scan_tx agrees with scan_block`.
    pub name: String,
    /// What became of it.
    pub outcome: Outcome,
}

/// Every check of a run, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `name version`.
    pub plugin: String,
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    pub(super) fn new(lib: &PluginLib) -> Self {
        Self { plugin: format!("{} {}", lib.name(), lib.version()), checks: Vec::new() }
    }

    pub(super) fn pass(&mut self, name: &str, what: impl Into<String>) {
        self.push(name, Outcome::Passed(what.into()));
    }

    pub(super) fn fail(&mut self, name: &str, what: impl Into<String>) {
        self.push(name, Outcome::Failed(what.into()));
    }

    pub(super) fn skip(&mut self, name: &str, why: impl Into<String>) {
        self.push(name, Outcome::Skipped(why.into()));
    }

    fn push(&mut self, name: &str, outcome: Outcome) {
        self.checks.push(Check { name: name.to_string(), outcome });
    }

    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(|c| matches!(c.outcome, Outcome::Failed(_)))
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| matches!(c.outcome, Outcome::Failed(_)))
    }

    /// Panics with the whole report when a check failed (for `#[test]`s).
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(self.passed(), "conformance checks failed:\n{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "conformance of {}:", self.plugin)?;
        for c in &self.checks {
            let (tag, text) = match &c.outcome {
                Outcome::Passed(t) => ("PASS", t),
                Outcome::Failed(t) => ("FAIL", t),
                Outcome::Skipped(t) => ("SKIP", t),
            };
            writeln!(f, "  {tag} {}: {text}", c.name)?;
        }
        let failed = self.failures().count();
        write!(f, "{} checks, {failed} failed", self.checks.len())
    }
}
