//! An experiment that misbehaves on purpose, for the fault tests (`tests/faults.rs`, `tests/lifecycle.rs`): each spec
//! says what its attempt does — succeed, fail, panic, abort the process, exit, or sleep.
//!
//! `cargo run --example faults -- scatter faulty --specs specs.csv` with columns `x,mode`.
//! Experiment `escape` (columns `naming,target`) returns an output file inside its scratch
//! folder or one trying to leave it, for the output confinement tests.

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

/// How [`escape`] names its output file.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Naming {
    /// A file written in the scratch folder.
    Inside,
    /// `target` as it is (an absolute path, a relative path or a URI).
    AsIs,
    /// `<scratch>/../../…/<target>`: climbs out of the scratch folder.
    DotDot,
    /// A symlink in the scratch folder pointing at `target`.
    Symlink,
}

/// One output-file spec.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct EscapeInput {
    /// How the output file is named.
    naming: Naming,
    /// The path or URI the naming uses.
    target: String,
}

/// One output file.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct EscapeOutput {
    /// The file the spec asked for.
    file: scythe::FileRef,
}

/// Returns an output file named as the spec says, inside the scratch folder or trying to leave
/// it (for the output confinement tests).
#[scythe::experiment(retries = 1)]
fn escape(input: EscapeInput, ctx: &scythe::TaskContext) -> anyhow::Result<EscapeOutput> {
    let scratch = ctx.scratch_dir()?;
    let path = match input.naming {
        Naming::Inside => {
            let path = scratch.join("out.txt");
            std::fs::write(&path, "inside")?;
            path
        }
        Naming::AsIs => return Ok(EscapeOutput { file: input.target.into() }),
        Naming::DotDot => {
            let climb = "../".repeat(scratch.components().count());
            scratch.join(climb).join(input.target.trim_start_matches('/'))
        }
        Naming::Symlink => {
            let link = scratch.join("link.txt");
            std::os::unix::fs::symlink(&input.target, &link)?;
            link
        }
    };
    Ok(EscapeOutput { file: path.into() })
}

fn main() -> std::process::ExitCode {
    scythe::App::new().experiment::<faulty>().experiment::<escape>().run()
}
