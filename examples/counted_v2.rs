//! The `counted` experiment (`examples/counted.rs`) after a schema change, for the tests of
//! `diff` and of `scatter --version keep` (`tests/diff.rs`): `x` gains bounds (a tightened
//! constraint), `fail` is removed, `scale` (optional) is added, and the output gains `half`.
//!
//! `cargo run --example counted_v2 -- scatter counted --specs specs.csv` with columns `x,file`
//! (and optionally `scale`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One spec.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct CountedInput {
    /// A number from 0 to 100.
    #[schemars(range(min = 0.0, max = 100.0))]
    x: f64,
    /// A text file; its length is part of the output.
    file: scythe::FileRef,
    /// Multiplies `y` (default 1).
    scale: Option<f64>,
}

/// One result.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct CountedOutput {
    /// `2x · scale`.
    y: f64,
    /// Bytes of the input file.
    file_bytes: u64,
    /// `x / 2`.
    half: f64,
}

/// Returns `2x · scale`, the size of the file and `x / 2`.
#[scythe::experiment(name = "counted")]
fn counted_v2(input: CountedInput) -> anyhow::Result<CountedOutput> {
    let path = input.file.path().ok_or_else(|| anyhow::anyhow!("the input file was not made local"))?;
    Ok(CountedOutput {
        y: 2.0 * input.x * input.scale.unwrap_or(1.0),
        file_bytes: std::fs::metadata(path)?.len(),
        half: input.x / 2.0,
    })
}

fn main() -> std::process::ExitCode {
    scythe::App::new().experiment::<counted_v2>().run()
}
