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

#[derive(Serialize, Deserialize, JsonSchema)]
struct Weather {
    temperature: f64,
}

#[scythe::experiment]
fn simulate(input: Input, weather: Weather) -> Output {
    Output { y: input.x + weather.temperature }
}

fn main() {}
