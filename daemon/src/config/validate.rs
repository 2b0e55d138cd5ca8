//! Raw merged configuration → typed `Config`, reporting every problem at once.

use super::reader::{Issues, Table};
use super::secret::{KeyHash, Secret};
use super::types::*;
use ipnet::IpNet;
use paywatch_plugin_api::amount::Amount;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use url::Url;

const MAX_CONFIRMATIONS: u64 = 10_000;
/// The most decimals an asset can have: 10^77 base units still fit 2^256 − 1.
const MAX_DECIMALS: u8 = 77;

pub(crate) fn validate(raw: &Value, issues: &mut Issues) -> Option<Config> {
    let mut root = Table::root(raw, issues);
    let server = section(&mut root, "server", issues, server);
    let storage = section(&mut root, "storage", issues, storage);
    let plugins = section(&mut root, "plugins", issues, plugins);
    let chain_tables = root.tables("chains", issues);
    // References are checked against every declared name, so one broken chain does not
    // also make each asset on it "unknown".
    let declared: Vec<String> = chain_tables.iter().filter_map(|t| t.peek_str("name")).collect();
    let chains = chains(chain_tables, issues);
    let assets = assets(root.tables("assets", issues), &declared, issues);
    let dispatch = section(&mut root, "dispatch", issues, dispatch);
    let rates = section(&mut root, "rates", issues, super::rates::rates);
    let stores = stores(root.tables("stores", issues), &assets, &rates, issues);
    let max_connections = server.as_ref().map(|s| s.limits.max_connections);
    let checkout = section(&mut root, "checkout", issues, |t, i| super::checkout::checkout(t, max_connections, i));
    root.finish(issues);
    let server = server?;
    if checkout.listen.is_some_and(|l| l == server.listen && l.port() != 0) {
        issues.push(
            "checkout.listen",
            format!(
                "{} is server.listen too: leave checkout.listen out to serve the pages on the API's listener",
                server.listen
            ),
        );
    }
    let config = Config { server, storage, plugins, chains, assets, dispatch, stores, rates, checkout };
    plugin_references(&config, issues);
    Some(config)
}

/// Reads one top-level table and reports its unknown keys.
fn section<'a, T>(
    root: &mut Table<'a>,
    key: &'static str,
    issues: &mut Issues,
    read: impl FnOnce(&mut Table<'a>, &mut Issues) -> T,
) -> T {
    let mut t = root.table(key, issues);
    let out = read(&mut t, issues);
    t.finish(issues);
    out
}

/// Names of chains and stores: they appear in URLs, keys and env variable names.
fn check_name(t: &Table<'_>, key: &str, v: &str, issues: &mut Issues) -> bool {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && v.as_bytes()[0].is_ascii_alphanumeric();
    if !ok {
        issues.push(
            t.key_path(key),
            format!("{v:?} is not a valid name (1-64 of a-z, 0-9, '_', '-', starting alphanumeric)"),
        );
    }
    ok
}

fn url_with_scheme(
    t: &mut Table<'_>,
    key: &'static str,
    schemes: &[&str],
    required: bool,
    issues: &mut Issues,
) -> Option<Url> {
    let s = if required { t.str(key, issues)? } else { t.opt_str(key, issues)? };
    match Url::parse(&s) {
        Ok(u) if schemes.contains(&u.scheme()) && u.host().is_some() => Some(u),
        Ok(u) => {
            issues.push(
                t.key_path(key),
                // Redacted: node URLs carry hosted providers' keys and passwords.
                format!(
                    "{:?} must be a {} URL with a host (got scheme {:?})",
                    super::redact::url_text(&s),
                    schemes.join("/"),
                    u.scheme()
                ),
            );
            None
        }
        Err(e) => {
            issues.push(t.key_path(key), format!("it is not a valid URL: {e}"));
            None
        }
    }
}

/// A key given either in clear (`key`) or as its SHA-256 in hex (`key_sha256`).
pub(super) fn key_hash(
    t: &mut Table<'_>,
    key: &'static str,
    key_sha256: &'static str,
    issues: &mut Issues,
) -> Option<KeyHash> {
    let plain = t.opt_str(key, issues);
    let hashed = t.opt_str(key_sha256, issues);
    match (plain, hashed) {
        (Some(_), Some(_)) => {
            issues.push(t.key_path(key), format!("set either {key} or {key_sha256}, not both"));
            None
        }
        (Some(k), None) => match super::keys::weakness(&k) {
            Some(why) => {
                issues.push(
                    t.key_path(key),
                    format!("{why}: a key must carry at least 128 random bits; {}", super::keys::HOW),
                );
                None
            }
            None => Some(KeyHash::of_key(&k)),
        },
        (None, Some(h)) => {
            let parsed = KeyHash::from_hex(&h);
            if parsed.is_none() {
                issues.push(t.key_path(key_sha256), format!("{h:?} is not 64 hex digits"));
            }
            parsed
        }
        (None, None) => None,
    }
}

fn server(t: &mut Table<'_>, issues: &mut Issues) -> Option<ServerConfig> {
    let listen_s = t.opt_str("listen", issues).unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen = listen_s.parse::<SocketAddr>().map_err(|e| {
        issues.push(t.key_path("listen"), format!("{listen_s:?} is not an address:port: {e}"));
    });
    let admin_key = key_hash(t, "admin_key", "admin_key_sha256", issues);
    let log_format = match t.opt_str("log_format", issues).as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            issues.push(t.key_path("log_format"), format!("{other:?} is not one of text, json"));
            LogFormat::Text
        }
    };
    let log_filter = t.opt_str("log_filter", issues).unwrap_or_else(|| "info".into());
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_filter) {
        issues.push(t.key_path("log_filter"), format!("{log_filter:?} is not a valid filter: {e}"));
    }
    let tls = tls(t, issues);
    let max_body_bytes = t.u64_in("max_body_bytes", 1 << 20, 1024..=(64 << 20), issues) as usize;
    let limits = server_limits(t, issues);
    Some(ServerConfig { listen: listen.ok()?, admin_key, log_format, log_filter, tls, max_body_bytes, limits })
}

/// The longest long-poll (`GET /v1/events?wait=`) must fit in the request timeout.
const MIN_REQUEST_TIMEOUT_SECS: u64 = 65;

fn server_limits(t: &mut Table<'_>, issues: &mut Issues) -> ServerLimits {
    let max_concurrent_requests = t.u64_in("max_concurrent_requests", 256, 1..=65_536, issues) as usize;
    ServerLimits {
        header_read_timeout_secs: t.u64_in("header_read_timeout_secs", 10, 1..=300, issues),
        body_read_timeout_secs: t.u64_in("body_read_timeout_secs", 15, 1..=600, issues),
        max_connections: t.u64_in("max_connections", default_max_connections(), 1..=1_000_000, issues) as usize,
        max_connections_per_client: t.u64_in("max_connections_per_client", 1024, 1..=1_000_000, issues) as u32,
        max_requests_per_client: t.u64_in("max_requests_per_client", 64, 1..=65_536, issues) as u32,
        trusted_proxies: networks(t, "trusted_proxies", issues),
        request_timeout_secs: t.u64_in("request_timeout_secs", 90, MIN_REQUEST_TIMEOUT_SECS..=3600, issues),
        max_concurrent_requests,
        max_long_polls: max_long_polls(t, max_concurrent_requests, issues),
        public_per_second: t.u64_in("public_per_second", 20, 1..=100_000, issues),
        public_burst: t.u64_in("public_burst", 100, 1..=100_000, issues) as u32,
        auth_failures_per_minute: t.u64_in("auth_failures_per_minute", 30, 1..=60_000, issues),
        auth_failure_burst: t.u64_in("auth_failure_burst", 10, 1..=100_000, issues) as u32,
    }
}

/// Half the process's open-file limit, at most 4096 (each connection is a file descriptor;
/// RocksDB, the node connections and the plugins need theirs).
fn default_max_connections() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the limits into the struct we pass; nothing else is touched.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 { lim.rlim_cur } else { 1024 };
    (soft / 2).clamp(64, 4096)
}

/// Long-polls waiting at once, every store together: fewer than the requests handled at once,
/// so waiting clients never take every slot. Default: half of them, at most 128.
fn max_long_polls(t: &mut Table<'_>, max_concurrent_requests: usize, issues: &mut Issues) -> usize {
    let default = (max_concurrent_requests / 2).clamp(1, 128);
    let n = t.u64_in("max_long_polls", default as u64, 1..=65_536, issues) as usize;
    if t.has("max_long_polls") && n >= max_concurrent_requests {
        issues.push(
            t.key_path("max_long_polls"),
            format!("{n} is not less than max_concurrent_requests = {max_concurrent_requests}: waiting long-polls could take every slot"),
        );
    }
    n
}

fn tls(t: &mut Table<'_>, issues: &mut Issues) -> Option<TlsConfig> {
    let cert = t.opt_str("tls_cert", issues).map(PathBuf::from);
    let key = t.opt_str("tls_key", issues).map(PathBuf::from);
    match (cert, key) {
        (Some(cert), Some(key)) => {
            readable_file(t, "tls_cert", &cert, issues);
            readable_file(t, "tls_key", &key, issues);
            Some(TlsConfig { cert, key })
        }
        (None, None) => None,
        (Some(_), None) => {
            issues.push(t.key_path("tls_key"), "missing: tls_cert is set, HTTPS needs both");
            None
        }
        (None, Some(_)) => {
            issues.push(t.key_path("tls_cert"), "missing: tls_key is set, HTTPS needs both");
            None
        }
    }
}

fn readable_file(t: &Table<'_>, key: &str, p: &std::path::Path, issues: &mut Issues) {
    if let Err(e) = std::fs::File::open(p) {
        issues.push(t.key_path(key), format!("cannot read {}: {e}", p.display()));
    }
}

fn storage(t: &mut Table<'_>, issues: &mut Issues) -> StorageConfig {
    let path = t.opt_str("path", issues).unwrap_or_else(|| "./data".into());
    if path.trim().is_empty() {
        issues.push(t.key_path("path"), "must not be empty");
    }
    let memory_budget = memory_budget(t, issues);
    StorageConfig { path: PathBuf::from(path), memory_budget }
}

/// Smallest and default `storage.memory_budget` (the database's own, `db::memory`).
const MIN_MEMORY_BUDGET: u64 = 16 << 20;
const DEFAULT_MEMORY_BUDGET: u64 = 256 << 20;

/// `storage.memory_budget`: bytes, or a number with a unit (`KiB`, `MiB`, `GiB`, `KB`, `MB`,
/// `GB`; `k`, `m`, `g` as the binary ones), at least 16 MiB and at most 1 TiB.
fn memory_budget(t: &mut Table<'_>, issues: &mut Issues) -> usize {
    let Some(text) = t.opt_str("memory_budget", issues) else { return DEFAULT_MEMORY_BUDGET as usize };
    let parsed = parse_size(&text);
    match parsed {
        Some(n) if (MIN_MEMORY_BUDGET..=1 << 40).contains(&n) => n as usize,
        Some(n) => {
            issues.push(t.key_path("memory_budget"), format!("{text:?} ({n} bytes) is not between 16MiB and 1TiB"));
            DEFAULT_MEMORY_BUDGET as usize
        }
        None => {
            issues.push(
                t.key_path("memory_budget"),
                format!("{text:?} is not a size: bytes, or a number with KiB, MiB, GiB, KB, MB or GB"),
            );
            DEFAULT_MEMORY_BUDGET as usize
        }
    }
}

/// A size in bytes: `268435456`, `256MiB`, `0.5 GiB`, `512MB`.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    let value = number.parse::<rust_decimal::Decimal>().ok()?.checked_mul(factor.into())?;
    u64::try_from(value.trunc()).ok()
}

fn plugins(t: &mut Table<'_>, issues: &mut Issues) -> PluginsConfig {
    // Not read here: validation is the file alone (`config check --no-plugins`); loading the
    // plugins (`run`, `config check`, `plugins list`) reads the directory and says why it
    // cannot.
    let dir = PathBuf::from(t.opt_str("dir", issues).unwrap_or_else(|| DEFAULT_PLUGIN_DIR.into()));
    let enable = t.str_list("enable", issues);
    for (i, name) in enable.iter().enumerate() {
        check_plugin_name(&format!("{}[{i}]", t.key_path("enable")), name, issues);
    }
    let files = string_map(t, "files", issues, |at, name, file, issues| {
        let plain = !file.is_empty() && file != "." && file != ".." && !file.contains('/') && !file.contains('\0');
        if !plain {
            issues.push(at, format!("{file:?} is not a file name in plugins.dir (no '/')"));
        }
        check_plugin_name(at, name, issues) && plain
    });
    let sha256 = string_map(t, "sha256", issues, |at, name, hash, issues| {
        let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex {
            issues.push(at, format!("{hash:?} is not a SHA-256 (64 hex digits; `paywatch plugins hash` prints it)"));
        }
        check_plugin_name(at, name, issues) && hex
    });
    let sha256 = sha256.into_iter().map(|(n, h)| (n, h.to_ascii_lowercase())).collect();
    let config = t
        .named_tables("config", issues)
        .into_iter()
        .map(|(name, mut table)| {
            check_plugin_name(table.path(), &name, issues);
            table.allow_other_keys();
            let params = PluginParams(table.rest());
            table.finish(issues);
            (name, params)
        })
        .collect();
    PluginsConfig { dir, enable, files, sha256, config }
}

/// `plugins.dir` when not set, relative to the config file's directory (`config::load`).
pub(crate) const DEFAULT_PLUGIN_DIR: &str = "plugins-bin";

/// A table of plugin name → string, each entry kept if `check` accepts it.
fn string_map(
    t: &mut Table<'_>,
    key: &'static str,
    issues: &mut Issues,
    check: impl Fn(&str, &str, &str, &mut Issues) -> bool,
) -> BTreeMap<String, String> {
    let mut table = t.table(key, issues);
    table.allow_other_keys();
    let mut out = BTreeMap::new();
    for (name, v) in table.rest() {
        let at = table.key_path(&name);
        match v {
            Value::String(s) if check(&at, &name, &s, issues) => {
                out.insert(name, s);
            }
            Value::String(_) => {}
            other => issues.push(at, format!("expected a string, got {}", super::reader::show(&other))),
        }
    }
    out
}

/// Plugin names become file names (`docs/plugins.md`, "Which files are loaded"): 1-64 of
/// A-Z, a-z, 0-9, '_', '-', '.', starting alphanumeric.
pub(super) fn check_plugin_name(at: &str, name: &str, issues: &mut Issues) -> bool {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if !ok {
        issues.push(
            at,
            format!(
                "{name:?} is not a valid plugin name (1-64 of A-Z, a-z, 0-9, '_', '.', '-', starting alphanumeric)"
            ),
        );
    }
    ok
}

/// Pins and file names must be for plugins the config loads: a pin that checks nothing
/// would be a false comfort.
fn plugin_references(config: &Config, issues: &mut Issues) {
    let used = config.plugins_used();
    let p = &config.plugins;
    for (what, names) in [("files", p.files.keys().collect::<Vec<_>>()), ("sha256", p.sha256.keys().collect())] {
        for name in names.into_iter().filter(|n| !used.contains_key(*n)) {
            issues.push(
                format!("plugins.{what}.{name}"),
                format!("plugin {name:?} is not used by this config (no asset, endpoint, [plugins.config.{name}] or plugins.enable names it), so it is never loaded"),
            );
        }
    }
}

fn chains(tables: Vec<Table<'_>>, issues: &mut Issues) -> Vec<ChainConfig> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for mut t in tables {
        let fresh = t.peek_str("name").is_none_or(|n| seen.insert(n));
        if !fresh {
            issues
                .push(t.key_path("name"), format!("duplicate chain name {:?}", t.peek_str("name").unwrap_or_default()));
        }
        if let Some(c) = chain(&mut t, issues) {
            if fresh {
                out.push(c);
            }
        }
        t.finish(issues);
    }
    out
}

fn chain(t: &mut Table<'_>, issues: &mut Issues) -> Option<ChainConfig> {
    let name = t.str("name", issues).filter(|n| check_name(t, "name", n, issues));
    let kind = t.str("kind", issues);
    let node = match kind.as_deref() {
        Some("bitcoin") => bitcoin_node(t, issues).map(ChainNode::Bitcoin),
        Some("evm") => evm_node(t, issues).map(ChainNode::Evm),
        Some(other) => {
            issues.push(t.key_path("kind"), format!("{other:?} is not one of bitcoin, evm"));
            // Its other keys belong to a kind we do not know: do not also call them unknown.
            t.allow_other_keys();
            None
        }
        None => {
            t.allow_other_keys();
            None
        }
    };
    let default_window = if matches!(node, Some(ChainNode::Evm(_))) { 64 } else { 100 };
    let default_conf = if matches!(node, Some(ChainNode::Evm(_))) { 12 } else { 1 };
    let confirmations = t.u64_in("confirmations", default_conf, 0..=MAX_CONFIRMATIONS, issues) as u32;
    let reorg_window = t.u64_in("reorg_window", default_window, 1..=100_000, issues) as u32;
    let start_height = t.opt_u64("start_height", issues);
    Some(ChainConfig { name: name?, confirmations, reorg_window, start_height, node: node? })
}

fn bitcoin_node(t: &mut Table<'_>, issues: &mut Issues) -> Option<BitcoinNode> {
    let network = match t.str("network", issues).as_deref() {
        Some("mainnet") => Some(BitcoinNetwork::Mainnet),
        Some("testnet") => Some(BitcoinNetwork::Testnet),
        Some("testnet4") => Some(BitcoinNetwork::Testnet4),
        Some("signet") => Some(BitcoinNetwork::Signet),
        Some("regtest") => Some(BitcoinNetwork::Regtest),
        Some(other) => {
            issues.push(
                t.key_path("network"),
                format!("{other:?} is not one of mainnet, testnet, testnet4, signet, regtest"),
            );
            None
        }
        None => None,
    };
    let rpc_url = url_with_scheme(t, "rpc_url", &["http", "https"], true, issues).and_then(|u| {
        if u.scheme() == "https" {
            let msg = format!("{:?}: bitcoind's RPC speaks plain HTTP only (no TLS); reach a remote node through a tunnel (SSH, WireGuard) and give its local end, e.g. \"http://127.0.0.1:8332\"", u.as_str());
            issues.push(t.key_path("rpc_url"), msg);
            return None;
        }
        Some(u)
    });
    let rpc_auth = rpc_auth(t, issues);
    let zmq = zmq(t, issues);
    let rpc_timeout_secs = t.u64_in("rpc_timeout_secs", 30, 1..=600, issues);
    let poll_secs = t.u64_in("poll_secs", 10, 1..=3600, issues);
    let genesis_hash = t.opt_str("genesis_hash", issues).and_then(|h| {
        let h = h.trim().to_ascii_lowercase();
        if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            Some(h)
        } else {
            issues.push(t.key_path("genesis_hash"), format!("{h:?} is not a block hash (64 hex digits)"));
            None
        }
    });
    let pow_limit = pow_limit(t, genesis_hash.is_some() || t.has("genesis_hash"), issues);
    Some(BitcoinNode {
        network: network?,
        rpc_url: rpc_url?,
        rpc_auth: rpc_auth?,
        zmq,
        rpc_timeout_secs,
        poll_secs,
        genesis_hash,
        pow_limit: pow_limit?,
    })
}

/// `pow_limit`: `"none"` or a 256-bit target in hex. Required with `genesis_hash` (another coin's
/// limit is not Bitcoin's); without it, the network's.
fn pow_limit(t: &mut Table<'_>, other_coin: bool, issues: &mut Issues) -> Option<PowLimit> {
    let Some(v) = t.opt_str("pow_limit", issues) else {
        if other_coin {
            issues.push(
                t.key_path("pow_limit"),
                "required with genesis_hash: set the coin's proof-of-work limit (64 hex digits), or \"none\" for a coin whose proof of work is not the header's double SHA-256 (Litecoin, Dogecoin)",
            );
            return None;
        }
        return Some(PowLimit::Network);
    };
    if !other_coin {
        issues.push(
            t.key_path("pow_limit"),
            format!("{v:?} without genesis_hash: a Bitcoin network's proof-of-work limit and difficulty rules are known and always checked; pow_limit is for another coin (with its genesis_hash)"),
        );
        return None;
    }
    let v = v.trim().to_ascii_lowercase();
    if v == "none" {
        return Some(PowLimit::None);
    }
    let hex = v.strip_prefix("0x").unwrap_or(&v);
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && hex.bytes().any(|b| b != b'0') {
        return Some(PowLimit::Target(hex.to_string()));
    }
    issues.push(
        t.key_path("pow_limit"),
        format!("{v:?} is neither \"none\" nor a non-zero 256-bit target (64 hex digits)"),
    );
    None
}

fn rpc_auth(t: &mut Table<'_>, issues: &mut Issues) -> Option<RpcAuth> {
    let user = t.opt_str("rpc_user", issues);
    let password = t.opt_str("rpc_password", issues);
    let cookie = t.opt_str("rpc_cookie", issues);
    match (user, password, cookie) {
        (Some(user), Some(password), None) => Some(RpcAuth::UserPass { user, password: Secret::new(password) }),
        (None, None, Some(c)) => Some(RpcAuth::Cookie(PathBuf::from(c))),
        (None, None, None) => {
            issues.push(t.key_path("rpc_user"), "missing: set rpc_user and rpc_password, or rpc_cookie");
            None
        }
        (Some(_), None, None) => {
            issues.push(t.key_path("rpc_password"), "missing: rpc_user is set");
            None
        }
        (None, Some(_), None) => {
            issues.push(t.key_path("rpc_user"), "missing: rpc_password is set");
            None
        }
        (_, _, Some(_)) => {
            issues.push(t.key_path("rpc_cookie"), "set either rpc_cookie or rpc_user/rpc_password, not both");
            None
        }
    }
}

fn zmq(t: &mut Table<'_>, issues: &mut Issues) -> ZmqEndpoints {
    let mut one = |key: &'static str, issues: &mut Issues| {
        let v = t.opt_str(key, issues)?;
        let ok = ["tcp://", "ipc://"].iter().any(|p| v.starts_with(p) && v.len() > p.len());
        if !ok {
            issues.push(t.key_path(key), format!("{v:?} is not a ZMQ endpoint (tcp://host:port or ipc://path)"));
        }
        ok.then_some(v)
    };
    let all = one("zmq", issues);
    let rawtx = one("zmq_rawtx", issues).or_else(|| all.clone());
    let hashblock = one("zmq_hashblock", issues).or_else(|| all.clone());
    let rawblock = one("zmq_rawblock", issues).or_else(|| all.clone());
    let sequence = one("zmq_sequence", issues).or_else(|| all.clone());
    ZmqEndpoints { rawtx, hashblock, rawblock, sequence }
}

fn evm_node(t: &mut Table<'_>, issues: &mut Issues) -> Option<EvmNode> {
    let chain_id = t.opt_u64("chain_id", issues);
    if chain_id == Some(0) {
        issues.push(t.key_path("chain_id"), "must be positive");
    } else if chain_id.is_none() && !t.has("chain_id") {
        issues.push(t.key_path("chain_id"), "missing required key");
    }
    let ws_url = url_with_scheme(t, "ws_url", &["ws", "wss"], true, issues);
    // Plain HTTP only (a node beside the daemon); for TLS, leave http_url out and give a wss
    // ws_url: requests then go over the WebSocket.
    let http_url = url_with_scheme(t, "http_url", &["http"], false, issues);
    let rpc_timeout_secs = t.u64_in("rpc_timeout_secs", 30, 1..=600, issues);
    let poll_secs = t.u64_in("poll_secs", 5, 1..=3600, issues);
    let traces = match t.opt_str("traces", issues).as_deref() {
        None | Some("off") => Traces::Off,
        Some("parity") => Traces::Parity,
        Some("geth") => Traces::Geth,
        Some(other) => {
            issues.push(
                t.key_path("traces"),
                format!("{other:?} is not one of off, parity (trace_block), geth (debug_traceBlockByNumber)"),
            );
            Traces::Off
        }
    };
    let verify_blocks = t.bool_or("verify_blocks", true, issues);
    Some(EvmNode {
        chain_id: chain_id.filter(|c| *c > 0)?,
        ws_url: ws_url?,
        http_url,
        rpc_timeout_secs,
        poll_secs,
        traces,
        verify_blocks,
    })
}

fn assets(tables: Vec<Table<'_>>, chains: &[String], issues: &mut Issues) -> Vec<AssetConfig> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for mut t in tables {
        let id = t.str("id", issues);
        if let Some(id) = &id {
            let ok = !id.is_empty()
                && id.len() <= 32
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !ok {
                issues.push(
                    t.key_path("id"),
                    format!("{id:?} is not a valid asset id (1-32 of A-Z, a-z, 0-9, '_', '.', '-')"),
                );
            } else if !seen.insert(id.clone()) {
                issues.push(t.key_path("id"), format!("duplicate asset id {id:?}"));
            }
        }
        let chain = t.str("chain", issues);
        if let Some(c) = &chain {
            if !chains.contains(c) {
                issues.push(t.key_path("chain"), format!("unknown chain {c:?}"));
            }
        }
        let plugin = t.str("plugin", issues);
        if let Some(p) = &plugin {
            check_plugin_name(&t.key_path("plugin"), p, issues);
        }
        let contract = t.opt_str("contract", issues);
        let decimals = t.opt_u64("decimals", issues).and_then(|d| {
            let ok = d <= u64::from(MAX_DECIMALS);
            if !ok {
                issues.push(t.key_path("decimals"), format!("{d} is more than {MAX_DECIMALS}"));
            }
            ok.then_some(d as u8)
        });
        let max_invoice_amount = asset_amount(&mut t, "max_invoice_amount", decimals, issues);
        let min_payment = asset_amount(&mut t, "min_payment", decimals, issues);
        let rate_code = super::rates::rate_code(&mut t, id.as_deref(), issues);
        t.allow_other_keys();
        let params = PluginParams(t.rest());
        if let (Some(id), Some(chain), Some(plugin)) = (id, chain, plugin) {
            out.push(AssetConfig {
                id,
                chain,
                plugin,
                contract,
                decimals,
                max_invoice_amount,
                min_payment,
                rate_code,
                params,
            });
        }
    }
    out
}

/// An amount key of an asset, in the asset's unit (`"0.00000546"`; a TOML integer is read as
/// one), trimmed: a non-negative decimal with at most the table's `decimals` when it sets them
/// (the plugin's decimals, and how the asset's amounts relate, are checked at start by
/// `startup::asset_limits`).
fn asset_amount(t: &mut Table<'_>, key: &'static str, decimals: Option<u8>, issues: &mut Issues) -> Option<String> {
    let text = t.opt_str(key, issues)?.trim().to_string();
    let own_scale = text.split_once('.').map_or(0, |(_, frac)| frac.len().min(MAX_DECIMALS.into()) as u8);
    match Amount::parse_units(&text, decimals.unwrap_or(own_scale)) {
        Ok(_) => Some(text),
        Err(e) => {
            issues.push(t.key_path(key), format!("{e}: expected an amount in the asset's unit, e.g. \"0.001\""));
            None
        }
    }
}

/// Waits between delivery attempts: about three days in all (BTCPay gives up after an hour).
const DEFAULT_RETRY_SCHEDULE: [u64; 9] = [5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400];

/// `5s`, `5m`, `2h`, `1d` (or plain seconds) → seconds.
fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|v| *v <= 7 * 86_400)
}

/// `allow_private` of `[dispatch]` or of a store: IPs or CIDRs, each problem with its index.
fn allow_private(t: &mut Table<'_>, issues: &mut Issues) -> Vec<IpNet> {
    networks(t, "allow_private", issues)
}

/// A list of IPs or CIDRs at `key`, each problem with its index.
pub(super) fn networks(t: &mut Table<'_>, key: &'static str, issues: &mut Issues) -> Vec<IpNet> {
    let entries = t.str_list(key, issues);
    let mut nets = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let parsed = e.parse::<IpNet>().or_else(|_| e.parse::<IpAddr>().map(IpNet::from));
        match parsed {
            Ok(net) => nets.push(net),
            Err(_) => issues.push(format!("{}[{i}]", t.key_path(key)), format!("{e:?} is not an IP address or CIDR")),
        }
    }
    nets
}

fn dispatch(t: &mut Table<'_>, issues: &mut Issues) -> DispatchConfig {
    let allow_private = allow_private(t, issues);
    let schedule = t.str_list("retry_schedule", issues);
    let retry_schedule_secs = if t.has("retry_schedule") {
        schedule
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match parse_duration(d) {
                Some(s) => Some(s),
                None => {
                    issues.push(
                        format!("{}[{i}]", t.key_path("retry_schedule")),
                        format!("{d:?} is not a duration like 5s, 5m, 2h or 1d"),
                    );
                    None
                }
            })
            .collect()
    } else {
        DEFAULT_RETRY_SCHEDULE.to_vec()
    };
    if retry_schedule_secs.is_empty() {
        issues.push(t.key_path("retry_schedule"), "must have at least one step");
    }
    DispatchConfig { allow_private, retry_schedule_secs }
}

fn stores(
    tables: Vec<Table<'_>>,
    assets: &[AssetConfig],
    rates: &RatesConfig,
    issues: &mut Issues,
) -> Vec<StoreConfig> {
    let mut ids = HashSet::new();
    let mut out: Vec<StoreConfig> = Vec::new();
    for mut t in tables {
        let s = store(&mut t, assets, rates, Origin::File, issues);
        if let Some(s) = s {
            if !ids.insert(s.id.clone()) {
                issues.push(t.key_path("id"), format!("duplicate store id {:?}", s.id));
            } else if let Some(other) = out.iter().find(|o| o.api_key.is_some() && o.api_key == s.api_key) {
                issues.push(
                    t.key_path("api_key"),
                    format!("same API key as store {:?}: each store needs its own", other.id),
                );
            } else if let Some((key, other)) =
                out.iter().find_map(|o| super::compat::shared_credential(&s.gateways, &o.gateways).map(|k| (k, o)))
            {
                issues.push(t.key_path(key), format!("same as store {:?}'s: each store needs its own", other.id));
            } else {
                for (asset, other, other_asset) in shared_receive_sources(&s, &out, assets) {
                    issues.push(
                        format!("{}.{asset}", t.key_path("receive")),
                        format!(
                            "hands out the same addresses as store {other:?} (receive.{other_asset}): one payment would settle invoices of both; give each store its own receive source"
                        ),
                    );
                }
                out.push(s);
            }
        }
        t.finish(issues);
    }
    out
}

/// The receive sources of `s` that an earlier store also uses on the same chain: the same
/// descriptor or xpub, or an address in both lists. (asset of `s`, other store, its asset.)
fn shared_receive_sources(
    s: &StoreConfig,
    earlier: &[StoreConfig],
    assets: &[AssetConfig],
) -> Vec<(String, String, String)> {
    let chain = |asset: &str| assets.iter().find(|a| a.id == asset).map(|a| a.chain.as_str());
    let overlap = |a: &ReceiveConfig, b: &ReceiveConfig| match (a, b) {
        (ReceiveConfig::Descriptor(x), ReceiveConfig::Descriptor(y))
        | (ReceiveConfig::Xpub(x), ReceiveConfig::Xpub(y)) => x.trim() == y.trim(),
        (ReceiveConfig::Addresses(x), ReceiveConfig::Addresses(y)) => {
            x.iter().any(|a| y.iter().any(|b| a.trim().eq_ignore_ascii_case(b.trim())))
        }
        _ => false,
    };
    let mut out = Vec::new();
    for (asset, source) in &s.receive {
        for o in earlier {
            let hit = o.receive.iter().find(|(oa, os)| chain(oa) == chain(asset) && overlap(source, os));
            if let Some((other_asset, _)) = hit {
                out.push((asset.clone(), o.id.clone(), other_asset.clone()));
            }
        }
    }
    out
}

/// Where a store is declared: the config file, or the admin API (no key of its own, no
/// config endpoints, no gateway: those are made through the API or the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    File,
    Api,
}

/// Keys a store made through the admin API may not have, and where the thing is made instead.
const NOT_FOR_API_STORES: [(&str, &str); 6] = [
    ("api_key", "make its keys with POST /v1/admin/stores/{id}/keys"),
    ("api_key_sha256", "make its keys with POST /v1/admin/stores/{id}/keys"),
    ("endpoints", "make its endpoints with POST /v1/endpoints and the store's key"),
    ("bitpay", "gateway-compatible APIs are set in the config file"),
    ("coingate", "gateway-compatible APIs are set in the config file"),
    ("coinpayments", "gateway-compatible APIs are set in the config file"),
];

/// A store as the admin API gives it (the keys of a `[[stores]]` table, as JSON), validated as
/// the config file's stores are; every problem at once, with its key path.
pub(crate) fn store_spec(
    spec: &Value,
    assets: &[AssetConfig],
    rates: &RatesConfig,
) -> Result<StoreConfig, Vec<super::ConfigIssue>> {
    let mut issues = Issues::default();
    let mut t = Table::root(spec, &mut issues);
    for (key, instead) in NOT_FOR_API_STORES {
        if t.has(key) {
            issues.push(key, format!("not for a store made through the admin API: {instead}"));
            t.ignore(key);
        }
    }
    let s = store(&mut t, assets, rates, Origin::Api, &mut issues);
    t.finish(&mut issues);
    match (s, issues.0.is_empty()) {
        (Some(s), true) => Ok(s),
        _ => Err(issues.0),
    }
}

fn store(
    t: &mut Table<'_>,
    assets: &[AssetConfig],
    rates: &RatesConfig,
    origin: Origin,
    issues: &mut Issues,
) -> Option<StoreConfig> {
    let id = t.str("id", issues).filter(|n| check_name(t, "id", n, issues));
    let name = t.opt_str("name", issues).filter(|n| display_name(t, n, issues));
    let api_key = match origin {
        Origin::File => {
            let key = key_hash(t, "api_key", "api_key_sha256", issues);
            if key.is_none() && !t.has("api_key") && !t.has("api_key_sha256") {
                issues.push(t.key_path("api_key"), "missing: set api_key or api_key_sha256");
            }
            Some(key)
        }
        Origin::Api => None,
    };
    let speed = t.u64_in("speed", 1, 0..=MAX_CONFIRMATIONS, issues) as u32;
    let invoice_expiry_secs = t.u64_in("invoice_expiry_secs", 900, 60..=30 * 86_400, issues);
    let payment_tolerance_percent = t.u64_in("payment_tolerance_percent", 0, 0..=50, issues) as u32;
    let monitoring_secs = t.u64_in("monitoring_secs", 86_400, 0..=30 * 86_400, issues);
    let refund_claim_secs = t.u64_in("refund_claim_secs", 7 * 86_400, 1..=365 * 86_400, issues);
    let mut receive = BTreeMap::new();
    for (asset, mut r) in t.named_tables("receive", issues) {
        if !assets.iter().any(|a| a.id == asset) {
            issues.push(r.path().to_string(), format!("unknown asset {asset:?}"));
        }
        if let Some(rc) = receive_config(&mut r, issues) {
            receive.insert(asset, rc);
        }
        r.finish(issues);
    }
    let endpoints: Vec<EndpointConfig> = match origin {
        Origin::File => {
            t.tables("endpoints", issues).into_iter().filter_map(|mut e| endpoint(&mut e, issues)).collect()
        }
        Origin::Api => Vec::new(),
    };
    let max_endpoints = t.u64_in("max_endpoints", 20, 1..=1000, issues) as u32;
    if endpoints.len() > max_endpoints as usize {
        issues.push(
            t.key_path("endpoints"),
            format!("{} endpoints, more than max_endpoints = {max_endpoints}", endpoints.len()),
        );
    }
    let max_long_polls = t.u64_in("max_long_polls", 32, 1..=65_536, issues) as u32;
    let allow_private = allow_private(t, issues);
    let max_watches = t.u64_in("max_watches", DEFAULT_MAX_WATCHES, 1..=100_000_000, issues);
    let max_refunds_per_invoice = t.u64_in("max_refunds_per_invoice", 50, 1..=10_000, issues) as u32;
    let refund_approval_above = refund_approval_above(t, assets, issues);
    let rates = super::rates::store_rates(t, rates, issues);
    let gateways = match origin {
        Origin::File => super::compat::gateways(t, issues),
        Origin::Api => super::compat::StoreGateways::default(),
    };
    let id = id?;
    let api_key = match api_key {
        Some(key) => Some(key?),
        None => None,
    };
    Some(StoreConfig {
        name: name.unwrap_or_else(|| id.clone()),
        id,
        api_key,
        speed,
        invoice_expiry_secs,
        payment_tolerance_percent,
        monitoring_secs,
        refund_claim_secs,
        receive,
        endpoints,
        max_endpoints,
        max_long_polls,
        allow_private,
        max_watches,
        max_refunds_per_invoice,
        refund_approval_above,
        rates,
        gateways,
    })
}

/// `refund_approval_above = { USD = "1000", BTC = "0.05" }`: a positive decimal per currency
/// an invoice can be priced in (an ISO 4217 code with minor units, or an asset id): a threshold
/// for any other code, a typo say, would never apply.
fn refund_approval_above(
    t: &mut Table<'_>,
    assets: &[AssetConfig],
    issues: &mut Issues,
) -> BTreeMap<String, rust_decimal::Decimal> {
    let mut out = BTreeMap::new();
    for (code, value) in t.str_map("refund_approval_above", issues) {
        let path = format!("{}.{code}", t.key_path("refund_approval_above"));
        if crate::rates::minor_units(&code).is_none() && !assets.iter().any(|a| a.id == code) {
            issues.push(
                path,
                format!(
                    "{code:?} is not a currency code invoices are priced in (an ISO 4217 code with minor units, or an asset id): its threshold would never apply"
                ),
            );
            continue;
        }
        match super::rates::parse_positive(value.trim()) {
            Ok(d) => {
                out.insert(code, d);
            }
            Err(why) => issues.push(path, format!("{why}: a positive amount like \"1000\" or \"0.05\"")),
        }
    }
    out
}

/// A store's display name: what customers read on its checkout page, so 1 to 100 characters
/// with no control or bidirectional characters.
fn display_name(t: &Table<'_>, name: &str, issues: &mut Issues) -> bool {
    let n = name.chars().count();
    let bad = name
        .chars()
        .find(|c| c.is_control() || ('\u{202A}'..='\u{202E}').contains(c) || ('\u{2066}'..='\u{2069}').contains(c));
    let problem = match bad {
        _ if name.trim().is_empty() || n > 100 => format!("{name:?} must be 1 to 100 characters"),
        Some(c) => format!("{name:?} has a control character, U+{:04X}", c as u32),
        None => return true,
    };
    issues.push(t.key_path("name"), problem);
    false
}

/// A store's `max_watches` unless set. Invoices' addresses count (a paid invoice keeps its
/// watch; an unpaid one gives it back after monitoring), so a shop taking a thousand paid
/// orders a day reaches it in about three years; meanwhile the store's keys in the watch set
/// take at most about 21 MB of memory (`index/fingerprints.rs`), and its records about 0.4 KB
/// of JSON and keys per watch before compression.
const DEFAULT_MAX_WATCHES: u64 = 1_000_000;

fn receive_config(t: &mut Table<'_>, issues: &mut Issues) -> Option<ReceiveConfig> {
    let descriptor = t.opt_str("descriptor", issues);
    let xpub = t.opt_str("xpub", issues);
    let addresses = t.has("addresses").then(|| t.str_list("addresses", issues));
    let receive = match (descriptor, xpub, addresses) {
        (Some(d), None, None) => ReceiveConfig::Descriptor(d),
        (None, Some(x), None) => ReceiveConfig::Xpub(x),
        (None, None, Some(a)) if !a.is_empty() => ReceiveConfig::Addresses(a),
        (None, None, Some(_)) => {
            issues.push(t.key_path("addresses"), "must list at least one address");
            return None;
        }
        _ => {
            issues.push(t.path().to_string(), "set exactly one of descriptor, xpub, addresses");
            return None;
        }
    };
    // Named, never echoed: the message must not spread the key further.
    if let Some(what) = super::private_key::find(&receive) {
        issues.push(
            t.path().to_string(),
            format!("holds {what}: paywatch needs only public data, the account's extended public key (xpub, tpub, …) or a descriptor of public keys; if this key was ever shared or stored where others can read it, move its funds"),
        );
        return None;
    }
    Some(receive)
}

fn endpoint(t: &mut Table<'_>, issues: &mut Issues) -> Option<EndpointConfig> {
    let plugin = t.str("plugin", issues);
    if let Some(p) = &plugin {
        check_plugin_name(&t.key_path("plugin"), p, issues);
    }
    let url = url_with_scheme(t, "url", &["http", "https"], true, issues);
    let secret = t.opt_str("secret", issues).map(Secret::new);
    let events = t.str_list("events", issues);
    for (i, e) in events.iter().enumerate() {
        let ok = !e.is_empty() && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.' || b == b'*');
        if !ok {
            issues.push(
                format!("{}[{i}]", t.key_path("events")),
                format!("{e:?} is not an event type or pattern like \"invoice.*\""),
            );
        }
    }
    t.allow_other_keys();
    let params = PluginParams(t.rest());
    Some(EndpointConfig { plugin: plugin?, url: url?, secret, events, params })
}
