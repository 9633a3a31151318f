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

/// The owner of a key, as the proxy needs it for every call. Names are shared
/// (`Arc<str>`): a user's keys share one name, a team's members one team name.
pub struct Principal {
    /// User id.
    pub user_id: i64,
    /// User name.
    pub username: Arc<str>,
    /// The person's full name.
    pub person: Arc<str>,
    /// Team id.
    pub team_id: i64,
    /// Team name.
    pub team: Arc<str>,
    /// The key's access key id.
    pub access_key_id: Arc<str>,
    /// The tool the key was issued for.
    pub tool: Arc<str>,
    secret: Box<str>,
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
    by_access_key: HashMap<Arc<str>, Arc<Principal>>,
    by_bearer_hash: HashMap<[u8; 32], Arc<Principal>>,
}

/// Builds a [`Directory`] key by key, sharing repeated names.
pub struct DirectoryBuilder<'m> {
    dir: Directory,
    master: &'m MasterKey,
    names: HashMap<String, Arc<str>>,
    skipped: usize,
}

impl<'m> DirectoryBuilder<'m> {
    /// An empty builder decrypting with `master`.
    pub fn new(master: &'m MasterKey) -> Self {
        Self {
            dir: Directory::default(),
            master,
            names: HashMap::new(),
            skipped: 0,
        }
    }

    fn shared(&mut self, s: String) -> Arc<str> {
        if let Some(a) = self.names.get(&s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s.as_str());
        self.names.insert(s, Arc::clone(&a));
        a
    }

    /// Adds a key. Keys whose secret does not decrypt are left out (and counted) rather
    /// than failing the whole load.
    pub fn add(&mut self, k: ActiveKey) {
        let secret = match self.master.decrypt(&k.access_key_id, &k.secret_enc) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(access_key_id = %k.access_key_id, error = %e, "skipping key");
                self.skipped += 1;
                return;
            }
        };
        let mut hash = [0u8; 32];
        if hex::decode_to_slice(&k.bearer_hash, &mut hash).is_err() {
            tracing::error!(access_key_id = %k.access_key_id, "skipping key with a bad bearer hash");
            self.skipped += 1;
            return;
        }
        let p = Arc::new(Principal {
            user_id: k.user_id,
            // Names unique per user are not worth interning; teams and tools are.
            username: Arc::from(k.username.as_str()),
            person: Arc::from(k.person.as_str()),
            team_id: k.team_id,
            team: self.shared(k.team),
            access_key_id: Arc::from(k.access_key_id.as_str()),
            tool: self.shared(k.tool),
            secret: secret.into_boxed_str(),
        });
        self.dir.by_bearer_hash.insert(hash, Arc::clone(&p));
        self.dir
            .by_access_key
            .insert(Arc::clone(&p.access_key_id), p);
    }

    /// The directory, and how many keys were left out.
    pub fn finish(mut self) -> (Directory, usize) {
        self.dir.by_access_key.shrink_to_fit();
        self.dir.by_bearer_hash.shrink_to_fit();
        (self.dir, self.skipped)
    }
}

impl Directory {
    /// Builds a snapshot from a list of keys (see [`DirectoryBuilder`]).
    pub fn build(keys: Vec<ActiveKey>, master: &MasterKey) -> (Self, usize) {
        let mut b = DirectoryBuilder::new(master);
        for k in keys {
            b.add(k);
        }
        b.finish()
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
