//! The master key and the encryption of SigV4 secrets at rest (AES-256-GCM), plus the
//! generation and hashing of proxy-issued credentials.
//!
//! A secret is stored as `nonce (12 bytes) || ciphertext+tag`, with the access key id as
//! associated data, so a ciphertext cannot be moved to another key's row. Bearer tokens
//! are stored only as SHA-256 hashes: they are 256-bit random values, so a plain hash is
//! enough (no password stretching needed).

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::{Rng, RngCore};

use crate::config::MasterKeySource;

/// Prefix of proxy-issued access key ids (AWS's own start with `AKIA`/`ASIA`).
pub(crate) const ACCESS_KEY_PREFIX: &str = "BG";
/// Prefix of bearer tokens, as Bedrock API keys look.
pub(crate) const BEARER_PREFIX: &str = "bedrock-api-key-";

/// Errors of the master key and secret encryption.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key file could not be read or written.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key is not 32 bytes of base64.
    #[error("{place} is not a usable master key: it must be 32 bytes, base64-encoded ({why})")]
    BadKey {
        /// `database.master_key` or `master key file PATH`.
        place: String,
        /// What is wrong.
        why: String,
    },
    /// A stored secret does not decrypt under this master key.
    #[error("a stored secret does not decrypt with this master key (wrong key, or a damaged row)")]
    Decrypt,
}

/// The 256-bit key that encrypts SigV4 secrets.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Loads (or, next to an SQLite database, creates) the master key.
    pub(crate) fn load(source: &MasterKeySource) -> Result<Self, CryptoError> {
        match source {
            MasterKeySource::Inline(text) => Self::from_base64(text, "database.master_key"),
            MasterKeySource::File(path) => Self::from_file(path),
            MasterKeySource::FileOrGenerate(path) => {
                if path.exists() {
                    Self::from_file(path)
                } else {
                    Self::generate_file(path)
                }
            }
            MasterKeySource::Ephemeral => {
                let mut key = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                Ok(Self::from_bytes(&key))
            }
        }
    }

    /// Checks the configured key without creating one: an inline key or key file must
    /// decode to 32 bytes; a key file next to an SQLite database is checked if it exists.
    pub(crate) fn check(source: &MasterKeySource) -> Result<(), CryptoError> {
        match source {
            MasterKeySource::FileOrGenerate(path) if !path.exists() => Ok(()),
            MasterKeySource::FileOrGenerate(path) => Self::from_file(path).map(drop),
            other => Self::load(other).map(drop),
        }
    }

    /// A key from its raw bytes.
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    fn from_base64(text: &str, place: &str) -> Result<Self, CryptoError> {
        let bad = |why: String| CryptoError::BadKey {
            place: place.to_string(),
            why,
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| bad(format!("not base64: {e}")))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| bad(format!("got {} bytes", v.len())))?;
        Ok(Self::from_bytes(&key))
    }

    fn from_file(path: &Path) -> Result<Self, CryptoError> {
        let text = std::fs::read_to_string(path).map_err(|source| CryptoError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_base64(&text, &format!("master key file {}", path.display()))
    }

    fn generate_file(path: &Path) -> Result<Self, CryptoError> {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let text = base64::engine::general_purpose::STANDARD.encode(key);
        let io = |source| CryptoError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.sync_all().map_err(io)?;
        tracing::info!(path = %path.display(), "generated a new master key (mode 0600)");
        Ok(Self::from_bytes(&key))
    }

    /// Encrypts a secret for the row of `access_key_id`.
    pub fn encrypt(&self, access_key_id: &str, secret: &str) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: access_key_id.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts the secret stored for `access_key_id`.
    pub(crate) fn decrypt(
        &self,
        access_key_id: &str,
        stored: &[u8],
    ) -> Result<String, CryptoError> {
        if stored.len() < 12 + 16 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = stored.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: access_key_id.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }
}

/// A freshly issued credential set; shown to the operator once.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    /// SigV4 access key id (`BG` + 18 characters).
    pub access_key_id: String,
    /// SigV4 secret (40 characters).
    pub secret_access_key: String,
    /// Bearer token for `Authorization: Bearer` / `AWS_BEARER_TOKEN_BEDROCK`.
    pub bearer_token: String,
}

impl IssuedKey {
    /// Generates new random credentials.
    pub(crate) fn generate() -> Self {
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut rng = rand::thread_rng();
        let mut pick = |set: &[u8], n: usize| -> String {
            (0..n)
                .map(|_| char::from(set[rng.gen_range(0..set.len())]))
                .collect()
        };
        let access_key_id = format!("{ACCESS_KEY_PREFIX}{}", pick(UPPER, 18));
        let secret_access_key = pick(SECRET, 40);
        let mut token = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut token);
        let bearer_token = format!(
            "{BEARER_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
        );
        Self {
            access_key_id,
            secret_access_key,
            bearer_token,
        }
    }
}

/// The stored form of a bearer token: hex SHA-256.
pub fn bearer_hash(token: &str) -> String {
    crate::hash::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_are_bound_to_their_key_id() {
        let k = MasterKey::from_bytes(&[7u8; 32]);
        let enc = k.encrypt("BGAAA", "s3cret").unwrap();
        assert!(!enc.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(k.decrypt("BGAAA", &enc).unwrap(), "s3cret");
        assert!(k.decrypt("BGBBB", &enc).is_err());
        let other = MasterKey::from_bytes(&[8u8; 32]);
        assert!(other.decrypt("BGAAA", &enc).is_err());
        assert!(k.decrypt("BGAAA", &enc[..10]).is_err());
    }

    #[test]
    fn generated_key_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.key");
        let source = MasterKeySource::FileOrGenerate(path.clone());
        let a = MasterKey::load(&source).unwrap();
        let enc = a.encrypt("BGX", "x").unwrap();
        let b = MasterKey::load(&source).unwrap();
        assert_eq!(b.decrypt("BGX", &enc).unwrap(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(MasterKey::load(&MasterKeySource::Inline("short".into())).is_err());
    }

    #[test]
    fn issued_keys_look_like_aws_keys() {
        let k = IssuedKey::generate();
        assert_eq!(k.access_key_id.len(), 20);
        assert!(k.access_key_id.starts_with("BG"));
        assert_eq!(k.secret_access_key.len(), 40);
        assert!(k.bearer_token.starts_with(BEARER_PREFIX));
        assert_ne!(IssuedKey::generate().bearer_token, k.bearer_token);
        assert_eq!(bearer_hash("a").len(), 64);
    }
}
