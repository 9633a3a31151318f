//! Installs the process's log subscriber from `[log]`: text or JSON lines on stderr.
//!
//! Which filter applies, for `serve`: `log.level` when it is set (in the file or as
//! `BEDROCK_GATE_LOG__LEVEL`); else `RUST_LOG` when it is set; else `info`. A `RUST_LOG`
//! that loses to `log.level` is named in a warning at start, and the first lines say
//! which filter is in effect and where it came from, so nothing overrides the
//! configuration silently. Other commands log warnings only, or `RUST_LOG` when set.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Where the filter in effect came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// `log.level` (file or `BEDROCK_GATE_LOG__LEVEL`).
    Config,
    /// `RUST_LOG`, `log.level` being unset.
    RustLog,
    /// The default (`info` for `serve`, `warn` for other commands).
    Default,
}

/// The filter text and its source, from `[log]` and the value of `RUST_LOG`.
fn choose(log: &LogConfig, serving: bool, rust_log: Option<&str>) -> (String, Source) {
    let rust_log = rust_log.map(str::trim).filter(|v| !v.is_empty());
    match (serving, log.level_set, rust_log) {
        (true, true, _) => (log.level.clone(), Source::Config),
        (_, _, Some(env)) => (env.to_string(), Source::RustLog),
        (true, false, None) => (log.level.clone(), Source::Default),
        (false, _, None) => ("warn".to_string(), Source::Default),
    }
}

/// Installs the subscriber; a second call does nothing. For `serve`, logs which filter
/// is in effect.
pub(crate) fn init(log: &LogConfig, serving: bool) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (chosen, source) = choose(log, serving, rust_log.as_deref());
    // The AWS credential chain logs a warning for each provider that found nothing,
    // every 10 s while credentials are missing; the proxy says it once itself
    // (`proxy::upstream::credentials`), and `doctor` reports the outcome, so the SDK's
    // own lines are kept to errors unless the filter names `aws_config` itself.
    let text = if chosen.contains("aws_config") {
        chosen.clone()
    } else {
        format!("{chosen},aws_config=error")
    };
    let (filter, rejected) = match EnvFilter::builder().parse(&text) {
        Ok(f) => (f, None),
        // `log.level` was validated when the configuration was loaded; only RUST_LOG
        // can be unreadable here.
        Err(e) => (EnvFilter::new("info,aws_config=error"), Some(e.to_string())),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        // Colours only on a terminal: under systemd, stderr goes to the journal as text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    if let Some(why) = rejected {
        tracing::warn!(rust_log = %chosen, "RUST_LOG is not a log filter ({why}); logging at info");
    }
    if !serving {
        return;
    }
    let from = match source {
        Source::Config => "log.level",
        Source::RustLog => "RUST_LOG (log.level is not set)",
        Source::Default => "the default (neither log.level nor RUST_LOG is set)",
    };
    tracing::info!(filter = %chosen, from, "log filter");
    if let (Source::Config, Some(env)) = (source, rust_log.filter(|v| !v.trim().is_empty())) {
        tracing::warn!(
            rust_log = %env,
            "RUST_LOG is ignored because log.level is set; change log.level (or \
             BEDROCK_GATE_LOG__LEVEL) instead"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(level: Option<&str>) -> LogConfig {
        LogConfig {
            level: level.unwrap_or("info").to_string(),
            level_set: level.is_some(),
            ..LogConfig::default()
        }
    }

    #[test]
    fn a_set_log_level_wins_over_rust_log_when_serving() {
        assert_eq!(
            choose(&log(Some("debug")), true, Some("trace")),
            ("debug".to_string(), Source::Config)
        );
        assert_eq!(
            choose(&log(None), true, Some("trace")),
            ("trace".to_string(), Source::RustLog)
        );
        assert_eq!(
            choose(&log(None), true, None),
            ("info".to_string(), Source::Default)
        );
        assert_eq!(
            choose(&log(None), true, Some("  ")),
            ("info".to_string(), Source::Default)
        );
    }

    #[test]
    fn other_commands_log_warnings_unless_rust_log_says_otherwise() {
        assert_eq!(
            choose(&log(Some("debug")), false, None),
            ("warn".to_string(), Source::Default)
        );
        assert_eq!(
            choose(&log(Some("debug")), false, Some("debug")),
            ("debug".to_string(), Source::RustLog)
        );
    }
}
