//! End-to-end tests of the embedded engine: real runs on a local folder, read back with the
//! parquet crate, and with pandas when `SCYTHE_PYTHON` names a Python that has it.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use schemars::JsonSchema;
use scythe::{FileRef, Scythe, Specs, Store, StoreLocation, TaskContext, TaskError, VersionStrategy};
use serde::{Deserialize, Serialize};
use support::tables::read_table;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Ok,
    Permanent,
    Panic,
    Flaky,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Probe {
    #[schemars(range(min = 0.0, max = 100.0))]
    x: f64,
    mode: Mode,
    label: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Sample {
    step: u32,
    value: f64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct ProbeOutput {
    doubled: f64,
    attempt: u32,
    samples: Vec<Sample>,
    report: Option<FileRef>,
}

/// Exercises every outcome of a task.
#[scythe::experiment(retries = 2, timeout = "30s")]
fn probe(input: Probe, ctx: &TaskContext) -> anyhow::Result<ProbeOutput> {
    match input.mode {
        Mode::Permanent => return Err(TaskError::permanent(format!("x = {} can never work", input.x)).into()),
        Mode::Panic => panic!("probe panicked on purpose"),
        Mode::Flaky if ctx.attempt() == 0 => anyhow::bail!("transient failure on the first attempt"),
        _ => {}
    }
    let report = if (input.x as u64).is_multiple_of(2) {
        let path = ctx.scratch_dir()?.join("report.txt");
        std::fs::write(&path, format!("x={}", input.x))?;
        Some(FileRef::from(path))
    } else {
        None
    };
    let samples = (0..(input.x as u32 % 3)).map(|step| Sample { step, value: input.x * f64::from(step) }).collect();
    Ok(ProbeOutput { doubled: input.x * 2.0, attempt: ctx.attempt(), samples, report })
}

fn write_csv(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write specs");
    path
}

fn store(dir: &Path) -> Store {
    Store::open(StoreLocation::Local(dir.join("runs")), "").expect("open store")
}

fn sort_indexes(batches: &[RecordBatch]) -> Vec<u64> {
    batches
        .iter()
        .flat_map(|b| b.column_by_name("sort_index").unwrap().as_primitive::<UInt64Type>().values().to_vec())
        .collect()
}

fn local_dir(uri: &str) -> PathBuf {
    PathBuf::from(uri.strip_prefix("file://").expect("local uri"))
}

fn check_with_pandas(run_dir: &Path, expect: serde_json::Value) {
    let Some(python) = std::env::var_os("SCYTHE_PYTHON") else {
        support::require::skip("SCYTHE_PYTHON is not set, so the pandas read-back cannot run");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_run.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(run_dir)
        .arg(expect.to_string())
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "pandas check failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_every_outcome_and_records_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,mode,label\n");
    for i in 0..40 {
        let mode = match i {
            7 => "permanent",
            13 => "panic",
            21 => "flaky",
            _ => "ok",
        };
        let label = if i % 5 == 0 { String::new() } else { format!("p{i}") };
        csv.push_str(&format!("{i},{mode},{label}\n"));
    }
    let specs = write_csv(dir.path(), "specs.csv", &csv);
    let scythe = Scythe::new(store(dir.path()));
    let report = scythe.scatter::<probe>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap();
    assert_eq!((report.n_specs, report.succeeded, report.failed, report.missing), (40, 38, 2, 0));
    assert_eq!(report.run.version().to_string(), "v1.0.0");
    let run_dir = local_dir(&report.folder);

    let scalars = read_table(&run_dir.join("final/scalars.pq"));
    let indexes = sort_indexes(&scalars);
    assert_eq!(indexes, (0..40).filter(|i| *i != 7 && *i != 13).collect::<Vec<u64>>());
    let attempts: Vec<u32> = scalars
        .iter()
        .flat_map(|b| {
            b.column_by_name("attempt").unwrap().as_primitive::<arrow::datatypes::UInt32Type>().values().to_vec()
        })
        .collect();
    assert_eq!(attempts[indexes.iter().position(|i| *i == 21).unwrap()], 1, "the flaky spec succeeds on its retry");

    let failures = read_table(&run_dir.join("final/failures.pq"));
    assert_eq!(sort_indexes(&failures), [7, 13]);
    let kinds: Vec<String> = failures
        .iter()
        .flat_map(|b| {
            b.column_by_name("error_kind")
                .unwrap()
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(kinds, ["permanent", "panic"]);
    let attempts: Vec<u32> = failures
        .iter()
        .flat_map(|b| {
            b.column_by_name("attempts").unwrap().as_primitive::<arrow::datatypes::UInt32Type>().values().to_vec()
        })
        .collect();
    assert_eq!(attempts, [1, 3], "permanent failures are not retried; panics are, twice");

    let samples = read_table(&run_dir.join("final/samples.pq"));
    let rows: usize = samples.iter().map(RecordBatch::num_rows).sum();
    let expected: u64 = (0..40u64).filter(|i| *i != 7 && *i != 13).map(|i| i % 3).sum();
    assert_eq!(rows as u64, expected);

    let refs = read_table(&run_dir.join("final/result_file_refs.pq"));
    let uris: Vec<String> = refs
        .iter()
        .flat_map(|b| {
            b.column_by_name("report")
                .unwrap()
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(uris.len(), 20, "every even x writes a report (the failed specs are odd)");
    let first = local_dir(&uris[0]);
    assert!(first.ends_with("results/report/00000000.txt"), "{}", first.display());
    assert_eq!(std::fs::read_to_string(first).unwrap(), "x=0");
    assert!(run_dir.join("summary.yml").is_file());

    check_with_pandas(
        &run_dir,
        serde_json::json!({
            "succeeded": 38, "failed": 2, "failed_sort_indexes": [7, 13],
            "index": ["experiment_id", "sort_index", "x", "mode", "label"],
            "tables": ["samples", "result_file_refs"], "file_fields": ["report"],
        }),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_specs_name_row_and_field_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let scythe = Scythe::new(store(dir.path()));
    let cases = [
        ("x,mode,label\n1,ok,a\n2,ok,b\nwarm,ok,c\n", "row 2, field `x`: `warm` cannot be read as Float64"),
        ("x,mode,label\n1,ok,a\n200,ok,b\n", "row 1, field `x`: 200 is above the maximum 100"),
        (
            "x,mode,label\n1,sideways,a\n",
            "row 0, field `mode`: `sideways` is not one of `ok`, `permanent`, `panic`, `flaky`",
        ),
        ("x,mode,lable\n1,ok,a\n", "field `lable`: is not a field of `Probe`"),
        ("x,label\n1,a\n", "field `mode`: is required by `Probe`"),
    ];
    for (csv, message) in cases {
        let specs = write_csv(dir.path(), "bad.csv", csv);
        let error = scythe.scatter::<probe>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap_err();
        assert!(error.to_string().contains(message), "expected `{message}` in `{error}`");
    }
    assert!(!dir.path().join("runs/probe").exists(), "nothing may be written for invalid specs");
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_bump_and_runs_in_one_second_never_share_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let specs = write_csv(dir.path(), "specs.csv", "x,mode,label\n1,ok,a\n");
    let scythe = Scythe::new(store(dir.path()));
    let first = scythe.scatter::<probe>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap();
    let second = scythe.scatter::<probe>(Specs::file(&specs), VersionStrategy::BumpMinor).await.unwrap();
    let third = scythe.scatter::<probe>(Specs::file(&specs), VersionStrategy::Keep).await.unwrap();
    let fourth = scythe.scatter::<probe>(Specs::file(&specs), VersionStrategy::Keep).await.unwrap();
    assert_eq!(first.run.version().to_string(), "v1.0.0");
    assert_eq!(second.run.version().to_string(), "v1.1.0");
    assert_eq!(third.run.version().to_string(), "v1.1.0");
    assert_ne!(third.folder, fourth.folder);
    let folders: std::collections::HashSet<_> =
        [&first, &second, &third, &fourth].iter().map(|r| r.folder.clone()).collect();
    assert_eq!(folders.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_reruns_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let csv: String =
        std::iter::once("x,mode,label\n".to_owned()).chain((0..50).map(|i| format!("{i},ok,l{i}\n"))).collect();
    let specs = write_csv(dir.path(), "specs.csv", &csv);
    let scythe = Scythe::new(store(dir.path()));
    let report = scythe.scatter::<probe>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap();
    let run_dir = local_dir(&report.folder);
    // Lose the first result part, as if the process had died before writing it.
    let parts_dir = run_dir.join("results/parts/scalars");
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&parts_dir).unwrap().map(|e| e.unwrap().path()).collect();
    parts.sort();
    let lost = parts.len();
    std::fs::remove_file(&parts[0]).unwrap();
    let regather = scythe.gather::<probe>(&report.run).await.unwrap();
    assert!(regather.missing > 0, "the lost part's specs are missing");
    assert!(!run_dir.join("summary.yml").exists(), "a partial gather must not look complete");

    let resumed = scythe.resume::<probe>(&report.run).await.unwrap();
    assert_eq!((resumed.succeeded, resumed.failed, resumed.missing), (50, 0, 0));
    assert_eq!(sort_indexes(&read_table(&run_dir.join("final/scalars.pq"))), (0..50).collect::<Vec<u64>>());
    let generations: Vec<String> =
        std::fs::read_dir(&parts_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(generations.iter().any(|name| name.starts_with("g001-")), "resume writes generation 1: {generations:?}");
    assert_eq!(generations.len(), lost, "only the lost range is re-run");
}

#[tokio::test(flavor = "multi_thread")]
async fn same_file_name_from_two_folders_is_an_error_before_writing() {
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct WithFile {
        weather: FileRef,
    }
    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Size {
        bytes: u64,
    }
    #[scythe::experiment]
    fn file_size(input: WithFile) -> anyhow::Result<Size> {
        Ok(Size { bytes: std::fs::metadata(input.weather.path().expect("local"))?.len() })
    }

    let dir = tempfile::tempdir().unwrap();
    for sub in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        std::fs::write(dir.path().join(sub).join("w.csv"), sub.repeat(3)).unwrap();
    }
    let a = dir.path().join("a/w.csv").display().to_string();
    let b = dir.path().join("b/w.csv").display().to_string();
    let scythe = Scythe::new(store(dir.path()));
    let clash = write_csv(dir.path(), "clash.csv", &format!("weather\n{a}\n{b}\n"));
    let error = scythe.scatter::<file_size>(Specs::file(&clash), VersionStrategy::BumpMajor).await.unwrap_err();
    assert!(error.to_string().contains("two different files called `w.csv`"), "{error}");
    assert!(!dir.path().join("runs/file_size").exists());

    // The same file many times is uploaded once and every task reads it.
    let same = write_csv(dir.path(), "same.csv", &format!("weather\n{a}\n{a}\n{a}\n"));
    let report = scythe.scatter::<file_size>(Specs::file(&same), VersionStrategy::BumpMajor).await.unwrap();
    assert_eq!(report.succeeded, 3);
    let artifacts: Vec<_> = std::fs::read_dir(local_dir(&report.folder).join("artifacts/weather")).unwrap().collect();
    assert_eq!(artifacts.len(), 1);
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Nap {
    /// Milliseconds to block the thread (sync sleep, never yields).
    block_ms: u64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Woke {
    slept_ms: u64,
}

/// Blocks its thread: only the watchdog can enforce the timeout.
#[scythe::experiment(retries = 1, timeout = "300ms")]
fn blocking_nap(input: Nap) -> Woke {
    std::thread::sleep(std::time::Duration::from_millis(input.block_ms));
    Woke { slept_ms: input.block_ms }
}

/// Sleeps asynchronously: the timeout cancels it in place.
#[scythe::experiment(retries = 1, timeout = "300ms")]
async fn async_nap(input: Nap) -> Woke {
    tokio::time::sleep(std::time::Duration::from_millis(input.block_ms)).await;
    Woke { slept_ms: input.block_ms }
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_hold_for_blocking_and_async_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let specs = write_csv(dir.path(), "naps.csv", "block_ms\n1\n5000\n2\n3\n5000\n4\n");
    let scythe =
        Scythe::new(store(dir.path())).with_engine(scythe::EngineSettings { workers: 2, ..Default::default() });
    for (name, report) in [
        ("blocking", scythe.scatter::<blocking_nap>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap()),
        ("async", scythe.scatter::<async_nap>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap()),
    ] {
        assert_eq!((report.succeeded, report.failed, report.missing), (4, 2, 0), "{name}");
        assert!(
            report.run_time < std::time::Duration::from_secs(4),
            "{name}: the run waited for the hung attempts ({:?})",
            report.run_time
        );
        let failures = read_table(&local_dir(&report.folder).join("final/failures.pq"));
        assert_eq!(sort_indexes(&failures), [1, 4], "{name}");
        let kinds: Vec<&str> = failures
            .iter()
            .flat_map(|b| b.column_by_name("error_kind").unwrap().as_string::<i32>().iter().flatten())
            .collect();
        assert_eq!(kinds, ["timeout", "timeout"], "{name}");
        let attempts: Vec<u32> = failures
            .iter()
            .flat_map(|b| {
                b.column_by_name("attempts").unwrap().as_primitive::<arrow::datatypes::UInt32Type>().values().to_vec()
            })
            .collect();
        assert_eq!(attempts, [2, 2], "{name}: one retry after the first timeout");
        let scalars = read_table(&local_dir(&report.folder).join("final/scalars.pq"));
        assert_eq!(sort_indexes(&scalars), [0, 2, 3, 5], "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn specs_come_from_parquet_json_lines_and_rust_values_alike() {
    let dir = tempfile::tempdir().unwrap();
    let scythe = Scythe::new(store(dir.path()));
    let values: Vec<Probe> = (0..5)
        .map(|i| Probe { x: f64::from(i), mode: Mode::Ok, label: (i % 2 == 0).then(|| format!("p{i}")) })
        .collect();
    let from_code =
        scythe.scatter::<probe>(Specs::from_values(&values).unwrap(), VersionStrategy::BumpMajor).await.unwrap();
    assert_eq!(from_code.succeeded, 5);

    // The run's own specs.pq is a valid Parquet specs file (experiment_id and sort_index are ignored).
    let specs_pq = local_dir(&from_code.folder).join("specs.pq");
    let from_parquet = scythe.scatter::<probe>(Specs::file(&specs_pq), VersionStrategy::BumpMajor).await.unwrap();
    assert_eq!(from_parquet.succeeded, 5);

    let jsonl = dir.path().join("specs.jsonl");
    std::fs::write(&jsonl, "{\"x\": 1, \"mode\": \"ok\"}\n\n{\"x\": 2.5, \"mode\": \"flaky\", \"label\": \"b\"}\n")
        .unwrap();
    let from_json = scythe.scatter::<probe>(Specs::file(&jsonl), VersionStrategy::BumpMajor).await.unwrap();
    assert_eq!((from_json.succeeded, from_json.failed), (2, 0));

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"x\": 1, \"mode\": \"ok\"}\n{\"x\": \"hot\", \"mode\": \"ok\"}\n").unwrap();
    let error = scythe.scatter::<probe>(Specs::file(&bad), VersionStrategy::BumpMajor).await.unwrap_err();
    assert!(error.to_string().contains("line 2 (row 1)"), "{error}");

    let versions: Vec<String> =
        [&from_code, &from_parquet, &from_json].iter().map(|r| r.run.version().to_string()).collect();
    assert_eq!(versions, ["v1.0.0", "v2.0.0", "v3.0.0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_of_one_run_on_separate_workers_gather_like_a_scatter() {
    let dir = tempfile::tempdir().unwrap();
    let csv: String = std::iter::once("x,mode,label\n".to_owned())
        .chain((0..90).map(|i| format!("{},{},l{i}\n", i % 100, if i == 44 { "permanent" } else { "ok" })))
        .collect();
    let specs = write_csv(dir.path(), "specs.csv", &csv);
    let scythe = Scythe::new(store(dir.path()));
    let run = scythe.allocate::<probe>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap();
    assert_eq!(
        scythe::catalog::run_info(scythe.store(), run.clone()).await.unwrap().state,
        scythe::catalog::RunState::Interrupted
    );

    // Three "machines" share the store, each with its own range; one shard runs twice.
    let shards = [0..30, 30..60, 60..90, 30..60];
    let reports = futures::future::join_all(shards.iter().map(|rows| scythe.work::<probe>(&run, rows.clone()))).await;
    let ran: u64 = reports.iter().map(|r| r.as_ref().unwrap().ran).sum();
    assert!((90..=120).contains(&ran), "each spec runs at least once, a repeated shard at most twice: {ran}");
    let again = scythe.work::<probe>(&run, 0..90).await.unwrap();
    assert_eq!(again.ran, 0, "a finished range has nothing left to run");

    let summary = scythe.gather::<probe>(&run).await.unwrap();
    assert_eq!((summary.succeeded, summary.failed, summary.missing), (89, 1, 0));
    let run_dir = dir.path().join("runs").join(run.to_string());
    assert!(run_dir.join("summary.yml").is_file());
    assert_eq!(
        sort_indexes(&read_table(&run_dir.join("final/scalars.pq"))),
        (0..90).filter(|i| *i != 44).collect::<Vec<u64>>()
    );

    // The same specs scattered in one go give the same scalars, row for row.
    let scattered = scythe.scatter::<probe>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap();
    let column = |dir: &Path, name: &str| -> Vec<f64> {
        read_table(&dir.join("final/scalars.pq"))
            .iter()
            .flat_map(|b| {
                b.column_by_name(name).unwrap().as_primitive::<arrow::datatypes::Float64Type>().values().to_vec()
            })
            .collect()
    };
    assert_eq!(column(&run_dir, "doubled"), column(&local_dir(&scattered.folder), "doubled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_api_cancels_a_run_and_resume_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let specs = write_csv(dir.path(), "specs.csv", "x,mode,label\n1,ok,a\n2,ok,b\n3,ok,c\n");
    let scythe = Scythe::new(store(dir.path()));
    let run = scythe.allocate::<probe>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap();
    let report = scythe.cancel(&run).await.unwrap();
    assert_eq!((report.already, report.engine_tasks, report.kept, report.n_specs), (false, None, 0, 3));
    assert!(scythe.cancel(&run).await.unwrap().already, "cancelling twice is harmless");
    let state = |run| async { scythe::catalog::run_info(scythe.store(), run).await.unwrap().state };
    assert_eq!(state(run.clone()).await, scythe::catalog::RunState::Cancelled);
    let resumed = scythe.resume::<probe>(&run).await.unwrap();
    assert_eq!((resumed.succeeded, resumed.missing), (3, 0));
    assert_eq!(state(run.clone()).await, scythe::catalog::RunState::Complete);
    let error = scythe.cancel(&run).await.unwrap_err();
    assert!(matches!(error, scythe::Error::CancelComplete { .. }), "{error}");
}
