//! Progress on standard error for commands that run longer than a second: a bar with the
//! elapsed time and an ETA where the steps are counted, a spinner where they are not.
//! Hidden when standard error is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` steps with elapsed time and ETA.
pub fn bar(len: u64) -> ProgressBar {
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}, ETA {eta}] {msg}")
            .expect("progress template"),
    );
    b
}

/// A spinner with elapsed time for one step of unknown length.
pub fn spinner(msg: &str) -> ProgressBar {
    let s = ProgressBar::new_spinner();
    s.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
            .expect("spinner template"),
    );
    s.set_message(msg.to_string());
    s.enable_steady_tick(Duration::from_millis(120));
    s
}
