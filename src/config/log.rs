//! `[log]`: how `serve` logs. Lines go to stderr as human-readable text (the default;
//! under systemd the journal adds the time) or as one JSON object per line for log
//! collectors; `level` is a tracing filter (`info`, or per-module directives such as
//! `info,bedrock_gate::proxy=debug`; `RUST_LOG` applies only where `level` is not set,
//! see `logging`). `access`
//! switches the one line per call at info level (target `bedrock_gate::access`).

use super::raw::RawLog;
use super::ConfigError;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-11-27T12:00:00Z  INFO target: message key=value`.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`.
    Json,
}

/// `[log]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Text or JSON lines.
    pub format: LogFormat,
    /// The tracing filter for `serve` (other commands log warnings only).
    pub level: String,
    /// Whether `level` was set (in the file or `BEDROCK_GATE_LOG__LEVEL`): then it wins
    /// over `RUST_LOG`.
    pub level_set: bool,
    /// One info line per call (user, tool, model, operation, status, tokens, cost,
    /// latency, request id).
    pub access: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
            level_set: false,
            access: true,
        }
    }
}

impl LogConfig {
    /// Validates `[log]` and fills in its defaults.
    pub(super) fn from_raw(l: RawLog) -> Result<Self, ConfigError> {
        let format = match l.format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "log.format",
                    format!("`{other}` is not a log format; use \"text\" or \"json\""),
                ))
            }
        };
        let level_set = l.level.is_some();
        let level = l.level.unwrap_or_else(|| "info".into());
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&level) {
            return Err(ConfigError::new(
                "log.level",
                format!(
                    "`{level}` is not a log filter ({e}); use a level (error, warn, info, \
                     debug, trace) or directives such as \"info,bedrock_gate::proxy=debug\""
                ),
            ));
        }
        Ok(Self {
            format,
            level,
            level_set,
            access: l.access.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load;
    use super::*;

    #[test]
    fn defaults_are_text_info_with_access_lines() {
        assert_eq!(load("", &[]).unwrap().log, LogConfig::default());
    }

    #[test]
    fn format_level_and_access_are_read_from_file_and_environment() {
        let c = load(
            "[log]\nformat = \"json\"\nlevel = \"warn,bedrock_gate=debug\"\naccess = false\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.log.level, "warn,bedrock_gate=debug");
        assert!(!c.log.access);
        let c = load(
            "[log]\nformat = \"text\"\n",
            &[
                ("BEDROCK_GATE_LOG__FORMAT", "json"),
                ("BEDROCK_GATE_LOG__ACCESS", "false"),
            ],
        )
        .unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        assert!(!c.log.access);
    }

    #[test]
    fn bad_values_name_the_key_and_what_is_accepted() {
        let e = load("[log]\nformat = \"xml\"\n", &[]).unwrap_err();
        assert_eq!(e.key, "log.format");
        assert!(e.message.contains("\"text\" or \"json\""), "{e}");
        let e = load("[log]\nlevel = \"loud=[\"\n", &[]).unwrap_err();
        assert_eq!(e.key, "log.level");
        let e = load("[log]\ncolour = true\n", &[]).unwrap_err();
        assert_eq!(e.key, "log.colour");
    }
}
