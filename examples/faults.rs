//! An experiment that misbehaves on purpose, for the fault tests (`tests/faults.rs`, `tests/lifecycle.rs`): each spec
//! says what its attempt does — succeed, fail, panic, abort the process, exit, or sleep.
//!
//! `cargo run --example faults -- scatter faulty --specs specs.csv` with columns `x,mode`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What an attempt does.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    /// Return `y = 2x`.
    Ok,
    /// Return an error (retryable).
    Fail,
    /// Panic.
    Panic,
    /// Kill the whole process with `std::process::abort()`.
    Abort,
    /// End the whole process with `std::process::exit(7)`.
    Exit,
    /// Sleep for `x` seconds, then return.
    Sleep,
    /// Fail (retryable) unless `SCYTHE_FAULTS_FIXED=1`: a bug the researcher fixes before
    /// `resume --retry-failed`.
    FailUnlessFixed,
}

/// One spec.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct FaultInput {
    /// Any number.
    x: f64,
    /// What the attempt does.
    mode: Mode,
}

/// One result.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct FaultOutput {
    /// `2x`.
    y: f64,
}

/// Does what the spec's `mode` says.
#[scythe::experiment(retries = 1, timeout = "1m")]
fn faulty(input: FaultInput) -> anyhow::Result<FaultOutput> {
    match input.mode {
        Mode::Ok => {}
        Mode::Fail => anyhow::bail!("asked to fail (x = {})", input.x),
        Mode::Panic => panic!("asked to panic (x = {})", input.x),
        Mode::Abort => std::process::abort(),
        Mode::Exit => std::process::exit(7),
        Mode::Sleep => std::thread::sleep(std::time::Duration::from_secs_f64(input.x.max(0.0))),
        Mode::FailUnlessFixed => {
            if std::env::var("SCYTHE_FAULTS_FIXED").as_deref() != Ok("1") {
                anyhow::bail!("not fixed yet (x = {})", input.x);
            }
        }
    }
    Ok(FaultOutput { y: 2.0 * input.x })
}

fn main() -> std::process::ExitCode {
    scythe::App::new().experiment::<faulty>().run()
}
