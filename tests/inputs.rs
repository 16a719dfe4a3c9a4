//! Inputs and outputs at the edges: specs and input files are refused before a version is
//! claimed (storage-key rules, collisions, duplicate columns, JSON Lines read by CSV's rules),
//! output files cannot leave their task's scratch folder (the real `faults` example binary),
//! duplicate experiment names are refused, and the worker cache refetches overwritten objects.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemars::JsonSchema;
use scythe::{EngineSettings, FileRef, Scythe, Specs, Store, StoreLocation, VersionStrategy};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Station {
    scale: f64,
    weather: FileRef,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Length {
    bytes: u64,
}

/// Measures an input file.
#[scythe::experiment]
fn measure(input: Station) -> anyhow::Result<Length> {
    let path = input.weather.path().ok_or_else(|| anyhow::anyhow!("not local"))?;
    Ok(Length { bytes: std::fs::read(path)?.len() as u64 })
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Point {
    id: u32,
    x: f64,
    pair: (f64, f64),
    label: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Sum {
    total: f64,
}

/// Adds a point's numbers.
#[scythe::experiment]
fn add(input: Point) -> Sum {
    Sum { total: f64::from(input.id) + input.x + input.pair.0 + input.pair.1 }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Plain {
    id: u32,
    x: f64,
}

/// Doubles `x`.
#[scythe::experiment]
fn double(input: Plain) -> Sum {
    Sum { total: 2.0 * input.x }
}

/// Another experiment that claims the name `double`.
#[scythe::experiment(name = "double")]
fn double_again(input: Plain) -> Sum {
    Sum { total: 2.0 * input.x }
}

fn local_scythe(dir: &Path) -> (Scythe, Store) {
    let store = Store::open(StoreLocation::Local(dir.join("runs")), "").unwrap();
    let engine = EngineSettings { workers: 2, cache_dir: dir.join("cache"), ..EngineSettings::default() };
    (Scythe::new(store.clone()).with_engine(engine), store)
}

/// The store holds nothing at all: no version claim, no run folder.
async fn assert_nothing_written(store: &Store) {
    let keys: Vec<String> = store.list("").await.unwrap().into_iter().map(|meta| meta.location.to_string()).collect();
    assert!(keys.is_empty(), "a refused scatter wrote {keys:?}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_name_with_a_control_character_claims_no_version() {
    let dir = tempfile::tempdir().unwrap();
    let (scythe, store) = local_scythe(dir.path());
    let good = write(dir.path(), "boston.epw", "good");
    for bad_name in ["two\nlines.epw", "tab\there.epw", "bell\u{7}.epw"] {
        let bad = write(dir.path(), bad_name, "bad");
        let specs = Specs::from_values(&[
            Station { scale: 1.0, weather: FileRef::from(good.clone()) },
            Station { scale: 2.0, weather: FileRef::from(bad) },
        ])
        .unwrap();
        let error = scythe.scatter::<measure>(specs, VersionStrategy::BumpMajor).await.unwrap_err().to_string();
        assert!(error.contains("row 1, field `weather`"), "{error}");
        assert!(error.contains("control characters") && error.contains("rename the file"), "{error}");
        assert_nothing_written(&store).await;
    }
    // The next valid scatter is the first version.
    let specs = Specs::from_values(&[Station { scale: 1.0, weather: FileRef::from(good) }]).unwrap();
    let report = scythe.scatter::<measure>(specs, VersionStrategy::BumpMajor).await.unwrap();
    assert_eq!(report.run.version().to_string(), "v1.0.0");
    assert_eq!(report.succeeded, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_input_files_with_one_name_claim_no_version() {
    let dir = tempfile::tempdir().unwrap();
    let (scythe, store) = local_scythe(dir.path());
    let north = write(dir.path(), "north/weather.epw", "north");
    let south = write(dir.path(), "south/weather.epw", "south");
    let missing = dir.path().join("nowhere/weather.epw");
    let specs = Specs::from_values(&[
        Station { scale: 1.0, weather: FileRef::from(north) },
        Station { scale: 2.0, weather: FileRef::from(south) },
        Station { scale: 3.0, weather: FileRef::from(missing) },
    ])
    .unwrap();
    let error = scythe.allocate::<measure>(specs, VersionStrategy::BumpMajor).await.unwrap_err().to_string();
    assert!(error.contains("row 1, field `weather`"), "{error}");
    assert!(error.contains("artifacts/weather/weather.epw"), "{error}");
    assert!(error.contains("row 2, field `weather`") && error.contains("nowhere"), "{error}");
    assert_nothing_written(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_columns_are_refused_in_csv_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let (scythe, store) = local_scythe(dir.path());
    let csv = write(dir.path(), "specs.csv", "id,x,x\n1,2.0,3.0\n");
    let parquet = dir.path().join("specs.pq");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt32, false),
        Field::new("x", DataType::Float64, false),
        Field::new("x", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(vec![1])),
        Arc::new(Float64Array::from(vec![2.0])),
        Arc::new(Float64Array::from(vec![3.0])),
    ];
    let mut writer = ArrowWriter::try_new(File::create(&parquet).unwrap(), Arc::clone(&schema), None).unwrap();
    writer.write(&RecordBatch::try_new(schema, columns).unwrap()).unwrap();
    writer.close().unwrap();
    let jsonl = write(dir.path(), "specs.jsonl", "{\"id\": 1, \"x\": 2.0, \"x\": 3.0}\n");
    for file in [csv, parquet, jsonl] {
        let error =
            scythe.scatter::<double>(Specs::file(&file), VersionStrategy::BumpMajor).await.unwrap_err().to_string();
        assert!(error.contains("field `x`") && error.contains("twice") || error.contains("two columns"), "{error}");
        assert_nothing_written(&store).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_follow_the_csv_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (scythe, store) = local_scythe(dir.path());
    // A missing required value: the same row-and-field error in CSV and JSONL.
    let csv = write(dir.path(), "gap.csv", "id,x\n1,2.0\n2,\n");
    let jsonl = write(dir.path(), "gap.jsonl", "{\"id\": 1, \"x\": 2.0}\n{\"id\": 2}\n");
    let csv_error = scythe.scatter::<double>(Specs::file(&csv), VersionStrategy::BumpMajor).await.unwrap_err();
    let json_error = scythe.scatter::<double>(Specs::file(&jsonl), VersionStrategy::BumpMajor).await.unwrap_err();
    for error in [csv_error.to_string(), json_error.to_string()] {
        assert!(error.contains("row 1, field `x`: is empty, but the field is not optional"), "{error}");
        assert!(!error.contains("unmasked"), "{error}");
    }
    // A key that is not a field names the row.
    let typo = write(dir.path(), "typo.jsonl", "{\"id\": 1, \"x\": 2.0}\n{\"id\": 2, \"xx\": 1.0}\n");
    let error = scythe.scatter::<double>(Specs::file(&typo), VersionStrategy::BumpMajor).await.unwrap_err();
    assert!(error.to_string().contains("row 1, field `xx`: is not a field of `Plain`"), "{error}");
    assert_nothing_written(&store).await;

    // Metadata columns (a previous run's specs) are accepted and renumbered; tuples are arrays
    // as the published schema says, or objects.
    let lines = [
        r#"{"experiment_id": "old/v1.0.0/x", "sort_index": 7, "id": 1, "x": 0.5, "pair": [1.0, 2.0]}"#,
        r#"{"id": 2, "x": 0.25, "pair": {"0": 3.0, "1": 4.0}, "label": "b"}"#,
        "",
        r#"{"sort_index": 0, "id": 3, "x": 0.0, "pair": [5, 6], "label": null}"#,
    ];
    let specs = write(dir.path(), "points.jsonl", &lines.join("\n"));
    let report = scythe.scatter::<add>(Specs::file(&specs), VersionStrategy::BumpMajor).await.unwrap();
    assert_eq!((report.n_specs, report.succeeded, report.failed), (3, 3, 0));
    let totals = read_column_f64(&report.tables["scalars"], "total");
    assert_eq!(totals, [4.5, 9.25, 14.0]);
    let csv_pair = write(dir.path(), "pair.jsonl", r#"{"id": 1, "x": 0.0, "pair": [1.0]}"#);
    let error = scythe.scatter::<add>(Specs::file(&csv_pair), VersionStrategy::BumpMajor).await.unwrap_err();
    assert!(error.to_string().contains("line 1 (row 0)"), "{error}");
}

/// Reads a float column of a final table (a `file://` URI).
fn read_column_f64(uri: &str, column: &str) -> Vec<f64> {
    let path = uri.strip_prefix("file://").unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    let mut values = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let array = arrow::compute::cast(batch.column_by_name(column).unwrap(), &DataType::Float64).unwrap();
        values.extend(array.as_primitive::<arrow::datatypes::Float64Type>().values().iter().copied());
    }
    values
}

/// Every row of a final table as `sort_index → column values` (strings).
fn read_rows(path: &Path, columns: &[&str]) -> BTreeMap<u64, Vec<String>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    let mut rows = BTreeMap::new();
    for batch in reader {
        let batch = batch.unwrap();
        let index = arrow::compute::cast(batch.column_by_name("sort_index").unwrap(), &DataType::UInt64).unwrap();
        let index = index.as_primitive::<arrow::datatypes::UInt64Type>();
        let strings: Vec<ArrayRef> = columns
            .iter()
            .map(|name| arrow::compute::cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let values = strings.iter().map(|array| array.as_string::<i32>().value(row).to_owned()).collect();
            rows.insert(index.value(row), values);
        }
    }
    rows
}

fn find_file(root: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(root).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

#[test]
fn output_files_cannot_leave_the_scratch_folder() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "outside/secret.txt", "do not upload");
    let secret = secret.display().to_string();
    let rows = [
        ("inside", "-".to_owned()),
        ("as_is", secret.clone()),
        ("dot_dot", secret.clone()),
        ("symlink", secret.clone()),
        ("as_is", "/etc/passwd".to_owned()),
        ("as_is", "s3://bucket/reports/r.txt".to_owned()),
        ("as_is", "relative.txt".to_owned()),
    ];
    let mut csv = String::from("naming,target\n");
    for (naming, target) in &rows {
        csv.push_str(&format!("{naming},{target}\n"));
    }
    let specs = write(dir.path(), "escape.csv", &csv);
    let storage = dir.path().join("runs");
    let output = support::bin::embedded("faults")
        .args(["scatter", "escape", "--specs"])
        .arg(&specs)
        .arg("--storage")
        .arg(&storage)
        .env("SCYTHE_CACHE_DIR", dir.path().join("cache"))
        .env("SCYTHE_WORKERS", "2")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let failures = read_rows(&find_file(&storage, "failures.pq").expect("failures.pq"), &["error_kind", "error"]);
    let files = read_rows(&find_file(&storage, "result_file_refs.pq").expect("result_file_refs.pq"), &["file"]);
    assert_eq!(failures.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 6], "{failures:?}\n{stderr}");
    for (sort_index, values) in &failures {
        let (kind, message) = (&values[0], &values[1]);
        assert_eq!(kind, "invalid_output", "spec {sort_index}: {message}");
        assert!(message.contains("output field `file`") && message.contains("scratch folder"), "{message}");
    }
    assert!(failures[&2][1].contains(&secret), "the resolved path is named: {}", failures[&2][1]);
    assert!(failures[&3][1].contains(&secret), "the symlink's target is named: {}", failures[&3][1]);
    assert!(failures[&4][1].contains("/etc/passwd"), "{}", failures[&4][1]);
    assert_eq!(files.keys().copied().collect::<Vec<_>>(), [0, 5], "{files:?}");
    assert!(files[&0][0].starts_with("file://") && files[&0][0].contains("/results/file/"), "{files:?}");
    assert_eq!(files[&5][0], "s3://bucket/reports/r.txt", "a remote URI is recorded as it is");
    // Only the file from inside the scratch folder was uploaded.
    let results = find_file(&storage, "00000000.txt").expect("the inside file is uploaded");
    assert_eq!(std::fs::read_to_string(results).unwrap(), "inside");
    let uploaded = std::fs::read_dir(find_file(&storage, "00000000.txt").unwrap().parent().unwrap()).unwrap().count();
    assert_eq!(uploaded, 1, "nothing from outside the scratch folders reached results/file/");
}

#[test]
fn two_experiments_under_one_name_are_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("runs").display().to_string();
    let app = || scythe::App::new().experiment::<double>().experiment::<double_again>();
    let code = app().run_with_args(["inputs", "--storage", &storage, "runs"]);
    assert_eq!(code, ExitCode::FAILURE);
    let single = scythe::App::new().experiment::<double>().run_with_args(["inputs", "--storage", &storage, "runs"]);
    assert_eq!(single, ExitCode::SUCCESS, "the same command with one experiment works");
}
