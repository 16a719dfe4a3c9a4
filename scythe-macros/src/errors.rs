//! Collects every error of one expansion, so the user sees them all at once.

use std::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;

/// The errors found so far, each spanned on the offending tokens.
#[derive(Default)]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    /// Records an error at `span`.
    pub(crate) fn at(&mut self, span: Span, message: impl Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// Records an error covering `tokens`, from their first token to their last.
    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error that `syn` produced.
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// `value` if no error was recorded, otherwise all the errors as one.
    ///
    /// A `None` value with no error recorded would be a bug in the parser (every `None` must come
    /// with an error); it is reported at the attribute rather than with a panic.
    pub(crate) fn finish<T>(self, value: Option<T>) -> syn::Result<T> {
        let mut errors = self.errors.into_iter();
        match (errors.next(), value) {
            (None, Some(value)) => Ok(value),
            (Some(mut first), _) => {
                first.extend(errors);
                Err(first)
            }
            (None, None) => {
                Err(syn::Error::new(Span::call_site(), "`#[scythe::experiment]` could not read this function"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_error_in_order() {
        assert_eq!(Errors::default().finish(Some(1)).expect("expected success"), 1);
        let mut errors = Errors::default();
        errors.at(Span::call_site(), "first");
        errors.spanned(quote::quote!(a b), "second");
        let messages: Vec<String> =
            errors.finish(Some(1)).expect_err("expected an error").into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn a_missing_value_without_errors_is_still_an_error() {
        assert!(Errors::default().finish(None::<()>).is_err());
    }
}
