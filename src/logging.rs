//! Installs the process's log subscriber from `[log]`: text or JSON lines on stderr,
//! filtered by `log.level` for `serve` (warnings only for other commands), `RUST_LOG`
//! replacing either when set.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the subscriber; a second call does nothing.
pub(crate) fn init(log: &LogConfig, serving: bool) {
    // Other commands: warnings only, and none of the AWS SDK's notes on every provider
    // of its credential chain that found nothing (`doctor` reports the outcome itself).
    // The AWS credential chain logs a warning for each provider that found nothing,
    // every 10 s while credentials are missing; the proxy says it once itself
    // (`proxy::upstream::credentials`), so the SDK's own lines are kept to errors.
    let level = if serving {
        format!("{},aws_config=error", log.level)
    } else {
        "warn,aws_config=error".to_string()
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // `log.level` was validated when the configuration was loaded.
        EnvFilter::builder()
            .parse(&level)
            .unwrap_or_else(|_| EnvFilter::new("info"))
    });
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
}
