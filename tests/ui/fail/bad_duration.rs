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

#[scythe::experiment(timeout = "1h30")]
fn simulate(input: Input) -> Output {
    Output { y: input.x }
}

fn main() {}
