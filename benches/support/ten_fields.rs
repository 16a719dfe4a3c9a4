//! The 10-field experiment of the design benchmark (`benches/design.rs`): seven bounded
//! numbers, an integer, an enum and a bool, every one drawn by a design from the schema alone.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A made-up building, in ten fields.
#[derive(Serialize, Deserialize, JsonSchema)]
pub(crate) struct TenInput {
    /// Wall insulation, m²K/W.
    #[schemars(range(min = 0.5, max = 10.0))]
    r_wall: f64,
    /// Roof insulation, m²K/W.
    #[schemars(range(min = 1.0, max = 12.0))]
    r_roof: f64,
    /// Window U-value, W/m²K.
    #[schemars(range(min = 0.6, max = 5.8))]
    u_window: f64,
    /// Window-to-wall ratio.
    #[schemars(range(min = 0.05, max = 0.9))]
    window_ratio: f64,
    /// Air changes per hour.
    #[schemars(range(min = 0.1, max = 3.0))]
    infiltration: f64,
    /// Heating set point, °C.
    #[schemars(range(min = 16.0, max = 23.0))]
    setpoint: f64,
    /// Internal gains, W/m².
    #[schemars(range(min = 0.0, max = 30.0))]
    gains: f64,
    /// Floor area, m².
    #[schemars(range(min = 40, max = 2000))]
    floor_area: u32,
    /// Orientation of the main facade.
    facing: Facing,
    /// Whether there is heat recovery on the ventilation.
    heat_recovery: bool,
}

/// A compass direction.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Facing {
    /// North.
    North,
    /// East.
    East,
    /// South.
    South,
    /// West.
    West,
}

/// The output of `ten`.
#[derive(Serialize, Deserialize, JsonSchema)]
pub(crate) struct TenOutput {
    /// Heat loss coefficient, W/K (made up).
    loss: f64,
}

/// A made-up heat loss: the benchmark only designs specs, it never runs them.
#[scythe::experiment]
pub(crate) fn ten(input: TenInput) -> TenOutput {
    let recovery = if input.heat_recovery { 0.7 } else { 1.0 };
    let facing = match input.facing {
        Facing::North => 1.1,
        Facing::East | Facing::West => 1.0,
        Facing::South => 0.9,
    };
    let area = f64::from(input.floor_area);
    let envelope = area / input.r_wall + area / input.r_roof + input.window_ratio * area * input.u_window;
    let loss = facing * envelope + recovery * input.infiltration * area + input.setpoint - input.gains;
    TenOutput { loss }
}
