//! Reads the attribute's options and the annotated function into the [`model`](crate::model).
//!
//! Every check that looks at `syn` syntax lives here; each records a spanned error and parsing
//! goes on, so one expansion reports every mistake.

mod function;
mod options;

use proc_macro2::TokenStream;
use syn::ext::IdentExt;

use crate::errors::Errors;
use crate::model::{Config, Dummy, Experiment, Labels};

/// A function the attribute rejected.
#[derive(Debug)]
pub(crate) struct Rejected {
    /// Every error found, each spanned on the tokens at fault.
    pub(crate) errors: syn::Error,
    /// The stand-in for the proxy type, when the item is a free function.
    pub(crate) dummy: Option<Box<Dummy>>,
}

/// The experiment described by the attribute's `args` and the annotated `item`, or every error.
pub(crate) fn experiment(args: TokenStream, item: TokenStream) -> Result<Experiment, Rejected> {
    let mut errors = Errors::default();
    let options = options::parse(args, &mut errors);
    let item = match function::item_fn(item) {
        Ok(item) => item,
        Err(error) => {
            errors.push(error);
            return errors.finish(None).map_err(|errors| Rejected { errors, dummy: None });
        }
    };
    // A method (it takes `self`) sits in an `impl` block, where a struct cannot go.
    let is_method = item.sig.receiver().is_some();
    let dummy = (!is_method).then(|| {
        Box::new(Dummy { vis: item.vis.clone(), ident: item.sig.ident.clone(), krate: options.krate.clone() })
    });
    let function = function::parse(&item, &mut errors);
    let fingerprint = fingerprint(&item, options.cache_version.as_deref());
    let name = options.name.or_else(|| {
        let name = item.sig.ident.unraw().to_string();
        if is_valid_name(&name) {
            return Some(name);
        }
        errors.spanned(
            &item.sig.ident,
            format_args!(
                "the experiment name defaults to the function name, and `{name}` is not a valid \
                 name; set one with `name = \"...\"` (ASCII letters, digits, `_`, `.` and `-`)"
            ),
        );
        None
    });
    let labels = [options.high_memory, options.high_cpu, options.has_gpu].iter().any(Option::is_some).then(|| Labels {
        high_memory: options.high_memory.unwrap_or(false),
        high_cpu: options.high_cpu.unwrap_or(false),
        has_gpu: options.has_gpu.unwrap_or(false),
    });
    let experiment = function.zip(name).map(|(function, name)| Experiment {
        vis: function.vis,
        ident: function.ident,
        input: function.input,
        output: function.output,
        call: function.call,
        config: Config {
            name,
            description: options.description.unwrap_or(function.docs),
            retries: options.retries,
            timeout: options.timeout,
            schedule_timeout: options.schedule_timeout,
            labels,
            batch: options.batch,
            concurrency: options.concurrency,
            cache_version: options.cache_version,
        },
        fingerprint,
        krate: options.krate,
    });
    errors.finish(experiment).map_err(|errors| Rejected { errors, dummy })
}

/// SHA-256 (hex) of the function's tokens as text (spacing normalized, so whitespace and `//`
/// comments do not count), a NUL, and `cache_version`.
fn fingerprint(item: &syn::ItemFn, cache_version: Option<&str>) -> String {
    use std::fmt::Write as _;

    use quote::ToTokens;
    use sha2::{Digest, Sha256};

    let mut hasher = Sha256::new();
    hasher.update(item.to_token_stream().to_string().as_bytes());
    hasher.update([0]);
    hasher.update(cache_version.unwrap_or_default().as_bytes());
    hasher.finalize().iter().fold(String::with_capacity(64), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// Whether `name` matches `^[a-zA-Z0-9_.-]+$`.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use quote::quote;

    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        assert!(is_valid_name("simulate"));
        assert!(is_valid_name("Sim-2.v_3"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("a/b"));
        assert!(!is_valid_name("simulé"));
    }

    #[test]
    fn defaults_come_from_the_function() {
        let experiment = experiment(
            quote!(),
            quote! {
                #[doc = " Simulates one building."]
                #[doc = " Slowly."]
                fn r#simulate(input: In) -> Out {}
            },
        )
        .expect("expected success");
        assert_eq!(experiment.config.name, "simulate");
        assert_eq!(experiment.config.description, "Simulates one building. Slowly.");
        assert_eq!(
            experiment.config,
            Config {
                name: "simulate".into(),
                description: "Simulates one building. Slowly.".into(),
                retries: None,
                timeout: None,
                schedule_timeout: None,
                labels: None,
                batch: None,
                concurrency: None,
                cache_version: None,
            }
        );
        assert!(experiment.krate.is_none());
    }

    #[test]
    fn the_fingerprint_follows_tokens_and_cache_version_but_not_spacing() {
        let of = |args: TokenStream, item: TokenStream| experiment(args, item).expect("expected success").fingerprint;
        let base = of(
            quote!(),
            quote!(
                fn f(input: In) -> Out {
                    Out { y: input.x * 2.0 }
                }
            ),
        );
        assert_eq!(base.len(), 64);
        let spaced: TokenStream =
            "fn f(input: In)\n -> Out {\n // a comment\n Out { y: input.x * 2.0 }\n }".parse().expect("valid tokens");
        assert_eq!(of(quote!(), spaced), base);
        assert_ne!(
            of(
                quote!(),
                quote!(
                    fn f(input: In) -> Out {
                        Out { y: input.x * 3.0 }
                    }
                )
            ),
            base
        );
        assert_ne!(
            of(
                quote!(cache_version = "2"),
                quote!(
                    fn f(input: In) -> Out {
                        Out { y: input.x * 2.0 }
                    }
                )
            ),
            base
        );
        // Options other than `cache_version` (retries, timeouts) do not change the code.
        assert_eq!(
            of(
                quote!(retries = 3),
                quote!(
                    fn f(input: In) -> Out {
                        Out { y: input.x * 2.0 }
                    }
                )
            ),
            base
        );
    }

    #[test]
    fn options_override_the_defaults() {
        let experiment = experiment(
            quote!(name = "other", description = "Set.", timeout = "5s", has_gpu),
            quote! {
                /// Ignored.
                fn simulate(input: In) -> Out {}
            },
        )
        .expect("expected success");
        assert_eq!(experiment.config.name, "other");
        assert_eq!(experiment.config.description, "Set.");
        assert_eq!(experiment.config.timeout, Some(Duration::from_secs(5)));
        assert_eq!(experiment.config.labels, Some(Labels { has_gpu: true, ..Labels::default() }));
    }

    #[test]
    fn a_function_name_that_is_not_a_valid_name_needs_the_name_option() {
        let error = experiment(
            quote!(),
            quote!(
                fn simulé(input: In) -> Out {}
            ),
        )
        .expect_err("expected an error")
        .errors;
        assert!(error.to_string().starts_with("the experiment name defaults to the function name"));
        assert!(
            experiment(
                quote!(name = "simule"),
                quote!(
                    fn simulé(input: In) -> Out {}
                )
            )
            .is_ok()
        );
    }

    #[test]
    fn reports_option_and_signature_errors_together() {
        let error = experiment(
            quote!(retry = 1),
            quote!(
                fn f(a: A, b: B) -> f64 {}
            ),
        )
        .expect_err("expected an error");
        assert_eq!(error.errors.into_iter().count(), 3);
        assert_eq!(error.dummy.map(|dummy| dummy.ident.to_string()).as_deref(), Some("f"));
        let error = experiment(
            quote!(retry = 1),
            quote!(
                struct S;
            ),
        )
        .expect_err("expected an error");
        assert_eq!(error.errors.into_iter().count(), 2);
        assert!(error.dummy.is_none(), "a struct has no name to give a dummy");
    }
}
