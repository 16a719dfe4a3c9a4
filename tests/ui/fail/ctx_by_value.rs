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
fn simulate(input: Input, ctx: scythe::TaskContext) -> Output {
    Output { y: input.x + ctx.attempt() as f64 }
}

fn main() {}
