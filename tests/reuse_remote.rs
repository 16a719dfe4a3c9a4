//! The result cache's execution counts (`tests/reuse.rs` runs them on a local folder) on an S3
//! bucket (a real S3 server inside the test process, input files as objects overwritten in
//! place) and on the Hatchet engine (when `HATCHET_CLIENT_TOKEN` is set; the workers count the
//! executions): an identical re-run executes 0 specs, one changed spec 1, a new `cache_version`
//! all, an input file changed in place exactly the specs that use it, and a failed spec runs
//! again; the final tables of a cached re-run equal the original's row for row.
//!
//! ```sh
//! . "$(bash scripts/hatchet-engine.sh start)" && cargo build --examples && cargo test --test reuse_remote
//! ```

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use support::counted::{Counted, cached_from, failures, scalars};
use support::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};

/// The issue's five re-runs on `bench`, whose specs name input files `a` (5 bytes) and `b`
/// (6 bytes); `change_b` rewrites `b` in place to 14 bytes.
fn re_runs_execute_only_what_changed(bench: &mut Counted, a: &str, b: &str, change_b: impl FnOnce(&Counted)) {
    let specs = bench.specs("specs.csv", &[("1", a, false), ("2", a, false), ("3", b, false), ("4", b, false)]);
    let first = bench.scatter("counted", &specs, &[], false);
    assert_eq!(first.executed, ["1", "2", "3", "4"], "{}", first.stdout);
    assert!(cached_from(&first.folder).iter().all(Option::is_none));
    let original = scalars(&first.folder);
    assert_eq!(original, [(0, 1.0, 2.0, 5), (1, 2.0, 4.0, 5), (2, 3.0, 6.0, 6), (3, 4.0, 8.0, 6)]);

    // Identical: nothing runs, and the final tables are the same row for row.
    let same = bench.scatter("counted", &specs, &["--explain"], false);
    assert_eq!(same.executed, Vec::<String>::new(), "{}", same.stdout);
    assert!(same.stdout.contains("reused 4 specs"), "{}", same.stdout);
    // A whole identical run copies the earlier run's final tables (on Hatchet before any task).
    assert!(same.stdout.contains(&format!("identical to run {}", first.run)), "{}", same.stdout);
    assert!(same.stdout.contains("explain    no spec ran: every result was reused"), "{}", same.stdout);
    assert_eq!(scalars(&same.folder), original);
    assert_eq!(failures(&same.folder), Vec::<u64>::new());
    assert_eq!(cached_from(&same.folder), vec![Some(first.run.clone()); 4]);

    // `--no-cache`: everything runs again (on Hatchet the run's leaves are told so).
    let all = bench.scatter("counted", &specs, &["--no-cache"], false);
    assert_eq!(all.executed, ["1", "2", "3", "4"], "{}", all.stdout);
    assert!(cached_from(&all.folder).iter().all(Option::is_none));

    // One spec changed: only it runs.
    let changed = bench.specs("changed.csv", &[("1", a, false), ("20", a, false), ("3", b, false), ("4", b, false)]);
    let one = bench.scatter("counted", &changed, &["--explain"], false);
    assert_eq!(one.executed, ["20"], "{}", one.stdout);
    // On Hatchet the leaves report why their specs ran, and the root adds them up.
    assert!(one.stdout.contains("explain    1 specs ran:"), "{}", one.stdout);
    assert!(one.stdout.contains("1 × no entry (new input values)"), "{}", one.stdout);
    assert!(one.stdout.contains("sort_index 1: no entry"), "{}", one.stdout);
    assert_eq!(scalars(&one.folder)[1], (1, 20.0, 40.0, 5));

    // An input file changed in place (same path or key): exactly the specs that use it run.
    change_b(bench);
    let file = bench.scatter("counted", &specs, &[], false);
    assert_eq!(file.executed, ["3", "4"], "{}", file.stdout);
    assert_eq!(scalars(&file.folder)[2..], [(2, 3.0, 6.0, 14), (3, 4.0, 8.0, 14)]);

    // A new `cache_version` (examples/counted_recached.rs): everything runs.
    let bumped = bench.scatter("counted_recached", &specs, &[], false);
    assert_eq!(bumped.executed, ["1", "2", "3", "4"], "{}", bumped.stdout);
    assert!(cached_from(&bumped.folder).iter().all(Option::is_none));

    // A failure is not cached: once fixed, only it runs again.
    let failing = bench.specs("failing.csv", &[("1", a, false), ("5", a, true)]);
    let failed = bench.scatter("counted", &failing, &[], false);
    assert_eq!(failed.executed, ["5"], "{}", failed.stdout);
    assert_eq!(failures(&failed.folder), [1]);
    let fixed = bench.scatter("counted", &failing, &[], true);
    assert_eq!(fixed.executed, ["5"], "{}", fixed.stdout);
    assert_eq!(scalars(&fixed.folder), [(0, 1.0, 2.0, 5), (1, 5.0, 10.0, 5)]);
    assert_eq!(failures(&fixed.folder), Vec::<u64>::new());
    let again = bench.scatter("counted", &failing, &[], false);
    assert_eq!(again.executed, Vec::<String>::new(), "{}", again.stdout);
    assert_eq!(scalars(&again.folder), scalars(&fixed.folder));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_re_runs_execute_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let server_root = dir.path().join("s3");
    let server = S3Server::start(&server_root).await;
    server.create_bucket("runs");
    let inputs = server.store("runs", "");
    inputs.put("inputs/a.txt", "alpha").await.unwrap();
    inputs.put("inputs/b.txt", "bravo!").await.unwrap();
    let env = vec![
        ("AWS_ENDPOINT".to_owned(), server.endpoint()),
        ("AWS_ACCESS_KEY_ID".to_owned(), ACCESS_KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), SECRET_KEY.to_owned()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        ("AWS_ALLOW_HTTP".to_owned(), "true".to_owned()),
    ];
    let mut bench = Counted::s3(dir, &server_root, "runs", env);
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        re_runs_execute_only_what_changed(&mut bench, "s3://runs/inputs/a.txt", "s3://runs/inputs/b.txt", |_| {
            handle.block_on(inputs.put("inputs/b.txt", "bravo, changed")).unwrap();
        });
    });
}

#[test]
fn on_hatchet_re_runs_execute_only_what_changed() {
    if !support::require::hatchet() {
        return;
    }
    let mut bench = Counted::local().on_hatchet();
    bench.write("a.txt", "alpha");
    bench.write("b.txt", "bravo!");
    re_runs_execute_only_what_changed(&mut bench, "a.txt", "b.txt", |bench| bench.write("b.txt", "bravo, changed"));
}
