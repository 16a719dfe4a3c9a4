use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
struct Input {
    x: f64,
}

#[derive(Serialize, Deserialize)]
struct Output {
    y: f64,
}

#[scythe::experiment]
async fn simulate(input: Input) -> anyhow::Result<Output> {
    Ok(Output { y: input.x })
}

fn main() {
    let _ = scythe::App::new().experiment::<simulate>();
}
