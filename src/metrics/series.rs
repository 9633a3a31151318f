//! [`SeriesCache`]: the metric handles of one label combination, found by the label
//! values as borrowed strings, so recording a call allocates nothing once its series
//! exist.
//!
//! prometheus-client's `Family` looks a series up by an owned label set; building one per
//! call would copy every label value. Here the first call of a combination creates its
//! series in the families (copying the values once) and keeps the handles (each an `Arc`
//! onto the same atomics the families encode); every later call hashes the borrowed
//! values and updates the handles under a shared lock, held for a few atomic adds and
//! never across an await.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hashbrown::{Equivalent, HashMap};
use parking_lot::RwLock;

/// Owned label values: the key of a cached entry.
#[derive(PartialEq, Eq)]
struct Key<const N: usize>([Arc<str>; N]);

impl<const N: usize> Hash for Key<N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in &self.0 {
            state.write(v.as_bytes());
            state.write_u8(0xff);
        }
    }
}

/// Borrowed label values: what a call looks its entry up with.
struct Lookup<'a, const N: usize>(&'a [&'a str; N]);

impl<const N: usize> Hash for Lookup<'_, N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The same bytes as `Key`'s hash.
        for v in self.0 {
            state.write(v.as_bytes());
            state.write_u8(0xff);
        }
    }
}

impl<const N: usize> Equivalent<Key<N>> for Lookup<'_, N> {
    fn equivalent(&self, key: &Key<N>) -> bool {
        self.0.iter().zip(&key.0).all(|(a, b)| *a == &**b)
    }
}

/// Handles of type `V` by `N` label values.
pub(crate) struct SeriesCache<const N: usize, V> {
    entries: RwLock<HashMap<Key<N>, V, foldhash::fast::RandomState>>,
}

impl<const N: usize, V> Default for SeriesCache<N, V> {
    fn default() -> Self {
        Self {
            entries: RwLock::new(HashMap::default()),
        }
    }
}

impl<const N: usize, V> SeriesCache<N, V> {
    /// Runs `use_it` on the entry of `values`, creating it with `create` (given the
    /// owned values) the first time.
    pub(crate) fn with<R>(
        &self,
        values: &[&str; N],
        create: impl FnOnce(&[Arc<str>; N]) -> V,
        use_it: impl FnOnce(&V) -> R,
    ) -> R {
        if let Some(v) = self.entries.read().get(&Lookup(values)) {
            return use_it(v);
        }
        let mut entries = self.entries.write();
        if let Some(v) = entries.get(&Lookup(values)) {
            return use_it(v); // created by another call meanwhile
        }
        let key = values.map(Arc::<str>::from);
        let v = create(&key);
        let r = use_it(&v);
        entries.insert(Key(key), v);
        r
    }

    /// How many label combinations have handles.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_created_once_and_found_by_borrowed_values() {
        let cache: SeriesCache<2, usize> = SeriesCache::default();
        let mut created = 0;
        for _ in 0..3 {
            let v = cache.with(
                &["team", "model"],
                |k| {
                    created += 1;
                    k[0].len() + k[1].len()
                },
                |v| *v,
            );
            assert_eq!(v, 9);
        }
        assert_eq!(created, 1);
        // Values are not run together: ("ab", "c") and ("a", "bc") are two entries.
        cache.with(&["ab", "c"], |_| 1, |_| ());
        cache.with(&["a", "bc"], |_| 2, |_| ());
        assert_eq!(cache.with(&["a", "bc"], |_| 3, |v| *v), 2);
        assert_eq!(cache.len(), 3);
    }
}
