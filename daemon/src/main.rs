//! `paywatch`: parse arguments, load config, init tracing, run.
// The command line's output is its interface: printing is this file's job, not the library's.
#![allow(clippy::print_stdout)]

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "paywatch", version, about = "Self-hosted, non-custodial crypto payment daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon until SIGINT or SIGTERM.
    Run(ConfigArg),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Plugin commands.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Chain commands, run while the daemon is stopped.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// API key commands.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The BitPay-compatible API's pairing (docs/compat.md), run while the daemon is stopped
    /// (the store is locked while it runs: then use POST /v1/bitpay/pairing-codes).
    #[command(subcommand)]
    Bitpay(BitpayCommand),
    /// Check each chain's node and this machine's side (store directory, plugins) for what
    /// would otherwise fail silently later; print each problem with its fix (docs/doctor.md).
    /// Exit 1 on any problem, 2 when the config is invalid.
    Doctor(DoctorArgs),
    /// Back the store up into a new directory (docs/operations.md): with the daemon stopped,
    /// directly; while it runs, through its API (the admin key in PAYWATCH_ADMIN_KEY).
    Backup(BackupArgs),
    /// With the daemon stopped: check a backup and copy it in as storage.path.
    Restore(RestoreArgs),
}

#[derive(Debug, clap::Args)]
struct DoctorArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print the checks as JSON (`{"checks": [{name, chain, verdict, detail, fix}], "problems",
    /// "warnings"}`).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct BackupArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The backup directory: new, its parent existing.
    #[arg(long)]
    to: PathBuf,
}

#[derive(Debug, clap::Args)]
struct RestoreArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// A directory `paywatch backup` made.
    #[arg(long)]
    from: PathBuf,
    /// Restore over a non-empty storage.path, renaming it to PATH.before-restore-UNIXTIME
    /// (never deleted).
    #[arg(long)]
    force: bool,
    /// Move every address pool on by this many more addresses: at least the invoices made
    /// after the backup, when the store being replaced cannot be read (it is, when it can: its
    /// pools are taken over). Else a new invoice could get a lost invoice's address.
    #[arg(long, default_value_t = 0)]
    skip_addresses: u32,
}

#[derive(Debug, Subcommand)]
enum BitpayCommand {
    /// Make a pairing code for a store's BitPay client and print it: the client sends it with
    /// its id to POST /bitpay/tokens and gets its token.
    Pair(BitpayPairArgs),
    /// Approve a client's own pairing request (the code its POST /bitpay/tokens answered): its
    /// token acts for the store from then on. Prints the token's id.
    Approve(BitpayApproveArgs),
}

#[derive(Debug, clap::Args)]
struct BitpayPairArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The store, by its id in the config (it needs a `[stores.bitpay]` table).
    #[arg(long)]
    store: String,
    /// `pos` (the token alone) or `merchant` (requests signed with the client's key).
    #[arg(long)]
    facade: String,
    /// Shown to the client with its token.
    #[arg(long)]
    label: Option<String>,
}

#[derive(Debug, clap::Args)]
struct BitpayApproveArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The store the client's token will act for.
    #[arg(long)]
    store: String,
    /// The client's pairing code.
    code: String,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Print a fresh random API key (for `api_key` or `admin_key`) and its SHA-256 (for
    /// `api_key_sha256` or `admin_key_sha256`, so the config does not hold the key itself).
    New,
    /// With the daemon stopped (else POST /v1/admin/stores/{id}/keys): make a store's API key
    /// with scopes, a label and an optional expiry; prints the key, shown this once.
    Create(KeysCreateArgs),
    /// With the daemon stopped (else GET /v1/admin/stores/{id}/keys): a store's keys, one JSON
    /// object per line (never the keys themselves).
    List(KeysListArgs),
    /// With the daemon stopped (else DELETE /v1/admin/keys/{id}): revoke a key by its id.
    Revoke(KeysRevokeArgs),
}

#[derive(Debug, clap::Args)]
struct KeysCreateArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The store the key acts for.
    #[arg(long)]
    store: String,
    /// What the key is for, e.g. "checkout server".
    #[arg(long)]
    label: String,
    /// Comma-separated scopes (invoices:read, invoices:create, invoices:cancel, refunds:write,
    /// refunds:approve, endpoints:manage, events:read, watches:read, watches:write, rates:read,
    /// gateways:manage), or `*` for every one.
    #[arg(long, value_delimiter = ',', required = true)]
    scopes: Vec<String>,
    /// When the key stops working (RFC 3339, e.g. 2027-06-30T00:00:00Z); default: never.
    #[arg(long, value_parser = parse_rfc3339)]
    expires_at: Option<time::OffsetDateTime>,
}

#[derive(Debug, clap::Args)]
struct KeysListArgs {
    #[command(flatten)]
    config: ConfigArg,
    #[arg(long)]
    store: String,
}

#[derive(Debug, clap::Args)]
struct KeysRevokeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The key's id (`key_…`).
    id: String,
}

fn parse_rfc3339(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time like 2027-06-30T00:00:00Z: {e}"))
}

#[derive(Debug, Subcommand)]
enum ChainCommand {
    /// After a reorg deeper than the chain's reorg_window (the chain stopped and said so), with
    /// the daemon stopped: find the highest block known to be in the node's chain, print the
    /// payments whose blocks the node's chain no longer holds, and (with --yes) reverse them
    /// (payment.reversed, their invoices re-evaluated, as for a reorg) and make that block the
    /// chain's cursor, in one atomic write. The daemon scans the node's blocks above it when it
    /// starts. Without --yes nothing is changed. Exit 1 when refused.
    Rewind(RewindArgs),
}

#[derive(Debug, clap::Args)]
struct RewindArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The chain, by its name in the config.
    #[arg(long)]
    chain: String,
    /// The height to rewind to; default: the highest block known to be in the node's chain
    /// (a higher one is refused).
    #[arg(long)]
    height: Option<u64>,
    /// Apply the rewind; without it, a dry run that changes nothing.
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// Print every library file of `plugins.dir` with its trust verdict and SHA-256, and load
    /// only the plugins the config uses, as `run` does, to print their kind, name, version
    /// and ABI (exit 1 if one of them was refused). Other files are never loaded.
    List(ConfigArg),
    /// Print the `[plugins.sha256]` lines pinning the files of the plugins the config uses
    /// (nothing is loaded); with FILEs, print each file's SHA-256 instead.
    Hash(PluginHashArgs),
    /// Load one plugin library (no daemon config needed), check it as `run` would, run the SDK's
    /// conformance checks on it and print what they found (exit 1 if any failed).
    Check(PluginCheckArgs),
}

#[derive(Debug, clap::Args)]
struct PluginHashArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Library files to hash (no config needed).
    files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct PluginCheckArgs {
    /// The library (`.so`).
    file: PathBuf,
    /// The kind of chain to check a currency plugin against (`bitcoin`, `evm`); default: the
    /// plugin's own.
    #[arg(long)]
    chain_kind: Option<String>,
    /// The chain's network for a bitcoin-kind plugin.
    #[arg(long, default_value = "mainnet")]
    network: String,
    /// The chain id for an evm-kind plugin.
    #[arg(long, default_value_t = 1)]
    chain_id: u64,
    /// The asset id a currency plugin is created for.
    #[arg(long, default_value = "TEST")]
    asset: String,
    /// More config as a JSON object: the asset's own keys (e.g. '{"contract": "0x…",
    /// "decimals": 6}'), or a platform plugin's `[plugins.config.NAME]`.
    #[arg(long, value_parser = json_object)]
    config: Option<serde_json::Map<String, serde_json::Value>>,
    /// An endpoint a platform plugin accepts, as a JSON object (e.g. '{"url": "https://…",
    /// "secret": "whsec_…"}').
    #[arg(long, value_parser = json_object)]
    endpoint: Option<serde_json::Map<String, serde_json::Value>>,
    /// Reference data for a currency plugin of a chain kind the kit has none for: a JSON file
    /// `{"block": HEX, "txs": [{"txid", "raw": HEX}], "watch": [HEX], "expected": [{"txid",
    /// "index", "amount_base"}]}`.
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// Give up (and fail) when the checks take longer than this many seconds: a plugin call
    /// that never returns would stall the daemon the same way.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

fn json_object(s: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    serde_json::from_str(s).map_err(|e| format!("not a JSON object: {e}"))
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration, create every plugin instance it uses (as `run` does) and
    /// print the configuration, secrets redacted; exit 2 when invalid.
    Check(ConfigCheckArgs),
}

#[derive(Debug, clap::Args)]
struct ConfigCheckArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Check the file's keys and values only, without loading plugins.
    #[arg(long)]
    no_plugins: bool,
}

#[derive(Debug, clap::Args)]
struct ConfigArg {
    /// TOML file; `PAYWATCH_*` environment variables override it.
    #[arg(long, short, env = "PAYWATCH_CONFIG")]
    config: Option<PathBuf>,
}

/// Exit code of an invalid configuration.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config(ConfigCommand::Check(arg)) => check(arg),
        Command::Plugins(PluginsCommand::List(arg)) => list_plugins(arg),
        Command::Plugins(PluginsCommand::Hash(arg)) => hash_plugins(arg),
        Command::Plugins(PluginsCommand::Check(arg)) => check_plugin(arg),
        Command::Chain(ChainCommand::Rewind(arg)) => rewind(arg),
        Command::Bitpay(cmd) => bitpay(cmd),
        Command::Doctor(arg) => doctor(arg),
        Command::Backup(arg) => backup(arg),
        Command::Restore(arg) => restore(arg),
        Command::Keys(KeysCommand::New) => {
            let (key, sha256) = paywatch::config::new_key();
            println!("key: {key}\nsha256: {sha256}");
            ExitCode::SUCCESS
        }
        Command::Keys(cmd) => keys(cmd),
        Command::Run(arg) => {
            let config = match load_config(arg.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            paywatch::init_tracing(config.server.log_format, &config.server.log_filter);
            match run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("paywatch: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The configuration, or the exit code of an invalid one (its problems printed).
fn load_config(path: Option<&std::path::Path>) -> Result<paywatch::Config, ExitCode> {
    paywatch::config::load(path).map_err(|e| {
        eprintln!("paywatch: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

fn check(arg: ConfigCheckArgs) -> ExitCode {
    let config = match load_config(arg.config.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !arg.no_plugins {
        match paywatch::check_plugins(&config) {
            Ok(lines) => lines.iter().for_each(|l| eprintln!("paywatch: {l}")),
            Err(e) => {
                eprintln!("paywatch: invalid configuration: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    match toml::to_string(&config) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paywatch: cannot print the configuration: {e}");
            ExitCode::FAILURE
        }
    }
}

fn list_plugins(arg: ConfigArg) -> ExitCode {
    let config = match load_config(arg.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rows = match paywatch::list_plugins(&config) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("paywatch: plugin directory {}: {e}", config.plugins.dir.display());
            return ExitCode::FAILURE;
        }
    };
    println!("{:<44} {:<9} {:<20} {:<9} {:<4} STATUS", "FILE", "KIND", "NAME", "VERSION", "ABI");
    for r in &rows {
        let file = r.file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "-".into());
        let dash = |v: Option<&str>| v.unwrap_or("-").to_string();
        let name = r.name.as_deref().or(r.configured_as.as_deref());
        let status = match (&r.configured_as, &r.error, &r.untrusted) {
            (Some(_), None, _) if r.loaded => "loaded".to_string(),
            (Some(_), Some(e), _) => format!("refused: {e}"),
            (None, _, Some(why)) => format!("not configured, not loaded; untrusted: {why}"),
            _ => "not configured, not loaded".to_string(),
        };
        println!(
            "{file:<44} {:<9} {:<20} {:<9} {:<4} {status}",
            dash(r.kind()),
            dash(name),
            dash(r.version.as_deref()),
            dash(r.abi.as_deref())
        );
        if let Some(h) = &r.sha256 {
            println!("    sha256 {h}");
        }
    }
    if rows.is_empty() {
        println!("(no plugin files in {})", config.plugins.dir.display());
    }
    if rows.iter().all(|r| r.loaded || r.configured_as.is_none()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn hash_plugins(arg: PluginHashArgs) -> ExitCode {
    if !arg.files.is_empty() {
        let mut code = ExitCode::SUCCESS;
        for f in &arg.files {
            match paywatch::plugin_file_hash(f) {
                Ok(h) => println!("{h}  {}", f.display()),
                Err(e) => {
                    eprintln!("paywatch: {}: {e}", f.display());
                    code = ExitCode::FAILURE;
                }
            }
        }
        return code;
    }
    let config = match load_config(arg.config.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let lines = match paywatch::plugin_pins(&config) {
        Ok(lines) => lines,
        Err(e) => {
            eprintln!("paywatch: plugin directory {}: {e}", config.plugins.dir.display());
            return ExitCode::FAILURE;
        }
    };
    println!("[plugins.sha256]");
    let mut code = ExitCode::SUCCESS;
    for line in lines {
        match line {
            Ok(l) => println!("{l}"),
            Err(e) => {
                eprintln!("paywatch: {e}");
                code = ExitCode::FAILURE;
            }
        }
    }
    code
}

fn check_plugin(arg: PluginCheckArgs) -> ExitCode {
    let fixture = match arg.fixture.as_deref().map(read_fixture).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("paywatch: {e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let opts = paywatch::CheckOptions {
        chain_kind: arg.chain_kind,
        network: Some(arg.network),
        chain_id: Some(arg.chain_id),
        asset: Some(arg.asset),
        config: arg.config.unwrap_or_default(),
        endpoint: arg.endpoint.map(serde_json::Value::Object),
        fixture,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let file = arg.file.clone();
    // The checks call into the library; one that never returns must not hang the command.
    std::thread::spawn(move || {
        let _ = tx.send(paywatch::check_plugin_file(&file, &opts));
    });
    let checked = match rx.recv_timeout(std::time::Duration::from_secs(arg.timeout_secs)) {
        Ok(checked) => checked,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            eprintln!(
                "paywatch: {}: the checks did not finish within {} s: a plugin call does not return",
                arg.file.display(),
                arg.timeout_secs
            );
            return ExitCode::FAILURE;
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            eprintln!("paywatch: {}: the checks stopped without a report", arg.file.display());
            return ExitCode::FAILURE;
        }
    };
    match checked {
        Ok(paywatch::Checked { header, notes, report }) => {
            println!("{header}");
            notes.iter().for_each(|n| println!("note: {n}"));
            println!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("paywatch: refused: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bitpay(cmd: BitpayCommand) -> ExitCode {
    let config_arg = match &cmd {
        BitpayCommand::Pair(a) => a.config.config.as_deref(),
        BitpayCommand::Approve(a) => a.config.config.as_deref(),
    };
    let config = match load_config(config_arg) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let done = match &cmd {
        BitpayCommand::Pair(a) => {
            paywatch::bitpay_pair(&config, &a.store, &a.facade, a.label.clone()).map(|(code, expires)| {
                format!("{code}\n(a {} pairing code for store {}, until unix time {expires})", a.facade, a.store)
            })
        }
        BitpayCommand::Approve(a) => paywatch::bitpay_approve(&config, &a.store, &a.code)
            .map(|id| format!("approved: token {id} acts for store {}", a.store)),
    };
    match done {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paywatch: bitpay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn keys(cmd: KeysCommand) -> ExitCode {
    let config_arg = match &cmd {
        KeysCommand::New => None,
        KeysCommand::Create(a) => a.config.config.as_deref(),
        KeysCommand::List(a) => a.config.config.as_deref(),
        KeysCommand::Revoke(a) => a.config.config.as_deref(),
    };
    let config = match load_config(config_arg) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let done = match &cmd {
        KeysCommand::New => Ok(String::new()),
        KeysCommand::Create(a) => paywatch::keys_create(&config, &a.store, &a.label, &a.scopes, a.expires_at)
            .map(|(key, view)| format!("key: {key}\n(shown this once; the daemon keeps its SHA-256)\n{view}")),
        KeysCommand::List(a) => paywatch::keys_list(&config, &a.store)
            .map(|keys| keys.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")),
        KeysCommand::Revoke(a) => paywatch::keys_revoke(&config, &a.id).map(|view| format!("revoked: {view}")),
    };
    match done {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paywatch: {e}");
            ExitCode::FAILURE
        }
    }
}

fn doctor(arg: DoctorArgs) -> ExitCode {
    let config = match load_config(arg.config.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let report = paywatch::doctor(&config);
    if arg.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("paywatch: cannot print the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!("{report}");
    }
    if report.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn rewind(arg: RewindArgs) -> ExitCode {
    let config = match load_config(arg.config.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match paywatch::rewind_chain(&config, &arg.chain, arg.height, arg.yes) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paywatch: chain rewind refused, nothing was changed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn backup(arg: BackupArgs) -> ExitCode {
    let config = match load_config(arg.config.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match paywatch::backup_store(&config, &arg.to) {
        Ok((m, way)) => {
            let how = match way {
                paywatch::BackupWay::Direct => "the daemon stopped: taken directly",
                paywatch::BackupWay::ThroughDaemon => "taken by the running daemon",
            };
            println!("backup {} ({how})", m.path.display());
            print_manifest(&m);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paywatch: backup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn restore(arg: RestoreArgs) -> ExitCode {
    let config = match load_config(arg.config.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match paywatch::restore_store(&config, &arg.from, arg.force, arg.skip_addresses) {
        Ok(r) => {
            println!("restored {} into {}", arg.from.display(), config.storage.path.display());
            if let Some(aside) = &r.moved_aside {
                println!("the store that was there is now {}", aside.display());
            }
            let p = &r.pools;
            println!(
                "address pools: {} moved on, {} addresses free for reuse dropped ({})",
                p.pools,
                p.freed_dropped,
                if p.from_replaced_store {
                    "past what the replaced store handed out"
                } else {
                    "no replaced store read"
                }
            );
            if !p.from_replaced_store && arg.skip_addresses == 0 {
                println!(
                    "WARNING: no store was replaced (or it could not be read): if invoices were made after this backup, \
                     new invoices will be given their addresses again; restore again with --skip-addresses N (N at least \
                     the invoices made since), or move each store to a fresh receive source before taking invoices"
                );
            }
            print_manifest(&r.backup);
            println!("start the daemon: it scans each chain from the cursor above and redelivers what was pending");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paywatch: restore refused: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_manifest(m: &paywatch::Manifest) {
    println!("  created_at       {} (paywatch {})", m.created_at, m.paywatch_version);
    println!("  bytes            {}", m.bytes);
    println!("  schema_version   {}", m.schema_version);
    println!("  outbox_last_seq  {}", m.outbox_last_seq);
    for (chain, c) in &m.chains {
        println!("  chain {chain:<10} height {} {}", c.height, c.hash);
    }
}

fn read_fixture(path: &std::path::Path) -> anyhow::Result<paywatch_plugin_api::testing::conformance::CustomFixture> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read fixture {}", path.display()))?;
    paywatch_plugin_api::testing::conformance::CustomFixture::from_json(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn run(config: paywatch::Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(paywatch::run(config, shutdown_signal())).context("daemon failed")
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}; only SIGINT stops the daemon");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        _ = term.recv() => tracing::info!("SIGTERM received"),
    }
}
