//! BitPay API tokens and pairing codes, in the `compat` column family under the gateway
//! `bitpay` (docs/schema.md):
//!
//! * `key` → the hex of 32 random bytes every token is derived from
//!   ([`crate::dispatch::bitpay_token_key`]: the daemon gives it to each store's `bitpay`
//!   endpoint as its secret `token_key`, so the plugin signs IPNs with an invoice's token
//!   knowing only the token's id);
//! * `token/{sha256(token) hex}` → [`TokenRecord`] (the token itself is never stored);
//! * `code/{code}` → [`CodeRecord`]: a pairing code, single use, until `expires_at`.
//!
//! Pairing, both ways BitPay has: the operator makes a code for a store and facade (`POST
//! /v1/bitpay/pairing-codes`) and the client claims it with its SIN (`POST /bitpay/tokens
//! {id, pairingCode}`); or the client asks (`POST /bitpay/tokens {id, facade}`), gets its token
//! (inactive) and a code, and the operator approves the code for a store (`POST
//! /v1/bitpay/pairing-codes/{code}/approve`).

use crate::db::Db;
use paywatch_plugin_bitpay::token::{derive_token, KEY_LEN};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Mutex;
use time::OffsetDateTime;

const GATEWAY: &str = "bitpay";
const TOKEN_PREFIX: &str = "token/";
const CODE_PREFIX: &str = "code/";
/// Client requests (flow b) waiting for the operator at most: past it, `POST /bitpay/tokens`
/// without a code is refused until some are approved or expire (the route is public).
const MAX_PENDING: usize = 1000;
/// BitPay's pairing codes: 7 characters (btcpay-python checks `^\w{7,7}$`).
const CODE_LEN: usize = 7;
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";

/// The facades paywatch serves.
pub(crate) const FACADES: [&str; 2] = ["pos", "merchant"];

/// One token (stored under the hash of its value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TokenRecord {
    /// Its id: what an invoice's `gateway.data.token_id` names.
    pub(crate) id: String,
    /// The store it acts for; `None` until the operator approves a client-requested pairing.
    pub(crate) store: Option<String>,
    /// `pos` or `merchant`.
    pub(crate) facade: String,
    /// The client's SIN: a `merchant` request must be signed by this identity.
    pub(crate) sin: Option<String>,
    pub(crate) label: Option<String>,
    /// Unix seconds.
    pub(crate) created_at: i64,
}

/// A pairing code waiting to be used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CodeRecord {
    /// Set when the operator made it (flow a); `None` for a client's request (flow b).
    pub(crate) store: Option<String>,
    pub(crate) facade: String,
    /// Flow b: the hash of the token the client already holds, activated by the approval.
    pub(crate) token_sha256: Option<String>,
    pub(crate) label: Option<String>,
    /// Unix seconds.
    pub(crate) expires_at: i64,
}

/// Why a pairing step is refused (each message names the value).
#[derive(Debug, thiserror::Error)]
pub(crate) enum PairError {
    #[error("unknown or expired pairing code {0:?}")]
    UnknownCode(String),
    #[error("facade {0:?} is not pos or merchant")]
    Facade(String),
    #[error("pairing code {0:?} was already approved")]
    AlreadyApproved(String),
    #[error("{MAX_PENDING} pairing requests are waiting for approval; try again later")]
    TooManyPending,
    #[error("a merchant token is paired with the client's id (SIN): send id with the pairing code")]
    NeedsId,
    #[error("store: {0}")]
    Db(String),
}

fn db_err(e: impl std::fmt::Display) -> PairError {
    PairError::Db(e.to_string())
}

/// The hex SHA-256 of a token (its record's key).
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The tokens of the daemon: one lock for the read-modify-writes of pairing (a code is used
/// once, whoever races for it).
#[derive(Debug)]
pub(crate) struct Tokens {
    lock: Mutex<()>,
}

/// The daemon's one [`Tokens`].
pub(crate) static TOKENS: Tokens = Tokens { lock: Mutex::new(()) };

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn get<T: serde::de::DeserializeOwned>(db: &Db, key: &str) -> Result<Option<T>, PairError> {
    db.compat_get(GATEWAY, key.as_bytes()).map_err(db_err)
}

/// Writes `puts` and `deletes` in one batch.
fn write(db: &Db, puts: &[(&str, serde_json::Value)], deletes: &[&str]) -> Result<(), PairError> {
    let mut b = db.batch();
    for (k, v) in puts {
        b.compat_put(GATEWAY, k.as_bytes(), v).map_err(db_err)?;
    }
    for k in deletes {
        b.compat_delete(GATEWAY, k.as_bytes());
    }
    db.write(b).map_err(db_err)
}

fn json_of(v: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

fn new_code() -> String {
    let mut rng = rand::thread_rng();
    (0..CODE_LEN).map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char).collect()
}

fn check_facade(facade: &str) -> Result<(), PairError> {
    if FACADES.contains(&facade) {
        Ok(())
    } else {
        Err(PairError::Facade(facade.to_string()))
    }
}

/// What a client gets for a pairing: its token and, for a request, the code to approve.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub(crate) token: String,
    pub(crate) record: TokenRecord,
    pub(crate) code: Option<(String, i64)>,
}

impl Tokens {
    fn key(&self, db: &Db) -> Result<[u8; KEY_LEN], PairError> {
        let hex_key = crate::dispatch::bitpay_token_key(db).map_err(db_err)?;
        paywatch_plugin_bitpay::token::parse_key(&hex_key)
            .ok_or_else(|| PairError::Db("bitpay key is not 64 hex digits".into()))
    }

    /// The token `token`, if any: active once it has a store, which a client-requested one
    /// gets when its code is approved (until then it works nowhere).
    pub(crate) fn lookup(&self, db: &Db, token: &str) -> Result<Option<TokenRecord>, PairError> {
        get(db, &format!("{TOKEN_PREFIX}{}", token_hash(token)))
    }

    /// Flow a, the operator's half: a code for `store` and `facade`, valid `ttl_secs`.
    pub(crate) fn make_code(
        &self,
        db: &Db,
        store: &str,
        facade: &str,
        label: Option<String>,
        ttl_secs: u64,
    ) -> Result<(String, i64), PairError> {
        check_facade(facade)?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let code = new_code();
        let expires_at = now() + ttl_secs as i64;
        let rec =
            CodeRecord { store: Some(store.into()), facade: facade.into(), token_sha256: None, label, expires_at };
        write(db, &[(&format!("{CODE_PREFIX}{code}"), json_of(&rec))], &[])?;
        Ok((code, expires_at))
    }

    /// A new token's value and record (not yet written).
    fn new_token(
        &self,
        db: &Db,
        store: Option<String>,
        facade: &str,
        sin: Option<String>,
        label: Option<String>,
    ) -> Result<(String, TokenRecord), PairError> {
        let key = self.key(db)?;
        let id = uuid::Uuid::now_v7().to_string();
        let token = derive_token(&key, &id);
        Ok((token, TokenRecord { id, store, facade: facade.into(), sin, label, created_at: now() }))
    }

    /// Flow a, the client's half: the operator's code for a store, claimed by the client
    /// `sin` (used once: the code goes as the token is written).
    pub(crate) fn claim(&self, db: &Db, code: &str, sin: Option<String>) -> Result<Issued, PairError> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{CODE_PREFIX}{code}");
        let rec = match get::<CodeRecord>(db, &key)? {
            Some(c) if c.store.is_some() && c.expires_at > now() => c,
            // A client's own request is approved by the operator, not claimed.
            _ => return Err(PairError::UnknownCode(code.into())),
        };
        if rec.facade == "merchant" && sin.is_none() {
            // Checked before the code is used: the client may retry with its id.
            return Err(PairError::NeedsId);
        }
        let (token, record) = self.new_token(db, rec.store, &rec.facade, sin, rec.label)?;
        write(db, &[(&format!("{TOKEN_PREFIX}{}", token_hash(&token)), json_of(&record))], &[&key])?;
        Ok(Issued { token, record, code: None })
    }

    /// Flow b, the client's half: a token (inactive) and the code the operator approves.
    pub(crate) fn request(
        &self,
        db: &Db,
        facade: &str,
        sin: Option<String>,
        label: Option<String>,
        ttl_secs: u64,
    ) -> Result<Issued, PairError> {
        check_facade(facade)?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // Expired codes go; too many live client requests refuse a new one.
        let codes: Vec<(Vec<u8>, CodeRecord)> =
            db.compat_scan(GATEWAY, CODE_PREFIX.as_bytes(), usize::MAX).map_err(db_err)?;
        let t = now();
        let expired: Vec<String> = codes
            .iter()
            .filter(|(_, c)| c.expires_at <= t)
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        let pending = codes.iter().filter(|(_, c)| c.store.is_none() && c.expires_at > t).count();
        if pending >= MAX_PENDING {
            let refs: Vec<&str> = expired.iter().map(String::as_str).collect();
            write(db, &[], &refs)?;
            return Err(PairError::TooManyPending);
        }
        let (token, record) = self.new_token(db, None, facade, sin, label.clone())?;
        let code = new_code();
        let expires_at = t + ttl_secs as i64;
        let rec = CodeRecord {
            store: None,
            facade: facade.into(),
            token_sha256: Some(token_hash(&token)),
            label,
            expires_at,
        };
        let refs: Vec<&str> = expired.iter().map(String::as_str).collect();
        let (tk, ck) = (format!("{TOKEN_PREFIX}{}", token_hash(&token)), format!("{CODE_PREFIX}{code}"));
        write(db, &[(&tk, json_of(&record)), (&ck, json_of(&rec))], &refs)?;
        Ok(Issued { token, record, code: Some((code, expires_at)) })
    }

    /// Flow b, the operator's half: the client's token acts for `store` from now on.
    pub(crate) fn approve(&self, db: &Db, store: &str, code: &str) -> Result<TokenRecord, PairError> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{CODE_PREFIX}{code}");
        let rec = match get::<CodeRecord>(db, &key)? {
            Some(c) if c.store.is_some() => return Err(PairError::AlreadyApproved(code.into())),
            Some(c) if c.expires_at > now() => c,
            _ => return Err(PairError::UnknownCode(code.into())),
        };
        let hash = rec.token_sha256.ok_or_else(|| PairError::UnknownCode(code.into()))?;
        let tkey = format!("{TOKEN_PREFIX}{hash}");
        let mut token: TokenRecord = get(db, &tkey)?.ok_or_else(|| PairError::UnknownCode(code.into()))?;
        token.store = Some(store.into());
        write(db, &[(&tkey, json_of(&token))], &[&key])?;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        (dir, db)
    }

    fn tokens() -> Tokens {
        Tokens { lock: Mutex::new(()) }
    }

    #[test]
    fn an_operators_code_pairs_once_and_the_token_is_found_by_its_value_only() {
        let (_d, db) = db();
        let t = tokens();
        let (code, _) = t.make_code(&db, "shop1", "merchant", Some("till 1".into()), 60).unwrap();
        assert!(code.len() == 7 && code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");
        let issued = t.claim(&db, &code, Some("TfSIN".into())).unwrap();
        assert_eq!(issued.record.store.as_deref(), Some("shop1"));
        assert_eq!((issued.record.facade.as_str(), issued.record.sin.as_deref()), ("merchant", Some("TfSIN")));
        assert!(matches!(t.claim(&db, &code, None), Err(PairError::UnknownCode(_))), "single use");
        let (code2, _) = t.make_code(&db, "shop1", "merchant", None, 60).unwrap();
        assert!(matches!(t.claim(&db, &code2, None), Err(PairError::NeedsId)), "a merchant token needs an id");
        assert!(t.claim(&db, &code2, Some("TfSIN2".into())).is_ok(), "the code still works with one");
        assert_eq!(t.lookup(&db, &issued.token).unwrap(), Some(issued.record.clone()));
        assert_eq!(t.lookup(&db, &format!("{}x", issued.token)).unwrap(), None);
        // The token is derived from the key and its id: what the plugin recomputes.
        let key = t.key(&db).unwrap();
        assert_eq!(derive_token(&key, &issued.record.id), issued.token);
        let stored: Vec<(Vec<u8>, serde_json::Value)> = db.compat_scan(GATEWAY, b"", 100).unwrap();
        assert!(!serde_json::to_string(&stored).unwrap().contains(&issued.token), "no token value stored");
    }

    #[test]
    fn a_clients_request_works_once_approved_and_its_code_is_not_claimable() {
        let (_d, db) = db();
        let t = tokens();
        let asked = t.request(&db, "merchant", Some("TfSIN".into()), None, 60).unwrap();
        let (code, _) = asked.code.clone().unwrap();
        assert_eq!(t.lookup(&db, &asked.token).unwrap().unwrap().store, None, "inactive until approved");
        assert!(matches!(t.claim(&db, &code, Some("TfOther".into())), Err(PairError::UnknownCode(_))));
        let approved = t.approve(&db, "shop2", &code).unwrap();
        assert_eq!(approved.store.as_deref(), Some("shop2"));
        assert_eq!(t.lookup(&db, &asked.token).unwrap().unwrap().store.as_deref(), Some("shop2"));
        assert!(matches!(t.approve(&db, "shop1", &code), Err(PairError::UnknownCode(_))), "used");
        let (op_code, _) = t.make_code(&db, "shop1", "pos", None, 60).unwrap();
        assert!(matches!(t.approve(&db, "shop1", &op_code), Err(PairError::AlreadyApproved(_))));
        assert!(matches!(t.request(&db, "payout", None, None, 60), Err(PairError::Facade(_))));
    }

    #[test]
    fn expired_codes_do_not_pair_and_waiting_requests_are_capped() {
        let (_d, db) = db();
        let t = tokens();
        let (code, _) = t.make_code(&db, "shop1", "pos", None, 0).unwrap();
        assert!(matches!(t.claim(&db, &code, None), Err(PairError::UnknownCode(_))));
        let asked = t.request(&db, "pos", None, None, 0).unwrap();
        let (code, _) = asked.code.unwrap();
        assert!(matches!(t.approve(&db, "shop1", &code), Err(PairError::UnknownCode(_))));
        for _ in 0..MAX_PENDING {
            t.request(&db, "pos", None, None, 60).unwrap();
        }
        assert!(matches!(t.request(&db, "pos", None, None, 60), Err(PairError::TooManyPending)));
        let left: Vec<(Vec<u8>, CodeRecord)> = db.compat_scan(GATEWAY, CODE_PREFIX.as_bytes(), usize::MAX).unwrap();
        assert!(left.iter().all(|(_, c)| c.expires_at > now() || c.store.is_some()), "expired requests were swept");
    }
}
