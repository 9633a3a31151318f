//! `[database]`: the sqlx URL and the engine it names (`mariadb:` is read as `mysql:`),
//! the pool size, and where the master key that encrypts SigV4 secrets comes from
//! (inline, a file, a file generated next to the SQLite database, or per process).

use std::path::PathBuf;

use super::raw::RawDatabase;
use super::values::positive;
use super::ConfigError;

/// Which database engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded SQLite.
    Sqlite,
    /// MySQL, MariaDB or Aurora.
    MySql,
}

/// `[database]`
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    /// The sqlx URL.
    pub url: String,
    /// Engine named by the URL.
    pub(crate) kind: DatabaseKind,
    /// Pool size.
    pub(crate) max_connections: u32,
    /// Where the master key that encrypts SigV4 secrets comes from.
    pub(crate) master_key: MasterKeySource,
}

/// Where the master key (32 bytes, AES-256-GCM) comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MasterKeySource {
    /// Given inline (base64) in the config or environment.
    Inline(String),
    /// Read from a file that must exist.
    File(PathBuf),
    /// Read from a file next to the SQLite database, created (mode 0600) if absent.
    FileOrGenerate(PathBuf),
    /// An in-memory SQLite database: a fresh key per process.
    Ephemeral,
}

impl DatabaseConfig {
    /// Validates `[database]` and fills in its defaults.
    pub(super) fn from_raw(d: RawDatabase) -> Result<Self, ConfigError> {
        let url = d
            .url
            .unwrap_or_else(|| "sqlite://bedrock-gate.db?mode=rwc".to_string());
        let kind = if url.starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            DatabaseKind::MySql
        } else {
            return Err(ConfigError::new(
                "database.url",
                "must start with sqlite: or mysql:",
            ));
        };
        let url = url.replacen("mariadb:", "mysql:", 1);
        let max_connections = positive("database.max_connections", d.max_connections, 8)?;
        let master_key = master_key_source(d.master_key, d.master_key_file, kind, &url)?;
        Ok(Self {
            url,
            kind,
            max_connections: u32::try_from(max_connections)
                .map_err(|_| ConfigError::new("database.max_connections", "too large"))?,
            master_key,
        })
    }
}

/// One of `master_key` and `master_key_file`; neither is allowed only for SQLite, whose key
/// lives next to the database file (or in memory with an in-memory database).
fn master_key_source(
    inline: Option<String>,
    file: Option<String>,
    kind: DatabaseKind,
    url: &str,
) -> Result<MasterKeySource, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "database.master_key",
            "set either master_key or master_key_file, not both",
        )),
        (Some(k), None) => Ok(MasterKeySource::Inline(k)),
        (None, Some(f)) => Ok(MasterKeySource::File(f.into())),
        (None, None) => match kind {
            DatabaseKind::MySql => Err(ConfigError::new(
                "database.master_key",
                "a MySQL database needs database.master_key or database.master_key_file, \
                 the same on every proxy",
            )),
            DatabaseKind::Sqlite => Ok(match sqlite_file(url) {
                Some(db) => {
                    let mut name = db.into_os_string();
                    name.push(".key");
                    MasterKeySource::FileOrGenerate(PathBuf::from(name))
                }
                None => MasterKeySource::Ephemeral,
            }),
        },
    }
}

/// The file behind a `sqlite:` URL, or `None` for an in-memory database.
pub(crate) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        None
    } else {
        Some(PathBuf::from(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_file_names() {
        assert_eq!(
            sqlite_file("sqlite://bedrock-gate.db?mode=rwc"),
            Some(PathBuf::from("bedrock-gate.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/bg/db.sqlite"),
            Some(PathBuf::from("/var/lib/bg/db.sqlite"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }
}
