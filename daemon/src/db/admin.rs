//! The `admin` column family: the stores and API keys the admin API makes at run time. Values
//! are JSON; `stores/` (the registry of run-time stores and keys) owns their meaning.

use super::schema::*;
use super::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Each record of a kind with its id, decoded alone.
pub(crate) type Listed<T> = Vec<(String, Result<T, DbError>)>;

impl Db {
    /// The `kind` record `id`, if any.
    pub(crate) fn admin_get<T: DeserializeOwned>(&self, kind: &str, id: &str) -> Result<Option<T>, DbError> {
        let k = admin_key(kind, id);
        let raw = self.db.get_cf(self.cf(CF_ADMIN), &k)?;
        raw.map(|v| decode(CF_ADMIN, &k, &v)).transpose()
    }

    /// Every `(id, record)` of `kind`, in id order. Each record is decoded alone: one that
    /// cannot be is returned as its error, and the others still are.
    pub(crate) fn admin_all<T: DeserializeOwned>(&self, kind: &str) -> Result<Listed<T>, DbError> {
        let start = admin_key(kind, "");
        let mut out = Vec::new();
        let mode = IteratorMode::From(&start, Direction::Forward);
        for item in self.db.iterator_cf(self.cf(CF_ADMIN), mode) {
            let (k, v) = item?;
            if !k.starts_with(&start) {
                break;
            }
            let id = String::from_utf8_lossy(&k[start.len()..]).into_owned();
            out.push((id, decode(CF_ADMIN, &k, &v)));
        }
        Ok(out)
    }
}

impl Batch<'_> {
    pub(crate) fn admin_put<T: Serialize>(&mut self, kind: &str, id: &str, value: &T) -> Result<(), DbError> {
        let v = serde_json::to_vec(value).map_err(|err| DbError::Encode(err, CF_ADMIN))?;
        self.wb.put_cf(self.db.cf(CF_ADMIN), admin_key(kind, id), v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Db;

    #[test]
    fn records_of_one_kind_are_listed_apart_and_a_bad_one_alone_fails() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut b = db.batch();
        b.admin_put("store", "a", &1u32).unwrap();
        b.admin_put("store", "b", &2u32).unwrap();
        b.admin_put("stores", "c", &3u32).unwrap();
        b.admin_put("store", "z", &"text").unwrap();
        db.write(b).unwrap();
        let all = db.admin_all::<u32>("store").unwrap();
        let ids: Vec<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "z"]);
        assert_eq!(*all[1].1.as_ref().unwrap(), 2);
        assert!(all[2].1.is_err());
        assert_eq!(db.admin_get::<u32>("stores", "c").unwrap(), Some(3));
        assert_eq!(db.admin_get::<u32>("store", "c").unwrap(), None);
    }
}
