//! [`RunContext`]: what every task of one run shares — where results go, the file cache,
//! counters, and the attempts the watchdog cut short. Read by the runner and the part buffers.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use scythe_core::TaskError;
use scythe_core::layout::RunLayout;
use scythe_storage::Store;

use crate::cache::FileCache;

/// What every task of one run shares.
pub(crate) struct RunContext {
    pub(crate) layout: RunLayout,
    /// `layout.run()` as text, shared by every task's context.
    pub(crate) run_id: Arc<str>,
    pub(crate) store: Store,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) scratch_root: Arc<Path>,
    pub(crate) cache: FileCache,
    /// 0 for the scatter, 1+ for resumes.
    pub(crate) generation: u32,
    /// The experiment's code fingerprint, for the provenance table.
    pub(crate) code_fingerprint: Option<String>,
    /// Set to stop taking new specs (Ctrl-C); finished results are still written.
    pub(crate) stop: AtomicBool,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Most results buffered before they are written.
    pub(crate) flush_rows: usize,
    /// Attempts the watchdog cut short, by sort index: how many attempts were used and why
    /// the last one failed. The spec's next run continues from there.
    pub(crate) timed_out: Mutex<HashMap<u64, (u32, TaskError)>>,
    /// Whether `timed_out` has entries (checked without locking on the hot path).
    pub(crate) any_timed_out: AtomicBool,
}

impl RunContext {
    pub(crate) fn take_timed_out(&self, sort_index: u64) -> Option<(u32, TaskError)> {
        if !self.any_timed_out.load(Ordering::Acquire) {
            return None;
        }
        self.timed_out.lock().unwrap_or_else(|p| p.into_inner()).remove(&sort_index)
    }
}
