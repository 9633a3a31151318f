//! [`Snapshot`]: an immutable value that readers share and a background task replaces
//! whole. Readers take an `Arc` under a lock held for a pointer copy, so the request path
//! never waits on a reload.

use std::sync::Arc;

use parking_lot::RwLock;

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
    pub(crate) fn get(&self) -> Arc<T> {
        Arc::clone(&self.current.read())
    }

    /// Replaces the value; readers holding the old one keep it until they drop it.
    pub(crate) fn replace(&self, value: T) {
        let new = Arc::new(value);
        *self.current.write() = new;
    }
}
