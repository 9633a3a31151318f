//! Every admin change retries a lock conflict the same way: a transaction the database
//! rolled back because it deadlocked with another (MariaDB 1213), waited too long for a
//! lock (1205), or found SQLite busy, is run again, up to [`crate::store::RETRIES`]
//! times with a short, jittered, growing wait (the store's `retry_conflicts!`, which
//! block changes use inside the store, follows the same rule). Only a conflict is
//! retried: the transaction was rolled back, so running it again cannot apply it twice.
//! A change still conflicting after that, or whose outcome is unknown, reaches the
//! admin API as 503 with `Retry-After` (`api::error`).

use std::future::Future;

use crate::store::{backoff, StoreError, RETRIES};

/// Runs `attempt` (one store transaction) until it succeeds, fails otherwise, or met
/// a lock conflict [`RETRIES`] times.
pub(crate) async fn on_conflict<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut tries = 0u32;
    loop {
        match attempt().await {
            Err(e) if tries < RETRIES && e.is_retryable_conflict() => {
                tries += 1;
                tracing::debug!(error = %e, tries, "an admin change met a lock conflict; retrying");
                tokio::time::sleep(backoff(tries)).await;
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{Connection as _, SqliteConnection};

    use super::*;

    /// A real lock conflict: SQLite busy (another connection holds the write lock).
    async fn busy() -> StoreError {
        let dir = tempfile::tempdir().unwrap();
        let opts = SqliteConnectOptions::new()
            .filename(dir.path().join("db"))
            .create_if_missing(true)
            .busy_timeout(Duration::ZERO);
        let mut a = SqliteConnection::connect_with(&opts).await.unwrap();
        let mut b = SqliteConnection::connect_with(&opts).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut a)
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut a)
            .await
            .unwrap();
        let e = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut b)
            .await
            .unwrap_err();
        let e = StoreError::Database(e);
        assert!(e.is_retryable_conflict(), "{e}");
        e
    }

    #[tokio::test]
    async fn a_conflict_is_retried_until_the_change_goes_through() {
        let mut errors = vec![busy().await, busy().await];
        let calls = AtomicU32::new(0);
        let r = on_conflict(|| {
            calls.fetch_add(1, Ordering::Relaxed);
            let e = errors.pop();
            async move { e.map_or(Ok(7), Err) }
        })
        .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn retries_are_bounded_and_other_errors_are_not_retried() {
        let mut errors = Vec::new();
        for _ in 0..=RETRIES + 1 {
            errors.push(busy().await);
        }
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = on_conflict(|| {
            calls.fetch_add(1, Ordering::Relaxed);
            let e = errors.pop();
            async move { e.map_or(Ok(()), Err) }
        })
        .await;
        assert!(r.unwrap_err().is_retryable_conflict());
        assert_eq!(calls.load(Ordering::Relaxed), RETRIES + 1);

        let calls = AtomicU32::new(0);
        let r: Result<(), StoreError> = on_conflict(|| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err(StoreError::NotFound("x".into())) }
        })
        .await;
        assert!(matches!(r, Err(StoreError::NotFound(_))));
        assert_eq!(calls.load(Ordering::Relaxed), 1, "not a conflict: no retry");
    }
}
