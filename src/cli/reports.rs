//! `pricing` and `usage` commands: call the service layer, print prices, and usage
//! records as a table, CSV (quoted, spreadsheet formulas defused) or JSON.

use super::args::{Output, PricingCommand, UsageArgs, UsageFormat};
use super::print;
use super::table::{showing, table, usd, Align, Col};
use crate::ops::reports::{RecordView, UsageQuery};
use crate::ops::views::Price;
use crate::ops::Ops;

/// `pricing ...`
pub(crate) async fn pricing(
    ops: &Ops,
    out: Output,
    cmd: PricingCommand,
    actor: &crate::domain::Actor,
) -> anyhow::Result<()> {
    match cmd {
        PricingCommand::Set {
            model_id,
            usd_per_1k_input,
            usd_per_1k_output,
            cache_read,
            cache_write,
        } => {
            let price = ops
                .set_price(
                    actor,
                    Price {
                        model_id,
                        input_per_1k: usd_per_1k_input,
                        output_per_1k: usd_per_1k_output,
                        cache_read_per_1k: cache_read,
                        cache_write_per_1k: cache_write,
                    },
                )
                .await?;
            let text = format!(
                "{}: {} input / {} output per 1,000 tokens",
                price.model_id,
                price_text(price.input_per_1k),
                price_text(price.output_per_1k)
            );
            print(out, &price, text);
        }
        PricingCommand::List => {
            let prices = ops.prices().await?;
            let rows = prices
                .iter()
                .map(|p| {
                    let input = p.input_per_1k;
                    vec![
                        p.model_id.clone(),
                        price_text(input),
                        price_text(p.output_per_1k),
                        price_text(p.cache_read_per_1k.unwrap_or(input)),
                        price_text(p.cache_write_per_1k.unwrap_or(input)),
                    ]
                })
                .collect();
            let cols = [
                Col("model (USD per 1,000 tokens)", Align::Left),
                Col("input", Align::Right),
                Col("output", Align::Right),
                Col("cache read", Align::Right),
                Col("cache write", Align::Right),
            ];
            print(out, &prices, table("prices", &cols, rows));
        }
    }
    Ok(())
}

/// A price per 1,000 tokens: dollars with up to 6 decimals (prices are fractions of a
/// cent), never float noise.
fn price_text(v: f64) -> String {
    let text = format!("{v:.6}");
    let text = text.trim_end_matches('0');
    let text = text
        .strip_suffix('.')
        .map_or(text.to_string(), |t| format!("{t}.00"));
    if text.split('.').nth(1).is_some_and(|d| d.len() < 2) {
        format!("${text}0")
    } else {
        format!("${text}")
    }
}

/// `usage`
pub(crate) async fn usage(ops: &Ops, out: Output, args: UsageArgs) -> anyhow::Result<()> {
    let tz = ops.timezone();
    let query = UsageQuery {
        user: args.user.clone(),
        team: args.team.clone(),
        from: args.from,
        to: args.to,
        limit: args.limit,
    };
    let report = ops.usage(&query).await?;
    let format = if out == Output::Json {
        UsageFormat::Json
    } else {
        args.format
    };
    match format {
        UsageFormat::Json => println!("{}", serde_json::to_string(&report)?),
        UsageFormat::Csv => print!("{}", csv(&report.records, tz)),
        UsageFormat::Table => {
            let totals = &report.totals;
            println!(
                "{}{}",
                records_table(&report.records, tz),
                showing(report.records.len(), totals.requests)
            );
            println!(
                "total: {}, {} (refusals included), {} input / {} output / {} cache-read / \
                 {} cache-write tokens, {}",
                super::table::plural(totals.requests, "request", "requests"),
                super::table::plural(totals.errors, "error", "errors"),
                totals.input_tokens,
                totals.output_tokens,
                totals.cache_read_tokens,
                totals.cache_write_tokens,
                usd(totals.cost_usd)
            );
        }
    }
    Ok(())
}

fn local_time(ms: i64, tz: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

const CSV_HEADER: &str = "time,username,team,person,tool,model_id,operation,status,error_type,\
input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cost_usd,latency_ms,\
usage_source,source_ip,upstream_request_id";

/// Quotes a CSV field when it needs it (RFC 4180), and defuses spreadsheet formulas
/// (`crate::spreadsheet`).
fn csv_field(s: &str) -> String {
    let s = crate::spreadsheet::defuse(s).into_owned();
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv(records: &[RecordView], tz: chrono_tz::Tz) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in records.iter().map(|v| &v.record) {
        let fields = [
            local_time(r.created_at, tz),
            r.username.clone(),
            r.team.clone(),
            r.person.clone(),
            r.tool.clone(),
            r.model_id.clone(),
            r.operation.clone(),
            r.status_code.to_string(),
            r.error_type.clone().unwrap_or_default(),
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
            r.cache_read_tokens.to_string(),
            r.cache_write_tokens.to_string(),
            format!("{:.8}", r.cost_usd),
            r.latency_ms.to_string(),
            r.usage_source.to_string(),
            r.source_ip.clone(),
            r.upstream_request_id.clone().unwrap_or_default(),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

fn records_table(records: &[RecordView], tz: chrono_tz::Tz) -> String {
    let rows = records
        .iter()
        .map(|v| {
            let r = &v.record;
            vec![
                local_time(r.created_at, tz),
                r.username.clone(),
                r.model_id.clone(),
                r.operation.clone(),
                r.status_code.to_string(),
                r.input_tokens.to_string(),
                r.output_tokens.to_string(),
                usd(r.cost_usd),
            ]
        })
        .collect();
    let cols = [
        Col("time", Align::Left),
        Col("user", Align::Left),
        Col("model", Align::Left),
        Col("operation", Align::Left),
        Col("status", Align::Right),
        Col("in", Align::Right),
        Col("out", Align::Right),
        Col("usd", Align::Right),
    ];
    table("records", &cols, rows)
}

/// `reports rebuild`: the rollups summed again in the current time zone.
pub(super) async fn rebuild(ops: &Ops, out: Output) -> anyhow::Result<()> {
    let rows = ops.rebuild_rollups().await?;
    super::print(
        out,
        &serde_json::json!({"rows_summed": rows, "timezone": ops.timezone().name()}),
        format!(
            "usage rollups rebuilt from {rows} stored request row(s), days in {}",
            ops.timezone().name()
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("\t=cmd()"), "'\t=cmd()");
    }

    #[test]
    fn prices_show_their_fractions_of_a_cent() {
        assert_eq!(price_text(0.25), "$0.25");
        assert_eq!(price_text(3.0), "$3.00");
        assert_eq!(price_text(0.00025), "$0.00025");
        assert_eq!(price_text(0.1 + 0.2), "$0.30");
    }
}
