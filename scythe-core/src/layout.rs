//! The run folder: run ids and every object key inside a run.
//!
//! ```text
//! <prefix>/<experiment>/<vX.Y.Z>/<YYYY-mm-dd_HH-MM-SS>/
//! ├── manifest.yml               written last by allocation: the run exists
//! ├── experiment_io_spec.yml     input/output JSON Schema
//! ├── input_artifacts.yml        uploaded input files, per field (only if any)
//! ├── specs.pq                   every spec with experiment_id and sort_index
//! ├── artifacts/<field>/<file>   uploaded local input files
//! ├── results/<field>/<sort_index>.<ext>      output files
//! ├── results/parts/<table>/<part>.pq         per-batch results, written as tasks finish
//! ├── results/inflight/<marker>               journal of specs in flight (crash isolation)
//! ├── final/                     scalars.pq, result_file_refs.pq, failures.pq, <table>.pq
//! └── summary.yml                written last by gather: the run is complete
//! ```
//!
//! Run folder names are always `YYYY-mm-dd_HH-MM-SS`, the format the Python tool parses, and
//! `final/` holds only Parquet tables, which the Python tool lists as its results.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::version::Version;

/// Timestamp format of run folders (UTC).
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d_%H-%M-%S";

/// Marker object that reserves a version for the allocation that bumped to it.
pub const VERSION_CLAIM: &str = ".claim";

/// Identifies one run: `<experiment>/<vX.Y.Z>/<timestamp>[-N]` (Python Scythe's `experiment_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunId {
    experiment: String,
    version: Version,
    started: NaiveDateTime,
    /// 0 for the first run started in a second; 2, 3, … for later ones in the same second.
    sequence: u32,
}

/// A run id that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a run id; expected `<experiment>/<vX.Y.Z>/<YYYY-mm-dd_HH-MM-SS>`")]
pub struct RunIdError(String);

impl RunId {
    /// The run of `experiment` at `version` started at `started`; `sequence` tells apart runs of
    /// the same second (0 for the first).
    pub fn new(experiment: impl Into<String>, version: Version, started: DateTime<Utc>, sequence: u32) -> Self {
        Self { experiment: experiment.into(), version, started: started.naive_utc().with_nanosecond_zero(), sequence }
    }

    /// The experiment's name.
    pub fn experiment(&self) -> &str {
        &self.experiment
    }

    /// The run's version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// When the run was allocated (UTC, whole seconds).
    pub fn started(&self) -> DateTime<Utc> {
        self.started.and_utc()
    }

    /// The same experiment and version one second later: where a run goes when its second is
    /// taken, so every folder name keeps the timestamp format the Python tool parses.
    pub fn next_second(&self) -> RunId {
        RunId { started: self.started + chrono::TimeDelta::seconds(1), sequence: 0, ..self.clone() }
    }

    /// The run folder's name: `YYYY-mm-dd_HH-MM-SS` (`-N` only on runs made by earlier Scythe
    /// versions, which numbered the runs of one second; they are read, never written).
    pub fn folder_name(&self) -> String {
        let stamp = self.started.format(TIMESTAMP_FORMAT);
        match self.sequence {
            0 => stamp.to_string(),
            n => format!("{stamp}-{n}"),
        }
    }

    /// Parses a run folder name (see [`RunId::folder_name`]).
    pub fn parse_folder_name(name: &str) -> Option<(NaiveDateTime, u32)> {
        let (stamp, sequence) = match name.get(19..) {
            Some("") => (name, 0),
            Some(rest) => (name.get(..19)?, rest.strip_prefix('-')?.parse().ok().filter(|n| *n >= 2)?),
            None => return None,
        };
        let started = NaiveDateTime::parse_from_str(stamp, TIMESTAMP_FORMAT).ok()?;
        Some((started, sequence))
    }
}

trait WithNanosecondZero {
    fn with_nanosecond_zero(self) -> Self;
}

impl WithNanosecondZero for NaiveDateTime {
    fn with_nanosecond_zero(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).unwrap_or(self)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.experiment, self.version, self.folder_name())
    }
}

impl FromStr for RunId {
    type Err = RunIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || RunIdError(text.to_owned());
        let mut parts = text.trim_matches('/').rsplitn(3, '/');
        let (Some(folder), Some(version), Some(experiment)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(error());
        };
        let version = version.parse().map_err(|_| error())?;
        let (started, sequence) = RunId::parse_folder_name(folder).ok_or_else(error)?;
        if experiment.is_empty() {
            return Err(error());
        }
        Ok(RunId { experiment: experiment.to_owned(), version, started, sequence })
    }
}

impl PartialOrd for RunId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RunId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.experiment, self.version, self.started, self.sequence).cmp(&(
            &other.experiment,
            other.version,
            other.started,
            other.sequence,
        ))
    }
}

/// A batch of results written by one worker as its tasks finished: specs `start..end`
/// (sort indexes) of allocation generation `generation` (0 for the scatter, 1+ for resumes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartId {
    /// Which scatter or resume produced the part.
    pub generation: u32,
    /// First sort index covered.
    pub start: u64,
    /// One past the last sort index covered.
    pub end: u64,
}

impl PartId {
    /// The part's file stem: `g000-0000000000-0000001024`.
    pub fn stem(&self) -> String {
        format!("g{:03}-{:010}-{:010}", self.generation, self.start, self.end)
    }

    /// Parses a part file stem (see [`PartId::stem`]).
    pub fn parse_stem(stem: &str) -> Option<PartId> {
        let mut parts = stem.strip_prefix('g')?.split('-');
        let generation = parts.next()?.parse().ok()?;
        let start = parts.next()?.parse().ok()?;
        let end = parts.next()?.parse().ok()?;
        (parts.next().is_none() && start < end).then_some(PartId { generation, start, end })
    }
}

/// Every object key of one run, relative to the store's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLayout {
    prefix: String,
    run: RunId,
}

impl RunLayout {
    /// The layout of `run` under the store prefix `prefix` (may be empty).
    pub fn new(prefix: impl Into<String>, run: RunId) -> Self {
        Self { prefix: prefix.into().trim_matches('/').to_owned(), run }
    }

    /// The run this layout describes.
    pub fn run(&self) -> &RunId {
        &self.run
    }

    /// The store prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>/<experiment>`.
    pub fn experiment_dir(prefix: &str, experiment: &str) -> String {
        join(prefix, experiment)
    }

    /// `<prefix>/<experiment>/<version>`.
    pub fn version_dir(prefix: &str, experiment: &str, version: Version) -> String {
        format!("{}/{version}", Self::experiment_dir(prefix, experiment))
    }

    /// The run folder.
    pub fn run_dir(&self) -> String {
        format!(
            "{}/{}",
            Self::version_dir(&self.prefix, &self.run.experiment, self.run.version),
            self.run.folder_name()
        )
    }

    fn key(&self, relative: &str) -> String {
        format!("{}/{relative}", self.run_dir())
    }

    /// `manifest.yml`.
    pub fn manifest(&self) -> String {
        self.key("manifest.yml")
    }

    /// `experiment_io_spec.yml`.
    pub fn io_spec(&self) -> String {
        self.key("experiment_io_spec.yml")
    }

    /// `input_artifacts.yml`.
    pub fn input_artifacts(&self) -> String {
        self.key("input_artifacts.yml")
    }

    /// `specs.pq`.
    pub fn specs(&self) -> String {
        self.key("specs.pq")
    }

    /// `cancelled.yml`: written by `cancel`, removed by `resume`; while it is there the run is
    /// cancelled (unless `summary.yml` says it is complete).
    pub fn cancelled(&self) -> String {
        self.key("cancelled.yml")
    }

    /// `engine_runs.yml`: the engine's ids of the root tasks triggered for the run (Hatchet).
    pub fn engine_runs(&self) -> String {
        self.key("engine_runs.yml")
    }

    /// Marker object that reserves the run folder.
    pub fn claim(&self) -> String {
        self.key(VERSION_CLAIM)
    }

    /// `artifacts/<field>/<file_name>`.
    pub fn artifact(&self, field: &str, file_name: &str) -> String {
        self.key(&format!("artifacts/{field}/{file_name}"))
    }

    /// `results/<field>/<sort_index>.<ext>` (extension omitted when empty).
    pub fn result_file(&self, field: &str, sort_index: u64, extension: &str) -> String {
        match extension {
            "" => self.key(&format!("results/{field}/{sort_index:08}")),
            ext => self.key(&format!("results/{field}/{sort_index:08}.{ext}")),
        }
    }

    /// `results/parts/<table>/`.
    pub fn parts_dir(&self, table: &str) -> String {
        self.key(&format!("results/parts/{table}"))
    }

    /// `results/parts/<table>/<part>.pq`.
    pub fn part(&self, table: &str, part: PartId) -> String {
        format!("{}/{}.pq", self.parts_dir(table), part.stem())
    }

    /// `results/inflight/`: markers of specs in flight, so a process that dies is noticed.
    pub fn inflight_dir(&self) -> String {
        self.key("results/inflight")
    }

    /// `final/`.
    pub fn final_dir(&self) -> String {
        self.key("final")
    }

    /// `final/<table>.pq`.
    pub fn final_table(&self, table: &str) -> String {
        self.key(&format!("final/{table}.pq"))
    }

    /// `summary.yml`: written last by gather, so its presence means the run is complete. It sits
    /// beside `manifest.yml`, not in `final/`, whose every file the Python tool loads as a table.
    pub fn summary(&self) -> String {
        self.key("summary.yml")
    }

    /// `final/summary.yml`, where earlier Scythe versions wrote the summary: still read, and
    /// removed when such a run is gathered again.
    pub fn legacy_summary(&self) -> String {
        self.key("final/summary.yml")
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}/{name}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn run() -> RunId {
        let started = Utc.with_ymd_and_hms(2026, 11, 25, 17, 4, 57).unwrap();
        RunId::new("bem", Version::new(1, 0, 0), started, 0)
    }

    #[test]
    fn keys_follow_the_python_layout() {
        let layout = RunLayout::new("scythe/", run());
        assert_eq!(layout.run_dir(), "scythe/bem/v1.0.0/2026-11-25_17-04-57");
        assert_eq!(layout.manifest(), "scythe/bem/v1.0.0/2026-11-25_17-04-57/manifest.yml");
        assert_eq!(layout.specs(), "scythe/bem/v1.0.0/2026-11-25_17-04-57/specs.pq");
        assert_eq!(
            layout.artifact("weather", "boston.csv"),
            "scythe/bem/v1.0.0/2026-11-25_17-04-57/artifacts/weather/boston.csv"
        );
        assert_eq!(
            layout.result_file("hourly", 42, "csv"),
            "scythe/bem/v1.0.0/2026-11-25_17-04-57/results/hourly/00000042.csv"
        );
        assert_eq!(layout.final_table("scalars"), "scythe/bem/v1.0.0/2026-11-25_17-04-57/final/scalars.pq");
        assert_eq!(RunLayout::new("", run()).run_dir(), "bem/v1.0.0/2026-11-25_17-04-57");
    }

    #[test]
    fn runs_of_one_second_take_the_next_second() {
        let first = run();
        let second = first.next_second();
        assert_eq!(second.folder_name(), "2026-11-25_17-04-58");
        assert_eq!(RunId { started: first.started, sequence: 0, ..first.clone() }.next_second(), second);
        assert!(first < second && second < second.next_second());
        let midnight: RunId = "bem/v1.0.0/2026-12-31_23-59-59".parse().unwrap();
        assert_eq!(midnight.next_second().folder_name(), "2027-01-01_00-00-00");
    }

    #[test]
    fn folders_numbered_by_earlier_versions_still_parse() {
        let legacy: RunId = "bem/v1.0.0/2026-11-25_17-04-57-2".parse().unwrap();
        assert_eq!(legacy.folder_name(), "2026-11-25_17-04-57-2");
        assert!(run() < legacy && legacy < run().next_second());
    }

    #[test]
    fn run_ids_round_trip() {
        for id in [run(), run().next_second()] {
            assert_eq!(id.to_string().parse::<RunId>().unwrap(), id);
        }
        assert_eq!("nested/name/v2.1.0/2026-11-25_17-04-57".parse::<RunId>().unwrap().experiment(), "nested/name");
        for bad in
            ["bem/v1.0.0", "bem/1.0.0/2026-11-25_17-04-57", "bem/v1.0.0/yesterday", "bem/v1.0.0/2026-11-25_17-04-57-1"]
        {
            assert!(bad.parse::<RunId>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn part_stems_round_trip_and_sort_by_start() {
        let part = PartId { generation: 1, start: 1024, end: 2048 };
        assert_eq!(part.stem(), "g001-0000001024-0000002048");
        assert_eq!(PartId::parse_stem(&part.stem()), Some(part));
        assert_eq!(PartId::parse_stem("g001-0000002048-0000001024"), None);
        assert_eq!(PartId::parse_stem("scalars"), None);
    }
}
