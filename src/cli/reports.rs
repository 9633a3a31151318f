//! `pricing` and `usage` commands: call the service layer, print prices, and usage
//! records as a table, CSV (quoted, spreadsheet formulas defused) or JSON.

use super::args::{Output, PricingCommand, UsageArgs, UsageFormat};
use super::print;
use crate::ops::reports::{parse_date, UsageQuery};
use crate::ops::views::{Price, RequestRecord};
use crate::ops::Ops;

/// `pricing ...`
pub(crate) async fn pricing(ops: &Ops, out: Output, cmd: PricingCommand) -> anyhow::Result<()> {
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
                    &crate::domain::Actor::cli(),
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
                "{}: ${} input / ${} output per 1,000 tokens",
                price.model_id, price.input_per_1k, price.output_per_1k
            );
            print(out, &price, text);
        }
        PricingCommand::List => {
            let prices = ops.prices().await?;
            let text = prices
                .iter()
                .map(|p| {
                    format!(
                        "{:<50} in ${:<10} out ${:<10}",
                        p.model_id, p.input_per_1k, p.output_per_1k
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(out, &prices, text);
        }
    }
    Ok(())
}

/// `usage`
pub(crate) async fn usage(ops: &Ops, out: Output, args: UsageArgs) -> anyhow::Result<()> {
    let tz = ops.timezone();
    let date =
        |flag: &str, v: &Option<String>| v.as_deref().map(|s| parse_date(flag, s)).transpose();
    let query = UsageQuery {
        user: args.user.clone(),
        team: args.team.clone(),
        from: date("--from", &args.from)?,
        to: date("--to", &args.to)?,
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
            println!("{}", table(&report.records, tz));
            println!(
                "total: {} requests, {} input / {} output / {} cache-read / {} cache-write tokens, ${:.6}",
                totals.requests,
                totals.input_tokens,
                totals.output_tokens,
                totals.cache_read_tokens,
                totals.cache_write_tokens,
                totals.cost_usd
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

/// Quotes a CSV field when it needs it (RFC 4180), and defuses spreadsheet formulas.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv(records: &[RequestRecord], tz: chrono_tz::Tz) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in records {
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

fn table(records: &[RequestRecord], tz: chrono_tz::Tz) -> String {
    let mut out = format!(
        "{:<19}  {:<16} {:<44} {:<30} {:>4} {:>8} {:>8} {:>10}",
        "time", "user", "model", "operation", "code", "in", "out", "cost_usd"
    );
    for r in records {
        out.push_str(&format!(
            "\n{:<19}  {:<16} {:<44} {:<30} {:>4} {:>8} {:>8} {:>10.6}",
            local_time(r.created_at, tz),
            r.username,
            r.model_id,
            r.operation,
            r.status_code,
            r.input_tokens,
            r.output_tokens,
            r.cost_usd
        ));
    }
    out
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
    }
}
