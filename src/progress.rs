//! Progress display: an indicatif bar on a terminal, nothing otherwise; log lines and panic
//! messages print above the bar instead of tearing it ([`LogWriter`]).

use std::io::Write;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

/// The bar on screen, if any: log lines are printed while it is suspended.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// A progress bar over a run's specs (hidden when disabled).
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `total` specs, drawn only if `enabled`.
    pub(crate) fn new(total: u64, enabled: bool) -> Self {
        let template = "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} specs ({per_sec}, eta {eta}) {msg}";
        Self { bar: enabled.then(|| show(total, template)) }
    }

    /// A bar over gathering `n_tables` final tables of `n_specs` specs each, drawn only if
    /// `enabled`; [`Self::table`] names the table being written.
    pub(crate) fn gathering(n_specs: u64, n_tables: usize, enabled: bool) -> Self {
        let template = "{spinner} [{elapsed_precise}] gathering {msg} {wide_bar} {pos}/{len} specs ({per_sec})";
        let bar = enabled.then(|| show(n_specs, template));
        if let Some(bar) = &bar {
            bar.set_message(format!("(0/{n_tables} tables)"));
        }
        Self { bar }
    }

    /// Starts table `name`, the `number`th of `n_tables`, of a [`Self::gathering`] bar.
    pub(crate) fn table(&self, name: &str, number: usize, n_tables: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(0);
            bar.set_message(format!("{name}.pq ({number}/{n_tables} tables)"));
        }
    }

    /// Sort indexes below `covered` are gathered into the current table.
    pub(crate) fn gathered(&self, covered: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(covered);
        }
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
            // One bar is shown at a time.
            *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
}

/// A bar of `len` steps drawn with `template`, made the one log lines print above.
fn show(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
    bar
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Writes `bytes` to stderr, above the progress bar if one is shown.
pub(crate) fn write_stderr(bytes: &[u8]) {
    let active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let write = || {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(bytes);
        let _ = stderr.flush();
    };
    match active {
        Some(bar) if !bar.is_finished() => bar.suspend(write),
        _ => write(),
    }
}

/// A `tracing` writer that prints each event above the progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogWriter;

/// One event's text, written when the event is complete.
#[derive(Debug, Default)]
pub(crate) struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            write_stderr(&self.0);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine::default()
    }
}

/// Sends panics of experiment bodies (on the embedded engine's `scythe-worker` threads) to
/// the log at debug level, with a backtrace: the failure record keeps the message, and the
/// summary groups it. Other panics (bugs in Scythe itself) keep Rust's default report.
pub(crate) fn route_worker_panics_to_log() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some("scythe-worker") {
            return default(info);
        }
        if tracing::enabled!(tracing::Level::DEBUG) {
            let backtrace = std::backtrace::Backtrace::force_capture();
            tracing::debug!(target: "scythe::panic", "a spec's attempt {info}\n{backtrace}");
        }
    }));
}
