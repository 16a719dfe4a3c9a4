//! The smallest Scythe experiment: `cargo run -p quickstart -- scatter distance --sample 100`,
//! or with your own specs: `cargo run -p quickstart -- scatter distance --specs points.csv`
//! (columns `x,y`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A point in the plane.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Point {
    /// Horizontal coordinate.
    x: f64,
    /// Vertical coordinate.
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
    scythe::App::new()
        .experiment::<distance>()
        .sampler::<distance>(|n, _seed| (0..n).map(|i| Point { x: (i % 10) as f64, y: (i / 10) as f64 }).collect())
        .run()
}
