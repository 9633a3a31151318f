//! The SQL side of the usage rollups: which rows a [`Rollup`] adds to each rollup table
//! ([`Rollup::tables`]), the multi-row upsert that adds them, and [`write_rollup!`],
//! which runs those upserts on a transaction. Adding a rollup table is a migration, a
//! map in [`Rollup`] and an entry here.

use super::rollups::{Rollup, Sums};
use crate::config::DatabaseKind;

impl Rollup {
    /// Every rollup table's rows, each table's sorted by key (so two writers lock rows
    /// in the same order).
    pub(super) fn tables(&self) -> [TableRows<'_>; 6] {
        use KeyPart::{Int, Text};
        [
            TableRows {
                table: "usage_daily",
                keys: &[
                    "day",
                    "rollup_key",
                    "user_id",
                    "username",
                    "team",
                    "model_id",
                ],
                conflict: "day, rollup_key",
                rows: self
                    .daily
                    .iter()
                    .map(|(k, s)| {
                        let key = vec![
                            Text(k.day.as_str().into()),
                            Text(k.hash().into()),
                            Int(k.user_id),
                            Text(k.username.as_str().into()),
                            Text(k.team.as_str().into()),
                            Text(k.model_id.as_str().into()),
                        ];
                        (key, s)
                    })
                    .collect(),
            },
            TableRows {
                table: "usage_team_daily",
                keys: &["day", "team", "model_id"],
                conflict: "day, team, model_id",
                rows: self
                    .team_daily
                    .iter()
                    .map(|(k, s)| {
                        let key = vec![
                            Text(k.day.as_str().into()),
                            Text(k.team.as_str().into()),
                            Text(k.model_id.as_str().into()),
                        ];
                        (key, s)
                    })
                    .collect(),
            },
            TableRows {
                table: "usage_user_day_total",
                keys: &["day", "user_id", "username", "team"],
                conflict: "day, user_id, username, team",
                rows: self
                    .user_day
                    .iter()
                    .map(|(k, s)| {
                        let key = vec![
                            Text(k.day.as_str().into()),
                            Int(k.user_id),
                            Text(k.username.as_str().into()),
                            Text(k.team.as_str().into()),
                        ];
                        (key, s)
                    })
                    .collect(),
            },
            TableRows {
                table: "usage_team_day_total",
                keys: &["day", "team"],
                conflict: "day, team",
                rows: self
                    .team_day
                    .iter()
                    .map(|(k, s)| {
                        (
                            vec![Text(k.day.as_str().into()), Text(k.team.as_str().into())],
                            s,
                        )
                    })
                    .collect(),
            },
            TableRows {
                table: "usage_model_day_total",
                keys: &["day", "model_id"],
                conflict: "day, model_id",
                rows: self
                    .model_day
                    .iter()
                    .map(|(k, s)| {
                        let key = vec![
                            Text(k.day.as_str().into()),
                            Text(k.model_id.as_str().into()),
                        ];
                        (key, s)
                    })
                    .collect(),
            },
            TableRows {
                table: "usage_hourly",
                keys: &["hour_ms", "team", "model_id"],
                conflict: "hour_ms, team, model_id",
                rows: self
                    .hourly
                    .iter()
                    .map(|(k, s)| {
                        let key = vec![
                            Int(k.hour_ms),
                            Text(k.team.as_str().into()),
                            Text(k.model_id.as_str().into()),
                        ];
                        (key, s)
                    })
                    .collect(),
            },
        ]
    }
}

/// One value of a rollup row's key.
pub(super) enum KeyPart<'a> {
    Text(std::borrow::Cow<'a, str>),
    Int(i64),
}

/// The rows of one rollup table that a [`Rollup`] adds: key values in `keys` order, and
/// the sums to add.
pub(super) struct TableRows<'a> {
    table: &'static str,
    keys: &'static [&'static str],
    /// The key columns of the upsert's conflict target (SQLite).
    conflict: &'static str,
    pub(super) rows: Vec<(Vec<KeyPart<'a>>, &'a Sums)>,
}

impl TableRows<'_> {
    /// The multi-row upsert of `rows` of this table's rows.
    pub(super) fn sql(&self, kind: DatabaseKind, rows: usize) -> String {
        upsert_sql(kind, self.table, self.keys, self.conflict, rows)
    }
}

const SUMS: [&str; 7] = [
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
];

/// A multi-row upsert of `rows` rows into `table` adding to the sums of existing rows.
fn upsert_sql(
    kind: DatabaseKind,
    table: &str,
    keys: &[&str],
    conflict: &str,
    rows: usize,
) -> String {
    let columns: Vec<&str> = keys.iter().chain(SUMS.iter()).copied().collect();
    let group = format!("({})", vec!["?"; columns.len()].join(", "));
    let values = vec![group.as_str(); rows].join(", ");
    let update = match kind {
        DatabaseKind::Sqlite => SUMS
            .iter()
            .map(|c| format!("{c} = {c} + excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        DatabaseKind::MySql => SUMS
            .iter()
            .map(|c| format!("{c} = {c} + VALUES({c})"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let on = match kind {
        DatabaseKind::Sqlite => format!("ON CONFLICT ({conflict}) DO UPDATE SET"),
        DatabaseKind::MySql => "ON DUPLICATE KEY UPDATE".to_owned(),
    };
    format!(
        "INSERT INTO {table} ({}) VALUES {values} {on} {update}",
        columns.join(", ")
    )
}

/// Writes a [`Rollup`] on a transaction: one upsert row per key, in multi-row statements
/// of `INSERT_SHAPES` sizes.
macro_rules! write_rollup {
    ($kind:expr, $tx:expr, $rollup:expr) => {{
        for table in $rollup.tables() {
            let mut rest = &table.rows[..];
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at($crate::store::requests::chunk_rows(rest.len()));
                rest = tail;
                let sql = table.sql($kind, chunk.len());
                let mut q = sqlx::query(&sql);
                for (key, s) in chunk {
                    for part in key {
                        q = match part {
                            $crate::store::rollup_sql::KeyPart::Text(t) => q.bind(t.as_ref()),
                            $crate::store::rollup_sql::KeyPart::Int(i) => q.bind(*i),
                        };
                    }
                    q = q
                        .bind(s.requests)
                        .bind(s.errors)
                        .bind(s.input_tokens)
                        .bind(s.output_tokens)
                        .bind(s.cache_read_tokens)
                        .bind(s.cache_write_tokens)
                        .bind(s.cost_usd);
                }
                q.execute(&mut *$tx).await?;
            }
        }
    }};
}
pub(super) use write_rollup;
