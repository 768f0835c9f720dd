//! Logging: `tracing` with JSON lines in production and readable text in development.
//!
//! Personal data never reaches a log line: the domain's `FullName` prints as `<redacted>`,
//! request bodies are never logged, and the access line carries only method, route
//! pattern, status, latency and request id.

use tracing_subscriber::{fmt, EnvFilter};

use crate::settings::Settings;

/// Installs the global subscriber. A second call (tests) is a no-op.
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(ansi);
    let result = if settings.json_logs() {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    // Already installed (tests start several apps in one process): keep the first.
    drop(result);
}
