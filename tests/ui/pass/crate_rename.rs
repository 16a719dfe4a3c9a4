use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod reexport {
    pub use scythe as sc;
}

use reexport::sc;

#[derive(Serialize, Deserialize, JsonSchema)]
struct Input {
    x: f64,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Output {
    y: f64,
}

#[sc::experiment(crate = "sc", retries = 1)]
fn simulate(input: Input, _ctx: &sc::TaskContext) -> Output {
    Output { y: input.x }
}

#[sc::experiment(crate = "crate::reexport::sc")]
fn simulate_again(input: Input) -> Output {
    Output { y: input.x }
}

fn main() {
    use sc::Experiment;
    assert_eq!(simulate::CONFIG.retries, 1);
    assert_eq!(simulate_again::CONFIG.name, "simulate_again");
}
