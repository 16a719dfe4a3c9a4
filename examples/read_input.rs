//! An experiment that reads its input file, for the worker cache tests (`tests/cache.rs`).
//!
//! `cargo run --example read_input -- scatter read_input --specs specs.csv` with a column `file`
//! holding paths or `http(s)://`, `s3://`, `gs://` or `az://` URIs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One spec: the file to read.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct ReadInput {
    /// The input file.
    file: scythe::FileRef,
}

/// One result: what the task read.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct ReadOutput {
    /// The file's text.
    text: String,
}

/// Returns the text of the input file, as the worker cache handed it to the task.
#[scythe::experiment]
fn read_input(input: ReadInput) -> anyhow::Result<ReadOutput> {
    let path = input.file.path().ok_or_else(|| anyhow::anyhow!("the input file was not made local"))?;
    Ok(ReadOutput { text: std::fs::read_to_string(path)? })
}

fn main() -> std::process::ExitCode {
    scythe::App::new().experiment::<read_input>().run()
}
