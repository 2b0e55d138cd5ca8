//! A store's gateway-compatible APIs (`[stores.bitpay]`, `[stores.coingate]`,
//! `[stores.coinpayments]`, `docs/compat.md`): which of them the store answers, and the
//! credentials their clients present. A store without a gateway's table is unknown to that
//! gateway's routes.

use super::reader::{Issues, Table};
use super::secret::{KeyHash, Secret};
use serde::Serialize;

/// The gateways a store may enable, by their route prefix and plugin name.
pub const GATEWAYS: [&str; 3] = ["bitpay", "coingate", "coinpayments"];

/// `[stores.bitpay]`: the BitPay API (`/bitpay/…`). Its clients authenticate with tokens made
/// by pairing (`docs/compat.md`), kept in the store's database, not here.
#[derive(Debug, Clone, Serialize)]
pub struct BitpayConfig {
    /// How long a pairing code may be used, made by the operator or asked for by a client.
    pub pairing_code_secs: u64,
}

/// `[stores.coingate]`: the CoinGate API v2 (`/coingate/…`).
#[derive(Debug, Clone, Serialize)]
pub struct CoingateConfig {
    /// The `Authorization: Token …` the shop's client sends (`api_token`, or its SHA-256 as
    /// `api_token_sha256`).
    pub api_token: KeyHash,
}

/// `[stores.coinpayments]`: the CoinPayments API (`/coinpayments/api.php`).
#[derive(Debug, Clone, Serialize)]
pub struct CoinpaymentsConfig {
    /// The `key` field of every command: picks the store.
    pub public_key: String,
    /// The HMAC-SHA512 key of every command (the `HMAC` header); kept, not hashed: a
    /// signature is checked by making it again.
    pub private_key: Secret,
    /// `merchant` in the IPNs.
    pub merchant_id: String,
    /// The HMAC-SHA512 key of the IPNs the shop receives.
    pub ipn_secret: Secret,
}

/// The gateway tables of one store; each `None` unless its table is there.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreGateways {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitpay: Option<BitpayConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coingate: Option<CoingateConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coinpayments: Option<CoinpaymentsConfig>,
}

impl StoreGateways {
    /// The names of the enabled gateways, in [`GATEWAYS`] order.
    pub fn enabled(&self) -> impl Iterator<Item = &'static str> + '_ {
        let on = [self.bitpay.is_some(), self.coingate.is_some(), self.coinpayments.is_some()];
        GATEWAYS.into_iter().zip(on).filter_map(|(g, on)| on.then_some(g))
    }
}

/// The key (under the store) of a credential `a` shares with another store's `b`: each picks
/// its store, so two stores cannot share one.
pub(super) fn shared_credential(a: &StoreGateways, b: &StoreGateways) -> Option<&'static str> {
    if let (Some(x), Some(y)) = (&a.coingate, &b.coingate) {
        if x.api_token == y.api_token {
            return Some("coingate.api_token");
        }
    }
    if let (Some(x), Some(y)) = (&a.coinpayments, &b.coinpayments) {
        if x.public_key == y.public_key {
            return Some("coinpayments.public_key");
        }
    }
    None
}

/// The store's gateway tables.
pub(super) fn gateways(t: &mut Table<'_>, issues: &mut Issues) -> StoreGateways {
    let mut out = StoreGateways::default();
    if t.has("bitpay") {
        let mut b = t.table("bitpay", issues);
        out.bitpay =
            Some(BitpayConfig { pairing_code_secs: b.u64_in("pairing_code_secs", 86_400, 60..=30 * 86_400, issues) });
        b.finish(issues);
    }
    if t.has("coingate") {
        let mut c = t.table("coingate", issues);
        let api_token = super::validate::key_hash(&mut c, "api_token", "api_token_sha256", issues);
        if api_token.is_none() && !c.has("api_token") && !c.has("api_token_sha256") {
            issues.push(c.key_path("api_token"), "missing: set api_token or api_token_sha256");
        }
        out.coingate = api_token.map(|api_token| CoingateConfig { api_token });
        c.finish(issues);
    }
    if t.has("coinpayments") {
        let mut c = t.table("coinpayments", issues);
        let public_key = c.str("public_key", issues).filter(|k| printable(&c, "public_key", k, 8, issues));
        let private_key = c.str("private_key", issues).filter(|k| strong(&c, "private_key", k, issues));
        let merchant_id = c.str("merchant_id", issues).filter(|k| printable(&c, "merchant_id", k, 1, issues));
        let ipn_secret = c.str("ipn_secret", issues).filter(|k| strong(&c, "ipn_secret", k, issues));
        if let (Some(public_key), Some(private_key), Some(merchant_id), Some(ipn_secret)) =
            (public_key, private_key, merchant_id, ipn_secret)
        {
            out.coinpayments = Some(CoinpaymentsConfig {
                public_key,
                private_key: Secret::new(private_key),
                merchant_id,
                ipn_secret: Secret::new(ipn_secret),
            });
        }
        c.finish(issues);
    }
    out
}

/// An identifier sent in requests: `min` to 128 printable ASCII characters.
fn printable(t: &Table<'_>, key: &str, v: &str, min: usize, issues: &mut Issues) -> bool {
    let ok = (min..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        issues.push(t.key_path(key), format!("{v:?} must be {min} to 128 printable ASCII characters without spaces"));
    }
    ok
}

/// Shortest shared HMAC key with other characters than letters, digits, `-` and `_` (a
/// shop's own IPN secret may have any): at ~6 bits a character, 128 bits.
const MIN_SYMBOLIC_SECRET: usize = 22;

/// A shared HMAC key: printable, and strong enough that it cannot be guessed. Never echoed:
/// an error names only what is wrong with it.
fn strong(t: &Table<'_>, key: &str, v: &str, issues: &mut Issues) -> bool {
    let symbolic = v.bytes().any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let why = if v.len() > 128 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        Some("must be at most 128 printable ASCII characters without spaces".to_string())
    } else if symbolic && v.len() < MIN_SYMBOLIC_SECRET {
        Some(format!("is too short for 128 random bits ({} characters, at least {MIN_SYMBOLIC_SECRET})", v.len()))
    } else if symbolic {
        None
    } else {
        super::keys::weakness(v).map(|w| format!("{w}: a key must carry at least 128 random bits"))
    };
    match why {
        Some(why) => {
            issues.push(t.key_path(key), format!("{why}; {}", super::keys::HOW));
            false
        }
        None => true,
    }
}
