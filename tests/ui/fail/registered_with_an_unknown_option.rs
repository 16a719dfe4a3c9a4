//! A rejected experiment still names a type, so registering it adds no error of its own.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
struct Input {
    x: f64,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Output {
    y: f64,
}

#[scythe::experiment(retry = 2)]
fn simulate(input: Input) -> Output {
    Output { y: input.x }
}

fn main() -> std::process::ExitCode {
    // The function is still there, so calling it adds no error either.
    let _ = simulate(Input { x: 1.0 });
    scythe::App::new().experiment::<simulate>().run()
}
