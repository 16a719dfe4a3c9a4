//! The result cache end to end, on the real `counted` example (`examples/counted.rs`), which
//! appends the `x` of every execution to a log: re-runs execute exactly the specs whose code,
//! inputs or input file contents changed, or that failed.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// A folder with a store, a log of executions and the input files.
struct Bench(support::workdir::Workdir);

impl std::ops::Deref for Bench {
    type Target = support::workdir::Workdir;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// What one scatter printed and executed.
struct Outcome {
    stdout: String,
    /// The `x` of each execution, sorted.
    executed: Vec<String>,
    folder: PathBuf,
}

impl Bench {
    fn new() -> Self {
        Self(support::workdir::Workdir::new())
    }

    /// `rows` of `x,file,fail` as a specs file.
    fn specs(&self, name: &str, rows: &[(&str, &str, bool)]) -> PathBuf {
        let mut text = String::from("x,file,fail\n");
        for (x, file, fail) in rows {
            text.push_str(&format!("{x},{},{fail}\n", self.path(file).display()));
        }
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn scatter(&self, specs: &Path, extra: &[&str], env: &[(&str, &str)]) -> Outcome {
        let log = self.path("executions.log");
        let _ = std::fs::remove_file(&log);
        let mut command = support::bin::embedded("counted");
        command.env("COUNTED_LOG", &log).env_remove("COUNTED_FIXED").env_remove("COUNTED_CODE");
        command.env("SCYTHE_WORKERS", "2");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command
            .arg("--storage")
            .arg(self.path("runs"))
            .args(["scatter", "counted", "--allow-failures", "--specs"])
            .arg(specs)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        let mut executed: Vec<String> =
            std::fs::read_to_string(&log).unwrap_or_default().lines().map(str::to_owned).collect();
        executed.sort();
        let folder = stdout
            .lines()
            .find_map(|line| line.strip_prefix("folder"))
            .map(|uri| PathBuf::from(uri.trim().strip_prefix("file://").unwrap()))
            .unwrap_or_else(|| panic!("no folder in: {stdout}"));
        Outcome { stdout, executed, folder }
    }
}

/// What `--explain` printed: specs that ran, by reason (the text before ` (`), and the reason
/// of each listed sort index.
fn explained(stdout: &str) -> (BTreeMap<String, u64>, BTreeMap<u64, String>) {
    let reason = |text: &str| text.split(" (").next().unwrap_or(text).trim().to_owned();
    let mut counts = BTreeMap::new();
    let mut examples = BTreeMap::new();
    let explain = stdout.lines().skip_while(|line| !line.starts_with("explain"));
    for line in explain {
        if let Some((count, text)) = line.trim().split_once(" × ") {
            counts.insert(reason(text), count.trim().parse().unwrap());
        } else if let Some((index, text)) = line.trim().strip_prefix("sort_index ").and_then(|l| l.split_once(": ")) {
            examples.insert(index.parse().unwrap(), reason(text));
        }
    }
    (counts, examples)
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(reason, count)| ((*reason).to_owned(), *count)).collect()
}

fn read_table(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().collect::<Result<_, _>>().unwrap()
}

/// `(sort_index, y, file_bytes)` of a run's `final/scalars.pq`.
fn scalars(folder: &Path) -> Vec<(u64, f64, u64)> {
    let mut rows = Vec::new();
    for batch in read_table(&folder.join("final/scalars.pq")) {
        let index = batch.column_by_name("sort_index").unwrap().as_primitive::<UInt64Type>();
        let y = batch.column_by_name("y").unwrap().as_primitive::<Float64Type>();
        let bytes = batch.column_by_name("file_bytes").unwrap().as_primitive::<UInt64Type>();
        rows.extend((0..batch.num_rows()).map(|row| (index.value(row), y.value(row), bytes.value(row))));
    }
    rows
}

/// `cached_from` of each row of a run's `final/provenance.pq`.
fn cached_from(folder: &Path) -> Vec<Option<String>> {
    let mut values = Vec::new();
    for batch in read_table(&folder.join("final/provenance.pq")) {
        let column = batch.column_by_name("cached_from").unwrap().as_string::<i32>();
        values.extend((0..column.len()).map(|row| column.is_valid(row).then(|| column.value(row).to_owned())));
    }
    values
}

const SPECS: [(&str, &str, bool); 4] =
    [("1", "a.txt", false), ("2", "a.txt", false), ("3", "b.txt", false), ("4", "b.txt", false)];

#[test]
fn re_runs_execute_only_what_changed() {
    let bench = Bench::new();
    let specs = bench.specs("specs.csv", &SPECS);
    let first = bench.scatter(&specs, &[], &[]);
    assert_eq!(first.executed, ["1", "2", "3", "4"]);
    assert!(cached_from(&first.folder).iter().all(Option::is_none));

    // Identical: nothing runs, and the final tables are the same row for row.
    let same = bench.scatter(&specs, &[], &[]);
    assert_eq!(same.executed, Vec::<String>::new(), "{}", same.stdout);
    assert!(same.stdout.contains("reused 4 specs"), "{}", same.stdout);
    assert_eq!(scalars(&same.folder), scalars(&first.folder));
    let first_run = first.folder.strip_prefix(bench.path("runs")).unwrap().to_string_lossy().into_owned();
    assert_eq!(cached_from(&same.folder), vec![Some(first_run); 4]);

    // One spec changed: only it runs.
    let changed = bench.specs("changed.csv", &[SPECS[0], ("20", "a.txt", false), SPECS[2], SPECS[3]]);
    let one = bench.scatter(&changed, &[], &[]);
    assert_eq!(one.executed, ["20"], "{}", one.stdout);
    assert_eq!(scalars(&one.folder)[1], (1, 40.0, 5));

    // An input file changed in place (same path): exactly the specs that use it run.
    bench.write("b.txt", "bravo, changed");
    let file = bench.scatter(&specs, &[], &[]);
    assert_eq!(file.executed, ["3", "4"], "{}", file.stdout);
    assert_eq!(scalars(&file.folder)[2], (2, 6.0, 14));

    // `--no-cache` runs everything.
    let all = bench.scatter(&specs, &["--no-cache"], &[]);
    assert_eq!(all.executed, ["1", "2", "3", "4"], "{}", all.stdout);
    assert!(!all.stdout.contains("reused"), "{}", all.stdout);
}

#[test]
fn failed_specs_run_again() {
    let bench = Bench::new();
    let specs = bench.specs("specs.csv", &[("1", "a.txt", false), ("2", "a.txt", true)]);
    let first = bench.scatter(&specs, &[], &[]);
    assert_eq!(first.executed, ["1", "2"]);
    // The failure is not cached: only it runs again.
    let fixed = bench.scatter(&specs, &[], &[("COUNTED_FIXED", "1")]);
    assert_eq!(fixed.executed, ["2"], "{}", fixed.stdout);
    assert_eq!(scalars(&fixed.folder), [(0, 2.0, 5), (1, 4.0, 5)]);
    let again = bench.scatter(&specs, &[], &[]);
    assert_eq!(again.executed, Vec::<String>::new(), "{}", again.stdout);
}

#[test]
fn explain_says_why_each_spec_ran() {
    let bench = Bench::new();
    let specs = bench.specs("specs.csv", &[SPECS[0], SPECS[1], SPECS[2], ("5", "a.txt", true)]);
    let first = bench.scatter(&specs, &["--explain"], &[]);
    let (counted, examples) = explained(&first.stdout);
    assert_eq!(counted, counts(&[("no entry", 4)]), "{}", first.stdout);
    assert_eq!(examples.len(), 4, "{}", first.stdout);

    // Identical: only the failure runs again.
    let same = bench.scatter(&specs, &["--explain"], &[]);
    assert_eq!(same.executed, ["5"], "{}", same.stdout);
    assert_eq!(explained(&same.stdout).0, counts(&[("failed before", 1)]), "{}", same.stdout);
    let fixed = bench.scatter(&specs, &[], &[("COUNTED_FIXED", "1")]);
    assert_eq!(fixed.executed, ["5"], "{}", fixed.stdout);
    let cached = bench.scatter(&specs, &["--explain"], &[("COUNTED_FIXED", "1")]);
    assert!(cached.stdout.contains("no spec ran: every result was reused"), "{}", cached.stdout);

    // b.txt changed in place and one spec's value changed.
    bench.write("b.txt", "bravo, changed");
    let changed = bench.specs("changed.csv", &[SPECS[0], ("20", "a.txt", false), SPECS[2], ("5", "a.txt", true)]);
    let mixed = bench.scatter(&changed, &["--explain"], &[]);
    assert_eq!(mixed.executed, ["20", "3"], "{}", mixed.stdout);
    let (counted, examples) = explained(&mixed.stdout);
    assert_eq!(counted, counts(&[("no entry", 1), ("input file changed", 1)]), "{}", mixed.stdout);
    assert_eq!(examples.get(&1).map(String::as_str), Some("no entry"), "{}", mixed.stdout);
    assert_eq!(examples.get(&2).map(String::as_str), Some("input file changed"), "{}", mixed.stdout);

    // Other code (a new `cache_version`): every spec runs, for that reason (and x = 5 fails).
    let code = bench.scatter(&changed, &["--explain"], &[("COUNTED_CODE", "2")]);
    assert_eq!(code.executed, ["1", "20", "3", "5"], "{}", code.stdout);
    let (counted, _) = explained(&code.stdout);
    assert_eq!(counted, counts(&[("code changed", 4)]), "{}", code.stdout);
    // ... and its results are cached under the new code.
    let again = bench.scatter(&changed, &[], &[("COUNTED_CODE", "2")]);
    assert_eq!(again.executed, ["5"], "{}", again.stdout);
    assert_eq!(scalars(&again.folder)[..3], scalars(&code.folder)[..3]);

    // The cache off: every spec runs, for that reason.
    let off = bench.scatter(&changed, &["--no-cache", "--explain"], &[]);
    let (counted, examples) = explained(&off.stdout);
    assert_eq!(counted, counts(&[("cache disabled", 4)]), "{}", off.stdout);
    assert_eq!(examples.keys().copied().collect::<Vec<_>>(), [0, 1, 2, 3], "{}", off.stdout);
}
