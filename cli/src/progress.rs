//! Spinners for long work, on stderr and only when it is a terminal.

use std::time::Duration;

use indicatif::ProgressBar;

use crate::output::Output;

/// A ticking spinner with `message`; hidden unless stderr is a terminal.
pub fn spinner(out: &Output, message: &str) -> ProgressBar {
    if !out.stderr_terminal() {
        return ProgressBar::hidden();
    }
    // A spinner draws on stderr.
    let bar = ProgressBar::new_spinner();
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
