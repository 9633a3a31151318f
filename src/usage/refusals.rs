//! Which refusals get a row: every refusal of a known user is recorded (its request id
//! finds it), as long as that user's refusals come no faster than a per-user token
//! bucket allows ([`BURST`] at once, then [`PER_SECOND`]) and the record writer's
//! queue holds fewer than [`MAX_QUEUE`] records. A client hammering the proxy with
//! calls it refuses therefore writes a bounded number of rows, and cannot grow the
//! writer's queue without bound; the refusals not written are counted in
//! `bedrock_gate_refusal_records_total{result="skipped"}`, logged once per run, and
//! summarised in the user's next recorded refusal ("N earlier refusals ... were not
//! recorded").
//!
//! Nothing here waits: one short lock over a map of the users refused lately.

use std::collections::HashMap;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Refusals of one user recorded at once, before the pace applies.
pub(crate) const BURST: u32 = 100;
/// Refusals of one user recorded per second after the burst.
pub(crate) const PER_SECOND: u32 = 1;
/// Refusals are queued only while the record queue holds fewer records than this.
pub(crate) const MAX_QUEUE: i64 = 10_000;
/// Users remembered before the map is pruned of those whose bucket is full again.
const MAX_USERS: usize = 10_000;

/// What to do with one refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Record it; `skipped` refusals of the same user were not recorded since the last
    /// one that was.
    Record {
        /// Refusals skipped before this one.
        skipped: u64,
    },
    /// Count it, do not record it; `first` when it starts a run of skipped refusals.
    Skip {
        /// The first skipped since the last recorded refusal of this user.
        first: bool,
    },
}

/// One user's bucket of refusals that may still be recorded.
#[derive(Debug)]
struct Bucket {
    /// Refusals that may be recorded now (fractions accrue).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
    /// Refusals skipped since the last recorded one.
    skipped: u64,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at);
        self.tokens =
            (self.tokens + elapsed.as_secs_f64() * f64::from(PER_SECOND)).min(f64::from(BURST));
        self.at = now;
    }
}

/// The per-user buckets of recorded refusals, shared by every call of the process.
#[derive(Debug, Default)]
pub(crate) struct RefusalGate {
    users: Mutex<HashMap<i64, Bucket>>,
}

impl RefusalGate {
    /// Whether `user_id`'s refusal at `now` is recorded; `queue_full` when the record
    /// writer's queue is at [`MAX_QUEUE`] (the refusal is skipped and counted alike).
    pub(crate) fn take(&self, user_id: i64, now: Instant, queue_full: bool) -> Verdict {
        let mut users = self.users.lock();
        if users.len() >= MAX_USERS && !users.contains_key(&user_id) {
            users.retain(|_, b| {
                b.refill(now);
                b.skipped > 0 || b.tokens < f64::from(BURST)
            });
        }
        let bucket = users.entry(user_id).or_insert(Bucket {
            tokens: f64::from(BURST),
            at: now,
            skipped: 0,
        });
        bucket.refill(now);
        if bucket.tokens >= 1.0 && !queue_full {
            bucket.tokens -= 1.0;
            let skipped = std::mem::take(&mut bucket.skipped);
            Verdict::Record { skipped }
        } else {
            bucket.skipped += 1;
            Verdict::Skip {
                first: bucket.skipped == 1,
            }
        }
    }
}

/// The longest a refused call's message is stored.
pub(crate) const MAX_MESSAGE_CHARS: usize = 1_000;

/// The stored message of a refusal: what the caller was told, cut at
/// [`MAX_MESSAGE_CHARS`], and the count of the user's refusals not recorded before it.
pub(crate) fn stored_message(message: &str, skipped: u64) -> String {
    let note = if skipped > 0 {
        let (s, were) = if skipped == 1 {
            ("", "was")
        } else {
            ("s", "were")
        };
        format!(
            " [{skipped} earlier refusal{s} of this user {were} not recorded: more than \
             {BURST} at once or {PER_SECOND} per second]"
        )
    } else {
        String::new()
    };
    let room = MAX_MESSAGE_CHARS.saturating_sub(note.chars().count());
    let mut text: String = message.chars().take(room).collect();
    text.push_str(&note);
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// How long a hammering user waits for the next recorded refusal.
    const ONE: Duration = Duration::from_millis(1_000 / PER_SECOND as u64);

    #[test]
    fn a_burst_is_recorded_then_one_per_second() {
        let gate = RefusalGate::default();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(gate.take(7, t0, false), Verdict::Record { skipped: 0 });
        }
        assert_eq!(gate.take(7, t0, false), Verdict::Skip { first: true });
        for _ in 0..1_000 {
            assert_eq!(gate.take(7, t0, false), Verdict::Skip { first: false });
        }
        // Another user is not held back by the first.
        assert_eq!(gate.take(8, t0, false), Verdict::Record { skipped: 0 });
        // A second later one more is recorded, and says how many were not.
        assert_eq!(
            gate.take(7, t0 + ONE, false),
            Verdict::Record { skipped: 1_001 }
        );
        assert_eq!(gate.take(7, t0 + ONE, false), Verdict::Skip { first: true });
        // A long pause refills the bucket to the burst, not beyond it.
        let later = t0 + ONE * 10_000;
        for _ in 0..BURST {
            assert!(matches!(gate.take(7, later, false), Verdict::Record { .. }));
        }
        assert!(matches!(gate.take(7, later, false), Verdict::Skip { .. }));
    }

    #[test]
    fn a_full_queue_skips_and_keeps_the_count() {
        let gate = RefusalGate::default();
        let t0 = Instant::now();
        assert_eq!(gate.take(1, t0, true), Verdict::Skip { first: true });
        assert_eq!(gate.take(1, t0, true), Verdict::Skip { first: false });
        assert_eq!(gate.take(1, t0, false), Verdict::Record { skipped: 2 });
    }

    #[test]
    fn the_map_forgets_users_whose_bucket_is_full_again() {
        let gate = RefusalGate::default();
        let t0 = Instant::now();
        for u in 0..MAX_USERS as i64 {
            gate.take(u, t0, false);
        }
        // Everyone's bucket has refilled: a new user prunes them all.
        gate.take(-1, t0 + ONE * 10, false);
        assert_eq!(gate.users.lock().len(), 1);
    }

    #[test]
    fn stored_messages_are_cut_and_say_what_was_skipped() {
        assert_eq!(stored_message("limit reached", 0), "limit reached");
        let long = "x".repeat(5_000);
        let m = stored_message(&long, 3);
        assert_eq!(m.chars().count(), MAX_MESSAGE_CHARS);
        assert!(
            m.ends_with(
                " [3 earlier refusals of this user were not recorded: more than 100 at once \
                 or 1 per second]"
            ),
            "{m}"
        );
        assert!(stored_message("a", 1).contains("1 earlier refusal of this user was not"));
    }
}
