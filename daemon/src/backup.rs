//! `paywatch backup` and `paywatch restore` (`docs/operations.md`, "Backups and restore").
//! With the daemon stopped, `backup` checkpoints the store itself; while it runs (it holds
//! the store's lock) it asks the daemon for one through `POST /v1/admin/backup` at
//! `server.listen`, with the admin key from `PAYWATCH_ADMIN_KEY`, over HTTPS when
//! `server.tls_cert` is set (the daemon's certificate is pinned: the one that file holds).
//! The checkpoint, its manifest and the restore itself are the database's (`db::backup`).

use crate::config::{Config, TlsConfig};
use crate::db::{self, BackupError, Manifest, Restored};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The environment variable `paywatch backup` takes the admin key from when the daemon runs.
pub const ADMIN_KEY_ENV: &str = "PAYWATCH_ADMIN_KEY";

/// Why `paywatch backup` failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupCliError {
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("the daemon (process {pid}) holds the store at {store}: set {env} to the admin key so the backup is taken through its API at {url}", env = ADMIN_KEY_ENV)]
    NoAdminKey { pid: i32, store: PathBuf, url: String },
    #[error("cannot resolve {path}: {source}")]
    Path { path: PathBuf, source: std::io::Error },
    #[error("TLS certificate {path}: {reason}")]
    Tls { path: PathBuf, reason: String },
    #[error("the daemon's API at {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("the daemon refused the backup ({status}): {message}")]
    Refused { status: u16, message: String },
}

/// How a backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupWay {
    /// The store opened here, the daemon stopped.
    Direct,
    /// Through the running daemon's API.
    ThroughDaemon,
}

/// `paywatch backup --to DIR`: a backup of `storage.path` into the new directory `to` (made
/// absolute against the current directory), directly or through the running daemon.
pub fn backup(config: &Config, to: &Path) -> Result<(Manifest, BackupWay), BackupCliError> {
    let to = absolute(to)?;
    let store = &config.storage.path;
    match db::backup_stopped(store, &to) {
        Ok(m) => Ok((m, BackupWay::Direct)),
        Err(BackupError::InUse { pid, .. }) => {
            let url = format!("{}/v1/admin/backup", base_url(config));
            let Some(key) = std::env::var(ADMIN_KEY_ENV).ok().filter(|k| !k.is_empty()) else {
                return Err(BackupCliError::NoAdminKey { pid, store: store.clone(), url });
            };
            let m = through_daemon(config.server.tls.as_ref(), &url, &key, &to)?;
            Ok((m, BackupWay::ThroughDaemon))
        }
        Err(e) => Err(e.into()),
    }
}

/// `paywatch restore --from DIR [--force]`, the daemon stopped: the backup checked and copied
/// in as `storage.path` (a non-empty one moved aside with `force`, never deleted).
pub fn restore(config: &Config, from: &Path, force: bool, skip_addresses: u32) -> Result<Restored, BackupError> {
    db::restore(&config.storage.path, from, force, skip_addresses)
}

fn absolute(p: &Path) -> Result<PathBuf, BackupCliError> {
    std::path::absolute(p).map_err(|source| BackupCliError::Path { path: p.to_owned(), source })
}

/// The API's base URL as this machine reaches it: an unspecified listen address (`0.0.0.0`,
/// `[::]`) through loopback.
fn base_url(config: &Config) -> String {
    let listen = config.server.listen;
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if config.server.tls.is_some() { "https" } else { "http" };
    format!("{scheme}://{}", SocketAddr::new(ip, listen.port()))
}

fn through_daemon(tls: Option<&TlsConfig>, url: &str, key: &str, to: &Path) -> Result<Manifest, BackupCliError> {
    let http = |reason: String| BackupCliError::Http { url: url.to_string(), reason };
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(3600)).no_proxy();
    if let Some(tls) = tls {
        builder = builder.use_preconfigured_tls(pinned_tls(&tls.cert)?);
    }
    let client = builder.build().map_err(|e| http(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| http(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        let body = serde_json::json!({ "to": to });
        let resp = client.post(url).bearer_auth(key).json(&body).send().await.map_err(|e| http(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let value: serde_json::Value = resp.json().await.map_err(|e| http(format!("answer not JSON: {e}")))?;
        if status != 201 {
            let message = value["error"]["message"].as_str().map_or_else(|| value.to_string(), str::to_string);
            return Err(BackupCliError::Refused { status, message });
        }
        serde_json::from_value(value).map_err(|e| http(format!("unexpected answer: {e}")))
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// A TLS client that accepts exactly the certificate in `cert` (the first of the PEM file the
/// daemon serves), whatever name or address it was issued for: this command runs on the
/// daemon's machine and reads the same file.
fn pinned_tls(cert: &Path) -> Result<rustls::ClientConfig, BackupCliError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let tls_err = |reason: String| BackupCliError::Tls { path: cert.to_owned(), reason };
    let first = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(e.to_string()))?
        .next()
        .ok_or_else(|| tls_err("no certificate in it".into()))?
        .map_err(|e| tls_err(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { cert: first.into_owned(), provider }))
        .with_no_client_auth();
    Ok(config)
}

#[derive(Debug)]
struct Pinned {
    cert: rustls::pki_types::CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("the server's certificate is not the one server.tls_cert holds".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
