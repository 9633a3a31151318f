//! [`Snapshot`]: an immutable value that readers share and a background task replaces
//! whole. Readers take an `Arc` under a lock held for a pointer copy, so the request path
//! never waits on a reload.

use std::sync::{Arc, RwLock};

/// A replaceable shared value.
#[derive(Default)]
pub struct Snapshot<T> {
    current: RwLock<Arc<T>>,
}

impl<T> Snapshot<T> {
    /// A snapshot holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            current: RwLock::new(Arc::new(value)),
        }
    }

    /// The current value.
    pub fn get(&self) -> Arc<T> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the value; readers holding the old one keep it until they drop it.
    pub fn replace(&self, value: T) {
        let new = Arc::new(value);
        match self.current.write() {
            Ok(mut g) => *g = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}
