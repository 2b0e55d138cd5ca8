//! The `compat` column family: state of the gateway-compatible APIs that is not an invoice
//! (BitPay's tokens and pairing codes, CoinPayments' seen nonces…). Values are JSON; each
//! gateway owns the keys under its own prefix ([`compat_key`]) and their meaning.

use super::schema::*;
use super::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

impl Db {
    /// The value at `gateway`'s `key`, if any.
    pub(crate) fn compat_get<T: DeserializeOwned>(&self, gateway: &str, key: &[u8]) -> Result<Option<T>, DbError> {
        let k = compat_key(gateway, key);
        let raw = self.db.get_cf(self.cf(CF_COMPAT), &k)?;
        raw.map(|v| decode(CF_COMPAT, &k, &v)).transpose()
    }

    /// Every `(key, value)` of `gateway` whose key starts with `prefix` (the gateway's prefix
    /// taken off the keys), in key order, at most `limit`.
    pub(crate) fn compat_scan<T: DeserializeOwned>(
        &self,
        gateway: &str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, T)>, DbError> {
        let start = compat_key(gateway, prefix);
        let skip = gateway.len() + 1;
        let mut out = Vec::new();
        let mode = IteratorMode::From(&start, Direction::Forward);
        for item in self.db.iterator_cf(self.cf(CF_COMPAT), mode) {
            let (k, v) = item?;
            if !k.starts_with(&start) || out.len() >= limit {
                break;
            }
            out.push((k[skip..].to_vec(), decode(CF_COMPAT, &k, &v)?));
        }
        Ok(out)
    }
}

impl Batch<'_> {
    pub(crate) fn compat_put<T: Serialize>(&mut self, gateway: &str, key: &[u8], value: &T) -> Result<(), DbError> {
        let v = serde_json::to_vec(value).map_err(|err| DbError::Encode(err, CF_COMPAT))?;
        self.wb.put_cf(self.db.cf(CF_COMPAT), compat_key(gateway, key), v);
        Ok(())
    }

    pub(crate) fn compat_delete(&mut self, gateway: &str, key: &[u8]) {
        self.wb.delete_cf(self.db.cf(CF_COMPAT), compat_key(gateway, key));
    }
}

#[cfg(test)]
mod tests {
    use super::super::Db;

    #[test]
    fn compat_keys_of_one_gateway_do_not_reach_another() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let s = Scratch { db };
        let mut b = s.db.batch();
        b.compat_put("bitpay", b"token/a", &1u32).unwrap();
        b.compat_put("bitpay", b"token/b", &2u32).unwrap();
        b.compat_put("bitpay", b"tokens", &3u32).unwrap();
        b.compat_put("bitpayx", b"token/c", &4u32).unwrap();
        s.db.write(b).unwrap();
        let got: Vec<(Vec<u8>, u32)> = s.db.compat_scan("bitpay", b"token/", 10).unwrap();
        assert_eq!(got, vec![(b"token/a".to_vec(), 1), (b"token/b".to_vec(), 2)]);
        assert_eq!(s.db.compat_get::<u32>("bitpay", b"tokens").unwrap(), Some(3));
        assert_eq!(s.db.compat_get::<u32>("coingate", b"token/a").unwrap(), None);
        let limited: Vec<(Vec<u8>, u32)> = s.db.compat_scan("bitpay", b"", 2).unwrap();
        assert_eq!(limited.len(), 2);
        let mut b = s.db.batch();
        b.compat_delete("bitpay", b"token/a");
        s.db.write(b).unwrap();
        assert_eq!(s.db.compat_get::<u32>("bitpay", b"token/a").unwrap(), None);
    }

    struct Scratch {
        db: Db,
    }
}
