//! Lists as JSON or CSV. CSV is chosen by `?format=csv` or `Accept: text/csv`; it has
//! one column per field of the JSON objects (in field-name order), the same values
//! (nested objects and arrays as their JSON text, `null` as an empty cell), and is
//! streamed as the rows are produced (`Body::from_stream`), never built whole.

use std::io;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};

use super::error::json_response;
use crate::ops::OpsError;

/// `?format=`: the query of lists that take no filter.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// `json` (default) or `csv`.
    pub(crate) format: Option<Format>,
}

/// The `format` query parameter of lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// JSON (the default).
    #[default]
    Json,
    /// CSV with a header row.
    Csv,
}

/// The format asked for: `?format=` wins, else `Accept: text/csv`, else JSON.
pub(crate) fn negotiate(query: Option<Format>, headers: &HeaderMap) -> Format {
    if let Some(f) = query {
        return f;
    }
    let wants_csv = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().starts_with("text/csv")));
    if wants_csv {
        Format::Csv
    } else {
        Format::Json
    }
}

/// A list held in memory: a JSON array, or CSV streamed row by row.
pub(crate) fn list<T: Serialize + Send + 'static>(
    format: Format,
    name: &str,
    items: Vec<T>,
) -> Response {
    match format {
        Format::Json => json_response(StatusCode::OK, &items),
        Format::Csv => csv_stream(name, stream::iter(items.into_iter().map(Ok)).boxed()),
    }
}

/// Rows as CSV, encoded as they arrive: the header row with the first row. An error
/// after the first bytes ends the body early (the status is already sent); it is logged.
pub(crate) fn csv_stream<T: Serialize + Send + 'static>(
    name: &str,
    rows: BoxStream<'static, Result<T, OpsError>>,
) -> Response {
    let mut columns: Option<Vec<String>> = None;
    let body = rows.map(move |row| -> Result<Bytes, io::Error> {
        let row = row.map_err(|e| {
            tracing::error!(error = %e, "admin API: CSV export failed mid-stream");
            io::Error::other(e.to_string())
        })?;
        let fields = match serde_json::to_value(&row).map_err(io::Error::other)? {
            serde_json::Value::Object(m) => m,
            other => serde_json::Map::from_iter([("value".to_string(), other)]),
        };
        let mut out = csv::Writer::from_writer(Vec::new());
        if columns.is_none() {
            let c: Vec<String> = fields.keys().cloned().collect();
            out.write_record(&c).map_err(io::Error::other)?;
            columns = Some(c);
        }
        let cols = columns.as_deref().unwrap_or_default();
        out.write_record(cols.iter().map(|k| cell(fields.get(k))))
            .map_err(io::Error::other)?;
        out.into_inner()
            .map(Bytes::from)
            .map_err(|e| io::Error::other(e.to_string()))
    });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// One cell: strings as they are (formula starts defused, `crate::spreadsheet`), numbers and booleans as JSON writes them, `null` (or
/// a missing field) empty, objects and arrays as their JSON text.
fn cell(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => crate::spreadsheet::defuse(s).into_owned(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::cell;
    use serde_json::json;

    #[test]
    fn text_cells_are_defused_and_numbers_kept() {
        assert_eq!(
            cell(Some(&json!("=HYPERLINK(\"http://x\")"))),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(cell(Some(&json!("@user-agent"))), "'@user-agent");
        assert_eq!(cell(Some(&json!("\tx"))), "'\tx");
        assert_eq!(cell(Some(&json!(-3))), "-3");
        assert_eq!(cell(Some(&json!(-0.5))), "-0.5");
        assert_eq!(cell(Some(&json!("alice"))), "alice");
        assert_eq!(cell(None), "");
    }
}
