//! `examples/counted.rs` with `cache_version = "2"` and nothing else changed (the function's
//! tokens are the same), for the result cache tests (`tests/reuse_remote.rs`): a new cache
//! version runs every spec again. Like `counted`, every attempt appends its `x` to the file
//! named by `COUNTED_LOG`.
//!
//! `cargo run --example counted_recached -- scatter counted --specs specs.csv` with columns
//! `x,file,fail`.

use std::io::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One spec.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct CountedInput {
    /// Any number.
    x: f64,
    /// A text file; its length is part of the output.
    file: scythe::FileRef,
    /// Fail unless `COUNTED_FIXED=1`: a bug the researcher fixes before running again.
    fail: bool,
}

/// One result.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct CountedOutput {
    /// `2x`.
    y: f64,
    /// Bytes of the input file.
    file_bytes: u64,
}

/// Appends `x` to `COUNTED_LOG`, then returns `2x` and the size of the file.
#[scythe::experiment(cache_version = "2")]
fn counted(input: CountedInput) -> anyhow::Result<CountedOutput> {
    if let Some(log) = std::env::var_os("COUNTED_LOG") {
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        // One write per line: O_APPEND keeps concurrent lines whole.
        log.write_all(format!("{}\n", input.x).as_bytes())?;
    }
    if input.fail && std::env::var("COUNTED_FIXED").as_deref() != Ok("1") {
        anyhow::bail!("not fixed yet (x = {})", input.x);
    }
    let path = input.file.path().ok_or_else(|| anyhow::anyhow!("the input file was not made local"))?;
    Ok(CountedOutput { y: 2.0 * input.x, file_bytes: std::fs::metadata(path)?.len() })
}

fn main() -> std::process::ExitCode {
    scythe::App::new().experiment::<counted>().run()
}
