//! How the command line shows things to people: tables with a header row and widths
//! that fit the content (and the terminal), one money format (`$1,234.57`), times in
//! `quota.timezone`, "no users" for an empty list and "(showing N of M)" under a list
//! that a limit cut short.

use chrono_tz::Tz;
use comfy_table::{presets, CellAlignment, ContentArrangement, Table};

/// A column: its header and whether numbers in it are right-aligned.
#[derive(Clone, Copy)]
pub(crate) struct Col(pub(crate) &'static str, pub(crate) Align);

/// Alignment of a column.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// `rows` under `columns`, or `no <what>` when there are none.
pub(crate) fn table(what: &str, columns: &[Col], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return format!("no {what}");
    }
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(columns.iter().map(|c| c.0.to_uppercase()));
    for row in rows {
        t.add_row(row);
    }
    for (i, c) in columns.iter().enumerate() {
        if let (Some(col), Align::Right) = (t.column_mut(i), c.1) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    // comfy-table pads every cell by one space on each side; lines start at column 0.
    t.lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(&l).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `(showing N of M)` when a limit cut the list short, else nothing.
pub(crate) fn showing(shown: usize, total: i64) -> String {
    if i64::try_from(shown).is_ok_and(|s| s < total) {
        format!("\n(showing {shown} of {total})")
    } else {
        String::new()
    }
}

/// An amount in USD with 2 decimals and thousands separators: `$1,234.57`.
pub(crate) fn usd(v: f64) -> String {
    crate::domain::money::format_usd(v)
}

/// A budget or `unlimited`.
pub(crate) fn budget(v: Option<f64>) -> String {
    v.map_or("unlimited".into(), usd)
}

/// A request count limit or `unlimited`.
pub(crate) fn count(v: Option<i64>) -> String {
    v.map_or("unlimited".into(), |n| n.to_string())
}

/// `1 request`, `5 requests`.
pub(crate) fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A time (epoch ms) in `tz`: `2026-11-27 12:01 CET`; `-` for none.
pub(crate) fn local(ms: Option<i64>, tz: Tz) -> String {
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_one_format() {
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(usd(9.250000000000001e-6), "$0.000009");
        assert_eq!(usd(0.0002), "$0.0002", "as the dashboard shows it");
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(usd(1_234_567.891), "$1,234,567.89");
        assert_eq!(usd(-3.5), "-$3.50");
        assert_eq!(budget(None), "unlimited");
    }

    #[test]
    fn tables_have_headers_and_fit_long_values() {
        let long = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude";
        let text = table(
            "prices",
            &[Col("model", Align::Left), Col("input", Align::Right)],
            vec![vec![long.into(), usd(0.25)], vec!["m".into(), usd(10.0)]],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("MODEL"), "{text}");
        assert!(lines[1].starts_with(long), "{text}");
        assert!(
            lines[1].ends_with("$0.25") && lines[2].ends_with("$10.00"),
            "{text}"
        );
        assert_eq!(lines[1].len(), lines[2].len(), "aligned: {text}");
        assert_eq!(
            table("users", &[Col("user", Align::Left)], vec![]),
            "no users"
        );
        assert_eq!(showing(3, 3), "");
        assert_eq!(showing(2, 3), "\n(showing 2 of 3)");
        assert_eq!(plural(1, "request", "requests"), "1 request");
    }
}
