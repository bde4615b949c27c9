//! Logging: one `tracing` subscriber for the binary (libraries only emit events).
//!
//! The filter comes from `RUST_LOG` (default `info`); the format from the `log_format` setting. Events
//! are written to standard output, with ANSI colours only when it is a terminal (and `NO_COLOR` is not
//! set): `weather-api > log`, a pipe into a log collector or a systemd journal get plain text.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Installs the global subscriber. Call once, from `main`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,sqlx=warn"));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(colours_wanted(std::io::stdout().is_terminal(), no_color));
    // try_init: a second call (tests) is harmless.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Colours only on a terminal, and never when the user asked for none (<https://no-color.org>).
fn colours_wanted(is_terminal: bool, no_color: bool) -> bool {
    is_terminal && !no_color
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colours_wanted(true, false));
        assert!(!colours_wanted(false, false));
        assert!(!colours_wanted(true, true));
    }
}
