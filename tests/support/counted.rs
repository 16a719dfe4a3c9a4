//! Runs of the `counted` example (`examples/counted.rs`, which appends the `x` of every
//! execution to `COUNTED_LOG`) on a local folder or an S3 bucket, embedded or on Hatchet, for
//! the result cache tests: which specs executed, and the final tables they left.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, UInt64Type};

use super::tables::read_table;

/// Where the runs go and which engine runs them.
pub(crate) struct Counted {
    /// Temporary folder of the store, logs and input files.
    pub(crate) dir: tempfile::TempDir,
    /// `--storage`.
    storage: String,
    /// Local folder holding what `storage` names (the S3 server's bucket folders).
    local_root: PathBuf,
    /// Environment of every command (S3 credentials).
    env: Vec<(String, String)>,
    /// A Hatchet worker (binary and `COUNTED_FIXED`), when runs go to Hatchet.
    hatchet: Option<Option<(String, bool, Worker)>>,
}

/// What one scatter printed and executed.
pub(crate) struct Outcome {
    pub(crate) stdout: String,
    /// The `x` of each execution, sorted.
    pub(crate) executed: Vec<String>,
    /// The run's folder on the local disk.
    pub(crate) folder: PathBuf,
    /// The run's id.
    pub(crate) run: String,
}

/// A Hatchet worker, stopped (with the worker process it supervises) when dropped.
pub(crate) struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Counted {
    /// Runs in a local folder on the embedded engine.
    pub(crate) fn local() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("runs");
        Self { storage: root.display().to_string(), local_root: root, dir, env: Vec::new(), hatchet: None }
    }

    /// Runs in `s3://<bucket>/scythe` of a server storing bucket `bucket` under `server_root`.
    pub(crate) fn s3(dir: tempfile::TempDir, server_root: &Path, bucket: &str, env: Vec<(String, String)>) -> Self {
        Self {
            storage: format!("s3://{bucket}/scythe"),
            local_root: server_root.join(bucket).join("scythe"),
            dir,
            env,
            hatchet: None,
        }
    }

    /// Runs on the Hatchet engine of the environment's `HATCHET_CLIENT_*` settings, with workers
    /// this bench starts.
    pub(crate) fn on_hatchet(mut self) -> Self {
        self.hatchet = Some(None);
        self
    }

    /// Whether runs go to Hatchet.
    pub(crate) fn is_hatchet(&self) -> bool {
        self.hatchet.is_some()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).expect("write");
    }

    /// `rows` of `x,file,fail` as a specs file; a file not starting with `s3://` is a local
    /// file of the bench.
    pub(crate) fn specs(&self, name: &str, rows: &[(&str, &str, bool)]) -> PathBuf {
        let mut text = String::from("x,file,fail\n");
        for (x, file, fail) in rows {
            let file =
                if file.starts_with("s3://") { (*file).to_owned() } else { self.path(file).display().to_string() };
            text.push_str(&format!("{x},{file},{fail}\n"));
        }
        let path = self.path(name);
        std::fs::write(&path, text).expect("write specs");
        path
    }

    fn command(&self, example: &str) -> Command {
        let mut command = if self.hatchet.is_some() {
            let mut command = Command::new(super::bin::example(example));
            command.env_remove("SCYTHE_SUPERVISE").env_remove("RUST_LOG").env_remove("SCYTHE_LOG");
            command
        } else {
            super::bin::embedded(example)
        };
        command.env("SCYTHE_CACHE_DIR", self.path("file-cache")).env("SCYTHE_WORKERS", "2");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.arg("--storage").arg(&self.storage);
        command
    }

    /// Starts a worker of `example` (with `COUNTED_FIXED=1` when `fixed`) unless one runs.
    fn ensure_worker(&mut self, example: &str, fixed: bool) {
        let Some(current) = &mut self.hatchet else { return };
        if current.as_ref().is_some_and(|(name, f, _)| name == example && *f == fixed) {
            return;
        }
        *current = None;
        let log = File::create(self.dir.path().join(format!("worker-{example}-{fixed}.log"))).expect("worker log");
        let mut command = {
            let mut command = Command::new(super::bin::example(example));
            command.env_remove("SCYTHE_SUPERVISE").env_remove("RUST_LOG").env_remove("COUNTED_FIXED");
            command.env("SCYTHE_CACHE_DIR", self.dir.path().join("worker-file-cache"));
            for (key, value) in &self.env {
                command.env(key, value);
            }
            command.arg("--storage").arg(&self.storage);
            command
        };
        if fixed {
            command.env("COUNTED_FIXED", "1");
        }
        let child = Worker(
            command
                .arg("worker")
                .env("COUNTED_LOG", self.dir.path().join("executions.log"))
                .env("SCYTHE_WORKER_NAME", format!("counted-{}-{example}-{fixed}", std::process::id()))
                .env("SCYTHE_WORKER_SLOTS", "2")
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("start the worker"),
        );
        self.hatchet = Some(Some((example.to_owned(), fixed, child)));
    }

    /// Scatters `specs` with `example` (`counted` or `counted_recached`), `COUNTED_FIXED=1`
    /// when `fixed`.
    pub(crate) fn scatter(&mut self, example: &str, specs: &Path, extra: &[&str], fixed: bool) -> Outcome {
        let log = self.path("executions.log");
        let _ = std::fs::remove_file(&log);
        self.ensure_worker(example, fixed);
        let mut command = self.command(example);
        command.env("COUNTED_LOG", &log).env_remove("COUNTED_FIXED");
        if fixed {
            command.env("COUNTED_FIXED", "1");
        }
        command.args(["scatter", "counted", "--allow-failures", "--specs"]).arg(specs).args(extra);
        if self.hatchet.is_some() {
            command.args(["--engine", "hatchet", "--wait", "--batch", "2"]);
        }
        let output = command.output().expect("run scatter");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        if self.hatchet.is_some() {
            assert!(stdout.contains("\nhatchet    "), "not run on Hatchet: {stdout}");
        }
        let mut executed: Vec<String> =
            std::fs::read_to_string(&log).unwrap_or_default().lines().map(str::to_owned).collect();
        executed.sort();
        let run = stdout
            .lines()
            .find_map(|line| line.strip_prefix("run"))
            .map(|id| id.trim().to_owned())
            .unwrap_or_else(|| panic!("no run in: {stdout}"));
        let folder = self.local_root.join(&run);
        Outcome { stdout, executed, folder, run }
    }
}

/// `(sort_index, x, y, file_bytes)` of every row of a run's `final/scalars.pq`.
pub(crate) fn scalars(folder: &Path) -> Vec<(u64, f64, f64, u64)> {
    let mut rows = Vec::new();
    for batch in read_table(&folder.join("final/scalars.pq")) {
        let column = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("column {name}"));
        let index = column("sort_index").as_primitive::<UInt64Type>();
        let x = column("x").as_primitive::<Float64Type>();
        let y = column("y").as_primitive::<Float64Type>();
        let bytes = column("file_bytes").as_primitive::<UInt64Type>();
        rows.extend((0..batch.num_rows()).map(|row| (index.value(row), x.value(row), y.value(row), bytes.value(row))));
    }
    rows
}

/// Sort indexes of a run's `final/failures.pq` (empty when it has none).
pub(crate) fn failures(folder: &Path) -> Vec<u64> {
    let path = folder.join("final/failures.pq");
    if !path.exists() {
        return Vec::new();
    }
    read_table(&path)
        .iter()
        .flat_map(|b| {
            b.column_by_name("sort_index").expect("sort_index").as_primitive::<UInt64Type>().values().to_vec()
        })
        .collect()
}

/// `cached_from` of each row of a run's `final/provenance.pq`.
pub(crate) fn cached_from(folder: &Path) -> Vec<Option<String>> {
    let mut values = Vec::new();
    for batch in read_table(&folder.join("final/provenance.pq")) {
        let column = batch.column_by_name("cached_from").expect("cached_from").as_string::<i32>();
        values.extend((0..column.len()).map(|row| column.is_valid(row).then(|| column.value(row).to_owned())));
    }
    values
}
