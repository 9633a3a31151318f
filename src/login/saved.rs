//! The signed-in state on the developer's machine: one JSON file per proxy URL under
//! `$XDG_CONFIG_HOME/bedrock-gate/sessions/` (else `~/.config/bedrock-gate/sessions/`),
//! holding the identity provider's refresh token and the current short-lived key until
//! its expiry. Directories are created 0700 and files written 0600 (a new file renamed
//! into place, so a reader never sees half a file).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::LoginError;

/// What is kept for one proxy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The proxy's URL as given to `login --server`.
    pub(crate) server: String,
    /// The issuer's name on the proxy and its URL.
    pub(crate) issuer_name: String,
    pub(crate) issuer: String,
    /// The public client id the proxy announced.
    pub(crate) client_id: String,
    pub(crate) token_endpoint: String,
    pub(crate) revocation_endpoint: Option<String>,
    pub(crate) refresh_token: Option<String>,
    /// The signed-in user name and team, as the proxy answered them.
    pub(crate) user: String,
    pub(crate) team: String,
    pub(crate) key: Option<Key>,
}

/// A short-lived key from `POST /_gate/v1/credentials`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Key {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) bearer_token: String,
    /// RFC 3339.
    pub(crate) expiration: String,
}

/// `$XDG_CONFIG_HOME/bedrock-gate` or `$HOME/.config/bedrock-gate`.
pub(crate) fn config_dir() -> Result<PathBuf, LoginError> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => home()?.join(".config"),
    };
    Ok(base.join("bedrock-gate"))
}

/// The user's home directory ($HOME).
pub(crate) fn home() -> Result<PathBuf, LoginError> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| LoginError::Local("HOME is not set".into()))
}

/// The directory of the session files.
pub(crate) fn sessions_dir() -> Result<PathBuf, LoginError> {
    Ok(config_dir()?.join("sessions"))
}

/// A server URL in the form it is stored under: no trailing slash.
pub(crate) fn normalise(server: &str) -> String {
    server.trim().trim_end_matches('/').to_string()
}

fn file_for(dir: &Path, server: &str) -> PathBuf {
    let digest = sha2::Sha256::digest(normalise(server).as_bytes());
    dir.join(format!("{}.json", &hex::encode(digest)[..24]))
}

/// The entry for `server`, if signed in.
pub(crate) fn load(server: &str) -> Result<Option<Entry>, LoginError> {
    let path = file_for(&sessions_dir()?, server);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            LoginError::Local(format!(
                "{} is damaged ({e}): run `bedrock-gate logout --server {server}` and sign in \
                 again",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LoginError::Local(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Every stored entry.
pub(crate) fn load_all() -> Result<Vec<Entry>, LoginError> {
    let dir = sessions_dir()?;
    let list = match std::fs::read_dir(&dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(LoginError::Local(format!(
                "cannot read {}: {e}",
                dir.display()
            )))
        }
    };
    let mut entries = Vec::new();
    for item in list.flatten() {
        if item.path().extension().is_some_and(|e| e == "json") {
            if let Ok(bytes) = std::fs::read(item.path()) {
                if let Ok(entry) = serde_json::from_slice::<Entry>(&bytes) {
                    entries.push(entry);
                }
            }
        }
    }
    Ok(entries)
}

/// Writes `entry` (0600, its directories 0700).
pub(crate) fn save(entry: &Entry) -> Result<(), LoginError> {
    let dir = sessions_dir()?;
    private_dir(&dir)?;
    if let Some(parent) = dir.parent() {
        private_dir(parent)?;
    }
    let json = serde_json::to_vec_pretty(entry)
        .map_err(|e| LoginError::Local(format!("cannot encode the session: {e}")))?;
    write_private(&file_for(&dir, &entry.server), &json)
}

/// Forgets the entry for `server`; whether there was one.
pub(crate) fn remove(server: &str) -> Result<bool, LoginError> {
    let path = file_for(&sessions_dir()?, server);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(LoginError::Local(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
    }
}

/// Creates `dir` (and its parents) and makes it owner-only.
pub(crate) fn private_dir(dir: &Path) -> Result<(), LoginError> {
    let fail =
        |e: std::io::Error| LoginError::Local(format!("cannot create {}: {e}", dir.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(fail)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(fail)?;
    Ok(())
}

/// Writes `bytes` to `path` through a new owner-only file renamed into place.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), LoginError> {
    let fail =
        |e: std::io::Error| LoginError::Local(format!("cannot write {}: {e}", path.display()));
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let _ = std::fs::remove_file(&tmp);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_per_server_url_whatever_the_trailing_slash() {
        let dir = Path::new("/x");
        assert_eq!(
            file_for(dir, "https://gate.corp:8443/"),
            file_for(dir, "https://gate.corp:8443")
        );
        assert_ne!(
            file_for(dir, "https://gate.corp:8443"),
            file_for(dir, "https://gate.corp:9443")
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        private_dir(&dir).unwrap();
        let file = dir.join("f.json");
        write_private(&file, b"{}").unwrap();
        write_private(&file, b"{\"x\":1}").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"{\"x\":1}");
    }
}
