//! The Ishigami function (Ishigami and Homma 1990), the usual test of sensitivity analysis:
//! `y = sin x1 + 7 sin² x2 + 0.1 x3⁴ sin x1` on `[−π, π]³`, with known Sobol' indices
//! `S1 ≈ (0.314, 0.442, 0)` and `ST ≈ (0.558, 0.442, 0.244)`.
//!
//! `cargo run --example ishigami -- scatter ishigami --design saltelli -n 1024`.
//! Experiment `mixed` has an integer, an enum, a bool, a nested struct, an `Option` and a
//! string, for the design tests (`tests/design.rs`) and the report's categorical inputs. Experiment `linear` has known Morris
//! effects, for the report tests (`tests/report.rs`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// `pub(crate)`: benches/report.rs includes this file as a module and runs `ishigami` in process.

/// The three inputs.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct IshigamiInput {
    /// First input.
    #[schemars(range(min = -std::f64::consts::PI, max = std::f64::consts::PI))]
    x1: f64,
    /// Second input.
    #[schemars(range(min = -std::f64::consts::PI, max = std::f64::consts::PI))]
    x2: f64,
    /// Third input.
    #[schemars(range(min = -std::f64::consts::PI, max = std::f64::consts::PI))]
    x3: f64,
}

/// The output.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct IshigamiOutput {
    /// The function's value.
    y: f64,
}

/// Evaluates the Ishigami function (a = 7, b = 0.1).
#[scythe::experiment]
pub(crate) fn ishigami(input: IshigamiInput) -> IshigamiOutput {
    let IshigamiInput { x1, x2, x3 } = input;
    IshigamiOutput { y: x1.sin() + 7.0 * x2.sin().powi(2) + 0.1 * x3.powi(4) * x1.sin() }
}

/// A material.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Material {
    /// Wood.
    Wood,
    /// Brick.
    Brick,
    /// Concrete.
    Concrete,
}

/// A roof (a top-level enum: the final tables keep top-level fields as columns).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Roof {
    /// Flat.
    Flat,
    /// Pitched.
    Pitched,
}

/// A wall.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Wall {
    /// Thermal resistance, m²K/W (exclusive lower bound).
    #[schemars(range(min = 0.5, max = 10.0))]
    r_value: f64,
    /// Its material.
    material: Material,
}

/// Every kind of field a design handles.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct MixedInput {
    /// Floors, 1 to 5.
    #[schemars(range(min = 1, max = 5))]
    floors: u32,
    /// Whether the building has a basement.
    basement: bool,
    /// The wall.
    wall: Wall,
    /// The roof.
    roof: Roof,
    /// An optional shading factor.
    shading: Option<f64>,
    /// A label (needs --set).
    label: String,
}

/// The output of `mixed`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct MixedOutput {
    /// A made-up score.
    score: f64,
}

/// Scores a building (nonsense, for the tests). It fails for a flat roof over a basement with
/// more than 3 floors, so the report's failure rates differ by category (`tests/report.rs`).
#[scythe::experiment]
fn mixed(input: MixedInput) -> anyhow::Result<MixedOutput> {
    let flat = matches!(input.roof, Roof::Flat);
    anyhow::ensure!(
        !(flat && input.basement && input.floors > 3),
        "no model for a tall flat-roofed building over a basement"
    );
    let basement = if input.basement { 1.0 } else { 0.0 };
    Ok(MixedOutput {
        score: f64::from(input.floors) * input.wall.r_value
            + basement
            + input.shading.unwrap_or(0.0)
            + f64::from(input.wall.material as u8),
    })
}

/// The inputs of `linear`, each on [0, 1].
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct LinearInput {
    /// Strongest input.
    #[schemars(range(min = 0.0, max = 1.0))]
    a: f64,
    /// Middle input (negative effect).
    #[schemars(range(min = 0.0, max = 1.0))]
    b: f64,
    /// Weakest input.
    #[schemars(range(min = 0.0, max = 1.0))]
    c: f64,
}

/// `linear`: `y = 4a − 2b + 0.5c`, whose Morris effects are exactly the coefficients
/// (μ* = 4, 2, 0.5; σ = 0), for the Morris test of `report` (`tests/report.rs`). It fails on
/// the corner `a = b = c = 1`, so some trajectories are dropped.
#[scythe::experiment]
fn linear(input: LinearInput) -> anyhow::Result<IshigamiOutput> {
    let LinearInput { a, b, c } = input;
    anyhow::ensure!(a.min(b).min(c) < 1.0, "the corner (1, 1, 1) is out of the model's domain");
    Ok(IshigamiOutput { y: 4.0 * a - 2.0 * b + 0.5 * c })
}

fn main() -> std::process::ExitCode {
    scythe::App::new().experiment::<ishigami>().experiment::<mixed>().experiment::<linear>().run()
}
