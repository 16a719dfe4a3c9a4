//! `cargo run --release -p building-energy -- scatter simulate --sample 4000`
//!
//! Every Scythe command works here: `runs`, `status`, `results`, `resume`, `schema`.

use building_energy::experiment::{sample, simulate};

fn main() -> std::process::ExitCode {
    scythe::App::new().experiment::<simulate>().sampler::<simulate>(sample).run()
}
