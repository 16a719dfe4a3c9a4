use std::time::Duration;

use schemars::JsonSchema;
use scythe::Experiment;
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

impl std::fmt::Display for SimulationFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulation failed")
    }
}

impl std::error::Error for SimulationFailed {}

/// Ignored: `description` wins.
#[scythe::experiment(
    name = "building-energy.v2_b",
    description = "Annual energy use of one building.",
    retries = 5,
    timeout = "1h30m",
    schedule_timeout = "2d",
    high_memory,
    high_cpu = false,
    has_gpu = true,
    batch = 16,
    concurrency = 4,
    crate = "::scythe"
)]
fn simulate(input: Input, _ctx: &scythe::TaskContext) -> Result<Output, SimulationFailed> {
    Ok(Output { y: input.x })
}

fn main() {
    let config = <simulate as Experiment>::CONFIG;
    assert_eq!(config.name, "building-energy.v2_b");
    assert_eq!(config.description, "Annual energy use of one building.");
    assert_eq!(config.retries, 5);
    assert_eq!(config.timeout, Duration::from_secs(90 * 60));
    assert_eq!(config.schedule_timeout, Duration::from_secs(2 * 24 * 60 * 60));
    assert_eq!(config.labels, scythe::WorkerLabels { high_memory: true, high_cpu: false, has_gpu: true });
    assert_eq!(config.batch, Some(16));
    assert_eq!(config.concurrency, Some(4));
}
