//! [`Cap`]: at most N distinct values of a label get series of their own; the first N
//! seen keep theirs for the life of the process, every later one is counted under
//! [`OTHER`]. It bounds the `user` label (`metrics.max_users`) and the model label of
//! calls to unpriced models ([`MAX_UNPRICED_MODELS`]).
//!
//! Checking a value already seen is a shared-lock hash lookup, without allocating; a
//! new value is copied once, when it is admitted.

use std::collections::HashSet;

use parking_lot::RwLock;

use super::labels::OTHER;

/// How many distinct unpriced model ids get a `model` label of their own. Priced models
/// are bounded by the price table; an unpriced id is whatever the caller sent, so its
/// labels are capped like users.
pub const MAX_UNPRICED_MODELS: usize = 50;

type Set = HashSet<Box<str>, foldhash::fast::RandomState>;

/// A bounded set of label values.
#[derive(Debug)]
pub(crate) struct Cap {
    max: usize,
    seen: RwLock<Set>,
}

impl Cap {
    /// A cap of `max` distinct values.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            seen: RwLock::new(Set::default()),
        }
    }

    /// `value` itself if it has (or can still get) series of its own, else [`OTHER`].
    pub(crate) fn label<'a>(&self, value: &'a str) -> &'a str {
        {
            let seen = self.seen.read();
            if seen.contains(value) {
                return value;
            }
            if seen.len() >= self.max {
                return OTHER;
            }
        }
        let mut seen = self.seen.write();
        if seen.contains(value) {
            return value;
        }
        if seen.len() >= self.max {
            return OTHER;
        }
        seen.insert(value.into());
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_values_keep_their_label_and_the_rest_are_other() {
        let cap = Cap::new(2);
        assert_eq!(cap.label("alice"), "alice");
        assert_eq!(cap.label("bob"), "bob");
        assert_eq!(cap.label("carol"), OTHER);
        assert_eq!(cap.label("alice"), "alice");
        assert_eq!(cap.label("bob"), "bob");
        assert_eq!(cap.label("dave"), OTHER);
    }
}
