//! The annotated function: one input struct, an optional `&TaskContext`, and the output.

use proc_macro2::TokenStream;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, FnArg, GenericArgument, Ident, Item, ItemFn, Lit, PathArguments, PathSegment, ReturnType, Type,
    Visibility,
};

use crate::errors::Errors;
use crate::model::{Call, Returns};

/// What the proxy needs to know about the function.
pub(super) struct Function {
    pub(super) vis: Visibility,
    pub(super) ident: Ident,
    pub(super) input: Type,
    pub(super) output: Type,
    pub(super) call: Call,
    /// The doc comment's lines, trimmed and joined with a space.
    pub(super) docs: String,
}

/// The function under the attribute, or an error on the item's keyword.
pub(super) fn item_fn(item: TokenStream) -> syn::Result<ItemFn> {
    const MESSAGE: &str = "`#[scythe::experiment]` goes on a `fn` or `async fn`";
    match syn::parse2::<Item>(item) {
        Ok(Item::Fn(function)) => Ok(function),
        Ok(item) => Err(syn::Error::new(keyword_span(&item), MESSAGE)),
        Err(error) => Err(syn::Error::new(error.span(), MESSAGE)),
    }
}

/// Checks the signature; `None` (with errors recorded) if it is not an experiment's.
pub(super) fn parse(function: &ItemFn, errors: &mut Errors) -> Option<Function> {
    let sig = &function.sig;
    if let Some(unsafety) = &sig.unsafety {
        errors.spanned(unsafety, "experiment functions cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, "experiment functions cannot be `extern`");
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, "experiment functions cannot be variadic");
    }
    const GENERIC: &str = "generic experiment functions are not supported; \
                           the input and output must be concrete types";
    if !sig.generics.params.is_empty() {
        errors.spanned(&sig.generics, GENERIC);
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.spanned(where_clause, GENERIC);
    }

    let mut params = Vec::new();
    let mut has_receiver = false;
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(receiver) => {
                has_receiver = true;
                errors.spanned(receiver, "experiment functions cannot take `self`; use a free function");
            }
            FnArg::Typed(param) => params.push(param),
        }
    }
    let input = match params.first() {
        Some(param) => input(&param.ty, errors),
        None if has_receiver => None,
        None => {
            errors.at(
                sig.paren_token.span.join(),
                "an experiment takes its input struct as its parameter: \
                 `fn simulate(input: MyInput)`",
            );
            None
        }
    };
    let takes_context = params.get(1).is_some_and(|param| context(param, errors));
    for param in params.iter().skip(2) {
        errors.spanned(
            param,
            "too many parameters: an experiment takes one input struct and, optionally, \
             `ctx: &scythe::TaskContext`",
        );
    }
    let output = output(&sig.output, &sig.ident, errors);

    let (input, (output, returns)) = (input?, output?);
    Some(Function {
        vis: function.vis.clone(),
        ident: sig.ident.clone(),
        input,
        output,
        call: Call { is_async: sig.asyncness.is_some(), takes_context, returns },
        docs: docs(&function.attrs),
    })
}

/// The input type, if it is a struct taken by value.
fn input(ty: &Type, errors: &mut Errors) -> Option<Type> {
    if let Type::Reference(reference) = ty
        && task_context(&reference.elem).is_some()
    {
        errors.spanned(ty, "the first parameter is the input struct; `&TaskContext` goes second");
        return None;
    }
    if let Some(found) = not_a_struct(ty) {
        errors.spanned(ty, format_args!("the input must be a struct taken by value, not {found}"));
        return None;
    }
    Some(ty.clone())
}

/// Whether the second parameter is `ctx: &TaskContext`; records an error if it is not.
fn context(param: &syn::PatType, errors: &mut Errors) -> bool {
    const SHAPE: &str = "`ctx: &scythe::TaskContext`";
    let ty = &*param.ty;
    match ty {
        Type::Reference(reference) if task_context(&reference.elem).is_some() => {
            if let Some(mutability) = &reference.mutability {
                errors.spanned(mutability, format_args!("take the context by shared reference: {SHAPE}"));
                return false;
            }
            true
        }
        _ if task_context(ty).is_some() => {
            errors.spanned(ty, format_args!("take the context by reference: {SHAPE}"));
            false
        }
        _ => {
            errors.spanned(
                param,
                format_args!(
                    "an experiment takes one input struct; the only other parameter it may \
                     take is {SHAPE} (put every input field in the input struct)"
                ),
            );
            false
        }
    }
}

/// The output type, and whether it is wrapped in a `Result`.
fn output(output: &ReturnType, ident: &Ident, errors: &mut Errors) -> Option<(Type, Returns)> {
    const MESSAGE: &str = "the function must return the output struct, or a `Result` of it";
    let ty = match output {
        ReturnType::Type(_, ty) => &**ty,
        ReturnType::Default => {
            errors.spanned(ident, format_args!("{MESSAGE}: add `-> MyOutput` or `-> anyhow::Result<MyOutput>`"));
            return None;
        }
    };
    let (ty, returns) = match last_segment(ty) {
        Some(segment) if segment.ident == "Result" => {
            let mut types = type_arguments(segment);
            let Some(output) = types.next() else {
                errors.spanned(
                    segment,
                    "`Result` needs the output struct as its first argument: \
                     `Result<MyOutput, MyError>`",
                );
                return None;
            };
            let error_span = types.next().map_or(segment.ident.span(), Spanned::span);
            (output, Returns::Result { error_span })
        }
        _ => (ty, Returns::Output),
    };
    if let Some(found) = not_a_struct(ty) {
        errors.spanned(ty, format_args!("{MESSAGE}, not {found}"));
        return None;
    }
    Some((ty.clone(), returns))
}

/// The last segment of a plain path type (`a::b::C<D>` gives `C<D>`).
fn last_segment(ty: &Type) -> Option<&PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        Type::Paren(paren) => last_segment(&paren.elem),
        Type::Group(group) => last_segment(&group.elem),
        _ => None,
    }
}

/// The leading type arguments of a path segment: `T` and `E` in `Result<T, E>`.
fn type_arguments(segment: &PathSegment) -> impl Iterator<Item = &Type> {
    let arguments = match &segment.arguments {
        PathArguments::AngleBracketed(arguments) => Some(&arguments.args),
        _ => None,
    };
    arguments.into_iter().flatten().map_while(|argument| match argument {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// The `TaskContext` segment if `ty` is a path ending in `TaskContext`.
fn task_context(ty: &Type) -> Option<&PathSegment> {
    last_segment(ty).filter(|segment| segment.ident == "TaskContext" && segment.arguments.is_empty())
}

/// What `ty` is, if it cannot be an input or output struct: "a reference", "`f64`", ...
fn not_a_struct(ty: &Type) -> Option<String> {
    const PRIMITIVES: &[&str] = &[
        "bool", "char", "str", "String", "f32", "f64", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32",
        "u64", "u128", "usize",
    ];
    let found = match ty {
        Type::Path(path) => {
            let segment = path.path.segments.last()?;
            if path.qself.is_some() || !segment.arguments.is_empty() {
                return None;
            }
            let name = segment.ident.to_string();
            return PRIMITIVES.contains(&name.as_str()).then(|| format!("`{name}`"));
        }
        Type::Paren(paren) => return not_a_struct(&paren.elem),
        Type::Group(group) => return not_a_struct(&group.elem),
        Type::Tuple(tuple) if tuple.elems.is_empty() => "`()`",
        Type::Tuple(_) => "a tuple",
        Type::Reference(_) => "a reference",
        Type::ImplTrait(_) => "`impl Trait`",
        Type::TraitObject(_) => "a trait object",
        Type::Array(_) => "an array",
        Type::Slice(_) => "a slice",
        Type::Ptr(_) => "a pointer",
        Type::BareFn(_) => "a function pointer",
        Type::Never(_) => "`!`",
        Type::Infer(_) => "`_`",
        _ => return None,
    };
    Some(found.to_owned())
}

/// The doc comment's lines, trimmed, without blank lines, joined with a space.
fn docs(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if let syn::Meta::NameValue(doc) = &attr.meta
            && doc.path.is_ident("doc")
            && let Expr::Lit(expr) = &doc.value
            && let Lit::Str(text) = &expr.lit
        {
            let text = text.value();
            lines.extend(text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned));
        }
    }
    lines.join(" ")
}

/// The span of an item's keyword (`struct`, `impl`, ...), where "not a function" points.
fn keyword_span(item: &Item) -> proc_macro2::Span {
    match item {
        Item::Const(item) => item.const_token.span,
        Item::Enum(item) => item.enum_token.span,
        Item::ExternCrate(item) => item.extern_token.span,
        Item::ForeignMod(item) => item.abi.extern_token.span,
        Item::Impl(item) => item.impl_token.span,
        Item::Macro(item) => item.mac.path.span(),
        Item::Mod(item) => item.mod_token.span,
        Item::Static(item) => item.static_token.span,
        Item::Struct(item) => item.struct_token.span,
        Item::Trait(item) => item.trait_token.span,
        Item::TraitAlias(item) => item.trait_token.span,
        Item::Type(item) => item.type_token.span,
        Item::Union(item) => item.union_token.span,
        Item::Use(item) => item.use_token.span,
        _ => item.span(),
    }
}

#[cfg(test)]
mod tests {
    use quote::{ToTokens, quote};

    use super::*;

    fn parse_fn(item: TokenStream) -> Result<Function, Vec<String>> {
        let function = item_fn(item).map_err(|error| vec![error.to_string()])?;
        let mut errors = Errors::default();
        let parsed = parse(&function, &mut errors);
        errors.finish(parsed).map_err(|error| error.into_iter().map(|e| e.to_string()).collect())
    }

    fn messages(item: TokenStream) -> Vec<String> {
        match parse_fn(item) {
            Ok(_) => Vec::new(),
            Err(messages) => messages,
        }
    }

    fn tokens(tokens: impl ToTokens) -> String {
        tokens.to_token_stream().to_string()
    }

    #[test]
    fn reads_an_async_function_with_context_returning_result() {
        let function = parse_fn(quote! {
            /// Simulates
            ///   one building.
            ///
            pub async fn simulate(input: In, ctx: &scythe::TaskContext) -> anyhow::Result<Out> { todo!() }
        })
        .expect("expected success");
        assert_eq!(tokens(&function.vis), "pub");
        assert_eq!(function.ident, "simulate");
        assert_eq!(tokens(&function.input), "In");
        assert_eq!(tokens(&function.output), "Out");
        let Call { is_async, takes_context, returns } = function.call;
        assert!(is_async && takes_context);
        assert!(matches!(returns, Returns::Result { .. }));
        assert_eq!(function.docs, "Simulates one building.");
    }

    #[test]
    fn reads_a_sync_function_returning_the_struct() {
        let function = parse_fn(quote!(
            fn simulate(mut input: crate::In) -> crate::Out {
                input
            }
        ))
        .expect("expected success");
        assert_eq!(tokens(&function.input), "crate :: In");
        assert_eq!(tokens(&function.output), "crate :: Out");
        let Call { is_async, takes_context, returns } = function.call;
        assert!(!is_async && !takes_context);
        assert!(matches!(returns, Returns::Output));
        assert_eq!(function.docs, "");
    }

    #[test]
    fn any_result_and_context_path_is_accepted() {
        let function = parse_fn(quote!(
            fn f(i: In, c: &'_ TaskContext) -> std::io::Result<Out> {}
        ))
        .expect("expected success");
        assert_eq!(tokens(&function.output), "Out");
        assert!(function.call.takes_context);
        assert!(matches!(function.call.returns, Returns::Result { .. }));
        let function = parse_fn(quote!(
            fn f(i: In) -> Result<Out, MyError> {}
        ))
        .expect("expected success");
        assert_eq!(tokens(&function.output), "Out");
    }

    #[test]
    fn rejects_items_that_are_not_functions() {
        assert_eq!(
            messages(quote!(
                struct S;
            )),
            ["`#[scythe::experiment]` goes on a `fn` or `async fn`"]
        );
    }

    #[test]
    fn rejects_bad_parameter_lists() {
        assert_eq!(
            messages(quote!(
                fn f() -> Out {}
            ))
            .len(),
            1
        );
        assert_eq!(
            messages(quote!(
                fn f(self, i: In) -> Out {}
            ))
            .len(),
            1
        );
        assert_eq!(
            messages(quote!(
                fn f(a: A, b: B) -> Out {}
            ))
            .len(),
            1
        );
        assert_eq!(
            messages(quote!(
                fn f(a: A, c: &TaskContext, b: B) -> Out {}
            ))
            .len(),
            1
        );
        assert_eq!(
            messages(quote!(
                fn f(c: &TaskContext, a: A) -> Out {}
            )),
            [
                "the first parameter is the input struct; `&TaskContext` goes second",
                "an experiment takes one input struct; the only other parameter it may take is \
                 `ctx: &scythe::TaskContext` (put every input field in the input struct)"
            ]
        );
    }

    #[test]
    fn rejects_inputs_that_are_not_structs_by_value() {
        assert_eq!(
            messages(quote!(
                fn f(i: &In) -> Out {}
            )),
            ["the input must be a struct taken by value, not a reference"]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: impl Into<In>) -> Out {}
            )),
            ["the input must be a struct taken by value, not `impl Trait`"]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: f64) -> Out {}
            )),
            ["the input must be a struct taken by value, not `f64`"]
        );
    }

    #[test]
    fn rejects_a_context_not_taken_by_shared_reference() {
        assert_eq!(
            messages(quote!(
                fn f(i: In, c: TaskContext) -> Out {}
            )),
            ["take the context by reference: `ctx: &scythe::TaskContext`"]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: In, c: &mut scythe::TaskContext) -> Out {}
            )),
            ["take the context by shared reference: `ctx: &scythe::TaskContext`"]
        );
    }

    #[test]
    fn rejects_outputs_that_are_not_structs() {
        let msg = "the function must return the output struct, or a `Result` of it";
        assert_eq!(
            messages(quote!(
                fn f(i: In) {}
            )),
            [format!("{msg}: add `-> MyOutput` or `-> anyhow::Result<MyOutput>`")]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: In) -> () {}
            )),
            [format!("{msg}, not `()`")]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: In) -> (A, B) {}
            )),
            [format!("{msg}, not a tuple")]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: In) -> &'static Out {}
            )),
            [format!("{msg}, not a reference")]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: In) -> impl Sized {}
            )),
            [format!("{msg}, not `impl Trait`")]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: In) -> f64 {}
            )),
            [format!("{msg}, not `f64`")]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: In) -> std::string::String {}
            )),
            [format!("{msg}, not `String`")]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: In) -> anyhow::Result<()> {}
            )),
            [format!("{msg}, not `()`")]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: In) -> Result<bool, E> {}
            )),
            [format!("{msg}, not `bool`")]
        );
        assert_eq!(
            messages(quote!(
                fn f(i: In) -> Result {}
            ))
            .len(),
            1
        );
    }

    #[test]
    fn rejects_generic_unsafe_extern_and_variadic_functions() {
        let generic = "generic experiment functions are not supported; the input and output must be concrete types";
        assert_eq!(
            messages(quote!(
                fn f<T>(i: T) -> Out {}
            )),
            [generic]
        );
        assert_eq!(
            messages(quote!(
                fn f<const N: usize>(i: In) -> Out {}
            )),
            [generic]
        );
        assert_eq!(
            messages(quote!(
                fn f<'a>(i: In) -> Out
                where
                    'static: 'a,
                {
                }
            )),
            [generic, generic]
        );
        assert_eq!(
            messages(quote!(
                unsafe fn f(i: In) -> Out {}
            )),
            ["experiment functions cannot be `unsafe`"]
        );
        assert_eq!(
            messages(quote!(
                extern "C" fn f(i: In) -> Out {}
            )),
            ["experiment functions cannot be `extern`"]
        );
        assert_eq!(
            messages(quote!(
                unsafe extern "C" fn f(i: In, ...) -> Out {}
            )),
            [
                "experiment functions cannot be `unsafe`",
                "experiment functions cannot be `extern`",
                "experiment functions cannot be variadic"
            ]
        );
    }

    #[test]
    fn accumulates_every_error() {
        let errors = messages(quote!(
            fn f<T>(i: &In, c: TaskContext, x: u8) -> () {}
        ));
        assert_eq!(errors.len(), 5, "{errors:?}");
    }
}
