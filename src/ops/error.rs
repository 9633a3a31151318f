//! The service layer's one error type. Front ends map it once: the CLI to a sentence
//! and exit code 1, the admin API to 404/409/400/500.

use crate::store::StoreError;

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The change conflicts with what exists (a duplicate name, a team with members, a
    /// user who is not blocked).
    #[error("{0}")]
    Conflict(String),
    /// The input is not acceptable; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The master key could not be loaded or used.
    #[error(transparent)]
    Crypto(#[from] crate::auth::crypto::CryptoError),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::Invalid(what) => Self::Invalid(what),
            other => Self::Store(other),
        }
    }
}
