//! This proxy run's name in `quota_leases`, and the runs that held its journal slots
//! before it. A run writes its name into its journal slot (`lease-owner`); a later run
//! that holds the slot's lock knows that writer has stopped (the kernel released its
//! lock), so the quota leases it left are reclaimed at once instead of after they
//! expire.

use std::path::Path;

/// The file in a journal slot naming the run that holds (or held) it.
const FILE: &str = "lease-owner";

/// A new run name: the host, the process and 64 random bits (at most 64 characters).
pub(super) fn new_owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(32)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "proxy".to_string());
    format!(
        "{host}-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    )
}

/// The runs named in the slots `dirs` (each stopped: its slot is locked by this one).
pub(super) fn previous(dirs: &[&Path]) -> Vec<String> {
    dirs.iter()
        .filter_map(|d| std::fs::read_to_string(d.join(FILE)).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .collect()
}

/// Writes `owner` into the slot `dir`; a failure only loses the early reclaim (the
/// leases still expire), so it is logged, not fatal.
pub(super) fn record(dir: &Path, owner: &str) {
    if let Err(e) = std::fs::write(dir.join(FILE), owner) {
        tracing::warn!(dir = %dir.display(), error = %e, "could not record the quota lease owner");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_names_its_last_run() {
        let dir = tempfile::tempdir().unwrap();
        assert!(previous(&[dir.path()]).is_empty());
        let owner = new_owner();
        assert!(owner.len() <= 64, "{owner}");
        record(dir.path(), &owner);
        assert_eq!(previous(&[dir.path()]), vec![owner.clone()]);
        assert_ne!(new_owner(), owner, "each run gets a new name");
    }
}
