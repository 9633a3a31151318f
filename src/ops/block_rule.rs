//! The blocking rule: what a requested change does to a user's blocking row as it is
//! now. A pure function of (current row, requested change, now), applied by the
//! blocking service inside the transaction that holds the row's lock, so two changes
//! that arrive together end as one of their serial orders would, and a change made on
//! a stale view (a proxy one poll behind) cannot undo a newer one:
//!
//! - an automatic block never clears or overrides a protection that is in force, and
//!   never replaces (shortens or weakens) a block that lasts at least as long;
//! - a manual block keeps a standing protection (it covers limits, not an
//!   administrator's block) and ends a day-long one;
//! - unblocking a user who is not blocked is refused; lifting an automatic block
//!   protects until the next daily reset;
//! - protection lifts an automatic block, never an administrator's.

use crate::domain::BlockKind;
use crate::store::BlockStatus;

/// A change to a user's blocking row, as asked for.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Requested {
    /// An administrator's block until `until` (epoch ms; `None` is indefinite).
    Block {
        /// Until when.
        until: Option<i64>,
        /// Why.
        reason: String,
    },
    /// An administrator lifts the block.
    Unblock,
    /// An administrator gives (`true`) or takes away standing protection.
    Protect(bool),
    /// The quota engine blocks for a reached limit until the limit resets.
    AutoBlock {
        /// When the limit resets (epoch ms).
        until: i64,
        /// The limit's refusal message.
        reason: String,
    },
    /// The daily reset: lifts blocks that have run out and ends day-long protections.
    Reset,
}

/// Why a requested change cannot be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Unblock of a user who is not blocked.
    NotBlocked,
}

/// Times the rule needs: now, and the end of the local day now is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Clock {
    /// Now (epoch ms).
    pub(crate) now_ms: i64,
    /// The next daily reset (epoch ms): the end of today in `quota.timezone`.
    pub(crate) day_end_ms: i64,
}

/// What the daily reset does to one row: lift the block, end the protection, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResetEffect {
    /// The block is lifted.
    pub(crate) lift: bool,
    /// The day-long protection ends.
    pub(crate) end_protection: bool,
}

/// Whether `row`'s protection is in force at `now_ms`.
pub(crate) fn protected(row: &BlockStatus, now_ms: i64) -> bool {
    row.administrative_safe && row.safe_until.is_none_or(|u| u > now_ms)
}

/// What the reset does to `row` at `clock` (nothing: both `false`).
pub(crate) fn reset_effect(row: &BlockStatus, clock: Clock) -> ResetEffect {
    let lift = row.blocked
        && match row.kind {
            // Daily limits block until the day's end; monthly ones until the month's.
            Some(BlockKind::Automatic) => row.blocked_until.is_none_or(|u| u <= clock.day_end_ms),
            _ => row.blocked_until.is_some_and(|u| u <= clock.now_ms),
        };
    let end_protection =
        row.administrative_safe && row.safe_until.is_some_and(|u| u <= clock.day_end_ms);
    ResetEffect {
        lift,
        end_protection,
    }
}

/// The row after `change` is applied to `current` at `clock`; `Ok(None)` when the
/// change leaves the row as it is.
pub(crate) fn apply(
    current: &BlockStatus,
    change: &Requested,
    clock: Clock,
) -> Result<Option<BlockStatus>, Refused> {
    let next = match change {
        Requested::Block { until, reason } => BlockStatus {
            blocked: true,
            kind: Some(BlockKind::Manual),
            reason: Some(reason.clone()),
            blocked_until: *until,
            administrative_safe: current.administrative_safe && current.safe_until.is_none(),
            safe_until: None,
            ..current.clone()
        },
        Requested::Unblock => {
            if !current.blocked {
                return Err(Refused::NotBlocked);
            }
            let (safe, safe_until) = if current.kind == Some(BlockKind::Automatic) {
                (true, Some(clock.day_end_ms))
            } else {
                (current.administrative_safe, current.safe_until)
            };
            BlockStatus {
                blocked: false,
                kind: None,
                reason: None,
                blocked_until: None,
                administrative_safe: safe,
                safe_until,
                ..current.clone()
            }
        }
        Requested::Protect(on) => {
            let lift_auto = *on && current.kind == Some(BlockKind::Automatic);
            let blocked = current.blocked && !lift_auto;
            BlockStatus {
                blocked,
                kind: if blocked { current.kind } else { None },
                reason: if blocked {
                    current.reason.clone()
                } else {
                    None
                },
                blocked_until: if blocked { current.blocked_until } else { None },
                administrative_safe: *on,
                safe_until: None,
                ..current.clone()
            }
        }
        Requested::AutoBlock { until, reason } => {
            let lasts_as_long =
                current.blocked && current.blocked_until.is_none_or(|u| u >= *until);
            if protected(current, clock.now_ms) || lasts_as_long {
                return Ok(None);
            }
            BlockStatus {
                blocked: true,
                kind: Some(BlockKind::Automatic),
                reason: Some(reason.clone()),
                blocked_until: Some(*until),
                ..current.clone()
            }
        }
        Requested::Reset => {
            let ResetEffect {
                lift,
                end_protection,
            } = reset_effect(current, clock);
            if !lift && !end_protection {
                return Ok(None);
            }
            BlockStatus {
                blocked: current.blocked && !lift,
                kind: if lift { None } else { current.kind },
                reason: if lift { None } else { current.reason.clone() },
                blocked_until: if lift { None } else { current.blocked_until },
                administrative_safe: current.administrative_safe && !end_protection,
                safe_until: if end_protection {
                    None
                } else {
                    current.safe_until
                },
                ..current.clone()
            }
        }
    };
    Ok(Some(next))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;
    const DAY_END: i64 = 2_000_000;
    const WEEK: i64 = 9_000_000;
    const CLOCK: Clock = Clock {
        now_ms: NOW,
        day_end_ms: DAY_END,
    };

    fn clear() -> BlockStatus {
        BlockStatus {
            user_id: 7,
            username: "carol".into(),
            ..Default::default()
        }
    }

    fn manual(until: Option<i64>) -> BlockStatus {
        apply(
            &clear(),
            &Requested::Block {
                until,
                reason: "stolen".into(),
            },
            CLOCK,
        )
        .unwrap()
        .unwrap()
    }

    fn auto_block() -> Requested {
        Requested::AutoBlock {
            until: DAY_END,
            reason: "daily limit".into(),
        }
    }

    fn auto() -> BlockStatus {
        apply(&clear(), &auto_block(), CLOCK).unwrap().unwrap()
    }

    fn standing() -> BlockStatus {
        apply(&clear(), &Requested::Protect(true), CLOCK)
            .unwrap()
            .unwrap()
    }

    /// Applies the changes in order (a refusal leaves the row as it is).
    fn serial(start: &BlockStatus, changes: &[&Requested]) -> BlockStatus {
        changes.iter().fold(start.clone(), |row, c| {
            apply(&row, c, CLOCK).ok().flatten().unwrap_or(row)
        })
    }

    #[test]
    fn an_automatic_block_never_clears_or_overrides_protection() {
        assert_eq!(apply(&standing(), &auto_block(), CLOCK), Ok(None));
        // The day-long protection after lifting an automatic block holds too.
        let day_long = apply(&auto(), &Requested::Unblock, CLOCK).unwrap().unwrap();
        assert!(day_long.administrative_safe && day_long.safe_until == Some(DAY_END));
        assert_eq!(apply(&day_long, &auto_block(), CLOCK), Ok(None));
        // A protection that ran out (not yet ended by the reset) does not; the block
        // leaves its fields alone.
        let ran_out = BlockStatus {
            administrative_safe: true,
            safe_until: Some(NOW - 1),
            ..clear()
        };
        let blocked = apply(&ran_out, &auto_block(), CLOCK).unwrap().unwrap();
        assert!(blocked.blocked && blocked.kind == Some(BlockKind::Automatic));
        assert_eq!(
            (blocked.administrative_safe, blocked.safe_until),
            (true, Some(NOW - 1))
        );
    }

    #[test]
    fn an_automatic_block_never_replaces_a_block_that_lasts_as_long() {
        for longer in [manual(Some(WEEK)), manual(None), manual(Some(DAY_END))] {
            assert_eq!(apply(&longer, &auto_block(), CLOCK), Ok(None), "{longer:?}");
        }
        assert_eq!(apply(&auto(), &auto_block(), CLOCK), Ok(None));
        // A shorter manual block is replaced: the user stays blocked until the reset.
        let short = manual(Some(NOW + 60_000));
        let replaced = apply(&short, &auto_block(), CLOCK).unwrap().unwrap();
        assert_eq!(replaced.kind, Some(BlockKind::Automatic));
        assert_eq!(replaced.blocked_until, Some(DAY_END));
    }

    #[test]
    fn a_manual_block_keeps_standing_protection_and_ends_a_day_long_one() {
        let b = apply(
            &standing(),
            &Requested::Block {
                until: Some(WEEK),
                reason: "r".into(),
            },
            CLOCK,
        )
        .unwrap()
        .unwrap();
        assert!(b.blocked && b.administrative_safe && b.safe_until.is_none());
        let day_long = apply(&auto(), &Requested::Unblock, CLOCK).unwrap().unwrap();
        let b = apply(
            &day_long,
            &Requested::Block {
                until: None,
                reason: "r".into(),
            },
            CLOCK,
        )
        .unwrap()
        .unwrap();
        assert!(!b.administrative_safe && b.safe_until.is_none());
        assert_eq!((b.kind, b.blocked_until), (Some(BlockKind::Manual), None));
    }

    #[test]
    fn unblock_refuses_when_not_blocked_and_protects_after_an_automatic_block() {
        assert_eq!(
            apply(&clear(), &Requested::Unblock, CLOCK),
            Err(Refused::NotBlocked)
        );
        let after_manual = apply(&manual(None), &Requested::Unblock, CLOCK)
            .unwrap()
            .unwrap();
        assert_eq!(after_manual, clear());
        let after_auto = apply(&auto(), &Requested::Unblock, CLOCK).unwrap().unwrap();
        assert!(!after_auto.blocked);
        assert_eq!(after_auto.safe_until, Some(DAY_END));
    }

    #[test]
    fn protection_lifts_an_automatic_block_never_a_manual_one() {
        let p = apply(&auto(), &Requested::Protect(true), CLOCK)
            .unwrap()
            .unwrap();
        assert!(!p.blocked && p.administrative_safe && p.kind.is_none());
        let p = apply(&manual(Some(WEEK)), &Requested::Protect(true), CLOCK)
            .unwrap()
            .unwrap();
        assert!(p.blocked && p.administrative_safe);
        assert_eq!(p.blocked_until, Some(WEEK));
        let u = apply(&p, &Requested::Protect(false), CLOCK)
            .unwrap()
            .unwrap();
        assert!(u.blocked && !u.administrative_safe);
    }

    #[test]
    fn the_pairs_of_the_issue_commute_where_their_serial_orders_agree() {
        let block = Requested::Block {
            until: Some(WEEK),
            reason: "r".into(),
        };
        let (protect, unprotect) = (Requested::Protect(true), Requested::Protect(false));
        let unblock = Requested::Unblock;
        // protect ‖ block on a clear user: blocked and protected, either way.
        assert_eq!(
            serial(&clear(), &[&protect, &block]),
            serial(&clear(), &[&block, &protect])
        );
        // unblock ‖ protect on a manually blocked user: unblocked and protected.
        let both = serial(&manual(Some(WEEK)), &[&unblock, &protect]);
        assert_eq!(both, serial(&manual(Some(WEEK)), &[&protect, &unblock]));
        assert!(!both.blocked && both.administrative_safe);
        // unblock ‖ unprotect on a blocked, protected user: neither, either way.
        let start = serial(&standing(), &[&block]);
        let a = serial(&start, &[&unblock, &unprotect]);
        assert_eq!(a, serial(&start, &[&unprotect, &unblock]));
        assert!(!a.blocked && !a.administrative_safe);
    }

    #[test]
    fn the_reset_lifts_what_ran_out_and_ends_day_long_protection() {
        let day_long = apply(&auto(), &Requested::Unblock, CLOCK).unwrap().unwrap();
        let next_day = Clock {
            now_ms: DAY_END + 1,
            day_end_ms: DAY_END + 86_400_000,
        };
        assert_eq!(
            reset_effect(&day_long, next_day),
            ResetEffect {
                lift: false,
                end_protection: true
            }
        );
        assert_eq!(
            apply(&day_long, &Requested::Reset, next_day),
            Ok(Some(clear()))
        );
        assert_eq!(
            apply(&auto(), &Requested::Reset, next_day),
            Ok(Some(clear()))
        );
        // A week-long manual block and standing protection stay.
        assert_eq!(
            apply(&manual(Some(WEEK)), &Requested::Reset, next_day),
            Ok(None)
        );
        assert_eq!(apply(&standing(), &Requested::Reset, next_day), Ok(None));
        assert_eq!(apply(&manual(None), &Requested::Reset, next_day), Ok(None));
    }
}
