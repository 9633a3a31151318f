//! [`MinuteWindow`]: what a subject was admitted in the last minute (requests, or
//! tokens), counted in one-second slots.
//!
//! A check at second `s` counts the 61 slots `s - 60 ..= s`, which cover every instant of
//! the 60 s before now. So an admission at time `t` has counted every earlier admission
//! of any 60 s window that ends at or after `t`: in no window of 60 s are more than the
//! limit admitted (exact, never over), at the price of up to one second of
//! pessimism when a slot leaves the window.

/// Slots kept: the current second and the 60 before it.
pub(crate) const SLOTS: u64 = 61;

/// One second's admissions.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// The second (since the limiter started) the amount belongs to.
    second: u64,
    amount: u64,
}

/// Amounts admitted per second over the last 61 seconds.
#[derive(Clone, Debug)]
pub(crate) struct MinuteWindow {
    slots: [Slot; SLOTS as usize],
}

impl Default for MinuteWindow {
    fn default() -> Self {
        Self {
            slots: [Slot::default(); SLOTS as usize],
        }
    }
}

impl MinuteWindow {
    fn live(slot: &Slot, now: u64) -> bool {
        slot.amount > 0 && slot.second <= now && slot.second + SLOTS > now
    }

    /// The amount admitted in the window that ends at second `now`.
    pub(crate) fn sum(&self, now: u64) -> u64 {
        self.slots
            .iter()
            .filter(|s| Self::live(s, now))
            .fold(0u64, |a, s| a.saturating_add(s.amount))
    }

    /// Whether nothing in the window counts any more at `now`.
    pub(crate) fn is_idle(&self, now: u64) -> bool {
        !self.slots.iter().any(|s| Self::live(s, now))
    }

    /// `Ok` if `ask` more fits under `limit` at second `now`; otherwise the whole
    /// seconds until it would (`None`: never, `ask` alone is over the limit).
    pub(crate) fn fits(&self, now: u64, ask: u64, limit: u64) -> Result<(), Option<u64>> {
        let sum = self.sum(now);
        if sum.saturating_add(ask) <= limit {
            return Ok(());
        }
        if ask > limit {
            return Err(None);
        }
        // After `k` seconds the slots older than `now + k - 60` have left the window.
        let mut live: Vec<Slot> = self
            .slots
            .iter()
            .filter(|s| Self::live(s, now))
            .copied()
            .collect();
        live.sort_unstable_by_key(|s| s.second);
        let mut left = sum;
        for s in live {
            left -= s.amount;
            if left.saturating_add(ask) <= limit {
                return Err(Some(s.second + SLOTS - now));
            }
        }
        Err(Some(SLOTS))
    }

    /// Adds `amount` at second `now`.
    pub(crate) fn add(&mut self, now: u64, amount: u64) {
        let slot = &mut self.slots[(now % SLOTS) as usize];
        if slot.second != now {
            *slot = Slot {
                second: now,
                amount: 0,
            };
        }
        slot.amount = slot.amount.saturating_add(amount);
    }

    /// Changes what was added at second `at` from `was` to `now_is` (a reservation
    /// settled to its real amount), if that second is still kept.
    pub(crate) fn adjust(&mut self, at: u64, was: u64, now_is: u64) {
        let slot = &mut self.slots[(at % SLOTS) as usize];
        if slot.second == at {
            slot.amount = slot.amount.saturating_sub(was).saturating_add(now_is);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_window_frees_as_its_oldest_second_leaves() {
        let mut w = MinuteWindow::default();
        w.add(10, 3);
        w.add(40, 2);
        assert_eq!(w.sum(40), 5);
        assert_eq!(w.fits(40, 1, 6), Ok(()));
        // Full at 5: the 3 of second 10 leave at second 71 (31 s from now).
        assert_eq!(w.fits(40, 1, 5), Err(Some(31)));
        assert_eq!(w.fits(70, 1, 5), Err(Some(1)));
        assert_eq!(w.sum(71), 2);
        assert_eq!(w.fits(71, 1, 5), Ok(()));
        // Needing both seconds to leave.
        assert_eq!(w.fits(40, 4, 5), Err(Some(61)));
        assert_eq!(w.fits(40, 6, 5), Err(None));
        assert!(w.is_idle(101));
    }

    #[test]
    fn settling_changes_the_second_it_was_reserved_in() {
        let mut w = MinuteWindow::default();
        w.add(5, 100);
        w.adjust(5, 100, 30);
        assert_eq!(w.sum(5), 30);
        w.adjust(5, 30, 45);
        assert_eq!(w.sum(6), 45);
        // A slot reused by a later second is not touched.
        w.add(66, 7);
        w.adjust(5, 45, 0);
        assert_eq!(w.sum(66), 7);
    }

    /// In every 60 s window (at millisecond resolution) no more than the limit is
    /// admitted, for arrivals at random instants.
    #[test]
    fn no_sixty_second_window_admits_more_than_the_limit() {
        let limit = 7;
        let mut w = MinuteWindow::default();
        let mut admitted: Vec<u64> = Vec::new();
        let mut t_ms: u64 = 0;
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            t_ms += seed % 4000;
            let s = t_ms / 1000;
            if w.fits(s, 1, limit).is_ok() {
                w.add(s, 1);
                admitted.push(t_ms);
            }
        }
        for (i, &start) in admitted.iter().enumerate() {
            let within = admitted[i..]
                .iter()
                .take_while(|&&t| t < start + 60_000)
                .count();
            assert!(
                within as u64 <= limit,
                "{within} in the 60 s from {start} ms"
            );
        }
        assert!(admitted.len() > 100);
    }
}
