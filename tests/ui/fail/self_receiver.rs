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

struct Simulator;

impl Simulator {
    #[scythe::experiment]
    fn simulate(&self, input: Input) -> Output {
        Output { y: input.x }
    }
}

fn main() {}
