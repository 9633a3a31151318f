//! `bedrock-gate backup`: an online copy of the SQLite database together with the master
//! key that decrypts its SigV4 secrets (one without the other restores keys that no
//! longer work). Both files are created owner-only (0600) and never overwrite anything.
//! The database is opened as it is: a backup taken before an upgrade must not migrate.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Ops, OpsError};
use crate::config::{Config, DatabaseKind, MasterKeySource};
use crate::store::{OpenMode, Store};

/// What a backup wrote.
#[derive(Debug, Serialize)]
pub struct BackupView {
    /// The database that was copied (`SQLite file /abs/path`).
    pub database: String,
    /// The copy of the database.
    pub backup: PathBuf,
    /// The copy of the master key (`<backup>.key`), when the key is a file.
    pub master_key: Option<PathBuf>,
    /// What the operator must keep with the backup by other means, if anything.
    pub note: Option<String>,
}

/// Copies the configured SQLite database into `to` and its master key into `<to>.key`.
pub async fn backup(config: &Config, to: &Path) -> Result<BackupView, OpsError> {
    if config.database.kind != DatabaseKind::Sqlite {
        return Err(OpsError::Invalid(
            "`backup` copies SQLite databases; back up MySQL with `mysqldump \
             --single-transaction` and keep database.master_key with the dump (see \
             docs/OPERATIONS.md)"
                .into(),
        ));
    }
    if crate::config::sqlite_file(&config.database.url).is_none() {
        return Err(OpsError::Invalid(
            "the database is in memory: there is nothing to back up".into(),
        ));
    }
    let key_copy = key_path(to);
    let (key_source, note) = match &config.database.master_key {
        MasterKeySource::File(p) | MasterKeySource::FileOrGenerate(p) if p.exists() => {
            (Some(p.clone()), None)
        }
        MasterKeySource::FileOrGenerate(_) => (
            None,
            Some("no master key exists yet (no SigV4 key was ever issued)".to_string()),
        ),
        MasterKeySource::File(p) => {
            return Err(OpsError::Invalid(format!(
                "database.master_key_file {} does not exist",
                p.display()
            )))
        }
        MasterKeySource::Inline(_) | MasterKeySource::Ephemeral => (
            None,
            Some(
                "the master key is set inline (database.master_key): keep it with this \
                 backup, the keys' SigV4 secrets do not decrypt without it"
                    .to_string(),
            ),
        ),
    };
    let store = Store::open(&config.database, config.quota.timezone, OpenMode::MustExist).await?;
    let written = write_backup(&store, to, key_source.as_deref(), &key_copy).await;
    store.close().await;
    written?;
    Ok(BackupView {
        database: Ops::database_name(config),
        backup: to.to_path_buf(),
        master_key: key_source.map(|_| key_copy),
        note,
    })
}

/// `<backup>.key`: where the master key's copy goes.
pub fn key_path(backup: &Path) -> PathBuf {
    let mut name = backup.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

async fn write_backup(
    store: &Store,
    to: &Path,
    key: Option<&Path>,
    key_copy: &Path,
) -> Result<(), OpsError> {
    let key_text = match key {
        Some(p) => Some(std::fs::read(p).map_err(|e| {
            OpsError::Invalid(format!("cannot read the master key {}: {e}", p.display()))
        })?),
        None => None,
    };
    create_owner_only(to)?;
    let copied = async {
        if let Some(text) = key_text {
            let mut file = create_owner_only(key_copy)?;
            let written = file.write_all(&text).and_then(|()| file.sync_all());
            if let Err(e) = written {
                let _ = std::fs::remove_file(key_copy);
                return Err(write_error(key_copy, &e));
            }
        }
        store.backup_into(to).await.map_err(|e| {
            let _ = std::fs::remove_file(key_copy);
            OpsError::from(e)
        })
    }
    .await;
    if copied.is_err() {
        // Nothing half-written is left behind to be mistaken for a backup.
        let _ = std::fs::remove_file(to);
    }
    copied
}

/// Creates an empty file only its owner can read; an existing file is an error.
fn create_owner_only(path: &Path) -> Result<std::fs::File, OpsError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            OpsError::Conflict(format!(
                "{} already exists; backups never overwrite a file",
                path.display()
            ))
        } else {
            write_error(path, &e)
        }
    })
}

fn write_error(path: &Path, e: &std::io::Error) -> OpsError {
    OpsError::Invalid(format!("cannot write {}: {e}", path.display()))
}
