use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

struct Input {
    x: f64,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Output {
    y: f64,
}

#[scythe::experiment]
fn simulate(input: Input) -> Output {
    Output { y: input.x }
}

fn main() {
    let _ = scythe::App::new().experiment::<simulate>();
}
