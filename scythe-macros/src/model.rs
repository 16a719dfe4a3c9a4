//! The experiment as plain data: what [`parse`](crate::parse) produces and
//! [`codegen`](crate::codegen) turns into tokens.
//!
//! Types and names are kept as the user wrote them (with their spans, so errors point at the
//! user's code); everything else is already checked and defaulted.

use std::time::Duration;

use proc_macro2::Span;
use syn::{Ident, Type, Visibility};

/// One `#[scythe::experiment]` function, checked.
#[derive(Debug)]
pub(crate) struct Experiment {
    /// The function's visibility, given to the proxy type.
    pub(crate) vis: Visibility,
    /// The function's name, which is also the proxy type's name.
    pub(crate) ident: Ident,
    /// The input struct: the type of the first parameter.
    pub(crate) input: Type,
    /// The output struct: the return type, or the `T` of `Result<T, E>`.
    pub(crate) output: Type,
    /// How the proxy calls the function.
    pub(crate) call: Call,
    /// The values of `Experiment::CONFIG`.
    pub(crate) config: Config,
    /// SHA-256 (hex) of the function's tokens and the `cache_version` option: the compile-time
    /// part of the code fingerprint.
    pub(crate) fingerprint: String,
    /// The `crate = "..."` path that replaces `::scythe`.
    pub(crate) krate: Option<syn::Path>,
}

/// The shape of the function's signature.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    /// `async fn`: the call is awaited.
    pub(crate) is_async: bool,
    /// The function takes `ctx: &TaskContext` after its input.
    pub(crate) takes_context: bool,
    /// What the function returns.
    pub(crate) returns: Returns,
}

/// What the function returns.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Returns {
    /// The output struct itself.
    Output,
    /// `Result<Output, E>`.
    Result {
        /// Where an `E` that is not an error type is reported: `E` itself, or the `Result`
        /// when the error type is implied (`anyhow::Result<Output>`).
        error_span: Span,
    },
}

/// The experiment's settings; `None` keeps the runtime default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// Experiment name, matching `^[a-zA-Z0-9_.-]+$`.
    pub(crate) name: String,
    /// Human description.
    pub(crate) description: String,
    /// Extra attempts after a failed one.
    pub(crate) retries: Option<u32>,
    /// Longest time one attempt may run; never zero.
    pub(crate) timeout: Option<Duration>,
    /// Longest time a task may wait in the queue; never zero.
    pub(crate) schedule_timeout: Option<Duration>,
    /// Worker capabilities, if any label option was given.
    pub(crate) labels: Option<Labels>,
    /// Specs per distributed task; at least 1.
    pub(crate) batch: Option<u32>,
    /// Specs of the experiment running at once across all workers; at least 1.
    pub(crate) concurrency: Option<u32>,
    /// `cache_version = "..."`: bumped by the user to invalidate cached results.
    pub(crate) cache_version: Option<String>,
}

/// Worker capabilities the experiment needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Labels {
    /// `high_memory`.
    pub(crate) high_memory: bool,
    /// `high_cpu`.
    pub(crate) high_cpu: bool,
    /// `has_gpu`.
    pub(crate) has_gpu: bool,
}

/// What is left of a function the attribute rejected: enough for a stand-in proxy type, so that
/// code naming the experiment still compiles and only the real errors show.
#[derive(Debug)]
pub(crate) struct Dummy {
    /// The function's visibility.
    pub(crate) vis: Visibility,
    /// The function's name.
    pub(crate) ident: Ident,
    /// The `crate = "..."` path, if it was read.
    pub(crate) krate: Option<syn::Path>,
}
