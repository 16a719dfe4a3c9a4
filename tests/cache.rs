//! The worker's input file cache through the real `read_input` example binary: entries are
//! keyed by the whole address (two servers on one host, one URL with two query strings), a
//! reused copy is revalidated (an object overwritten on a real S3 server is fetched again), and
//! an unchanged file is not downloaded twice.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::AsArray;
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use support::http_server::HttpServer;
use support::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use support::tables::files_below;

/// A folder holding the specs, the runs and the worker cache shared by every run of a test.
struct Bench {
    dir: tempfile::TempDir,
    runs: u32,
}

impl Bench {
    fn new() -> Bench {
        Bench { dir: tempfile::tempdir().unwrap(), runs: 0 }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Runs `read_input` over `files` (one spec each) with `env`, in its own storage folder;
    /// returns the text each spec read, by sort index.
    fn run(&mut self, files: &[String], env: &[(&str, String)]) -> Vec<String> {
        self.runs += 1;
        let specs = self.dir.path().join(format!("specs-{}.csv", self.runs));
        std::fs::write(&specs, format!("file\n{}\n", files.join("\n"))).unwrap();
        let storage = self.dir.path().join(format!("runs-{}", self.runs));
        let mut command = support::bin::embedded("read_input");
        command
            .args(["scatter", "read_input", "--specs"])
            .arg(&specs)
            .arg("--storage")
            .arg(&storage)
            .env("SCYTHE_CACHE_DIR", self.cache())
            .env("SCYTHE_WORKERS", "2")
            .env("SCYTHE_LOG", "debug")
            .current_dir(self.dir.path());
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "read_input failed ({}):\n{stderr}", output.status);
        assert!(!stderr.contains("token="), "a query string reached the log:\n{stderr}");
        let scalars = find_file(&storage, "scalars.pq").unwrap_or_else(|| panic!("no scalars.pq\n{stderr}"));
        let texts = read_texts(&scalars);
        assert_eq!(texts.len(), files.len(), "{texts:?}\n{stderr}");
        texts.into_values().collect()
    }
}

/// `text` of every row of a `scalars.pq`, by sort index.
fn read_texts(path: &Path) -> BTreeMap<u64, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    let mut rows = BTreeMap::new();
    for batch in reader {
        let batch = batch.unwrap();
        let index = arrow::compute::cast(batch.column_by_name("sort_index").unwrap(), &DataType::UInt64).unwrap();
        let index = index.as_primitive::<arrow::datatypes::UInt64Type>();
        let text = batch.column_by_name("text").unwrap().as_string::<i32>();
        for row in 0..batch.num_rows() {
            rows.insert(index.value(row), text.value(row).to_owned());
        }
    }
    rows
}

fn find_file(root: &Path, name: &str) -> Option<PathBuf> {
    files_below(root).into_iter().find(|path| path.file_name().is_some_and(|n| n == name))
}

#[test]
fn two_servers_on_one_host_serving_one_path_are_two_entries() {
    let boston = HttpServer::start(&[("/artifacts/boston.epw", "served on the first port")]);
    let other = HttpServer::start(&[("/artifacts/boston.epw", "the second server's file")]);
    let mut bench = Bench::new();
    let first = bench.run(&[boston.url("/artifacts/boston.epw")], &[]);
    assert_eq!(first, ["served on the first port"]);
    let second = bench.run(&[other.url("/artifacts/boston.epw")], &[]);
    assert_eq!(second, ["the second server's file"], "the second run got the first server's file");
    let both = bench.run(&[boston.url("/artifacts/boston.epw"), other.url("/artifacts/boston.epw")], &[]);
    assert_eq!(both, ["served on the first port", "the second server's file"]);
}

#[test]
fn one_url_with_two_query_strings_is_two_entries() {
    let server = HttpServer::start(&[("/w.csv?token=alpha", "signed for alpha"), ("/w.csv?token=beta", "beta!")]);
    let mut bench = Bench::new();
    let texts = bench.run(&[server.url("/w.csv?token=alpha"), server.url("/w.csv?token=beta")], &[]);
    assert_eq!(texts, ["signed for alpha", "beta!"]);
    for path in files_below(&bench.cache()) {
        let text = format!("{} {}", path.display(), std::fs::read_to_string(&path).unwrap_or_default());
        assert!(!text.contains("alpha") || text.contains("signed for alpha"), "the query leaked into {text}");
        assert!(!path.display().to_string().contains("token"), "{}", path.display());
    }
}

#[test]
fn an_unchanged_file_is_revalidated_not_downloaded_again() {
    let server = HttpServer::start(&[("/weather/oslo.csv", "hour,t\n0,-3\n")]);
    let mut bench = Bench::new();
    let url = server.url("/weather/oslo.csv");
    assert_eq!(bench.run(&[url.clone(), url.clone()], &[]), ["hour,t\n0,-3\n"; 2]);
    assert_eq!(server.hits.counts(), (1, 1, 0), "one request for two specs of one run");
    assert_eq!(bench.run(std::slice::from_ref(&url), &[]), ["hour,t\n0,-3\n"]);
    assert_eq!(server.hits.counts(), (2, 1, 1), "the second run revalidated (304) and downloaded nothing");
    server.files.lock().unwrap().insert("/weather/oslo.csv".to_owned(), "hour,t\n0,-4\n".to_owned());
    assert_eq!(bench.run(std::slice::from_ref(&url), &[]), ["hour,t\n0,-4\n"], "a changed file is fetched again");
    assert_eq!(server.hits.counts(), (3, 2, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_overwritten_on_s3_is_fetched_again() {
    let mut bench = Bench::new();
    let server = S3Server::start(&bench.dir.path().join("s3")).await;
    server.create_bucket("inputs");
    let store = server.store("inputs", "");
    let env = [
        ("AWS_ENDPOINT", server.endpoint()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
    ];
    let uri = "s3://inputs/weather/boston.epw".to_owned();
    let copies = |bench: &Bench| files_below(&bench.cache()).into_iter().filter(|p| p.ends_with("boston.epw")).count();
    // The child process runs while this runtime's other threads serve S3.
    let run = move |bench: Bench| {
        let (uri, env) = (uri.clone(), env.clone());
        tokio::task::spawn_blocking(move || {
            let mut bench = bench;
            let texts = bench.run(&[uri], &env);
            (bench, texts)
        })
    };

    store.put("weather/boston.epw", "version 1").await.unwrap();
    let (b, texts) = run(bench).await.unwrap();
    bench = b;
    assert_eq!(texts, ["version 1"]);
    // Same length, other bytes: only the ETag tells them apart.
    store.put("weather/boston.epw", "version 2").await.unwrap();
    let (b, texts) = run(bench).await.unwrap();
    bench = b;
    assert_eq!(texts, ["version 2"], "the overwritten object was served from the cache");
    let after_overwrite = copies(&bench);
    let (b, texts) = run(bench).await.unwrap();
    bench = b;
    assert_eq!(texts, ["version 2"]);
    assert_eq!(copies(&bench), after_overwrite, "an unchanged object is not downloaded again");
}
