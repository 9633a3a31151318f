//! The store's one error type, and which of its errors a retry can cure.

/// Errors of the store boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The named thing already exists or is still referenced.
    #[error("{0}")]
    Conflict(String),
    /// A value the database cannot hold.
    #[error("{0}")]
    Invalid(String),
    /// The database could not be opened or reached: which one, and why.
    #[error("cannot open the database ({target}): {cause}")]
    Open {
        /// `SQLite file /path` or `MySQL host:port/db`.
        target: String,
        /// Why.
        cause: String,
    },
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A transaction did not finish within its deadline; its connection was closed. Its
    /// outcome is unknown (a commit already sent may have landed).
    #[error("the database did not finish a transaction within {0:?}; its connection was closed")]
    Abandoned(std::time::Duration),
    /// The connection failed while a commit was under way: the server may have
    /// committed the transaction or rolled it back, and the answer was lost.
    #[error("the connection to the database failed during a commit, so the change may or may not have been applied: {0}")]
    CommitUnknown(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// The change may or may not have been committed ([`Self::Abandoned`],
    /// [`Self::CommitUnknown`]): the caller cannot say which, only look again.
    pub(crate) fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Abandoned(_) | Self::CommitUnknown(_))
    }

    /// A lock conflict between concurrent transactions (deadlock, busy database): the
    /// transaction was rolled back and can be retried.
    pub(crate) fn is_retryable_conflict(&self) -> bool {
        let Self::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
            return matches!(my.number(), 1213 | 1205);
        }
        matches!(
            db.code().as_deref(),
            Some("5" | "6" | "261" | "517" | "40001")
        )
    }
}
