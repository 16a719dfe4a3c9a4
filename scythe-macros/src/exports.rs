//! The one table of paths that generated code names.
//!
//! Generated code reaches Scythe only through `<root>::__private::<item>`, where `<root>` is
//! `::scythe` or the `crate = "..."` option. Every such item is listed in the `exports!` table
//! below, so the contract with the facade's `__private` module lives in exactly one place.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote};

/// The paths generated code uses, rooted at the facade crate.
pub(crate) struct Exports {
    /// `::scythe`, or the path given with `crate = "..."`.
    root: TokenStream,
}

impl Exports {
    /// Paths rooted at `root`, or at `::scythe` when there is no `crate = "..."` override.
    pub(crate) fn new(root: Option<&syn::Path>) -> Self {
        let root = match root {
            Some(path) => path.to_token_stream(),
            None => quote!(::scythe),
        };
        Self { root }
    }

    /// `<root>::__private::<item>`.
    fn private(&self, item: &str) -> TokenStream {
        let root = &self.root;
        let item = Ident::new(item, Span::call_site());
        quote!(#root::__private::#item)
    }
}

/// Declares one accessor of [`Exports`] per item of `<root>::__private`.
macro_rules! exports {
    ($($(#[doc = $doc:literal])* $method:ident => $item:ident,)*) => {
        impl Exports {
            $(
                $(#[doc = $doc])*
                pub(crate) fn $method(&self) -> TokenStream {
                    self.private(stringify!($item))
                }
            )*
        }

        /// Every item of `<root>::__private` that generated code may name.
        #[cfg(test)]
        pub(crate) const ALL: &[&str] = &[$(stringify!($item)),*];
    };
}

exports! {
    /// The trait the proxy type implements.
    experiment => Experiment,
    /// The type of `Experiment::CONFIG`.
    experiment_config => ExperimentConfig,
    /// Names the input and output types, so a type without the derives gets one error.
    data_type => DataType,
    /// The `labels` field of the config.
    worker_labels => WorkerLabels,
    /// The second argument of `Experiment::run`.
    task_context => TaskContext,
    /// The return type of `Experiment::run`.
    task_future => TaskFuture,
    /// Adapts a body that returns `Result<Output, E>`.
    fallible => fallible,
    /// Adapts a body that returns `Output`.
    infallible => infallible,
    /// `core::time::Duration`, for `timeout` and `schedule_timeout`.
    duration => Duration,
    /// `std::boxed::Box`, to pin the task future.
    boxed => Box,
    /// The `fingerprint` field of the config.
    code_fingerprint => CodeFingerprint,
    /// `core::env!`, to read the user's `CARGO_PKG_VERSION`.
    env => env,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_rooted_at_scythe_by_default() {
        let exports = Exports::new(None);
        assert_eq!(exports.experiment().to_string(), quote!(::scythe::__private::Experiment).to_string());
        assert_eq!(exports.fallible().to_string(), quote!(::scythe::__private::fallible).to_string());
    }

    #[test]
    fn crate_option_replaces_the_root() {
        let root: syn::Path = syn::parse_quote!(sc);
        let exports = Exports::new(Some(&root));
        assert_eq!(exports.boxed().to_string(), quote!(sc::__private::Box).to_string());
    }

    #[test]
    fn the_table_lists_the_private_module_exactly() {
        let expected = [
            "Experiment",
            "ExperimentConfig",
            "DataType",
            "WorkerLabels",
            "TaskContext",
            "TaskFuture",
            "fallible",
            "infallible",
            "Duration",
            "Box",
            "CodeFingerprint",
            "env",
        ];
        assert_eq!(ALL, expected);
    }
}
