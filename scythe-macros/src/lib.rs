//! The `#[scythe::experiment]` attribute macro.
//!
//! Use it through the `scythe` crate, which re-exports it; this crate is an implementation
//! detail. The attribute goes on a plain `fn` or `async fn` that takes **one input struct** by
//! value, optionally followed by `ctx: &scythe::TaskContext`, and returns **the output struct**
//! or a `Result` of it (`anyhow::Result<Out>`, `Result<Out, MyError>`, `std::io::Result<Out>`,
//! ...). Both structs derive `Serialize`, `Deserialize` and `JsonSchema`.
//!
//! ```
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct BuildingInput {
//!     floor_area: f64,
//! }
//!
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct BuildingOutput {
//!     energy_kwh: f64,
//! }
//!
//! /// Simulates one building.
//! #[scythe::experiment(retries = 2, timeout = "10m")]
//! async fn simulate(input: BuildingInput, ctx: &scythe::TaskContext) -> anyhow::Result<BuildingOutput> {
//!     let _scratch = ctx.scratch_dir()?;
//!     Ok(BuildingOutput { energy_kwh: 42.0 * input.floor_area })
//! }
//!
//! // `simulate` is still an ordinary function ...
//! # let _ = simulate;
//! // ... and `simulate` is also a type that implements `scythe::Experiment`:
//! use scythe::Experiment;
//! assert_eq!(<simulate as Experiment>::CONFIG.name, "simulate");
//! assert_eq!(<simulate as Experiment>::CONFIG.description, "Simulates one building.");
//! assert_eq!(<simulate as Experiment>::CONFIG.retries, 2);
//! ```
//!
//! # What it generates
//!
//! Next to the function, which it leaves untouched (still callable and unit-testable), the
//! attribute generates about twenty lines:
//!
//! - a **proxy type** with the function's name and visibility, `struct simulate {}` (a braced
//!   struct lives only in the type namespace, so it does not clash with the function); pass it
//!   where Scythe expects an experiment, e.g. `App::new().experiment::<simulate>()`. As the
//!   proxy names the input and output types, a `pub fn` needs `pub` input and output types;
//! - one `impl scythe::Experiment for simulate`, whose `Input` and `Output` are the function's
//!   input and output types, whose `CONFIG` holds the options below, and whose `run` calls the
//!   function (awaiting it if it is `async`, turning its error into a `scythe::TaskError`).
//!
//! # Options
//!
//! All options are optional; each may appear once.
//!
//! | Option | Value | Default |
//! |---|---|---|
//! | [`name`](#name) | string matching `^[a-zA-Z0-9_.-]+$` | the function's name |
//! | [`description`](#description) | string | the doc comment's lines, trimmed and joined with a space |
//! | [`retries`](#retries) | whole number (`u32`) | `0` |
//! | [`timeout`](#timeout-and-schedule_timeout) | duration string | `"1h"` |
//! | [`schedule_timeout`](#timeout-and-schedule_timeout) | duration string | `"1d"` |
//! | [`high_memory`, `high_cpu`, `has_gpu`](#high_memory-high_cpu-has_gpu) | flag, or `= true` / `= false` | `false` |
//! | [`batch`](#batch) | whole number, at least 1 | chosen by Scythe |
//! | [`concurrency`](#concurrency) | whole number, at least 1 | no limit |
//! | [`cache_version`](#cache_version) | string | `""` |
//! | [`crate`](#crate) | path string | `"::scythe"` |
//!
//! ## `name`
//!
//! The experiment's name: its run folder and its task name. ASCII letters, digits, `_`, `.` and
//! `-` only; this is checked at compile time.
//!
//! ```
//! # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct In {}
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct Out {}
//! #[scythe::experiment(name = "building-energy.v2")]
//! fn simulate(input: In) -> Out {
//!     Out {}
//! }
//! # use scythe::Experiment;
//! # assert_eq!(<simulate as Experiment>::CONFIG.name, "building-energy.v2");
//! ```
//!
//! ## `description`
//!
//! A human description. Without it, the function's doc comment is used.
//!
//! ```
//! # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct In {}
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct Out {}
//! #[scythe::experiment(description = "Annual energy use of one building.")]
//! fn simulate(input: In) -> Out {
//!     Out {}
//! }
//! # use scythe::Experiment;
//! # assert_eq!(<simulate as Experiment>::CONFIG.description, "Annual energy use of one building.");
//! ```
//!
//! ## `retries`
//!
//! Extra attempts after a failed one. A `scythe::TaskError::permanent` error is not retried.
//!
//! ```
//! # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct In {}
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct Out {}
//! #[scythe::experiment(retries = 3)]
//! fn simulate(input: In) -> Out {
//!     Out {}
//! }
//! # use scythe::Experiment;
//! # assert_eq!(<simulate as Experiment>::CONFIG.retries, 3);
//! ```
//!
//! ## `timeout` and `schedule_timeout`
//!
//! `timeout` is the longest one attempt may run; `schedule_timeout` the longest a task may wait
//! in the queue before it starts. Both are durations, read at compile time by
//! [`humantime`](https://docs.rs/humantime/latest/humantime/fn.parse_duration.html): numbers
//! (fractions allowed), each followed by a unit, optionally separated by spaces, such as
//! `"500ms"`, `"90s"`, `"10min"`, `"1h30m"`, `"1.5h"` or `"2 days"`. Units: `ms`, `s` (`sec`),
//! `m` (`min`), `h` (`hours`), `d` (`days`), `w` (`weeks`), and `us`, `ns`, `M` (months of
//! 30.44 days), `y` (years of 365.25 days). Zero is an error, as is a number without a unit
//! (`"1h30"`).
//!
//! ```
//! # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct In {}
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct Out {}
//! #[scythe::experiment(timeout = "1h30m", schedule_timeout = "2d")]
//! fn simulate(input: In) -> Out {
//!     Out {}
//! }
//! # use scythe::Experiment; use std::time::Duration;
//! # assert_eq!(<simulate as Experiment>::CONFIG.timeout, Duration::from_secs(90 * 60));
//! # assert_eq!(<simulate as Experiment>::CONFIG.schedule_timeout, Duration::from_secs(2 * 86_400));
//! ```
//!
//! ## `high_memory`, `high_cpu`, `has_gpu`
//!
//! Worker capabilities the task needs; only workers that declare them run it. Write the bare
//! flag, or `= true` / `= false`.
//!
//! ```
//! # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct In {}
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct Out {}
//! #[scythe::experiment(has_gpu, high_memory = true, high_cpu = false)]
//! fn simulate(input: In) -> Out {
//!     Out {}
//! }
//! # use scythe::Experiment;
//! # let labels = <simulate as Experiment>::CONFIG.labels;
//! # assert!(labels.has_gpu && labels.high_memory && !labels.high_cpu);
//! ```
//!
//! ## `batch`
//!
//! How many specs one distributed task runs. Without it, Scythe chooses.
//!
//! ```
//! # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct In {}
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct Out {}
//! #[scythe::experiment(batch = 16)]
//! fn simulate(input: In) -> Out {
//!     Out {}
//! }
//! # use scythe::Experiment;
//! # assert_eq!(<simulate as Experiment>::CONFIG.batch, Some(16));
//! ```
//!
//! ## `concurrency`
//!
//! At most how many specs of this experiment run at once across all workers on the distributed
//! engine, for instance when each one needs a seat of a licensed solver. The engine enforces the
//! limit, whatever the number of workers. Without it, there is no limit. The embedded engine
//! ignores it: it runs on one machine, as many specs at once as `--workers` allows.
//!
//! ```
//! # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct In {}
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct Out {}
//! #[scythe::experiment(concurrency = 4)]
//! fn simulate(input: In) -> Out {
//!     Out {}
//! }
//! # use scythe::Experiment;
//! # assert_eq!(<simulate as Experiment>::CONFIG.concurrency, Some(4));
//! ```
//!
//! ## `cache_version`
//!
//! Part of the experiment's **code fingerprint**, which keys the result cache (a re-run reuses
//! the result of a spec whose input, code and output schema are unchanged). The attribute
//! computes the fingerprint at compile time from:
//!
//! - the annotated function's tokens: its signature, body and attributes, doc comments
//!   included. Whitespace and `//` comments are not tokens and do not count;
//! - `cache_version`, which you bump when code the function *calls* changes (a helper, a model
//!   in another module or crate, a constant defined elsewhere): the attribute cannot see it;
//! - the `CARGO_PKG_VERSION` of the crate that defines the function.
//!
//! Other options (`retries`, `timeout`, ...) are not part of it. Changes of the input and
//! output types show in the cache key through the spec row and the output schema.
//!
//! ```
//! # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct In {}
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct Out {}
//! #[scythe::experiment(cache_version = "2")]
//! fn simulate(input: In) -> Out {
//!     Out {}
//! }
//! # use scythe::Experiment;
//! # let fingerprint = <simulate as Experiment>::CONFIG.fingerprint.expect("set by the attribute");
//! # assert_eq!(fingerprint.cache_version, "2");
//! # assert_eq!(fingerprint.function.len(), 64);
//! ```
//!
//! ## `crate`
//!
//! The path of the `scythe` crate, for code that renames it or reaches it through a re-export.
//! Generated code names only `<crate>::__private::*`.
//!
//! ```
//! # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct In {}
//! # #[derive(Serialize, Deserialize, JsonSchema)] struct Out {}
//! use scythe as sc;
//!
//! #[sc::experiment(crate = "sc")]
//! fn simulate(input: In) -> Out {
//!     Out {}
//! }
//! # use sc::Experiment;
//! # assert_eq!(<simulate as Experiment>::CONFIG.name, "simulate");
//! ```
//!
//! # Errors
//!
//! Every mistake is reported at once, each on the token at fault: unknown or duplicate options,
//! values of the wrong kind, invalid names and durations, a missing or second input, a context
//! not taken as `&TaskContext`, `self`, generics, `unsafe`, `extern` or variadic functions, and
//! return types that are not a struct (`()`, tuples, references, `impl Trait`, primitives). The
//! function is still emitted, with a stand-in proxy type, so editors keep working and code that
//! names the experiment (`App::new().experiment::<simulate>()`) adds no error of its own.
//!
//! rustc checks the types: an input or output type without the derives gets one error on that
//! type, and an error type that is not a `std::error::Error + Send + Sync + 'static` gets one on
//! the error type, saying what to return.

mod codegen;
mod duration;
mod errors;
mod exports;
mod model;
mod parse;

use proc_macro::TokenStream;

/// Turns a function from one input struct to one output struct into a Scythe experiment.
///
/// See the [crate documentation](crate) for the options and what is generated.
#[proc_macro_attribute]
pub fn experiment(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args.into(), item.into()).into()
}

/// The user's item, unchanged, followed by the generated code, or by every error and a dummy
/// proxy type (so that only the real errors show, as tokio's and clap's macros do).
fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let generated = match parse::experiment(args, item.clone()) {
        Ok(experiment) => codegen::expand(&experiment),
        Err(rejected) => {
            let errors = rejected.errors.to_compile_error();
            let dummy = rejected.dummy.as_deref().map(codegen::dummy);
            quote::quote!(#errors #dummy)
        }
    };
    quote::quote!(#item #generated)
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    #[test]
    fn on_error_emits_the_function_unchanged_and_every_error() {
        let item = quote! {
            /// Docs.
            fn simulate(a: A, b: B) -> f64 { 1.0 }
        };
        let output = expand(quote!(retry = 2), item.clone()).to_string();
        assert!(output.starts_with(&item.to_string()), "{output}");
        assert_eq!(output.matches("compile_error").count(), 3, "{output}");
        // A dummy proxy, so that `App::experiment::<simulate>()` adds no error of its own.
        assert!(output.contains("struct simulate { }"), "{output}");
        assert!(output.contains("impl :: scythe :: __private :: Experiment for simulate"), "{output}");
        assert!(output.contains("type Input = ()"), "{output}");
    }

    #[test]
    fn on_error_on_an_item_that_is_not_a_function_emits_no_dummy() {
        let item = quote!(
            struct Simulate;
        );
        let output = expand(quote!(), item.clone()).to_string();
        assert!(output.starts_with(&item.to_string()), "{output}");
        assert_eq!(output.matches("compile_error").count(), 1, "{output}");
        assert!(!output.contains("impl"), "{output}");
    }

    #[test]
    fn on_success_emits_the_function_unchanged_first() {
        let item = quote!(
            fn simulate(input: In) -> Out {
                todo!()
            }
        );
        let output = expand(quote!(), item.clone()).to_string();
        assert!(output.starts_with(&item.to_string()), "{output}");
        assert!(output.contains("impl :: scythe :: __private :: Experiment for simulate"), "{output}");
    }
}
