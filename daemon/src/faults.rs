//! Test-only fault injection, for end-to-end tests of supervision against the real binary.
//!
//! Only in builds with debug assertions (`cargo test` and `cargo build` build the daemon so;
//! `--release` does not): there, `PAYWATCH_TEST_FAULTS` lists faults as `panic@CHAIN:HEIGHT`,
//! comma-separated, each fired once when the chain's indexer is about to connect that block
//! (before anything of it is written): the follower thread panics.
//!
//! In a release build this module is an empty [`before_connect`], inlined away: no variable
//! is read, and nothing can reach a fault.

#[cfg(debug_assertions)]
pub(crate) use injected::before_connect;

/// Release builds: no faults.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn before_connect(_chain: &str, _height: u64) {}

#[cfg(debug_assertions)]
mod injected {
    use std::sync::{Mutex, OnceLock};

    const VAR: &str = "PAYWATCH_TEST_FAULTS";

    /// A panic due when the chain connects the block at this height.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) struct Fault {
        chain: String,
        height: u64,
    }

    /// The faults not fired yet, read from the environment once. A value that does not parse
    /// stops the process: a test that meant to inject a fault must not pass without it.
    fn pending() -> &'static Mutex<Vec<Fault>> {
        static PENDING: OnceLock<Mutex<Vec<Fault>>> = OnceLock::new();
        PENDING.get_or_init(|| {
            let faults = match std::env::var(VAR) {
                Ok(v) => parse(&v).unwrap_or_else(|e| panic!("{VAR}: {e}")),
                Err(_) => Vec::new(),
            };
            if !faults.is_empty() {
                tracing::warn!(?faults, "{VAR}: faults will be injected (a test build)");
            }
            Mutex::new(faults)
        })
    }

    pub(super) fn parse(v: &str) -> Result<Vec<Fault>, String> {
        v.split(',')
            .filter(|f| !f.trim().is_empty())
            .map(|f| {
                let bad = || format!("{f:?} is not panic@CHAIN:HEIGHT");
                let at = f.trim().strip_prefix("panic@").ok_or_else(bad)?;
                let (chain, height) = at.rsplit_once(':').ok_or_else(bad)?;
                Ok(Fault { chain: chain.to_string(), height: height.parse().map_err(|_| bad())? })
            })
            .collect()
    }

    /// Fires the fault set for this block, once.
    pub(crate) fn before_connect(chain: &str, height: u64) {
        let fired = {
            let mut pending = pending().lock().unwrap_or_else(|p| p.into_inner());
            let at = pending.iter().position(|f| f.chain == chain && f.height == height);
            at.map(|i| pending.remove(i))
        };
        if fired.is_some() {
            panic!("injected fault: panic@{chain}:{height}");
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn faults_read_as_chain_and_height() {
            let f = parse("panic@btc:105, panic@my-chain:7,").unwrap();
            assert_eq!(f, [Fault { chain: "btc".into(), height: 105 }, Fault { chain: "my-chain".into(), height: 7 }]);
            for bad in ["panic", "crash@btc:1", "panic@btc", "panic@btc:x"] {
                let e = parse(bad).unwrap_err();
                assert!(e.contains(bad) && e.contains("panic@CHAIN:HEIGHT"), "{e}");
            }
        }
    }
}
