//! Turns the [`model`](crate::model) into the proxy type and its `Experiment` impl.
//!
//! The expansion only calls generic runtime code: the body of `run` is one call of the user's
//! function, adapted by `fallible` or `infallible`.

use std::time::Duration;

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::exports::Exports;
use crate::model::{Config, Dummy, Experiment, Labels, Returns};

/// The proxy type and its `Experiment` impl.
///
/// The user's function is not part of this: it is emitted unchanged next to it.
pub(crate) fn expand(experiment: &Experiment) -> TokenStream {
    let exports = Exports::new(experiment.krate.as_ref());
    let Experiment { vis, ident, input, output, .. } = experiment;
    let trait_ = exports.experiment();
    let config_type = exports.experiment_config();
    let config = config(&exports, &experiment.config, &experiment.fingerprint);
    let input_type = data_type(&exports, quote!(Input), input);
    let output_type = data_type(&exports, quote!(Output), output);
    let run = run(&exports, experiment);
    let proxy = proxy(vis, ident);
    quote! {
        #proxy

        impl #trait_ for #ident {
            #input_type
            #output_type
            const CONFIG: #config_type = #config;
            #run
        }
    }
}

/// `struct simulate {}`: the proxy type, named and scoped like the function.
fn proxy(vis: &syn::Visibility, ident: &Ident) -> TokenStream {
    let doc = format!("The Scythe experiment of `fn {}`.", ident.unraw());
    quote! {
        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #ident {}
    }
}

/// `type Input = <ty as DataType>::Type;` (`ty` itself), every token spanned on `ty`.
///
/// Naming the type through a trait without supertraits makes rustc report a type without the
/// derives with `ExperimentData`'s message, on the type (`type Input = ty;` would report each
/// missing derive separately, as rustc checks a bound once per supertrait). The spans make
/// errors about the whole item (a private type in a public interface) point at `ty` as well.
fn data_type(exports: &Exports, name: TokenStream, ty: &syn::Type) -> TokenStream {
    let data_type = located_at(exports.data_type(), ty.span());
    quote_spanned!(ty.span()=> type #name = <#ty as #data_type>::Type;)
}

/// The stand-in for a function the attribute rejected: the proxy type and an `Experiment` impl
/// that type-checks whatever the function is, so that code naming the experiment (such as
/// `App::new().experiment::<simulate>()`) compiles and only the attribute's errors show.
pub(crate) fn dummy(dummy: &Dummy) -> TokenStream {
    let exports = Exports::new(dummy.krate.as_ref());
    let Dummy { vis, ident, .. } = dummy;
    let trait_ = exports.experiment();
    let config_type = exports.experiment_config();
    let task_context = exports.task_context();
    let task_future = exports.task_future();
    let boxed = exports.boxed();
    let infallible = exports.infallible();
    let proxy = proxy(vis, ident);
    quote! {
        #proxy

        impl #trait_ for #ident {
            type Input = ();
            type Output = ();
            const CONFIG: #config_type = #config_type::DEFAULT;
            fn run<'a>(input: (), _: &'a #task_context) -> #task_future<'a, ()> {
                #boxed::pin(async move { #infallible(input) })
            }
        }
    }
}

/// The `ExperimentConfig` literal: the name and description, the options that were set, and
/// `..ExperimentConfig::DEFAULT` for the rest.
fn config(exports: &Exports, config: &Config, fingerprint: &str) -> TokenStream {
    let config_type = exports.experiment_config();
    let Config { name, description, .. } = config;
    let mut fields = vec![quote!(name: #name), quote!(description: #description)];
    if let Some(retries) = config.retries {
        let retries = Literal::u32_unsuffixed(retries);
        fields.push(quote!(retries: #retries));
    }
    if let Some(timeout) = config.timeout {
        let timeout = duration(exports, timeout);
        fields.push(quote!(timeout: #timeout));
    }
    if let Some(schedule_timeout) = config.schedule_timeout {
        let schedule_timeout = duration(exports, schedule_timeout);
        fields.push(quote!(schedule_timeout: #schedule_timeout));
    }
    if let Some(labels) = config.labels {
        let worker_labels = exports.worker_labels();
        let Labels { high_memory, high_cpu, has_gpu } = labels;
        fields.push(quote! {
            labels: #worker_labels { high_memory: #high_memory, high_cpu: #high_cpu, has_gpu: #has_gpu }
        });
    }
    if let Some(batch) = config.batch {
        let batch = Literal::u32_unsuffixed(batch);
        fields.push(quote!(batch: Some(#batch)));
    }
    if let Some(concurrency) = config.concurrency {
        let concurrency = Literal::u32_unsuffixed(concurrency);
        fields.push(quote!(concurrency: Some(#concurrency)));
    }
    let code_fingerprint = exports.code_fingerprint();
    let env = exports.env();
    let cache_version = config.cache_version.as_deref().unwrap_or_default();
    fields.push(quote! {
        fingerprint: Some(#code_fingerprint {
            function: #fingerprint,
            cache_version: #cache_version,
            crate_version: #env!("CARGO_PKG_VERSION"),
        })
    });
    quote!(#config_type { #(#fields,)* ..#config_type::DEFAULT })
}

/// `Duration::new(secs, nanos)`: exact for any duration the parser accepts.
fn duration(exports: &Exports, duration: Duration) -> TokenStream {
    let duration_type = exports.duration();
    let secs = Literal::u64_unsuffixed(duration.as_secs());
    let nanos = Literal::u32_unsuffixed(duration.subsec_nanos());
    quote!(#duration_type::new(#secs, #nanos))
}

/// `Experiment::run`: one call of the user's function, awaited if async, adapted to `TaskError`.
fn run(exports: &Exports, experiment: &Experiment) -> TokenStream {
    let Experiment { ident, call, input: input_type, .. } = experiment;
    // Mixed-site hygiene: a user function named `input` or `ctx` stays reachable.
    let input = Ident::new("input", Span::mixed_site());
    let ctx = Ident::new(if call.takes_context { "ctx" } else { "_ctx" }, Span::mixed_site());
    // The argument is located on the input type, where the error about its derives already is,
    // so that rustc folds the two into one.
    let argument = Ident::new("input", Span::mixed_site().located_at(input_type.span()));
    let args = if call.takes_context { quote!(#argument, #ctx) } else { quote!(#argument) };
    let awaited = if call.is_async { quote!(.await) } else { quote!() };
    let adapt = match call.returns {
        Returns::Output => exports.infallible(),
        Returns::Result { error_span } => located_at(exports.fallible(), error_span),
    };
    let task_context = exports.task_context();
    let task_future = exports.task_future();
    let boxed = exports.boxed();
    quote! {
        fn run<'a>(#input: Self::Input, #ctx: &'a #task_context) -> #task_future<'a, Self::Output> {
            #boxed::pin(async move { #adapt(#ident(#args)#awaited) })
        }
    }
}

/// `tokens` (with their call-site hygiene) reported at `span`, so that rustc points there.
fn located_at(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            token.set_span(token.span().located_at(span));
            token
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;
    use crate::parse;

    /// The expansion, and the `fingerprint` field it must contain.
    fn expand_ok(args: TokenStream, item: TokenStream) -> (String, TokenStream) {
        match parse::experiment(args, item) {
            Ok(experiment) => {
                let (function, cache_version) =
                    (&experiment.fingerprint, experiment.config.cache_version.clone().unwrap_or_default());
                let root = match &experiment.krate {
                    Some(path) => quote!(#path),
                    None => quote!(::scythe),
                };
                let fingerprint = quote! {
                    fingerprint: Some(#root::__private::CodeFingerprint {
                        function: #function,
                        cache_version: #cache_version,
                        crate_version: #root::__private::env!("CARGO_PKG_VERSION"),
                    }),
                };
                (expand(&experiment).to_string(), fingerprint)
            }
            Err(rejected) => panic!("unexpected error: {}", rejected.errors),
        }
    }

    #[test]
    fn async_with_context_returning_result() {
        let (actual, fingerprint) = expand_ok(
            quote!(retries = 2, timeout = "10m"),
            quote! {
                /// Simulates one building.
                pub async fn simulate(input: BuildingInput, ctx: &scythe::TaskContext) -> anyhow::Result<BuildingOutput> {
                    todo!()
                }
            },
        );
        let expected = quote! {
            #[doc = "The Scythe experiment of `fn simulate`."]
            #[allow(non_camel_case_types)]
            #[derive(Clone, Copy, Debug, Default)]
            pub struct simulate {}

            impl ::scythe::__private::Experiment for simulate {
                type Input = <BuildingInput as ::scythe::__private::DataType>::Type;
                type Output = <BuildingOutput as ::scythe::__private::DataType>::Type;
                const CONFIG: ::scythe::__private::ExperimentConfig = ::scythe::__private::ExperimentConfig {
                    name: "simulate",
                    description: "Simulates one building.",
                    retries: 2,
                    timeout: ::scythe::__private::Duration::new(600, 0),
                    #fingerprint
                    ..::scythe::__private::ExperimentConfig::DEFAULT
                };
                fn run<'a>(input: Self::Input, ctx: &'a ::scythe::__private::TaskContext) -> ::scythe::__private::TaskFuture<'a, Self::Output> {
                    ::scythe::__private::Box::pin(async move { ::scythe::__private::fallible(simulate(input, ctx).await) })
                }
            }

        };
        assert_eq!(actual, expected.to_string());
    }

    #[test]
    fn sync_without_context_returning_the_struct() {
        let (actual, fingerprint) = expand_ok(
            quote!(),
            quote!(
                fn square(input: Number) -> Squared {
                    todo!()
                }
            ),
        );
        let expected = quote! {
            #[doc = "The Scythe experiment of `fn square`."]
            #[allow(non_camel_case_types)]
            #[derive(Clone, Copy, Debug, Default)]
            struct square {}

            impl ::scythe::__private::Experiment for square {
                type Input = <Number as ::scythe::__private::DataType>::Type;
                type Output = <Squared as ::scythe::__private::DataType>::Type;
                const CONFIG: ::scythe::__private::ExperimentConfig = ::scythe::__private::ExperimentConfig {
                    name: "square",
                    description: "",
                    #fingerprint
                    ..::scythe::__private::ExperimentConfig::DEFAULT
                };
                fn run<'a>(input: Self::Input, _ctx: &'a ::scythe::__private::TaskContext) -> ::scythe::__private::TaskFuture<'a, Self::Output> {
                    ::scythe::__private::Box::pin(async move { ::scythe::__private::infallible(square(input)) })
                }
            }

        };
        assert_eq!(actual, expected.to_string());
    }

    #[test]
    fn every_option_set() {
        let (actual, fingerprint) = expand_ok(
            quote!(
                name = "bldg.sim-v2",
                description = "Says \"hi\".",
                retries = 5,
                timeout = "1h30m",
                schedule_timeout = "500ms",
                high_memory,
                high_cpu = false,
                has_gpu = true,
                batch = 8,
                concurrency = 3,
                cache_version = "7",
                crate = "sc",
            ),
            quote!(
                pub(crate) fn simulate(input: In, ctx: &TaskContext) -> Result<Out, Error> {
                    todo!()
                }
            ),
        );
        let expected = quote! {
            #[doc = "The Scythe experiment of `fn simulate`."]
            #[allow(non_camel_case_types)]
            #[derive(Clone, Copy, Debug, Default)]
            pub(crate) struct simulate {}

            impl sc::__private::Experiment for simulate {
                type Input = <In as sc::__private::DataType>::Type;
                type Output = <Out as sc::__private::DataType>::Type;
                const CONFIG: sc::__private::ExperimentConfig = sc::__private::ExperimentConfig {
                    name: "bldg.sim-v2",
                    description: "Says \"hi\".",
                    retries: 5,
                    timeout: sc::__private::Duration::new(5400, 0),
                    schedule_timeout: sc::__private::Duration::new(0, 500000000),
                    labels: sc::__private::WorkerLabels { high_memory: true, high_cpu: false, has_gpu: true },
                    batch: Some(8),
                    concurrency: Some(3),
                    #fingerprint
                    ..sc::__private::ExperimentConfig::DEFAULT
                };
                fn run<'a>(input: Self::Input, ctx: &'a sc::__private::TaskContext) -> sc::__private::TaskFuture<'a, Self::Output> {
                    sc::__private::Box::pin(async move { sc::__private::fallible(simulate(input, ctx)) })
                }
            }

        };
        assert_eq!(actual, expected.to_string());
    }
}
