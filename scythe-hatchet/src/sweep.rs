//! When the run watcher sweeps (the sweep itself is `sweep_details` in `results.rs`): its safety
//! net. The subscription stream reports a run's finish once, to the streams open at that moment:
//! a run that finishes while the stream is reconnecting (an engine restart, a network cut) is
//! never reported on the new one. So the watcher "sweeps": it asks run details for every pending
//! run soon after each reconnect, and again whenever the stream has been quiet for a while. A
//! quiet sweep that finds nothing doubles the quiet interval (up to [`MAX_QUIET`]), so a long
//! wait on slow runs costs a handful of requests per hour.

use std::time::Duration;

use tokio::time::Instant;

/// Quiet time before the first sweep, and again after any news.
const FIRST_QUIET: Duration = Duration::from_secs(60);
/// The longest quiet interval.
const MAX_QUIET: Duration = Duration::from_secs(15 * 60);
/// How soon after a reconnect to sweep (the new stream reports what it can first).
const AFTER_RECONNECT: Duration = Duration::from_secs(3);
/// Run details requests in flight during a sweep.
pub(crate) const CONCURRENCY: usize = 8;

/// When the next sweep is due.
#[derive(Debug)]
pub(crate) struct SweepSchedule {
    quiet: Duration,
    last_news: Instant,
    after_reconnect: Option<Instant>,
    running: bool,
}

impl SweepSchedule {
    pub(crate) fn new(now: Instant) -> Self {
        Self { quiet: FIRST_QUIET, last_news: now, after_reconnect: None, running: false }
    }

    /// A run finished (or the first run is watched): the stream works, wait a full quiet interval.
    pub(crate) fn news(&mut self, now: Instant) {
        self.quiet = FIRST_QUIET;
        self.last_news = now;
    }

    /// The stream was opened again after it broke.
    pub(crate) fn reconnected(&mut self, now: Instant) {
        self.after_reconnect = Some(now + AFTER_RECONNECT);
    }

    /// When to sweep next; `None` while a sweep runs.
    pub(crate) fn due(&self) -> Option<Instant> {
        if self.running {
            return None;
        }
        let quiet = self.last_news + self.quiet;
        Some(self.after_reconnect.map_or(quiet, |due| due.min(quiet)))
    }

    pub(crate) fn started(&mut self) {
        self.running = true;
        self.after_reconnect = None;
    }

    /// A sweep ended having delivered `found` runs.
    pub(crate) fn finished(&mut self, now: Instant, found: usize) {
        self.running = false;
        self.last_news = now;
        self.quiet = if found > 0 { FIRST_QUIET } else { (self.quiet * 2).min(MAX_QUIET) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_sweeps_back_off_and_news_resets_them() {
        let start = Instant::now();
        let mut schedule = SweepSchedule::new(start);
        assert_eq!(schedule.due(), Some(start + FIRST_QUIET));
        schedule.started();
        assert_eq!(schedule.due(), None, "one sweep at a time");
        let t1 = start + FIRST_QUIET + Duration::from_secs(1);
        schedule.finished(t1, 0);
        assert_eq!(schedule.due(), Some(t1 + 2 * FIRST_QUIET), "an empty sweep doubles the interval");
        let mut now = t1;
        for _ in 0..10 {
            schedule.started();
            now += Duration::from_secs(1);
            schedule.finished(now, 0);
        }
        assert_eq!(schedule.due(), Some(now + MAX_QUIET), "the interval is capped");
        schedule.news(now);
        assert_eq!(schedule.due(), Some(now + FIRST_QUIET));
        schedule.started();
        schedule.finished(now, 3);
        assert_eq!(schedule.due(), Some(now + FIRST_QUIET), "a sweep that found runs keeps the short interval");
    }

    #[test]
    fn a_reconnect_brings_the_sweep_forward_once() {
        let start = Instant::now();
        let mut schedule = SweepSchedule::new(start);
        let t1 = start + Duration::from_secs(10);
        schedule.reconnected(t1);
        assert_eq!(schedule.due(), Some(t1 + AFTER_RECONNECT));
        schedule.started();
        schedule.finished(t1 + AFTER_RECONNECT, 0);
        assert_eq!(schedule.due(), Some(t1 + AFTER_RECONNECT + 2 * FIRST_QUIET));
    }
}
