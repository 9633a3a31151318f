//! Model prices: set (model ids as bare ids, inference-profile ids or ARNs, stored bare)
//! and list.

use super::admin_audit::{json, record};
use super::retry;
use super::{validate, Ops, OpsError};
use crate::domain::{Actor, AdminOperation};
use crate::store::Price;

impl Ops {
    /// Sets a model's price per 1,000 tokens.
    pub(crate) async fn set_price(&self, actor: &Actor, price: Price) -> Result<Price, OpsError> {
        let bare = crate::usage::pricing::normalize_model_id(&price.model_id).to_string();
        if bare.is_empty() {
            return Err(OpsError::Invalid(format!(
                "model id `{}` names no model",
                price.model_id
            )));
        }
        validate::price("input price", price.input_per_1k)?;
        validate::price("output price", price.output_per_1k)?;
        if let Some(v) = price.cache_read_per_1k {
            validate::price("cache read price", v)?;
        }
        if let Some(v) = price.cache_write_per_1k {
            validate::price("cache write price", v)?;
        }
        let price = Price {
            model_id: bare,
            ..price
        };
        let before = self
            .store
            .prices()
            .await?
            .into_iter()
            .find(|p| p.model_id == price.model_id);
        let audit = record(
            actor,
            AdminOperation::SetPrice,
            format!("price:{}", price.model_id),
            before.as_ref().and_then(json),
            json(&price),
        );
        retry::on_conflict(|| self.store.set_price(&price, Some(&audit))).await?;
        Ok(price)
    }

    /// Every price, by model id.
    pub(crate) async fn prices(&self) -> Result<Vec<Price>, OpsError> {
        Ok(self.store.prices().await?)
    }
}
