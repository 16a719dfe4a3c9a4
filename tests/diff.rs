//! `diff <run-a> <run-b>` and the `--version keep` guard end to end, on the real `counted`
//! example (`examples/counted.rs`) and the same experiment after a schema change
//! (`examples/counted_v2.rs`). With `SCYTHE_PYTHON` set, pandas recomputes the comparison from
//! the runs' Parquet tables (`tests/python/diff_check.py`).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// A folder with a store and the input files.
struct Bench(support::workdir::Workdir);

impl std::ops::Deref for Bench {
    type Target = support::workdir::Workdir;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Bench {
    fn new() -> Self {
        Self(support::workdir::Workdir::new())
    }

    /// A specs file of `header` and `rows`, the second column an input file's name.
    fn specs(&self, name: &str, header: &str, rows: &[&[&str]]) -> PathBuf {
        let mut text = format!("{header}\n");
        for row in rows {
            let mut cells: Vec<String> = row.iter().map(|c| (*c).to_owned()).collect();
            cells[1] = self.path(&cells[1]).display().to_string();
            text.push_str(&cells.join(","));
            text.push('\n');
        }
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `example` on the bench's store.
    fn run(&self, example: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = support::bin::embedded(example);
        command.env_remove("COUNTED_FIXED").env_remove("COUNTED_LOG").env("SCYTHE_WORKERS", "2");
        for (key, value) in env {
            command.env(key, value);
        }
        command.arg("--storage").arg(self.path("runs")).args(args).output().unwrap()
    }

    /// Scatters `specs` with `example`; returns the run's id.
    fn scatter(&self, example: &str, specs: &Path, extra: &[&str], env: &[(&str, &str)]) -> String {
        let mut args = vec!["scatter", "counted", "--allow-failures", "--specs", specs.to_str().unwrap()];
        args.extend(extra);
        let output = self.run(example, &args, env);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        stdout.lines().find_map(|l| l.strip_prefix("run")).map(|id| id.trim().to_owned()).unwrap()
    }

    /// `diff a b` as text and as JSON.
    fn diff(&self, a: &str, b: &str, extra: &[&str]) -> (String, Value) {
        let text = ok(self.run("counted", &[&["diff", a, b], extra].concat(), &[]));
        let json = ok(self.run("counted", &[&["diff", a, b, "--json"], extra].concat(), &[]));
        (text, serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}")))
    }

    /// Run folders of version `version`.
    fn runs_of(&self, version: &str) -> usize {
        std::fs::read_dir(self.path("runs/counted").join(version))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
            .count()
    }
}

fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// The comparison of output `column`.
fn column<'a>(diff: &'a Value, column: &str) -> &'a Value {
    diff["outputs"]["columns"].as_array().unwrap().iter().find(|c| c["column"] == column).unwrap()
}

/// With `SCYTHE_PYTHON`, pandas recomputes `diff` from the two runs' tables.
fn pandas_agrees(bench: &Bench, a: &str, b: &str, diff: &Value) {
    let Some(python) = std::env::var_os("SCYTHE_PYTHON") else {
        support::require::skip("SCYTHE_PYTHON is not set: no pandas cross-check of diff");
        return;
    };
    let json = bench.path("diff.json");
    std::fs::write(&json, diff.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/diff_check.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(bench.path("runs").join(a))
        .arg(bench.path("runs").join(b))
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pandas disagrees:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn diff_matches_specs_by_their_inputs_and_finds_the_largest_change() {
    let bench = Bench::new();
    let header = "x,file,fail";
    let first = bench.specs(
        "a.csv",
        header,
        &[
            &["1", "a.txt", "false"],
            &["2", "a.txt", "false"],
            &["3", "b.txt", "false"],
            &["4", "b.txt", "false"],
            &["6", "a.txt", "true"],
        ],
    );
    let a = bench.scatter("counted", &first, &[], &[]);
    // b.txt grows from 6 to 14 bytes in place; x = 4 is dropped, x = 5 added, the rows
    // reordered, and the failing spec is fixed.
    bench.write("b.txt", "bravo, changed");
    let second = bench.specs(
        "b.csv",
        header,
        &[
            &["5", "b.txt", "false"],
            &["3", "b.txt", "false"],
            &["6", "a.txt", "true"],
            &["2", "a.txt", "false"],
            &["1", "a.txt", "false"],
        ],
    );
    let b = bench.scatter("counted", &second, &[], &[("COUNTED_FIXED", "1")]);

    let (text, diff) = bench.diff(&a, &b, &[]);
    assert_eq!(diff["schema"], serde_json::json!([]), "{text}");
    assert!(text.contains("schema     unchanged"), "{text}");
    assert!(text.contains("specs      4 in both, 1 only in a, 1 only in b (matched on x, file, fail)"), "{text}");
    assert_eq!(
        (diff["common"].as_u64(), diff["only_a"].as_u64(), diff["only_b"].as_u64()),
        (Some(4), Some(1), Some(1))
    );
    assert_eq!(
        diff["only_a_examples"],
        serde_json::json!([{ "sort_index": 3, "inputs": "x=4.0, file=b.txt, fail=false" }])
    );
    assert_eq!(
        diff["only_b_examples"],
        serde_json::json!([{ "sort_index": 0, "inputs": "x=5.0, file=b.txt, fail=false" }])
    );
    let outputs = &diff["outputs"];
    // x = 1, 2, 3 succeeded in both; x = 6 failed in a only.
    assert_eq!(outputs["compared"], 3, "{text}");
    assert_eq!(outputs["changed_specs"], 1, "{text}");
    assert_eq!((outputs["succeeded_only_in_a"].as_u64(), outputs["succeeded_only_in_b"].as_u64()), (Some(0), Some(1)));
    assert_eq!(column(&diff, "y")["changed"], 0);
    let bytes = column(&diff, "file_bytes");
    assert_eq!(bytes["changed"], 1, "{text}");
    assert_eq!(bytes["max_abs_change"], 8.0, "{text}");
    assert_eq!((bytes["largest_a"].as_u64(), bytes["largest_b"].as_u64()), (Some(2), Some(1)), "{text}");
    assert_eq!((bytes["value_a"].as_str(), bytes["value_b"].as_str()), (Some("6"), Some("14")));
    assert_eq!(bytes["spec"], "x=3.0, file=b.txt, fail=false");
    assert!(text.contains("1 of 3 common specs changed"), "{text}");
    assert!(text.contains("6 → 14  (a #2, b #1: x=3.0, file=b.txt, fail=false)"), "{text}");
    pandas_agrees(&bench, &a, &b, &diff);

    // The other way round, the sides swap.
    let (_, back) = bench.diff(&b, &a, &[]);
    assert_eq!((back["only_a"].as_u64(), back["only_b"].as_u64()), (Some(1), Some(1)));
    assert_eq!(back["only_a_examples"][0]["inputs"], "x=5.0, file=b.txt, fail=false");
    assert_eq!(back["outputs"]["succeeded_only_in_a"], 1);
    assert_eq!(column(&back, "file_bytes")["max_abs_change"], 8.0);

    // A change within the tolerance is no change.
    let (text, within) = bench.diff(&a, &b, &["--tolerance", "8"]);
    assert_eq!(within["outputs"]["changed_specs"], 0, "{text}");
    assert_eq!(column(&within, "file_bytes")["changed"], 0, "{text}");

    // A run that is allocated but not run: specs compare, outputs wait for its gather.
    let allocated = ok(bench.run("counted", &["allocate", "counted", "--specs", second.to_str().unwrap()], &[]));
    let allocated = allocated.trim();
    let (text, pending) = bench.diff(&a, allocated, &[]);
    assert_eq!((pending["common"].as_u64(), pending["only_b"].as_u64()), (Some(4), Some(1)), "{text}");
    assert_eq!(pending["outputs"], Value::Null, "{text}");
    assert!(text.contains(&format!("outputs    not compared: `gather {allocated}` first")), "{text}");

    // A run against itself: nothing differs.
    let (text, same) = bench.diff(&a, &a, &[]);
    assert_eq!(
        (same["common"].as_u64(), same["only_a"].as_u64(), same["only_b"].as_u64()),
        (Some(5), Some(0), Some(0))
    );
    assert_eq!(same["outputs"]["changed_specs"], 0, "{text}");

    // --exit-code: 1 when the runs differ, 0 when they do not (and the comparison still prints).
    let exit = |x: &str, y: &str| bench.run("counted", &["diff", x, y, "--exit-code"], &[]);
    let differ = exit(&a, &b);
    assert_eq!(differ.status.code(), Some(1), "{differ:?}");
    assert!(String::from_utf8_lossy(&differ.stdout).contains("1 of 3 common specs changed"));
    let same = exit(&a, &a);
    assert_eq!(same.status.code(), Some(0), "{same:?}");
    let missing = exit(&a, "counted/v9.0.0/latest");
    assert_eq!(missing.status.code(), Some(2), "an error is neither 'same' nor 'differ': {missing:?}");
}

#[test]
fn diff_names_the_schema_changes_and_matches_on_the_fields_both_runs_have() {
    let bench = Bench::new();
    let first = bench.specs(
        "a.csv",
        "x,file,fail",
        &[&["1", "a.txt", "false"], &["2", "a.txt", "false"], &["3", "b.txt", "false"]],
    );
    let a = bench.scatter("counted", &first, &[], &[]);
    let second =
        bench.specs("b.csv", "x,file,scale", &[&["3", "b.txt", "2"], &["1", "a.txt", ""], &["7", "a.txt", ""]]);
    let b = bench.scatter("counted_v2", &second, &[], &[]);
    let (text, diff) = bench.diff(&a, &b, &[]);
    let lines: Vec<&str> = text.lines().skip(2).take(6).collect();
    assert_eq!(
        lines,
        [
            "schema     5 changes (3 breaking)",
            "  input    - fail: boolean  [breaking]",
            "  input    + scale: number (double) (optional)",
            "  input    ~ x: minimum none → 0.0 (tightened)  [breaking]",
            "  input    ~ x: maximum none → 100.0 (tightened)  [breaking]",
            "  output   + half: number (double)",
        ],
        "{text}"
    );
    assert_eq!(diff["matched_on"], serde_json::json!(["x", "file"]));
    assert_eq!(
        (diff["common"].as_u64(), diff["only_a"].as_u64(), diff["only_b"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    // y = 2x·scale: x = 3 now has scale 2, so y goes from 6 to 12; x = 1 keeps y = 2.
    let y = column(&diff, "y");
    assert_eq!((y["changed"].as_u64(), y["max_abs_change"].as_f64()), (Some(1), Some(6.0)), "{text}");
    assert_eq!((y["largest_a"].as_u64(), y["largest_b"].as_u64()), (Some(2), Some(0)), "{text}");
    assert_eq!(diff["outputs"]["columns"].as_array().unwrap().len(), 2, "{text}");
    pandas_agrees(&bench, &a, &b, &diff);
}

#[test]
fn keep_refuses_a_breaking_schema_change_unless_forced() {
    let bench = Bench::new();
    let first = bench.specs("a.csv", "x,file,fail", &[&["1", "a.txt", "false"]]);
    bench.scatter("counted", &first, &[], &[]);
    // The same schema again: no warning.
    let again =
        bench.run("counted", &["scatter", "counted", "--version", "keep", "--specs", first.to_str().unwrap()], &[]);
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stderr).contains("breaking"), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(bench.runs_of("v1.0.0"), 2);

    let second = bench.specs("b.csv", "x,file", &[&["1", "a.txt"]]);
    let keep = ["scatter", "counted", "--version", "keep", "--specs", second.to_str().unwrap()];
    let refused = bench.run("counted_v2", &keep, &[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the schema of `counted/v1.0.0` changed in a breaking way"), "{stderr}");
    assert!(stderr.contains("input - fail: boolean; input ~ x: minimum none → 0.0 (tightened)"), "{stderr}");
    assert!(stderr.contains("pass --force"), "{stderr}");
    assert_eq!(bench.runs_of("v1.0.0"), 2, "a refused run left a folder");

    let forced = bench.run("counted_v2", &[&keep[..], &["--force"]].concat(), &[]);
    let stderr = String::from_utf8_lossy(&forced.stderr);
    assert!(forced.status.success(), "{stderr}");
    assert!(
        stderr.contains("WARN")
            && stderr.contains("--force: run joins counted/v1.0.0 despite a breaking schema change"),
        "{stderr}"
    );
    assert!(stderr.contains("input - fail: boolean"), "{stderr}");
    assert_eq!(bench.runs_of("v1.0.0"), 3);
    // The default strategy bumps the version and says nothing.
    let bumped = bench.run("counted_v2", &["scatter", "counted", "--specs", second.to_str().unwrap()], &[]);
    assert!(bumped.status.success() && !String::from_utf8_lossy(&bumped.stderr).contains("breaking"));
    assert_eq!(bench.runs_of("v2.0.0"), 1);
}

#[test]
fn keep_refuses_to_join_an_allocation_in_progress_whose_schema_conflicts() {
    // A run of `counted_v2` is being allocated into v1.0.0 (live lease, schema written, no
    // manifest yet) when a run of `counted` joins with `--version keep`: no committed run to
    // compare with, but the two schemas conflict (`counted` → `counted_v2` breaks).
    let bench = Bench::new();
    let v2 = bench.specs("b.csv", "x,file", &[&["1", "a.txt"]]);
    let other = support::bin::embedded("counted_v2")
        .arg("--storage")
        .arg(bench.path("other"))
        .args(["scatter", "counted", "--specs", v2.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(other.status.success(), "{}", String::from_utf8_lossy(&other.stderr));
    let v2_run = std::fs::read_dir(bench.path("other/counted/v1.0.0"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.is_dir())
        .unwrap();
    let allocating = bench.path("runs/counted/v1.0.0/2026-01-01_00-00-00");
    std::fs::create_dir_all(&allocating).unwrap();
    std::fs::copy(v2_run.join("experiment_io_spec.yml"), allocating.join("experiment_io_spec.yml")).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let lease = format!("host: {}\npid: {}\nat: 2026-01-01T00:00:00Z\ntoken: test\n", host.trim(), std::process::id());
    std::fs::write(allocating.join("lease.yml"), lease).unwrap();

    let v1 = bench.specs("a.csv", "x,file,fail", &[&["1", "a.txt", "false"]]);
    let keep = ["scatter", "counted", "--version", "keep", "--specs", v1.to_str().unwrap()];
    let refused = bench.run("counted", &keep, &[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "run counted/v1.0.0/2026-01-01_00-00-00 was allocated into `counted/v1.0.0` at the same time as this one"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("input + fail: boolean (required); input - scale: number"), "{stderr}");
    let committed = std::fs::read_dir(bench.path("runs/counted/v1.0.0"))
        .unwrap()
        .filter(|run| run.as_ref().unwrap().path().join("manifest.yml").exists())
        .count();
    assert_eq!(committed, 0, "the refused run left a manifest");

    // Once that allocation is gone (its process died: an abandoned folder), the run joins.
    std::fs::remove_file(allocating.join("lease.yml")).unwrap();
    let joined = bench.run("counted", &keep, &[]);
    assert!(joined.status.success(), "{}", String::from_utf8_lossy(&joined.stderr));
}

#[test]
fn keep_admits_at_most_one_of_two_concurrent_runs_whose_schemas_conflict() {
    // Both start at once into the empty store: whichever order their steps interleave in,
    // the later is refused (by the check against committed runs or the one against
    // allocations in progress), never both admitted.
    let bench = Bench::new();
    let v1 = bench.specs("a.csv", "x,file,fail", &[&["1", "a.txt", "false"]]);
    let v2 = bench.specs("b.csv", "x,file", &[&["1", "a.txt"]]);
    let keep = |specs: &Path| {
        let args = ["scatter", "counted", "--version", "keep", "--specs", specs.to_str().unwrap()];
        args.map(str::to_owned)
    };
    let (keep_v1, keep_v2) = (keep(&v1), keep(&v2));
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| bench.run("counted", &keep_v1.each_ref().map(String::as_str), &[]));
        let b = scope.spawn(|| bench.run("counted_v2", &keep_v2.each_ref().map(String::as_str), &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let outputs = [&a, &b];
    let succeeded = outputs.iter().filter(|output| output.status.success()).count();
    let stderr: Vec<_> = outputs.iter().map(|output| String::from_utf8_lossy(&output.stderr)).collect();
    assert!(succeeded <= 1, "both joined v1.0.0:\n{}\n{}", stderr[0], stderr[1]);
    for (output, stderr) in outputs.iter().zip(&stderr).filter(|(output, _)| !output.status.success()) {
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("at the same time as this one") || stderr.contains("changed in a breaking way since"),
            "{stderr}"
        );
    }
}
