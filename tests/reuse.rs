//! The result cache end to end, on the real `counted` example (`examples/counted.rs`), which
//! appends the `x` of every execution to a log: re-runs execute exactly the specs whose code,
//! inputs or input file contents changed, or that failed.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use support::counted::cached_from;

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
        let mut args = vec!["scatter", "counted", "--allow-failures", "--specs", specs.to_str().unwrap()];
        args.extend_from_slice(extra);
        let (stdout, executed) = self.run(&args, env);
        let folder = stdout
            .lines()
            .find_map(|line| line.strip_prefix("folder"))
            .map(|uri| PathBuf::from(uri.trim().strip_prefix("file://").unwrap()))
            .unwrap_or_else(|| panic!("no folder in: {stdout}"));
        Outcome { stdout, executed, folder }
    }

    /// Runs the example's command `args` on the store; its stdout and the `x` of each
    /// execution, sorted.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (String, Vec<String>) {
        let log = self.path("executions.log");
        let _ = std::fs::remove_file(&log);
        let mut command = support::bin::embedded("counted");
        command.env("COUNTED_LOG", &log).env_remove("COUNTED_FIXED").env_remove("COUNTED_CODE");
        command.env("SCYTHE_WORKERS", "2");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.arg("--storage").arg(self.path("runs")).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        let mut executed: Vec<String> =
            std::fs::read_to_string(&log).unwrap_or_default().lines().map(str::to_owned).collect();
        executed.sort();
        (stdout, executed)
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

/// The run id a scatter printed.
fn run_id(stdout: &str) -> String {
    stdout.lines().find_map(|line| line.strip_prefix("run ")).map(|id| id.trim().to_owned()).unwrap()
}

/// Every final table of a run as text, row by row (`name: col=value, …`), with the run's own
/// id and folder written `<run>` and `<folder>`: what must differ between two runs' tables.
fn final_rows(folder: &Path, run: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let folder_text = folder.display().to_string();
    let mut tables = BTreeMap::new();
    for entry in std::fs::read_dir(folder.join("final")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let file = File::open(&path).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let schema = format!("{:?}", builder.schema());
        let mut rows = Vec::new();
        for batch in builder.build().unwrap() {
            let batch = batch.unwrap();
            let options = arrow::util::display::FormatOptions::default();
            // Without chrono-tz only offsets format: timestamps are compared in UTC, unlabelled.
            let columns: Vec<_> = batch
                .columns()
                .iter()
                .map(|column| match column.data_type() {
                    DataType::Timestamp(unit, Some(_)) => {
                        arrow::compute::cast(column, &DataType::Timestamp(*unit, None)).unwrap()
                    }
                    _ => column.clone(),
                })
                .collect();
            let formatters: Vec<_> = columns
                .iter()
                .map(|column| arrow::util::display::ArrayFormatter::try_new(column.as_ref(), &options).unwrap())
                .collect();
            for row in 0..batch.num_rows() {
                let cells: Vec<String> = batch
                    .schema()
                    .fields()
                    .iter()
                    .zip(&formatters)
                    .map(|(field, value)| format!("{}={}", field.name(), value.value(row)))
                    .collect();
                rows.push(cells.join(", ").replace(&folder_text, "<folder>").replace(run, "<run>"));
            }
        }
        tables.insert(name, (schema, rows));
    }
    tables
}

/// `(sort_index, y, file_bytes)` of a run's `final/scalars.pq`.
fn scalars(folder: &Path) -> Vec<(u64, f64, u64)> {
    support::counted::scalars(folder).into_iter().map(|(index, _, y, bytes)| (index, y, bytes)).collect()
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

    // One spec changed: only it runs, and the run is not copied whole.
    let changed = bench.specs("changed.csv", &[SPECS[0], ("20", "a.txt", false), SPECS[2], SPECS[3]]);
    let one = bench.scatter(&changed, &[], &[]);
    assert_eq!(one.executed, ["20"], "{}", one.stdout);
    assert!(!one.stdout.contains("identical to run"), "{}", one.stdout);
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

#[test]
fn work_reuses_cached_results_and_explains_the_rest() {
    let bench = Bench::new();
    bench.scatter(&bench.specs("specs.csv", &SPECS), &[], &[]);
    let changed = bench.specs("changed.csv", &[SPECS[0], ("20", "a.txt", false), SPECS[2], SPECS[3]]);
    let (allocated, executed) = bench.run(&["allocate", "counted", "--specs", changed.to_str().unwrap()], &[]);
    assert!(executed.is_empty(), "allocate runs nothing");
    let run = allocated.trim();
    let (worked, executed) = bench.run(&["work", run, "--explain"], &[]);
    assert_eq!(executed, ["20"], "{worked}");
    assert!(worked.contains("reused 3 cached"), "{worked}");
    let (counted, examples) = explained(&worked);
    assert_eq!(counted, counts(&[("no entry", 1)]), "{worked}");
    assert_eq!(examples.keys().copied().collect::<Vec<_>>(), [1], "{worked}");
    bench.run(&["gather", run], &[]);
    let folder = bench.path("runs").join(run);
    assert_eq!(scalars(&folder)[1], (1, 40.0, 5));
    assert_eq!(scalars(&folder).len(), 4);
}

/// `.scythe-cache/counted/runs`: the digests of runs that succeeded whole.
fn digests(bench: &Bench) -> PathBuf {
    bench.path("runs/.scythe-cache/counted/runs")
}

#[test]
fn an_identical_re_run_copies_the_final_tables_whole() {
    let bench = Bench::new();
    let specs = bench.specs("specs.csv", &SPECS);
    let first = bench.scatter(&specs, &[], &[]);
    let first_run = run_id(&first.stdout);
    assert!(digests(&bench).is_dir(), "a run that succeeded whole records its digest");

    // Identical: one lookup finds the first run, whose tables are copied; nothing runs.
    let fast = bench.scatter(&specs, &["--explain"], &[]);
    assert_eq!(fast.executed, Vec::<String>::new(), "{}", fast.stdout);
    assert!(fast.stdout.contains(&format!("identical to run {first_run}")), "{}", fast.stdout);
    assert!(fast.stdout.contains("reused 4 specs"), "{}", fast.stdout);
    assert!(fast.stdout.contains("no spec ran: every result was reused"), "{}", fast.stdout);
    assert!(!fast.folder.join("results/parts").exists(), "the fast path writes no parts");
    assert_eq!(cached_from(&fast.folder), vec![Some(first_run.clone()); 4]);

    // The per-spec path (the digests forgotten) copies the same rows and gathers them: its
    // tables equal the fast path's row for row, but for each run's own id and folder.
    std::fs::remove_dir_all(digests(&bench)).unwrap();
    let slow = bench.scatter(&specs, &[], &[]);
    assert_eq!(slow.executed, Vec::<String>::new(), "{}", slow.stdout);
    assert!(!slow.stdout.contains("identical to run"), "{}", slow.stdout);
    assert!(slow.folder.join("results/parts").exists(), "{}", slow.stdout);
    let fast_tables = final_rows(&fast.folder, &run_id(&fast.stdout));
    let slow_tables = final_rows(&slow.folder, &run_id(&slow.stdout));
    assert_eq!(fast_tables.keys().collect::<Vec<_>>(), ["failures.pq", "provenance.pq", "scalars.pq"]);
    assert_eq!(fast_tables, slow_tables);
    assert!(fast_tables["scalars.pq"].1[0].contains("experiment_id=<run>"), "{:?}", fast_tables["scalars.pq"]);
    let provenance = &fast_tables["provenance.pq"].1;
    assert_eq!(provenance.len(), 4);
    assert!(provenance.iter().all(|row| row.contains(&format!("cached_from={first_run}"))), "{provenance:?}");
    assert!(fast_tables["scalars.pq"].1[0].contains("file=file://<folder>/artifacts/"), "{:?}", fast_tables);

    // Gathering the copied run again keeps its tables; resuming it runs nothing.
    let gather = support::bin::embedded("counted")
        .arg("--storage")
        .arg(bench.path("runs"))
        .args(["gather", &run_id(&fast.stdout)])
        .output()
        .unwrap();
    assert!(gather.status.success(), "{}", String::from_utf8_lossy(&gather.stderr));
    assert!(String::from_utf8_lossy(&gather.stdout).contains("4 succeeded, 0 failed, 0 missing"));
    assert_eq!(final_rows(&fast.folder, &run_id(&fast.stdout)), slow_tables);

    // `--no-cache` still runs everything.
    let all = bench.scatter(&specs, &["--no-cache"], &[]);
    assert_eq!(all.executed, ["1", "2", "3", "4"], "{}", all.stdout);
    assert!(!all.stdout.contains("identical to run"), "{}", all.stdout);
}

#[test]
fn a_run_with_a_failure_records_no_digest() {
    let bench = Bench::new();
    let specs = bench.specs("specs.csv", &[("1", "a.txt", false), ("2", "a.txt", true)]);
    let first = bench.scatter(&specs, &[], &[]);
    assert_eq!(first.executed, ["1", "2"]);
    assert!(!digests(&bench).exists(), "a run with a failure is never copied whole");
    let again = bench.scatter(&specs, &[], &[]);
    assert_eq!(again.executed, ["2"], "{}", again.stdout);
    assert!(!digests(&bench).exists());

    // Fixed: 1 is copied, 2 runs, and the run, whole now, records its digest; an identical
    // run copies it, with each spec's `cached_from` the run that ran it.
    let fixed = bench.scatter(&specs, &[], &[("COUNTED_FIXED", "1")]);
    assert_eq!(fixed.executed, ["2"], "{}", fixed.stdout);
    let fast = bench.scatter(&specs, &[], &[("COUNTED_FIXED", "1")]);
    assert_eq!(fast.executed, Vec::<String>::new(), "{}", fast.stdout);
    assert!(fast.stdout.contains(&format!("identical to run {}", run_id(&fixed.stdout))), "{}", fast.stdout);
    assert_eq!(cached_from(&fast.folder), [Some(run_id(&first.stdout)), Some(run_id(&fixed.stdout))]);
    assert_eq!(scalars(&fast.folder), [(0, 2.0, 5), (1, 4.0, 5)]);
}

#[test]
fn a_copied_run_whose_tables_are_gone_falls_back_to_running() {
    let bench = Bench::new();
    let specs = bench.specs("specs.csv", &SPECS);
    let first = bench.scatter(&specs, &[], &[]);
    std::fs::remove_dir_all(first.folder.join("final")).unwrap();
    // The digest names the first run, whose tables are gone: the specs run, nothing fails.
    let again = bench.scatter(&specs, &[], &[]);
    assert_eq!(again.executed, ["1", "2", "3", "4"], "{}", again.stdout);
    assert!(!again.stdout.contains("identical to run"), "{}", again.stdout);
    assert_eq!(scalars(&again.folder).len(), 4);
}
