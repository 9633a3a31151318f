//! File descriptors: every client connection and upstream connection holds one, and the
//! soft limit many systems start a process with (1,024) is reached by a few hundred
//! streaming clients. `serve` raises the soft limit to the hard limit at start (the
//! systemd unit sets `LimitNOFILE`), and says what it got.

/// Raises this process's soft descriptor limit to its hard limit; returns the limit now in
/// force (`None` where the platform has no such limit or it cannot be read).
pub(crate) fn raise_to_hard_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::info!(limit, "file descriptor limit");
            if limit < 4096 {
                tracing::warn!(
                    limit,
                    "few file descriptors: each client and upstream connection takes one; \
                     raise the hard limit (LimitNOFILE= in the systemd unit, ulimit -Hn)"
                );
            }
            Some(limit)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the file descriptor limit");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_becomes_the_hard_limit() {
        let got = super::raise_to_hard_limit().unwrap();
        let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
        assert_eq!(soft, got);
        assert_eq!(soft, hard);
    }
}
