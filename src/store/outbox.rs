//! The outbox of domain events (`domain_events`) and their deliveries to subscribers
//! (`event_consumers`, `event_deliveries`).
//!
//! Writers put an event in the same transaction as the change it describes
//! ([`insert_event!`]); an event with a dedupe key is stored at most once per key, which
//! is how "once per limit and period" holds across proxies. Readers claim events per
//! subscriber under a lease: the claim is one conditional `UPDATE`, so a delivery row is
//! held by exactly one proxy at a time; a proxy that dies mid-delivery lets its lease
//! run out and another proxy takes the event over (at-least-once to the subscriber,
//! never two holders at once).

use rand::RngCore;
use serde::Serialize;

use super::{now_ms, on_pool, Store, StoreError};
use crate::config::DatabaseKind;
use crate::domain::{EventKind, NewEvent};

/// An event encoded for its table row, with the insert statement for this engine.
pub(crate) struct EventRow {
    pub(crate) sql: String,
    pub(crate) kind: EventKind,
    pub(crate) subject: Option<String>,
    pub(crate) dedupe_key: Option<String>,
    pub(crate) payload: String,
}

impl EventRow {
    pub(crate) fn new(store: &Store, event: &NewEvent) -> Result<Self, StoreError> {
        let payload = serde_json::to_string(&event.event)
            .map_err(|e| StoreError::Invalid(format!("event does not encode: {e}")))?;
        Ok(Self {
            sql: format!(
                "{} INTO domain_events (kind, subject, dedupe_key, payload, created_at) \
                 VALUES (?, ?, ?, ?, ?)",
                store.insert_ignore()
            ),
            kind: event.event.kind(),
            subject: event.event.subject(),
            dedupe_key: event.dedupe_key.clone(),
            payload,
        })
    }
}

/// Inserts an [`EventRow`] on a connection or transaction; evaluates to `true` when the
/// event was stored, `false` when its dedupe key was already taken.
macro_rules! insert_event {
    ($row:expr, $conn:expr) => {
        sqlx::query(&$row.sql)
            .bind($row.kind)
            .bind(&$row.subject)
            .bind(&$row.dedupe_key)
            .bind(&$row.payload)
            .bind($crate::store::now_ms())
            .execute($conn)
            .await?
            .rows_affected()
            == 1
    };
}
pub(crate) use insert_event;

/// The id the last `INSERT` gave its row, on either engine.
pub(crate) trait LastId {
    /// The id (0 when nothing was inserted).
    fn last_id(&self) -> i64;
}

impl LastId for sqlx::sqlite::SqliteQueryResult {
    fn last_id(&self) -> i64 {
        self.last_insert_rowid()
    }
}

impl LastId for sqlx::mysql::MySqlQueryResult {
    fn last_id(&self) -> i64 {
        i64::try_from(self.last_insert_id()).unwrap_or(i64::MAX)
    }
}

/// Like [`insert_event!`], but evaluates to the new event's id, or `None` when its
/// dedupe key was already taken.
macro_rules! insert_event_id {
    ($row:expr, $conn:expr) => {{
        let done = sqlx::query(&$row.sql)
            .bind($row.kind)
            .bind(&$row.subject)
            .bind(&$row.dedupe_key)
            .bind(&$row.payload)
            .bind($crate::store::now_ms())
            .execute($conn)
            .await?;
        (done.rows_affected() == 1).then(|| $crate::store::outbox::LastId::last_id(&done))
    }};
}
pub(crate) use insert_event_id;

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub struct StoredEvent {
    /// Outbox id (increasing).
    pub id: i64,
    /// The event's type.
    pub kind: EventKind,
    /// `user:<name>` or `team:<name>`.
    pub(crate) subject: Option<String>,
    /// The once-only key, if any.
    pub(crate) dedupe_key: Option<String>,
    /// The event as JSON (`crate::domain::DomainEvent`).
    pub payload: String,
    /// When it was written (epoch ms).
    pub(crate) created_at: i64,
}

/// An event claimed for one subscriber.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClaimedEvent {
    /// Outbox id.
    pub event_id: i64,
    /// Deliveries tried so far, this one included.
    pub attempts: i64,
    /// The event as JSON.
    pub payload: String,
    /// The claim, needed to mark the outcome.
    pub(crate) claim_token: String,
}

impl Store {
    /// Writes an event on its own; `false` when its dedupe key was already taken.
    pub async fn append_event(&self, event: &NewEvent) -> Result<bool, StoreError> {
        let row = EventRow::new(self, event)?;
        Ok(on_pool!(self, p => insert_event!(row, p)))
    }

    /// Events, newest first, optionally of one type.
    pub async fn events(
        &self,
        kind: Option<EventKind>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let events = on_pool!(self, p => {
            sqlx::query_as::<_, StoredEvent>(
                "SELECT id, kind, subject, dedupe_key, payload, created_at FROM domain_events \
                 WHERE (? IS NULL OR kind = ?) ORDER BY id DESC LIMIT ?",
            )
            .bind(kind)
            .bind(kind)
            .bind(limit.max(0))
            .fetch_all(p)
            .await?
        });
        Ok(events)
    }

    /// Registers a subscriber; a new one sees only events written from now on.
    pub async fn register_consumer(&self, name: &str) -> Result<(), StoreError> {
        let sql = format!(
            "{} INTO event_consumers (name, start_after, created_at) \
             SELECT ?, COALESCE(MAX(id), 0), ? FROM domain_events",
            self.insert_ignore()
        );
        on_pool!(self, p => {
            sqlx::query(&sql).bind(name).bind(now_ms()).execute(p).await?.rows_affected()
        });
        Ok(())
    }

    /// Claims up to `limit` undelivered events for subscriber `consumer` on behalf of
    /// `by`, each for `lease_ms`. Events whose earlier lease ran out are claimed again.
    pub async fn claim_events(
        &self,
        consumer: &str,
        by: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        let now = now_ms();
        let enqueue = format!(
            "{} INTO event_deliveries (consumer, event_id) \
             SELECT c.name, e.id FROM domain_events e JOIN event_consumers c ON c.name = ? \
             WHERE e.id > c.start_after AND NOT EXISTS (SELECT 1 FROM event_deliveries d \
             WHERE d.consumer = c.name AND d.event_id = e.id) ORDER BY e.id LIMIT ?",
            self.insert_ignore()
        );
        let claim = match self.kind() {
            DatabaseKind::MySql => {
                "UPDATE event_deliveries SET claimed_by = ?, claim_token = ?, lease_until = ?, \
                 attempts = attempts + 1 WHERE consumer = ? AND delivered_at IS NULL \
                 AND lease_until <= ? ORDER BY event_id LIMIT ?"
            }
            // SQLite has no `UPDATE ... LIMIT`; it takes the ids from a sub-select (MySQL
            // refuses a sub-select on the table being updated).
            DatabaseKind::Sqlite => {
                "UPDATE event_deliveries SET claimed_by = ?, claim_token = ?, lease_until = ?, \
                 attempts = attempts + 1 WHERE consumer = ? AND event_id IN (SELECT event_id \
                 FROM event_deliveries WHERE consumer = ? AND delivered_at IS NULL \
                 AND lease_until <= ? ORDER BY event_id LIMIT ?)"
            }
        };
        let mut token = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut token);
        let token = hex::encode(token);
        let sqlite = self.kind() == DatabaseKind::Sqlite;
        let claimed = on_pool!(self, p => {
            sqlx::query(&enqueue)
                .bind(consumer)
                .bind(limit.saturating_mul(4))
                .execute(p)
                .await?;
            let mut q = sqlx::query(claim)
                .bind(by)
                .bind(&token)
                .bind(now + lease_ms)
                .bind(consumer);
            if sqlite {
                q = q.bind(consumer);
            }
            q.bind(now).bind(limit).execute(p).await?;
            sqlx::query_as::<_, ClaimedEvent>(
                "SELECT d.event_id, d.attempts, e.payload, d.claim_token FROM event_deliveries d \
                 JOIN domain_events e ON e.id = d.event_id WHERE d.consumer = ? \
                 AND d.claim_token = ? ORDER BY d.event_id",
            )
            .bind(consumer)
            .bind(&token)
            .fetch_all(p)
            .await?
        });
        Ok(claimed)
    }

    /// Marks a claimed event delivered (`Ok`) or failed (`Err(why)`, to be claimed again
    /// after `retry_at`, epoch ms). A claim whose lease was taken over is left alone.
    pub async fn finish_delivery(
        &self,
        consumer: &str,
        event: &ClaimedEvent,
        outcome: Result<(), (String, i64)>,
    ) -> Result<(), StoreError> {
        let (sql, first, retry_at) = match outcome {
            // Done: `delivered_at` set, the error cleared (or kept, when given up).
            Ok(()) => (
                "UPDATE event_deliveries SET last_error = ?, delivered_at = ? \
                 WHERE consumer = ? AND event_id = ? AND claim_token = ?",
                None,
                now_ms(),
            ),
            Err((why, retry_at)) => (
                "UPDATE event_deliveries SET last_error = ?, lease_until = ? \
                 WHERE consumer = ? AND event_id = ? AND claim_token = ?",
                Some(why.chars().take(1000).collect::<String>()),
                retry_at,
            ),
        };
        self.mark(sql, first, retry_at, consumer, event).await
    }

    /// Marks a claimed event done after its last failed try (`why` kept as its error):
    /// it is not claimed again.
    pub async fn give_up_delivery(
        &self,
        consumer: &str,
        event: &ClaimedEvent,
        why: &str,
    ) -> Result<(), StoreError> {
        let why = format!("given up: {}", why.chars().take(980).collect::<String>());
        let sql = "UPDATE event_deliveries SET last_error = ?, delivered_at = ? \
                   WHERE consumer = ? AND event_id = ? AND claim_token = ?";
        self.mark(sql, Some(why), now_ms(), consumer, event).await
    }

    /// Runs one of the statements above on `event`'s delivery row. A lock conflict with
    /// another proxy's claim (a deadlock on MySQL, a busy SQLite file) is retried: a
    /// delivered event whose mark failed would otherwise stay claimed, and be delivered
    /// again, when its lease runs out.
    async fn mark(
        &self,
        sql: &str,
        error: Option<String>,
        at: i64,
        consumer: &str,
        event: &ClaimedEvent,
    ) -> Result<(), StoreError> {
        let mut attempt = 0u64;
        loop {
            match self
                .mark_once(sql, error.as_deref(), at, consumer, event)
                .await
            {
                Err(e) if attempt < 5 && e.is_retryable_conflict() => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
                }
                done => return done,
            }
        }
    }

    async fn mark_once(
        &self,
        sql: &str,
        error: Option<&str>,
        at: i64,
        consumer: &str,
        event: &ClaimedEvent,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            sqlx::query(sql)
                .bind(error)
                .bind(at)
                .bind(consumer)
                .bind(event.event_id)
                .bind(&event.claim_token)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Deliveries of one subscriber: (event id, claimed by, attempts, delivered) for
    /// tests and the admin view.
    pub async fn deliveries(
        &self,
        consumer: &str,
    ) -> Result<Vec<(i64, Option<String>, i64, bool)>, StoreError> {
        let rows = on_pool!(self, p => {
            sqlx::query_as::<_, (i64, Option<String>, i64, Option<i64>)>(
                "SELECT event_id, claimed_by, CAST(attempts AS SIGNED) AS attempts, delivered_at \
                 FROM event_deliveries WHERE consumer = ? ORDER BY event_id",
            )
            .bind(consumer)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, by, attempts, at)| (id, by, attempts, at.is_some()))
            .collect())
    }
}
