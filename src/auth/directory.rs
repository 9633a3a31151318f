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

/// The owner of a key, as the proxy needs it for every call. Team and tool names are
/// shared (`Arc<str>`); the per-key texts (user name, person, access key id, secret) sit
/// in one allocation, which keeps a directory of 100,000 keys small.
pub struct Principal {
    /// User id.
    pub(crate) user_id: i64,
    /// Team id.
    pub(crate) team_id: i64,
    /// Team name.
    pub(crate) team: Arc<str>,
    /// The tool the key was issued for.
    pub(crate) tool: Arc<str>,
    /// When the key stops working (epoch ms); `None`: until revoked.
    pub(crate) expires_at: Option<i64>,
    /// username, person, access key id and secret, back to back.
    text: Box<str>,
    /// Where the user name, the person and the access key id end in `text`.
    ends: [usize; 3],
}

impl Principal {
    fn part(&self, from: usize, to: usize) -> &str {
        self.text.get(from..to).unwrap_or("")
    }

    /// User name.
    pub(crate) fn username(&self) -> &str {
        self.part(0, self.ends[0])
    }

    /// The person's full name.
    pub(crate) fn person(&self) -> &str {
        self.part(self.ends[0], self.ends[1])
    }

    /// The key's access key id.
    pub(crate) fn access_key_id(&self) -> &str {
        self.part(self.ends[1], self.ends[2])
    }

    /// The SigV4 secret; never logged.
    pub(crate) fn secret(&self) -> &str {
        self.part(self.ends[2], self.text.len())
    }
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("username", &self.username())
            .field("team", &self.team)
            .field("access_key_id", &self.access_key_id())
            .field("tool", &self.tool)
            .finish_non_exhaustive()
    }
}

/// A directory entry found by access key id: the principal itself is the key.
#[derive(Clone)]
struct ByAccessKey(Arc<Principal>);

impl std::hash::Hash for ByAccessKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.access_key_id().hash(state);
    }
}

impl PartialEq for ByAccessKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.access_key_id() == other.0.access_key_id()
    }
}

impl Eq for ByAccessKey {}

impl std::borrow::Borrow<str> for ByAccessKey {
    fn borrow(&self) -> &str {
        self.0.access_key_id()
    }
}

/// One immutable snapshot of all active keys.
#[derive(Default)]
pub struct Directory {
    by_access_key: std::collections::HashSet<ByAccessKey>,
    by_bearer_hash: HashMap<[u8; 32], Arc<Principal>>,
}

/// Builds a [`Directory`] key by key, sharing repeated names.
pub(crate) struct DirectoryBuilder<'m> {
    dir: Directory,
    master: &'m MasterKey,
    names: HashMap<String, Arc<str>>,
    skipped: usize,
}

impl<'m> DirectoryBuilder<'m> {
    /// An empty builder decrypting with `master`.
    pub(crate) fn new(master: &'m MasterKey) -> Self {
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
    pub(crate) fn add(&mut self, k: ActiveKey) {
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
        let mut text = String::with_capacity(
            k.username.len() + k.person.len() + k.access_key_id.len() + secret.len(),
        );
        text.push_str(&k.username);
        let user_end = text.len();
        text.push_str(&k.person);
        let person_end = text.len();
        text.push_str(&k.access_key_id);
        let key_end = text.len();
        text.push_str(&secret);
        let p = Arc::new(Principal {
            user_id: k.user_id,
            team_id: k.team_id,
            team: self.shared(k.team),
            tool: self.shared(k.tool),
            expires_at: k.expires_at,
            text: text.into_boxed_str(),
            ends: [user_end, person_end, key_end],
        });
        self.dir.by_bearer_hash.insert(hash, Arc::clone(&p));
        self.dir.by_access_key.insert(ByAccessKey(p));
    }

    /// The directory, and how many keys were left out.
    pub(crate) fn finish(mut self) -> (Directory, usize) {
        self.dir.by_access_key.shrink_to_fit();
        self.dir.by_bearer_hash.shrink_to_fit();
        (self.dir, self.skipped)
    }
}

impl Directory {
    /// Builds a snapshot from a list of keys (see `DirectoryBuilder`).
    pub fn build(keys: Vec<ActiveKey>, master: &MasterKey) -> (Self, usize) {
        let mut b = DirectoryBuilder::new(master);
        for k in keys {
            b.add(k);
        }
        b.finish()
    }

    /// The owner of an access key id.
    pub(crate) fn by_access_key(&self, access_key_id: &str) -> Option<&Arc<Principal>> {
        self.by_access_key.get(access_key_id).map(|e| &e.0)
    }

    /// The owner of a bearer token. The lookup is by the token's SHA-256: the map probe
    /// compares hashes, never the token, so its timing says nothing about the token.
    pub(crate) fn by_bearer(&self, token: &str) -> Option<&Arc<Principal>> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_bearer_hash.get(&hash)
    }

    /// How many keys the snapshot holds.
    pub(crate) fn len(&self) -> usize {
        self.by_access_key.len()
    }
}

/// The current directory, swappable while requests read it.
pub type DirectoryHandle = crate::snapshot::Snapshot<Directory>;
