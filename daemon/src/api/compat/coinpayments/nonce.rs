//! Replay protection with CoinPayments' optional `nonce`: a signed request that carries one is
//! accepted once per store. The nonces seen are kept in the `compat` column family, at most
//! [`MAX_KEPT`] per store: past that the oldest (smallest) half is forgotten and the largest
//! forgotten becomes the store's floor, at or below which every nonce is refused. Any nonce
//! ever accepted is so either still kept or at most the floor: a replay is always refused, and
//! a client counting up (as CoinPayments asks: a number that only grows) never hits the floor.

use std::sync::Mutex;

/// Most nonces kept per store before the oldest half is forgotten.
pub(super) const MAX_KEPT: usize = 10_000;

/// The longest nonce: a u64 in decimal.
const MAX_DIGITS: usize = 20;

/// The key-value view the nonces live in (the `compat` column family).
pub(super) trait Kv {
    type Error: std::fmt::Display;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Puts and deletes, written together.
    fn write(&self, puts: Vec<(Vec<u8>, Vec<u8>)>, deletes: Vec<Vec<u8>>) -> Result<(), Self::Error>;
    /// Every key under `prefix`, in key order.
    fn keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, Self::Error>;
}

/// The `compat` column family, under the gateway's prefix `coinpayments` (values as JSON
/// strings).
pub(super) struct DbKv<'a>(pub(super) &'a crate::db::Db);

const GATEWAY: &str = "coinpayments";

impl Kv for DbKv<'_> {
    type Error = crate::db::DbError;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(self.0.compat_get::<String>(GATEWAY, key)?.map(String::into_bytes))
    }
    fn write(&self, puts: Vec<(Vec<u8>, Vec<u8>)>, deletes: Vec<Vec<u8>>) -> Result<(), Self::Error> {
        let mut b = self.0.batch();
        for k in &deletes {
            b.compat_delete(GATEWAY, k);
        }
        for (k, v) in &puts {
            b.compat_put(GATEWAY, k, &String::from_utf8_lossy(v))?;
        }
        self.0.write(b).map(|_| ())
    }
    fn keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, Self::Error> {
        let all = self.0.compat_scan::<serde_json::Value>(GATEWAY, prefix, usize::MAX)?;
        Ok(all.into_iter().map(|(k, _)| k).collect())
    }
}

/// Why a nonce is refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// Not a decimal number of at most 20 digits.
    Malformed,
    /// Seen before (or at most the floor).
    Replayed,
    /// The store could not be read or written.
    Storage(String),
}

/// Checking a nonce and recording it is one step per process (two requests with one nonce:
/// one wins).
static LOCK: Mutex<()> = Mutex::new(());

fn prefix(store: &str) -> Vec<u8> {
    format!("nonce/{store}/").into_bytes()
}

fn floor_key(store: &str) -> Vec<u8> {
    format!("nonce-floor/{store}").into_bytes()
}

fn count_key(store: &str) -> Vec<u8> {
    format!("nonce-count/{store}").into_bytes()
}

fn number(v: Option<Vec<u8>>) -> u64 {
    v.and_then(|b| String::from_utf8(b).ok()).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Accepts `nonce` for `store` once: records it, or says why not.
pub(super) fn accept<K: Kv>(kv: &K, store: &str, nonce: &str) -> Result<(), Refused> {
    if nonce.is_empty() || nonce.len() > MAX_DIGITS || !nonce.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refused::Malformed);
    }
    let n: u64 = nonce.parse().map_err(|_| Refused::Malformed)?;
    let storage = |e: K::Error| Refused::Storage(e.to_string());
    let _one = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let floor = kv.get(&floor_key(store)).map_err(storage)?;
    if floor.is_some() && n <= number(floor) {
        return Err(Refused::Replayed);
    }
    // Zero-padded: the keys sort as the numbers do.
    let key = [prefix(store), format!("{n:020}").into_bytes()].concat();
    if kv.get(&key).map_err(storage)?.is_some() {
        return Err(Refused::Replayed);
    }
    let count = number(kv.get(&count_key(store)).map_err(storage)?) + 1;
    if count as usize <= MAX_KEPT {
        return kv
            .write(vec![(key, vec![]), (count_key(store), count.to_string().into_bytes())], vec![])
            .map_err(storage);
    }
    // Forget the smallest half; the largest of them is the new floor.
    let mut kept = kv.keys(&prefix(store)).map_err(storage)?;
    kept.push(key.clone());
    kept.sort();
    let forget: Vec<Vec<u8>> = kept.drain(..kept.len() / 2).collect();
    let new_floor = forget.last().map(|k| k[prefix(store).len()..].to_vec()).unwrap_or_default();
    let new_floor = number(Some(new_floor));
    let mut puts = vec![
        (floor_key(store), new_floor.to_string().into_bytes()),
        (count_key(store), kept.len().to_string().into_bytes()),
    ];
    let deletes = forget.into_iter().filter(|k| *k != key).collect();
    if n > new_floor {
        puts.push((key, vec![]));
    }
    kv.write(puts, deletes).map_err(storage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Mem(RefCell<BTreeMap<Vec<u8>, Vec<u8>>>);

    impl Kv for Mem {
        type Error = String;
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
            Ok(self.0.borrow().get(key).cloned())
        }
        fn write(&self, puts: Vec<(Vec<u8>, Vec<u8>)>, deletes: Vec<Vec<u8>>) -> Result<(), String> {
            let mut m = self.0.borrow_mut();
            deletes.iter().for_each(|k| {
                m.remove(k);
            });
            m.extend(puts);
            Ok(())
        }
        fn keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, String> {
            Ok(self.0.borrow().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
        }
    }

    #[test]
    fn a_nonce_is_accepted_once_per_store() {
        let kv = Mem::default();
        assert_eq!(accept(&kv, "shop", "17"), Ok(()));
        assert_eq!(accept(&kv, "shop", "17"), Err(Refused::Replayed));
        assert_eq!(accept(&kv, "other", "17"), Ok(()), "another store's nonces are its own");
        assert_eq!(accept(&kv, "shop", "5"), Ok(()), "unused smaller nonces still work until forgotten");
        for bad in ["", "-1", "1.5", "0x10", "123456789012345678901", "99999999999999999999"] {
            assert_eq!(accept(&kv, "shop", bad), Err(Refused::Malformed), "{bad}");
        }
    }

    #[test]
    fn the_kept_nonces_are_bounded_and_a_forgotten_one_is_still_refused() {
        let kv = Mem::default();
        for n in 1..=MAX_KEPT as u64 + 1 {
            accept(&kv, "shop", &n.to_string()).unwrap();
        }
        let kept = kv.keys(&prefix("shop")).unwrap().len();
        assert!(kept <= MAX_KEPT / 2 + 1, "{kept} kept");
        // Forgotten (at or below the floor), kept, and new.
        assert_eq!(accept(&kv, "shop", "1"), Err(Refused::Replayed));
        assert_eq!(accept(&kv, "shop", &(MAX_KEPT as u64).to_string()), Err(Refused::Replayed));
        assert_eq!(accept(&kv, "shop", &(MAX_KEPT as u64 + 2).to_string()), Ok(()));
    }
}
