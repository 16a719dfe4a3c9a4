//! The smallest Scythe experiment: `cargo run -p quickstart -- scatter distance --design grid
//! --points 10` (a 10 × 10 grid over the square the schema's bounds give), `--design sobol -n
//! 1024` or any other built-in design, or your own specs: `cargo run -p quickstart -- scatter
//! distance --specs points.csv` (columns `x,y`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A point in the plane.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Point {
    /// Horizontal coordinate.
    #[schemars(range(min = -10.0, max = 10.0))]
    x: f64,
    /// Vertical coordinate.
    #[schemars(range(min = -10.0, max = 10.0))]
    y: f64,
}

/// How far the point is from the origin.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Distance {
    /// Euclidean distance to the origin.
    distance: f64,
    /// Angle from the x axis, degrees.
    angle_deg: f64,
}

/// Measures a point.
#[scythe::experiment]
fn distance(point: Point) -> Distance {
    Distance { distance: point.x.hypot(point.y), angle_deg: point.y.atan2(point.x).to_degrees() }
}

fn main() -> std::process::ExitCode {
    scythe::App::new().experiment::<distance>().run()
}
