//! Designs of experiments through the real binary (`examples/ishigami.rs`): the properties of
//! each method's specs, designs larger than one chunk streamed to Parquet row groups with no
//! seam between chunks, reruns byte for byte, refusals before anything is written, the design
//! in the manifest, the dry run, templates of nested inputs; and, when `SCYTHE_PYTHON` is set, a cross-check against
//! scipy.stats.qmc and SALib (`tests/python/design_check.py`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::path::Path;
use std::process::Output;

fn ishigami(args: &[&str], dir: &Path) -> Output {
    support::bin::embedded("ishigami").args(args).current_dir(dir).output().unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A CSV of numbers (our designs never quote them): header and rows.
fn numbers(csv: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut lines = csv.lines();
    let header = lines.next().unwrap().split(',').map(str::to_owned).collect();
    let rows = lines.map(|line| line.split(',').map(|cell| cell.parse().unwrap()).collect()).collect();
    (header, rows)
}

#[test]
fn lhs_has_one_point_per_stratum_in_every_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let n = 50;
    let (header, rows) =
        numbers(&ok(ishigami(&["design", "ishigami", "--method", "lhs", "-n", "50", "--seed", "4"], dir.path())));
    assert_eq!(header, ["x1", "x2", "x3"]);
    assert_eq!(rows.len(), n);
    for j in 0..3 {
        // x = −π + u·2π with u in stratum k: ((x + π)/2π)·n recovers k except within a few
        // ulps of a stratum's edge, where a point lands with probability ~1e-14.
        let mut strata: Vec<usize> = rows
            .iter()
            .map(|row| {
                assert!((-PI..=PI).contains(&row[j]));
                ((row[j] + PI) / (2.0 * PI) * n as f64) as usize
            })
            .collect();
        strata.sort_unstable();
        assert_eq!(strata, (0..n).collect::<Vec<_>>(), "dimension {j}");
    }
}

#[test]
fn integers_enums_bools_and_nested_fields_are_all_covered() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "design",
        "mixed",
        "--method",
        "lhs",
        "-n",
        "30",
        "--set",
        "label=north",
        "--set",
        "shading=null",
        "--out",
        "mixed.jsonl",
    ];
    ok(ishigami(&args, dir.path()));
    let text = std::fs::read_to_string(dir.path().join("mixed.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(rows.len(), 30);
    let count = |key: &dyn Fn(&serde_json::Value) -> String| {
        let mut counts = BTreeMap::new();
        for row in &rows {
            *counts.entry(key(row)).or_insert(0) += 1;
        }
        counts
    };
    // An LHS of 30 stratifies 5 integers 6 times each, 3 variants 10 times, 2 bools 15 times.
    let floors = count(&|row| row["floors"].to_string());
    assert_eq!(
        floors,
        BTreeMap::from([("1".into(), 6), ("2".into(), 6), ("3".into(), 6), ("4".into(), 6), ("5".into(), 6)])
    );
    let materials = count(&|row| row["wall"]["material"].as_str().unwrap().to_owned());
    assert_eq!(materials, BTreeMap::from([("brick".into(), 10), ("concrete".into(), 10), ("wood".into(), 10)]));
    let basement = count(&|row| row["basement"].to_string());
    assert_eq!(basement, BTreeMap::from([("false".into(), 15), ("true".into(), 15)]));
    for row in &rows {
        let r = row["wall"]["r_value"].as_f64().unwrap();
        assert!((0.5..=10.0).contains(&r));
        assert!(row["shading"].is_null() && row["label"] == "north");
    }
}

#[test]
fn grid_is_the_full_cross_product() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["design", "ishigami", "--method", "grid", "--points", "3", "--levels", "x3=0,1"];
    let (_, rows) = numbers(&ok(ishigami(&args, dir.path())));
    assert_eq!(rows.len(), 3 * 3 * 2);
    assert_eq!(rows[0], [-PI, -PI, 0.0]);
    assert_eq!(rows[1], [-PI, -PI, 1.0], "the last dimension is fastest");
    let mut distinct: Vec<String> = rows.iter().map(|row| format!("{row:?}")).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 18);
}

#[test]
fn same_command_and_seed_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["a.csv", "a.pq", "a.jsonl"] {
        let run = |seed: &str, out: &str| {
            ok(ishigami(
                &["design", "ishigami", "--method", "sobol", "-n", "64", "--seed", seed, "--out", out],
                dir.path(),
            ));
            std::fs::read(dir.path().join(out)).unwrap()
        };
        let first = run("7", file);
        assert_eq!(first, run("7", &format!("again-{file}")), "{file}");
        assert_ne!(first, run("8", &format!("other-{file}")), "{file}");
    }
}

#[test]
fn bad_options_are_refused_naming_the_field_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--set", "x4=1"], "x4"),
        (&["--set", "x1=4"], "x1"),
        (&["--set", "x1=abc"], "x1"),
        (&["--levels", "x2=0,9"], "x2"),
        (&["--dist", "x3=loguniform(-1,2)"], "x3"),
    ];
    for (options, field) in cases {
        let mut args = vec!["design", "ishigami", "--method", "lhs", "-n", "4", "--out", "bad.csv"];
        args.extend_from_slice(options);
        let output = ishigami(&args, dir.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(field), "{options:?}: {stderr}");
        assert!(!dir.path().join("bad.csv").exists(), "{options:?} wrote a file");
    }
    // Fields a design cannot draw are all named, with what to pass.
    let output = ishigami(&["design", "mixed", "--method", "random", "-n", "4"], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--set shading=null") && stderr.contains("--set label=VALUE"), "{stderr}");
}

#[test]
fn saltelli_rows_have_the_a_b_structure() {
    let dir = tempfile::tempdir().unwrap();
    let (n, d) = (16, 3);
    let (_, rows) = numbers(&ok(ishigami(&["design", "ishigami", "--method", "saltelli", "-n", "16"], dir.path())));
    assert_eq!(rows.len(), n * (d + 2));
    for block in rows.chunks(d + 2) {
        let (a, b) = (&block[0], &block[d + 1]);
        for k in 0..d {
            for j in 0..d {
                let expected = if j == k { b[j] } else { a[j] };
                assert_eq!(block[1 + k][j].to_bits(), expected.to_bits(), "AB_{k} column {j}");
            }
        }
    }
}

#[test]
fn morris_trajectories_move_one_dimension_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (r, d) = (10, 3);
    let (_, rows) = numbers(&ok(ishigami(
        &["design", "ishigami", "--method", "morris", "-n", "10", "--morris-levels", "4"],
        dir.path(),
    )));
    assert_eq!(rows.len(), r * (d + 1));
    // Δ = 4/6 of the unit range, i.e. (2/3)·2π in x; values are printed shortest-round-trip,
    // so 1e-9 is many orders above the error of −π + k·2π/3.
    let step = 2.0 / 3.0 * 2.0 * PI;
    for trajectory in rows.chunks(d + 1) {
        for pair in trajectory.windows(2) {
            let changed: Vec<usize> = (0..d).filter(|&j| pair[0][j] != pair[1][j]).collect();
            assert_eq!(changed.len(), 1, "{pair:?}");
            assert!(((pair[0][changed[0]] - pair[1][changed[0]]).abs() - step).abs() < 1e-9, "{pair:?}");
        }
    }
}

#[test]
fn scatter_records_the_design_and_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let design = ["--design", "saltelli", "-n", "8", "--seed", "3"];
    let mut dry = vec!["--storage", "runs", "scatter", "ishigami", "--dry-run"];
    dry.extend_from_slice(&design);
    let plan = ok(ishigami(&dry, dir.path()));
    assert!(plan.contains("specs      40 (valid)") && plan.contains("v1.0.0") && plan.contains("embedded"), "{plan}");
    assert!(!dir.path().join("runs").exists(), "a dry run wrote {:?}", dir.path().join("runs"));

    let mut scatter = vec!["--storage", "runs", "scatter", "ishigami"];
    scatter.extend_from_slice(&design);
    ok(ishigami(&scatter, dir.path()));
    let version = dir.path().join("runs/ishigami/v1.0.0");
    let run = std::fs::read_dir(&version).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
    let manifest = std::fs::read_to_string(run.join("manifest.yml")).unwrap();
    assert!(manifest.contains("design:\n  method: saltelli"), "{manifest}");
    assert!(
        manifest.contains("seed: 3") && manifest.contains("field: x3") && manifest.contains("n_specs: 40"),
        "{manifest}"
    );
}

/// Every value of column `name` of a Parquet file, and the file's row-group sizes.
fn parquet_column(path: &Path, name: &str) -> (Vec<f64>, Vec<i64>) {
    use arrow::array::AsArray;
    use arrow::datatypes::Float64Type;
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
            .unwrap();
    let groups = builder.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
    let mut values = Vec::new();
    for batch in builder.build().unwrap() {
        values.extend(batch.unwrap().column_by_name(name).unwrap().as_primitive::<Float64Type>().values().iter());
    }
    (values, groups)
}

#[test]
fn sobol_past_two_to_the_sixteen_streams_without_seams() {
    // `linear`'s inputs are on [0, 1], so a value is its unit coordinate exactly (0 + u·1), a
    // multiple of 2^-32: counting per interval of 2^-17 is exact arithmetic.
    let dir = tempfile::tempdir().unwrap();
    let n = 1usize << 17;
    ok(ishigami(
        &["design", "linear", "--method", "sobol", "-n", &n.to_string(), "--seed", "9", "--out", "s.pq"],
        dir.path(),
    ));
    for field in ["a", "b", "c"] {
        let (values, groups) = parquet_column(&dir.path().join("s.pq"), field);
        assert_eq!(groups, [65_536, 65_536], "one row group per chunk of 65,536 rows");
        // A (0, m, 1)-net: the 2^17 points hold one point per interval of width 2^-17, which
        // fails if a chunk repeats or skips the sequence at its seam.
        let mut seen = vec![false; n];
        for u in values {
            let cell = (u * n as f64) as usize;
            assert!((0.0..1.0).contains(&u) && !seen[cell], "{field}: two points in interval {cell}");
            seen[cell] = true;
        }
    }
}

#[test]
fn lhs_larger_than_a_chunk_keeps_one_point_per_stratum_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let n = 150_000;
    for out in ["l.pq", "l.csv"] {
        ok(ishigami(
            &["design", "linear", "--method", "lhs", "-n", &n.to_string(), "--seed", "2", "--out", out],
            dir.path(),
        ));
    }
    let csv = numbers(&std::fs::read_to_string(dir.path().join("l.csv")).unwrap()).1;
    for (j, field) in ["a", "b", "c"].into_iter().enumerate() {
        let (values, groups) = parquet_column(&dir.path().join("l.pq"), field);
        assert_eq!(groups, [65_536, 65_536, 18_928]);
        // The CSV holds the same numbers (printed shortest-round-trip), row for row.
        assert!(values.iter().zip(&csv).all(|(v, row)| v.to_bits() == row[j].to_bits()), "{field}");
        // u = (stratum + offset)/n: u·n recovers the stratum unless the offset is within
        // ~1e-11 of 1, which happens to one of these 450,000 points with odds ~1e-5.
        let mut strata: Vec<usize> = values.iter().map(|u| (u * n as f64) as usize).collect();
        strata.sort_unstable();
        assert!(strata.iter().enumerate().all(|(k, &s)| k == s), "{field}: a stratum is empty or doubled");
    }
}

#[test]
fn template_of_nested_fields_is_json_lines_and_a_valid_spec() {
    let dir = tempfile::tempdir().unwrap();
    // CSV cannot hold `wall.r_value`: refused, naming it and what to write instead.
    let output = ishigami(&["design", "mixed", "--template"], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && output.stdout.is_empty(), "{stderr}");
    assert!(stderr.contains("`wall.r_value`") && stderr.contains("--out template.jsonl"), "{stderr}");
    ok(ishigami(&["design", "mixed", "--template", "--out", "template.jsonl"], dir.path()));
    let text = std::fs::read_to_string(dir.path().join("template.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(rows.len(), 1, "{text}");
    let row = rows[0].as_object().unwrap();
    assert_eq!(row.keys().collect::<Vec<_>>(), ["floors", "basement", "wall", "roof", "shading", "label"], "{text}");
    assert_eq!(row["wall"].as_object().unwrap().keys().collect::<Vec<_>>(), ["r_value", "material"], "{text}");
    // The example row is a spec the run accepts as it is.
    let plan =
        ok(ishigami(&["--storage", "runs", "scatter", "mixed", "--specs", "template.jsonl", "--dry-run"], dir.path()));
    assert!(plan.contains("specs      1 (valid)"), "{plan}");
    let refused = ishigami(&["design", "mixed", "--template", "--out", "template.pq"], dir.path());
    assert!(!refused.status.success() && !dir.path().join("template.pq").exists());
}

#[test]
fn template_is_a_header_and_one_valid_row() {
    let dir = tempfile::tempdir().unwrap();
    let text = ok(ishigami(&["design", "ishigami", "--template"], dir.path()));
    assert_eq!(text, "x1,x2,x3\n0.0,0.0,0.0\n");
    std::fs::write(dir.path().join("specs.csv"), text).unwrap();
    let plan =
        ok(ishigami(&["--storage", "runs", "scatter", "ishigami", "--specs", "specs.csv", "--dry-run"], dir.path()));
    assert!(plan.contains("specs      1 (valid)"), "{plan}");
}

#[test]
fn designs_match_scipy_and_salib() {
    let Some(python) = std::env::var_os("SCYTHE_PYTHON") else {
        support::require::skip("SCYTHE_PYTHON is not set: no scipy/SALib cross-check");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/design_check.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(support::bin::example("ishigami"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "design check failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
