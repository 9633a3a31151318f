//! Model prices (`model_pricing`), in USD per 1,000 tokens.

use serde::Serialize;

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::{now_ms, on_pool, Store, StoreError};

/// The price of one model.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Price {
    /// Bare model id (`anthropic.claude-3-haiku-20240307-v1:0`).
    pub model_id: String,
    /// USD per 1,000 input tokens.
    pub input_per_1k: f64,
    /// USD per 1,000 output tokens.
    pub output_per_1k: f64,
    /// USD per 1,000 cache-read tokens; `None` charges them at the input price.
    pub cache_read_per_1k: Option<f64>,
    /// USD per 1,000 cache-write tokens; `None` charges them at the input price.
    pub cache_write_per_1k: Option<f64>,
}

impl Store {
    /// Sets (inserts or replaces) a model's price, with the administrator's audit row
    /// when given, in one transaction.
    pub async fn set_price(
        &self,
        price: &Price,
        audit: Option<&AdminAuditRecord>,
    ) -> Result<(), StoreError> {
        for (what, v) in [
            ("input price", Some(price.input_per_1k)),
            ("output price", Some(price.output_per_1k)),
            ("cache read price", price.cache_read_per_1k),
            ("cache write price", price.cache_write_per_1k),
        ] {
            if let Some(v) = v {
                if !v.is_finite() || v < 0.0 {
                    return Err(StoreError::Invalid(format!(
                        "{what} must be a non-negative number"
                    )));
                }
            }
        }
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM model_pricing WHERE model_id = ?")
                .bind(&price.model_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO model_pricing (model_id, input_per_1k, output_per_1k, \
                 cache_read_per_1k, cache_write_per_1k, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&price.model_id)
            .bind(price.input_per_1k)
            .bind(price.output_per_1k)
            .bind(price.cache_read_per_1k)
            .bind(price.cache_write_per_1k)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            if let Some(audit) = audit {
                insert_admin_audit!(audit, &mut *tx);
            }
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }

    /// Every price, by model id.
    pub async fn prices(&self) -> Result<Vec<Price>, StoreError> {
        let prices = on_pool!(self, p => {
            sqlx::query_as::<_, Price>(
                "SELECT model_id, input_per_1k, output_per_1k, cache_read_per_1k, \
                 cache_write_per_1k FROM model_pricing ORDER BY model_id",
            )
            .fetch_all(p)
            .await?
        });
        Ok(prices)
    }
}
