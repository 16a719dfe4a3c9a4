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

#[derive(Debug)]
struct SimulationFailed;

#[scythe::experiment]
fn simulate(input: Input) -> Result<Output, SimulationFailed> {
    Ok(Output { y: input.x })
}

fn main() {}
