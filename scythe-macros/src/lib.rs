//! The `#[scythe::experiment]` attribute macro.
//!
//! Use it through the `scythe` crate, which re-exports it: its reference, every option with its
//! type, default and an example, is on the page of `scythe::experiment` (the doc comment of
//! [`experiment`], kept in `src/experiment.md`). This crate is an implementation detail.
//!
//! The expansion goes parse → model → codegen: `parse` reads `syn` syntax and records every
//! mistake, `model` is the checked experiment as plain data, `codegen` turns it into tokens that
//! name only the paths listed in `exports`.

mod codegen;
mod duration;
mod errors;
mod exports;
mod model;
mod parse;

use proc_macro::TokenStream;

#[doc = include_str!("experiment.md")]
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
