//! `cargo run --release -p building-energy -- scatter simulate --sample 4000`
//!
//! `--sample N` runs the custom design of [`sample`] (Scythe's built-in Latin hypercube with
//! the setpoints repaired, climates cycled and a trace on one spec in ten), registered with
//! `App::sampler`; `--design METHOD` builds one from the schema instead. Every Scythe command
//! works here: `design`, `runs`, `status`, `results`, `resume`, `schema`.

use building_energy::experiment::{sample, simulate};

fn main() -> std::process::ExitCode {
    scythe::App::new().experiment::<simulate>().sampler::<simulate>(sample).run()
}
