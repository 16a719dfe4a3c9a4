//! Runs against a real S3 server started inside the test process (`s3s` + `s3s-fs`, which
//! checks signatures and conditional writes): a full run, bad credentials, a missing bucket,
//! the server stopping mid-run, racing allocations and keys that try to escape.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use futures::TryStreamExt;
use schemars::JsonSchema;
use scythe::{EngineSettings, FileRef, Scythe, Specs, Store, TaskContext, VersionStrategy};
use serde::{Deserialize, Serialize};
use support::s3_server::{S3Server, SECRET_KEY};
use support::tables::files_below;

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Station {
    scale: f64,
    weather: FileRef,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Reading {
    line: u32,
    value: f64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct StationOutput {
    total: f64,
    readings: Vec<Reading>,
    scaled: FileRef,
}

/// Reads a weather file fetched from the bucket and writes a scaled copy.
#[scythe::experiment(retries = 1)]
fn scale_station(input: Station, ctx: &TaskContext) -> anyhow::Result<StationOutput> {
    let text = std::fs::read_to_string(input.weather.path().ok_or_else(|| anyhow::anyhow!("not local"))?)?;
    let values: Vec<f64> = text.lines().filter_map(|line| line.parse().ok()).map(|v: f64| v * input.scale).collect();
    let path = ctx.scratch_dir()?.join("scaled.txt");
    std::fs::write(&path, values.iter().map(f64::to_string).collect::<Vec<_>>().join("\n"))?;
    Ok(StationOutput {
        total: values.iter().sum(),
        readings: values.iter().enumerate().map(|(line, &value)| Reading { line: line as u32, value }).collect(),
        scaled: FileRef::from(path),
    })
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Tick {
    n: u64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Tock {
    n2: u64,
}

/// Takes a little time so a run spans a storage outage.
#[scythe::experiment]
fn slow_square(input: Tick) -> Tock {
    std::thread::sleep(Duration::from_millis(5));
    Tock { n2: input.n * input.n }
}

fn stations_csv(dir: &Path, rows: usize) -> std::path::PathBuf {
    for (name, body) in [("north.txt", "1\n2\n3\n"), ("south.txt", "10\n20\n")] {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let mut csv = String::from("scale,weather\n");
    for i in 0..rows {
        let file = if i % 2 == 0 { "north.txt" } else { "south.txt" };
        csv.push_str(&format!("{},{}\n", i + 1, dir.join(file).display()));
    }
    let path = dir.join("stations.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

async fn read_all(store: &Store, key: &str) -> Vec<RecordBatch> {
    store.read_parquet(key, 1024).await.unwrap().try_collect().await.unwrap()
}

fn engine(cache: &Path) -> EngineSettings {
    EngineSettings { workers: 2, cache_dir: cache.to_path_buf(), ..EngineSettings::default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_run_lives_in_the_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(&dir.path().join("s3")).await;
    server.create_bucket("runs");
    let store = server.store("runs", "team/scythe");
    let specs = stations_csv(dir.path(), 6);
    let scythe = Scythe::new(store.clone()).with_engine(engine(&dir.path().join("cache")));
    let report = scythe.scatter::<scale_station>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap();
    assert_eq!((report.succeeded, report.failed, report.missing), (6, 0, 0));
    assert!(report.folder.starts_with("s3://runs/team/scythe/scale_station/v1.0.0/"), "{}", report.folder);

    let run_dir = report.folder.strip_prefix("s3://runs/").unwrap().to_owned();
    let keys: Vec<String> = store.list(&run_dir).await.unwrap().into_iter().map(|m| m.location.to_string()).collect();
    for expected in [
        "manifest.yml",
        "experiment_io_spec.yml",
        "input_artifacts.yml",
        "specs.pq",
        "artifacts/weather/north.txt",
        "artifacts/weather/south.txt",
        "results/scaled/00000005.txt",
        "final/scalars.pq",
        "final/readings.pq",
        "final/result_file_refs.pq",
        "final/failures.pq",
        "summary.yml",
    ] {
        assert!(keys.iter().any(|k| k == &format!("{run_dir}/{expected}")), "missing {expected} in {keys:#?}");
    }
    // The Python tool loads every file in `final/` as a table.
    let final_dir = format!("{run_dir}/final/");
    let not_tables: Vec<&String> = keys.iter().filter(|k| k.starts_with(&final_dir) && !k.ends_with(".pq")).collect();
    assert!(not_tables.is_empty(), "final/ holds files that are not tables: {not_tables:?}");
    // Input files reached the tasks through the worker cache, in the folder of their scheme and
    // bucket (`<scheme>/<bucket>/<hash of the address>/<version>/<name>`).
    let cached = dir.path().join("cache/s3/runs");
    let copies = files_below(&cached).into_iter().filter(|path| path.ends_with("north.txt")).count();
    assert_eq!(copies, 1, "north.txt not cached once under {}", cached.display());

    let scalars = read_all(&store, &format!("{run_dir}/final/scalars.pq")).await;
    let totals: Vec<f64> = scalars
        .iter()
        .flat_map(|b| {
            b.column_by_name("total").unwrap().as_primitive::<arrow::datatypes::Float64Type>().values().to_vec()
        })
        .collect();
    assert_eq!(totals, [6.0, 60.0, 18.0, 120.0, 30.0, 180.0]);
    let readings = read_all(&store, &format!("{run_dir}/final/readings.pq")).await;
    assert_eq!(readings.iter().map(RecordBatch::num_rows).sum::<usize>(), 3 * 3 + 3 * 2);
    let copy = store.get(&format!("{run_dir}/results/scaled/00000001.txt")).await.unwrap();
    assert_eq!(std::str::from_utf8(&copy).unwrap(), "20\n40");

    let runs = scythe::catalog::runs(&store, "scale_station", "v1.0.0".parse().unwrap()).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].state, scythe::catalog::RunState::Complete);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_fail_fast_without_printing_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(&dir.path().join("s3")).await;
    server.create_bucket("runs");
    let wrong_secret = "definitely-not-the-secret-4242";
    let store = server.store_with_secret("runs", "scythe", wrong_secret);
    let specs = stations_csv(dir.path(), 2);
    let started = Instant::now();
    let error =
        Scythe::new(store).scatter::<scale_station>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap_err();
    let message = format!("{error} {error:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "bad credentials were retried for {:?}", started.elapsed());
    assert!(message.contains("s3://runs/scythe"), "the error names bucket and key: {message}");
    assert!(!message.contains(wrong_secret) && !message.contains(SECRET_KEY), "the error leaks a secret: {message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_fails_fast_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(&dir.path().join("s3")).await;
    let store = server.store("no-such-bucket", "scythe");
    let specs = stations_csv(dir.path(), 2);
    let started = Instant::now();
    let error =
        Scythe::new(store).scatter::<scale_station>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "a missing bucket was retried for {:?}", started.elapsed());
    assert!(error.to_string().contains("no-such-bucket"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_allocations_get_distinct_versions() {
    let dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(&dir.path().join("s3")).await;
    server.create_bucket("runs");
    let specs = dir.path().join("ticks.csv");
    std::fs::write(&specs, "n\n1\n2\n").unwrap();
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let scythe = Scythe::new(server.store("runs", "race")).with_engine(engine(&dir.path().join("cache")));
            let specs = specs.clone();
            tokio::spawn(
                async move { scythe.scatter::<slow_square>(Specs::file(&specs), VersionStrategy::BumpMajor).await },
            )
        })
        .collect();
    let mut versions = Vec::new();
    for racer in racers {
        match racer.await.unwrap() {
            Ok(report) => {
                assert_eq!(report.succeeded, 2);
                versions.push(report.run.version().to_string());
            }
            // A server whose conditional writes are not atomic (s3s-fs checks, then writes) can
            // let two racers through the create-only put; Scythe then refuses with a clear error.
            Err(error) => assert!(error.to_string().contains("another allocation"), "{error}"),
        }
    }
    let distinct: std::collections::BTreeSet<_> = versions.iter().collect();
    assert_eq!(distinct.len(), versions.len(), "two racers shared a version: {versions:?}");
    assert!(versions.len() >= 3, "most racers must get through: {versions:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storage_outage_mid_run_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = S3Server::start(&dir.path().join("s3")).await;
    server.create_bucket("runs");
    let specs = dir.path().join("ticks.csv");
    let rows: String = (0..400).map(|n| format!("{n}\n")).collect();
    std::fs::write(&specs, format!("n\n{rows}")).unwrap();
    let scythe = Scythe::new(server.store("runs", "outage")).with_engine(engine(&dir.path().join("cache")));
    let run =
        tokio::spawn(
            async move { scythe.scatter::<slow_square>(Specs::file(&specs), VersionStrategy::BumpMajor).await },
        );
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart().await;
    let report = run.await.unwrap().unwrap_or_else(|error| panic!("the run failed: {error}"));
    assert_eq!((report.succeeded, report.failed, report.missing), (400, 0, 0));
    let store = server.store("runs", "outage");
    let key = format!("{}/final/scalars.pq", report.folder.strip_prefix("s3://runs/").unwrap());
    let batches = read_all(&store, &key).await;
    let indexes: Vec<u64> = batches
        .iter()
        .flat_map(|b| b.column_by_name("sort_index").unwrap().as_primitive::<UInt64Type>().values().to_vec())
        .collect();
    assert_eq!(indexes, (0..400).collect::<Vec<u64>>(), "every spec exactly once, in order");
}

#[tokio::test(flavor = "multi_thread")]
async fn file_names_cannot_escape_the_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(&dir.path().join("s3")).await;
    server.create_bucket("runs");
    let sneaky = dir.path().join("bell\u{7}.txt");
    std::fs::write(&sneaky, "1\n").unwrap();
    let specs = dir.path().join("sneaky.csv");
    std::fs::write(&specs, format!("scale,weather\n1,{}\n", sneaky.display())).unwrap();
    let store = server.store("runs", "escape");
    let error = Scythe::new(store.clone())
        .scatter::<scale_station>(Specs::file(&specs), VersionStrategy::BumpMajor)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("row 0, field `weather`") && message.contains("cannot be stored under its name"),
        "{message}"
    );
    // Refused before anything was claimed: no version, no run folder.
    assert_eq!(store.list("escape").await.unwrap().len(), 0, "the refused scatter wrote to the bucket");
    for key in ["escape/../outside", "/etc/passwd", "escape/./x"] {
        assert!(store.put(key, "x").await.is_err(), "{key} accepted");
    }
    assert!(!dir.path().join("s3/outside").exists());
}
