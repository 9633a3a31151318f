//! EventBridge deliveries to `POST /api/v1/cloudtrail/events`: one event envelope
//! (`"detail-type": "AWS API Call via CloudTrail"`, the record under `detail`), a JSON
//! array of envelopes (or of bare records), or a log file's `{"Records": [...]}`.

use serde::Deserialize;
use serde_json::Value;

use super::error::CloudTrailError;
use super::record::{RawRecord, Seen};

/// The most events one delivery may carry.
pub const MAX_EVENTS: usize = 10_000;

/// The records of a delivery body, classified.
pub fn parse_delivery(body: &[u8]) -> Result<Vec<Seen>, CloudTrailError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| CloudTrailError::Delivery(format!("the body is not valid JSON: {e}")))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("Records") {
            Some(Value::Array(records)) => records,
            Some(_) => {
                return Err(CloudTrailError::Delivery(
                    "`Records` must be a list of CloudTrail records".into(),
                ))
            }
            None => vec![Value::Object(map)],
        },
        _ => {
            return Err(CloudTrailError::Delivery(
                "expected an EventBridge event (an object with `detail`) or a list of them".into(),
            ))
        }
    };
    if items.len() > MAX_EVENTS {
        return Err(CloudTrailError::Delivery(format!(
            "{} events in one delivery; at most {MAX_EVENTS}",
            items.len()
        )));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(mut map) = item else {
                return Err(CloudTrailError::Delivery(format!(
                    "event {i} is not a JSON object"
                )));
            };
            let record = match map.remove("detail") {
                Some(detail) => detail,
                None => Value::Object(map),
            };
            RawRecord::deserialize(record)
                .map(RawRecord::classify)
                .map_err(|e| {
                    CloudTrailError::Delivery(format!("event {i} is not a CloudTrail record: {e}"))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DETAIL: &str = r#"{"eventID":"e-1","eventTime":"2026-11-27T10:00:00Z",
        "eventSource":"bedrock.amazonaws.com","eventName":"Converse",
        "userIdentity":{"type":"IAMUser","userName":"u"}}"#;

    #[test]
    fn envelopes_arrays_and_bare_records_are_read() {
        let envelope = format!(
            r#"{{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail",
            "source":"aws.bedrock","detail":{DETAIL}}}"#
        );
        assert!(matches!(
            &parse_delivery(envelope.as_bytes()).unwrap()[..],
            [Seen::Call(_)]
        ));
        let array = format!("[{envelope}, {DETAIL}]");
        assert_eq!(parse_delivery(array.as_bytes()).unwrap().len(), 2);
        let file = format!(r#"{{"Records":[{DETAIL}]}}"#);
        assert_eq!(parse_delivery(file.as_bytes()).unwrap().len(), 1);
        for bad in ["nope", "3", "[1]", r#"{"detail":{"eventID":5}}"#] {
            assert!(parse_delivery(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
