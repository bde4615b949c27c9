//! Progress indication for slow calls: a small spinner on stderr, only when stderr is a terminal, shown
//! only once a call has taken longer than [`SHOW_AFTER`], and erased when it ends.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// A call faster than this shows nothing.
pub(crate) const SHOW_AFTER: Duration = Duration::from_millis(300);

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Whether a spinner may be drawn: stderr is a terminal and `TERM` is not `dumb`.
pub(crate) fn is_enabled() -> bool {
    std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// One spinner line: frame `tick` and the label.
pub(crate) fn frame(tick: usize, label: &str) -> String {
    format!("\r{} {label}…", FRAMES[tick % FRAMES.len()])
}

/// Runs `future`; when `enabled` and it is slow, draws a spinner with `label` on stderr meanwhile.
pub(crate) async fn with_progress<F: Future>(enabled: bool, label: &str, future: F) -> F::Output {
    if !enabled {
        return future.await;
    }
    draw_while(&mut std::io::stderr(), label, future).await
}

/// Runs `future`, drawing the spinner on `out` once [`SHOW_AFTER`] has passed, and erasing it at the end.
async fn draw_while<F: Future>(out: &mut dyn Write, label: &str, future: F) -> F::Output {
    tokio::pin!(future);
    tokio::select! {
        out = &mut future => return out,
        () = tokio::time::sleep(SHOW_AFTER) => {}
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut tick = 0usize;
    let result = loop {
        tokio::select! {
            done = &mut future => break done,
            _ = ticker.tick() => {
                // Drawing is best effort: a closed stderr must not fail the call.
                let _ = write!(out, "{}", frame(tick, label));
                let _ = out.flush();
                tick += 1;
            }
        }
    };
    // Erase the spinner line.
    let _ = write!(out, "\r\x1b[2K");
    let _ = out.flush();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cycle_and_carry_the_label() {
        assert_eq!(frame(0, "fetching reports"), "\r⠋ fetching reports…");
        assert_eq!(frame(10, "x"), frame(0, "x"));
        assert_ne!(frame(1, "x"), frame(0, "x"));
    }

    #[tokio::test(start_paused = true)]
    async fn spinner_appears_only_on_slow_calls_and_is_erased_at_the_end() {
        let mut fast = Vec::new();
        let out = draw_while(&mut fast, "fast", async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            1
        })
        .await;
        assert_eq!(out, 1);
        assert!(fast.is_empty(), "nothing drawn before {SHOW_AFTER:?}");

        let mut slow = Vec::new();
        let out = draw_while(&mut slow, "slow", async {
            tokio::time::sleep(Duration::from_millis(550)).await;
            2
        })
        .await;
        assert_eq!(out, 2);
        let text = String::from_utf8(slow).unwrap();
        assert_eq!(
            text,
            format!(
                "{}{}{}\r\x1b[2K",
                frame(0, "slow"),
                frame(1, "slow"),
                frame(2, "slow")
            )
        );
    }

    #[tokio::test]
    async fn disabled_progress_returns_the_output_untouched() {
        assert_eq!(with_progress(false, "x", async { 42 }).await, 42);
        assert_eq!(with_progress(true, "x", async { 7 }).await, 7);
    }
}
