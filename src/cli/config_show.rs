//! `config show`: the configuration in effect, secrets masked, with where each value came
//! from, and the database it names; opens nothing.

use super::args::Output;
use super::print;
use super::table::{table, Align, Col};
use crate::config::Config;

/// `config show`
pub(crate) fn show(config: &Config, out: Output) -> anyhow::Result<()> {
    let shown = config.shown();
    let file = match &shown.file {
        Some(f) => format!(
            "configuration file: {f} (chosen by {})",
            shown.file_chosen_by
        ),
        None => format!(
            "configuration file: none (no --config, no $BEDROCK_GATE_CONFIG, no {}): \
             built-in defaults and environment variables",
            crate::config::origin::DEFAULT_CONFIG_PATH
        ),
    };
    let database = crate::ops::Ops::database_name(config);
    let rows = shown
        .keys
        .iter()
        .map(|e| {
            let value = match &e.value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "(unset)".into(),
                other => other.to_string(),
            };
            vec![e.key.to_string(), value, e.source.clone()]
        })
        .collect();
    let cols = [
        Col("key", Align::Left),
        Col("value", Align::Left),
        Col("source", Align::Left),
    ];
    let text = format!(
        "{file}\ndatabase: {database}\n\n{}",
        table("keys", &cols, rows)
    );
    let view = serde_json::json!({
        "file": shown.file,
        "file_chosen_by": shown.file_chosen_by,
        "database": database,
        "keys": shown.keys,
    });
    print(out, &view, text);
    Ok(())
}
