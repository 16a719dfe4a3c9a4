use schemars::JsonSchema;
use scythe::{Experiment, TaskContext};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
struct Number {
    value: i64,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
struct Squared {
    value: i64,
}

#[scythe::experiment]
fn square(input: Number) -> Squared {
    Squared { value: input.value * input.value }
}

fn main() {
    assert_eq!(square::CONFIG.name, "square");
    assert_eq!(square::CONFIG.description, "");
    assert_eq!(square::CONFIG.retries, scythe::ExperimentConfig::DEFAULT.retries);
    assert_eq!(square::CONFIG.timeout, scythe::ExperimentConfig::DEFAULT.timeout);

    let ctx = TaskContext::new("square/v0.1.0/test", 3, 0, std::env::temp_dir());
    let output = futures::executor::block_on(square::run(Number { value: 7 }, &ctx));
    assert_eq!(output, Ok(Squared { value: 49 }));
}
