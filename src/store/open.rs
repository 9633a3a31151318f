//! Opening the database: an SQLite file is created owner-only (SQLite gives its `-wal`
//! and `-shm` files the same mode) or, for commands that only read, must already exist;
//! a MySQL server is tried once with a deadline so that "connection refused" is reported
//! at once instead of a pool timeout; every failure names the file or host and the cause.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::Connection;

use super::StoreError;
use crate::config::{sqlite_file, DatabaseConfig, DatabaseKind};

/// How long one attempt to reach a MySQL server may take.
const MYSQL_PROBE: Duration = Duration::from_secs(5);

/// Whether opening may create the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// As the URL says (`mode=rwc` creates a missing SQLite file).
    CreateIfMissing,
    /// The database must exist already (commands that only read).
    MustExist,
}

/// The database as people know it: `SQLite file /abs/path` or `MySQL host:port/db`
/// (never the password).
pub fn describe(config: &DatabaseConfig) -> String {
    match config.kind {
        DatabaseKind::Sqlite => match sqlite_file(&config.url) {
            Some(p) => format!("SQLite file {}", absolute(&p).display()),
            None => "in-memory SQLite database".into(),
        },
        DatabaseKind::MySql => format!("MySQL {}", mysql_place(&config.url)),
    }
}

/// `host:port/db` of a MySQL URL, without user and password.
pub(crate) fn mysql_place(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('?').next().unwrap_or(rest).to_string()
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The error for `config`'s database with `cause`.
pub(crate) fn open_error(config: &DatabaseConfig, cause: impl Into<String>) -> StoreError {
    StoreError::Open {
        target: describe(config),
        cause: cause.into(),
    }
}

/// A database error's cause in words (without the driver's codes).
pub(crate) fn cause(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Io(io) => crate::config::io_reason(io).to_lowercase(),
        sqlx::Error::PoolTimedOut => "no connection within the timeout".into(),
        other => other.to_string(),
    }
}

/// Before an SQLite pool opens `config`'s file: refuses a missing file in
/// [`OpenMode::MustExist`], else creates a missing file with mode 0600 when the URL
/// allows creating it.
pub(crate) fn prepare_sqlite(config: &DatabaseConfig, mode: OpenMode) -> Result<(), StoreError> {
    let Some(path) = sqlite_file(&config.url) else {
        return Ok(());
    };
    if path.exists() {
        return Ok(());
    }
    if mode == OpenMode::MustExist {
        return Err(open_error(
            config,
            "it does not exist, and commands that only read never create one (run \
             `bedrock-gate migrate` to create it, or give the service's configuration with \
             --config, $BEDROCK_GATE_CONFIG or /etc/bedrock-gate/bedrock-gate.toml)",
        ));
    }
    if !config.url.contains("mode=rwc") {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(open_error(
            config,
            format!(
                "cannot create it: {}",
                crate::config::io_reason(&e).to_lowercase()
            ),
        )),
    }
}

/// One connection attempt to `config`'s MySQL server within [`MYSQL_PROBE`].
pub(crate) async fn probe_mysql(
    config: &DatabaseConfig,
    options: &MySqlConnectOptions,
) -> Result<(), StoreError> {
    match tokio::time::timeout(MYSQL_PROBE, MySqlConnection::connect_with(options)).await {
        Err(_) => Err(open_error(
            config,
            format!("no answer within {} seconds", MYSQL_PROBE.as_secs()),
        )),
        Ok(Err(e)) => Err(open_error(config, cause(&e))),
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_places_hide_credentials() {
        assert_eq!(
            mysql_place("mysql://root:s3cret@db.example:3306/gate?ssl-mode=required"),
            "db.example:3306/gate"
        );
        assert_eq!(mysql_place("mysql://127.0.0.1/x"), "127.0.0.1/x");
    }
}
