//! A signature the attribute rejects still leaves a type, so registering it adds no error.
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

#[scythe::experiment]
fn simulate(input: &Input) -> Output {
    Output { y: input.x }
}

fn main() -> std::process::ExitCode {
    scythe::App::new().experiment::<simulate>().run()
}
