//! Online copies of an SQLite database for `bedrock-gate backup`: `VACUUM INTO` writes a
//! consistent, compacted copy while the proxies keep serving (readers and the writer
//! are not stopped). MySQL is backed up with its own tools (`docs/OPERATIONS.md`).

use std::path::Path;

use super::{Pool, Store, StoreError};

impl Store {
    /// Writes a consistent copy of the SQLite database into `target`, which must not
    /// exist or be empty (the caller creates it, owner-only). MySQL: refused.
    pub(crate) async fn backup_into(&self, target: &Path) -> Result<(), StoreError> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Err(StoreError::Invalid(
                "`backup` copies SQLite databases; back up MySQL with \
                 `mysqldump --single-transaction` (see docs/OPERATIONS.md)"
                    .into(),
            ));
        };
        let name = target.to_str().ok_or_else(|| {
            StoreError::Invalid(format!(
                "the backup path {} is not valid UTF-8",
                target.display()
            ))
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(name)
            .execute(pool)
            .await?;
        Ok(())
    }
}
