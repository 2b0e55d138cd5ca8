//! Test-only fault injection, for end-to-end tests of supervision against the real binary.
//!
//! Only in builds with debug assertions (`cargo test` and `cargo build` build the daemon so;
//! `--release` does not): there, `PAYWATCH_TEST_FAULTS` lists faults as `KIND@CHAIN:HEIGHT`,
//! comma-separated, each fired once when the chain's indexer is about to connect that block
//! (before anything of it is written):
//!
//! * `panic`: the follower thread panics;
//! * `store`: the store fails as with a corrupt record.
//!
//! In a release build this module is [`before_connect`] returning `Ok(())`, inlined away: no
//! variable is read, and nothing can reach a fault.

use crate::db::DbError;

#[cfg(debug_assertions)]
pub(crate) use injected::before_connect;

/// Release builds: no faults.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn before_connect(_chain: &str, _height: u64) -> Result<(), DbError> {
    Ok(())
}

#[cfg(debug_assertions)]
mod injected {
    use super::DbError;
    use std::sync::{Mutex, OnceLock};

    const VAR: &str = "PAYWATCH_TEST_FAULTS";

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) struct Fault {
        kind: Kind,
        chain: String,
        height: u64,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Panic,
        Store,
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
                let bad = || format!("{f:?} is not KIND@CHAIN:HEIGHT (KIND: panic, store)");
                let (kind, at) = f.trim().split_once('@').ok_or_else(bad)?;
                let (chain, height) = at.rsplit_once(':').ok_or_else(bad)?;
                let kind = match kind {
                    "panic" => Kind::Panic,
                    "store" => Kind::Store,
                    _ => return Err(bad()),
                };
                Ok(Fault { kind, chain: chain.to_string(), height: height.parse().map_err(|_| bad())? })
            })
            .collect()
    }

    /// Fires the fault set for this block, once.
    pub(crate) fn before_connect(chain: &str, height: u64) -> Result<(), DbError> {
        let fired = {
            let mut pending = pending().lock().unwrap_or_else(|p| p.into_inner());
            let at = pending.iter().position(|f| f.chain == chain && f.height == height);
            at.map(|i| pending.remove(i).kind)
        };
        match fired {
            Some(Kind::Panic) => panic!("injected fault: panic@{chain}:{height}"),
            Some(Kind::Store) => Err(DbError::Corrupt {
                cf: "blocks",
                key: format!("{chain}:{height}"),
                reason: "injected fault".to_string(),
            }),
            None => Ok(()),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn faults_read_as_kind_at_chain_and_height() {
            let f = parse("panic@btc:105, store@my-chain:7,").unwrap();
            assert_eq!(
                f,
                [
                    Fault { kind: Kind::Panic, chain: "btc".into(), height: 105 },
                    Fault { kind: Kind::Store, chain: "my-chain".into(), height: 7 },
                ]
            );
            for bad in ["panic", "crash@btc:1", "panic@btc", "panic@btc:x"] {
                let e = parse(bad).unwrap_err();
                assert!(e.contains(bad) && e.contains("KIND@CHAIN:HEIGHT"), "{e}");
            }
        }
    }
}
