//! The function is emitted unchanged next to its proxy type, and the two names do not clash.

use schemars::JsonSchema;
use scythe::{Experiment, TaskContext};
use serde::{Deserialize, Serialize};

mod experiments {
    use super::*;

    #[derive(Serialize, Deserialize, JsonSchema)]
    pub struct Input {
        pub x: f64,
    }

    #[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
    pub struct Output {
        pub y: f64,
    }

    /// Doubles `x`.
    #[scythe::experiment]
    pub fn double(input: Input) -> Output {
        Output { y: 2.0 * input.x }
    }

    /// Named like the generated code's locals: they must not shadow it.
    #[scythe::experiment]
    pub async fn input(input: Input, ctx: &TaskContext) -> std::io::Result<Output> {
        Ok(Output { y: input.x + f64::from(ctx.attempt()) })
    }
}

use experiments::{Input, Output, double, input};

fn takes_experiment<E: Experiment>(_: E) -> &'static str {
    E::CONFIG.name
}

fn main() {
    // The function: callable as written.
    assert_eq!(double(Input { x: 2.0 }), Output { y: 4.0 });
    // The proxy type: a unit-like value, `Copy`, `Debug`, `Default`, implementing `Experiment`.
    assert_eq!(takes_experiment(double {}), "double");
    assert_eq!(takes_experiment(input::default()), "input");
    assert_eq!(format!("{:?}", double {}), "double");
    assert_eq!(double::CONFIG.description, "Doubles `x`.");

    let ctx = TaskContext::new("input/v0.1.0/test", 0, 2, std::env::temp_dir());
    let output = futures::executor::block_on(input::run(Input { x: 1.0 }, &ctx));
    assert_eq!(output, Ok(Output { y: 3.0 }));
    let output = futures::executor::block_on(<double as Experiment>::run(Input { x: 1.0 }, &ctx));
    assert_eq!(output, Ok(Output { y: 2.0 }));
}
