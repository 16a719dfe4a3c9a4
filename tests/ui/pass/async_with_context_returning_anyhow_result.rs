use schemars::JsonSchema;
use scythe::{Experiment, TaskContext};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
struct BuildingInput {
    floor_area: f64,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
struct BuildingOutput {
    energy_kwh: f64,
    attempt: u32,
}

/// Simulates one building.
///
/// Takes a while.
#[scythe::experiment(retries = 2, timeout = "10m")]
async fn simulate(input: BuildingInput, ctx: &scythe::TaskContext) -> anyhow::Result<BuildingOutput> {
    anyhow::ensure!(input.floor_area > 0.0, "floor area must be positive");
    Ok(BuildingOutput { energy_kwh: 2.0 * input.floor_area, attempt: ctx.attempt() })
}

fn main() {
    assert_eq!(simulate::CONFIG.name, "simulate");
    assert_eq!(simulate::CONFIG.description, "Simulates one building. Takes a while.");
    assert_eq!(simulate::CONFIG.retries, 2);
    assert_eq!(simulate::CONFIG.timeout, std::time::Duration::from_secs(600));

    let ctx = TaskContext::new("simulate/v0.1.0/test", 0, 1, std::env::temp_dir());
    let output = futures::executor::block_on(simulate::run(BuildingInput { floor_area: 10.0 }, &ctx));
    assert_eq!(output, Ok(BuildingOutput { energy_kwh: 20.0, attempt: 1 }));

    let error = futures::executor::block_on(simulate::run(BuildingInput { floor_area: -1.0 }, &ctx)).unwrap_err();
    assert_eq!(error.message(), "floor area must be positive");
}
