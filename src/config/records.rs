//! `[records]`: how long the per-call request rows (`bedrock_requests`) are kept. The
//! usage rollups are kept forever; only the rows behind them go.

use super::raw::RawRecords;
use super::ConfigError;

/// The longest retention accepted, in days (about 100 years).
const MAX_DAYS: u64 = 36_500;

/// `[records]`
#[derive(Clone, Debug)]
pub(crate) struct RecordsConfig {
    /// Request rows older than this many local days are deleted; 0 keeps them forever.
    pub(crate) retention_days: u32,
}

impl RecordsConfig {
    /// Validates `[records]` and fills in its default (400 days).
    pub(super) fn from_raw(r: RawRecords) -> Result<Self, ConfigError> {
        let days = r.retention_days.unwrap_or(400);
        if days > MAX_DAYS {
            return Err(ConfigError::new(
                "records.retention_days",
                format!("must be at most {MAX_DAYS} (0 keeps records forever)"),
            ));
        }
        Ok(Self {
            // At most MAX_DAYS, checked above.
            retention_days: u32::try_from(days).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load;

    #[test]
    fn retention_defaults_overrides_and_bad_values() {
        assert_eq!(load("", &[]).unwrap().records.retention_days, 400);
        assert_eq!(
            load("[records]\nretention_days = 0\n", &[])
                .unwrap()
                .records
                .retention_days,
            0,
            "0 keeps records forever"
        );
        let c = load(
            "[records]\nretention_days = 30\n",
            &[("BEDROCK_GATE_RECORDS__RETENTION_DAYS", "90")],
        )
        .unwrap();
        assert_eq!(c.records.retention_days, 90);
        for bad in ["-1", "36501", "\"forever\"", "1.5"] {
            let e = load(&format!("[records]\nretention_days = {bad}\n"), &[]).unwrap_err();
            assert_eq!(e.key, "records.retention_days", "{bad}: {e}");
        }
        let e = load("[records]\nkeep = 3\n", &[]).unwrap_err();
        assert_eq!(e.key, "records.keep");
    }
}
