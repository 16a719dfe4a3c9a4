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
fn simulate(input: Input) -> f64 {
    input.x
}

fn main() {}
