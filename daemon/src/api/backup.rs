//! `POST /v1/admin/backup` (admin key): a consistent backup of the store taken while the daemon
//! runs (the daemon holds the store's lock, so `paywatch backup` asks it here). The checkpoint
//! and its manifest are the database's (`db::backup`); this route checks the request and runs
//! it off the async workers.

use super::auth::Admin;
use super::error::ApiError;
use super::extract::Json as PwJson;
use super::{blocking, AppState};
use crate::db::{BackupError, Manifest};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `POST /v1/admin/backup`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewBackup {
    /// The backup directory on the daemon's machine: an absolute path that does not exist yet,
    /// whose parent does (and that the daemon may write: its service's `ReadWritePaths`).
    to: String,
}

/// A backup made: what `paywatch-backup.json` in it says.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BackupView {
    /// The backup directory: `store/` (the checkpoint) and `paywatch-backup.json`.
    path: String,
    /// Bytes of the checkpoint's files (hard links to the live store's files share its blocks).
    bytes: u64,
    schema_version: u32,
    /// The newest event in the backup: events above it happened after it.
    outbox_last_seq: u64,
    /// Each chain's cursor in the backup (the highest block it had recorded), by chain name:
    /// after a restore the daemon scans the blocks above it again.
    chains: BTreeMap<String, CursorView>,
    /// RFC 3339.
    created_at: String,
    paywatch_version: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CursorView {
    height: u64,
    hash: String,
}

impl From<Manifest> for BackupView {
    fn from(m: Manifest) -> Self {
        Self {
            path: m.path.display().to_string(),
            bytes: m.bytes,
            schema_version: m.schema_version,
            outbox_last_seq: m.outbox_last_seq,
            chains: m.chains.into_iter().map(|(k, c)| (k, CursorView { height: c.height, hash: c.hash })).collect(),
            created_at: m.created_at,
            paywatch_version: m.paywatch_version,
        }
    }
}

/// Takes a backup of the store into a new directory while the daemon runs
/// (`docs/operations.md`, "Backups and restore").
#[utoipa::path(post, path = "/v1/admin/backup", tag = "operations", security(("api_key" = [])),
    request_body = NewBackup,
    responses((status = 201, body = BackupView), (status = 401), (status = 422, body = super::error::ErrorBody)))]
pub(crate) async fn create(
    State(st): State<AppState>,
    _admin: Admin,
    PwJson(req): PwJson<NewBackup>,
) -> Result<(StatusCode, PwJson<BackupView>), ApiError> {
    let to = PathBuf::from(&req.to);
    let db = st.db().clone();
    let made = blocking(move || db.backup(&to)).await?;
    match made {
        Ok(m) => {
            tracing::info!(path = %m.path.display(), bytes = m.bytes, outbox_last_seq = m.outbox_last_seq, "backup taken");
            Ok((StatusCode::CREATED, PwJson(m.into())))
        }
        Err(
            e @ (BackupError::NotAbsolute(_)
            | BackupError::Exists(_)
            | BackupError::NoParent { .. }
            | BackupError::InsideStore { .. }),
        ) => Err(ApiError::invalid("invalid_path", e.to_string())),
        Err(e @ BackupError::Io { .. }) => {
            tracing::warn!(error = %e, "backup failed");
            Err(ApiError::invalid("backup_failed", e.to_string()))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}
