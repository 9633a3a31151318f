//! The in-memory directory of active keys: who a key belongs to and its decrypted secret.
//!
//! The request path never queries the database for a key. The whole directory is loaded
//! at start and replaced atomically (an `Arc` swap under a short lock) whenever the change
//! watcher sees the store's state version move, so a new or revoked key takes effect
//! within one poll interval. A snapshot of 100,000 keys costs a few tens of megabytes.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::crypto::MasterKey;
use crate::store::ActiveKey;

/// The owner of a key, as the proxy needs it for every call.
pub struct Principal {
    /// User id.
    pub user_id: i64,
    /// User name.
    pub username: String,
    /// The person's full name.
    pub person: String,
    /// Team id.
    pub team_id: i64,
    /// Team name.
    pub team: String,
    /// The key's access key id.
    pub access_key_id: String,
    /// The tool the key was issued for.
    pub tool: String,
    secret: String,
}

impl Principal {
    /// The SigV4 secret; never logged.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("username", &self.username)
            .field("team", &self.team)
            .field("access_key_id", &self.access_key_id)
            .field("tool", &self.tool)
            .finish_non_exhaustive()
    }
}

/// One immutable snapshot of all active keys.
#[derive(Default)]
pub struct Directory {
    by_access_key: HashMap<String, Arc<Principal>>,
    by_bearer_hash: HashMap<[u8; 32], Arc<Principal>>,
}

impl Directory {
    /// Builds a snapshot, decrypting each secret. Keys whose secret does not decrypt are
    /// left out (and counted in the second value) rather than failing the whole load.
    pub fn build(keys: Vec<ActiveKey>, master: &MasterKey) -> (Self, usize) {
        let mut dir = Directory {
            by_access_key: HashMap::with_capacity(keys.len()),
            by_bearer_hash: HashMap::with_capacity(keys.len()),
        };
        let mut skipped = 0;
        for k in keys {
            let secret = match master.decrypt(&k.access_key_id, &k.secret_enc) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(access_key_id = %k.access_key_id, error = %e, "skipping key");
                    skipped += 1;
                    continue;
                }
            };
            let mut hash = [0u8; 32];
            if hex::decode_to_slice(&k.bearer_hash, &mut hash).is_err() {
                tracing::error!(access_key_id = %k.access_key_id, "skipping key with a bad bearer hash");
                skipped += 1;
                continue;
            }
            let p = Arc::new(Principal {
                user_id: k.user_id,
                username: k.username,
                person: k.person,
                team_id: k.team_id,
                team: k.team,
                access_key_id: k.access_key_id,
                tool: k.tool,
                secret,
            });
            dir.by_bearer_hash.insert(hash, Arc::clone(&p));
            dir.by_access_key.insert(p.access_key_id.clone(), p);
        }
        (dir, skipped)
    }

    /// The owner of an access key id.
    pub fn by_access_key(&self, access_key_id: &str) -> Option<&Arc<Principal>> {
        self.by_access_key.get(access_key_id)
    }

    /// The owner of a bearer token. The lookup is by the token's SHA-256: the map probe
    /// compares hashes, never the token, so its timing says nothing about the token.
    pub fn by_bearer(&self, token: &str) -> Option<&Arc<Principal>> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_bearer_hash.get(&hash)
    }

    /// How many keys the snapshot holds.
    pub fn len(&self) -> usize {
        self.by_access_key.len()
    }

    /// Whether the snapshot is empty.
    pub fn is_empty(&self) -> bool {
        self.by_access_key.is_empty()
    }
}

/// The current directory, swappable while requests read it.
pub type DirectoryHandle = crate::snapshot::Snapshot<Directory>;
