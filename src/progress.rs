//! Progress display: an indicatif bar on a terminal, nothing otherwise.

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar over a run's specs (hidden when disabled).
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `total` specs, drawn only if `enabled`.
    pub(crate) fn new(total: u64, enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} specs ({per_sec}, eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self { bar }
    }

    /// Updates the counts.
    pub(crate) fn set(&self, succeeded: u64, failed: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(succeeded + failed);
            if failed > 0 {
                bar.set_message(format!("{failed} failed"));
            }
        }
    }

    /// Shows a message next to the bar, or logs it when there is no bar.
    pub(crate) fn message(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => tracing::info!("{text}"),
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
