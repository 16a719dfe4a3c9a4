//! The attribute's arguments: `#[scythe::experiment(name = "...", retries = 2, has_gpu)]`.

use std::fmt;
use std::time::Duration;

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, LitStr, Meta, Token};

use crate::duration::{self, DurationError};
use crate::errors::Errors;

/// The options as written; `None` where an option is absent or was rejected.
#[derive(Debug, Default)]
pub(super) struct Options {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) retries: Option<u32>,
    pub(super) timeout: Option<Duration>,
    pub(super) schedule_timeout: Option<Duration>,
    pub(super) high_memory: Option<bool>,
    pub(super) high_cpu: Option<bool>,
    pub(super) has_gpu: Option<bool>,
    pub(super) batch: Option<u32>,
    pub(super) concurrency: Option<u32>,
    pub(super) cache_version: Option<String>,
    pub(super) krate: Option<syn::Path>,
}

/// Reads the comma-separated options, recording an error for each bad one and keeping the rest.
pub(super) fn parse(args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(error) => {
            errors.push(error);
            return options;
        }
    };
    let mut seen = Vec::new();
    for meta in &metas {
        let path = meta.path();
        let Some(key) = Key::from_path(path) else {
            let written = path.segments.iter().map(|s| s.ident.to_string()).collect::<Vec<_>>().join("::");
            errors.spanned(path, format_args!("unknown option `{written}`; expected one of {}", Key::list()));
            continue;
        };
        if seen.contains(&key) {
            errors.spanned(path, format_args!("duplicate option `{key}`"));
            continue;
        }
        seen.push(key);
        match key {
            Key::Name => options.name = string(key, meta, errors).and_then(|lit| name(&lit, errors)),
            Key::Description => options.description = string(key, meta, errors).map(|lit| lit.value()),
            Key::Retries => options.retries = integer(key, meta, errors),
            Key::Timeout => options.timeout = duration(key, meta, errors),
            Key::ScheduleTimeout => options.schedule_timeout = duration(key, meta, errors),
            Key::HighMemory => options.high_memory = flag(key, meta, errors),
            Key::HighCpu => options.high_cpu = flag(key, meta, errors),
            Key::HasGpu => options.has_gpu = flag(key, meta, errors),
            Key::Batch => options.batch = at_least_one(key, meta, errors),
            Key::Concurrency => options.concurrency = at_least_one(key, meta, errors),
            Key::CacheVersion => options.cache_version = string(key, meta, errors).map(|lit| lit.value()),
            Key::Crate => options.krate = string(key, meta, errors).and_then(|lit| krate(&lit, errors)),
        }
    }
    options
}

/// An option name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Name,
    Description,
    Retries,
    Timeout,
    ScheduleTimeout,
    HighMemory,
    HighCpu,
    HasGpu,
    Batch,
    Concurrency,
    CacheVersion,
    Crate,
}

impl Key {
    /// Every option, in the order the docs list them.
    const ALL: [Key; 12] = [
        Key::Name,
        Key::Description,
        Key::Retries,
        Key::Timeout,
        Key::ScheduleTimeout,
        Key::HighMemory,
        Key::HighCpu,
        Key::HasGpu,
        Key::Batch,
        Key::Concurrency,
        Key::CacheVersion,
        Key::Crate,
    ];

    fn from_path(path: &syn::Path) -> Option<Key> {
        let ident = path.get_ident()?;
        Key::ALL.into_iter().find(|key| ident == key.as_str())
    }

    fn as_str(self) -> &'static str {
        match self {
            Key::Name => "name",
            Key::Description => "description",
            Key::Retries => "retries",
            Key::Timeout => "timeout",
            Key::ScheduleTimeout => "schedule_timeout",
            Key::HighMemory => "high_memory",
            Key::HighCpu => "high_cpu",
            Key::HasGpu => "has_gpu",
            Key::Batch => "batch",
            Key::Concurrency => "concurrency",
            Key::CacheVersion => "cache_version",
            Key::Crate => "crate",
        }
    }

    /// The option written correctly, for error messages.
    fn example(self) -> &'static str {
        match self {
            Key::Name => r#"name = "simulate""#,
            Key::Description => r#"description = "Simulates one building.""#,
            Key::Retries => "retries = 2",
            Key::Timeout => r#"timeout = "10m""#,
            Key::ScheduleTimeout => r#"schedule_timeout = "2h""#,
            Key::HighMemory => "high_memory",
            Key::HighCpu => "high_cpu",
            Key::HasGpu => "has_gpu",
            Key::Batch => "batch = 16",
            Key::Concurrency => "concurrency = 4",
            Key::CacheVersion => r#"cache_version = "2""#,
            Key::Crate => r#"crate = "scythe""#,
        }
    }

    /// "`name`, `description`, ..., `crate`".
    fn list() -> String {
        Key::ALL.map(|key| format!("`{key}`")).join(", ")
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value after `key =`.
fn value<'a>(key: Key, meta: &'a Meta, errors: &mut Errors) -> Option<&'a Expr> {
    match meta {
        Meta::NameValue(name_value) => Some(&name_value.value),
        Meta::Path(_) | Meta::List(_) => {
            errors.spanned(meta, format_args!("`{key}` needs a value: `{}`", key.example()));
            None
        }
    }
}

/// The literal an expression is, if it is one (possibly wrapped in a macro's invisible group).
fn literal(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(expr) => Some(&expr.lit),
        Expr::Group(group) => literal(&group.expr),
        _ => None,
    }
}

fn string(key: Key, meta: &Meta, errors: &mut Errors) -> Option<LitStr> {
    let expr = value(key, meta, errors)?;
    match literal(expr) {
        Some(Lit::Str(lit)) => Some(lit.clone()),
        _ => {
            errors.spanned(expr, format_args!("`{key}` expects a string: `{}`", key.example()));
            None
        }
    }
}

fn integer(key: Key, meta: &Meta, errors: &mut Errors) -> Option<u32> {
    let expr = value(key, meta, errors)?;
    let Some(Lit::Int(lit)) = literal(expr) else {
        errors.spanned(expr, format_args!("`{key}` expects a whole number: `{}`", key.example()));
        return None;
    };
    match lit.base10_parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.spanned(lit, format_args!("`{key}` must be a whole number from 0 to {}", u32::MAX));
            None
        }
    }
}

/// A whole number of at least 1 (`batch`, `concurrency`).
fn at_least_one(key: Key, meta: &Meta, errors: &mut Errors) -> Option<u32> {
    let n = integer(key, meta, errors)?;
    if n == 0 {
        if let Meta::NameValue(name_value) = meta {
            errors.spanned(&name_value.value, format_args!("`{key}` must be at least 1"));
        }
        return None;
    }
    Some(n)
}

fn duration(key: Key, meta: &Meta, errors: &mut Errors) -> Option<Duration> {
    let expr = value(key, meta, errors)?;
    let lit = match literal(expr) {
        Some(Lit::Str(lit)) => lit,
        Some(Lit::Int(lit)) => {
            errors.spanned(lit, format_args!("`{key}` expects a duration string: `{key} = \"{lit}\"`"));
            return None;
        }
        _ => {
            errors.spanned(expr, format_args!("`{key}` expects a duration string: `{}`", key.example()));
            return None;
        }
    };
    match duration::parse(&lit.value()) {
        Ok(duration) => Some(duration),
        Err(DurationError::Zero) => {
            errors.spanned(lit, format_args!("`{key}` must be greater than zero"));
            None
        }
        Err(error) => {
            errors.spanned(
                lit,
                format_args!(
                    "invalid duration {}: {error}; write numbers with units (`ms`, `s`, `min`, \
                     `h`, `d`, ...), e.g. \"90s\", \"10min\" or \"1h 30m\"",
                    lit.token()
                ),
            );
            None
        }
    }
}

fn flag(key: Key, meta: &Meta, errors: &mut Errors) -> Option<bool> {
    match meta {
        Meta::Path(_) => return Some(true),
        Meta::NameValue(name_value) => {
            if let Some(Lit::Bool(lit)) = literal(&name_value.value) {
                return Some(lit.value);
            }
        }
        Meta::List(_) => {}
    }
    errors.spanned(meta, format_args!("`{key}` is a flag: write `{key}` or `{key} = false`"));
    None
}

fn name(lit: &LitStr, errors: &mut Errors) -> Option<String> {
    let name = lit.value();
    if super::is_valid_name(&name) {
        Some(name)
    } else {
        errors.spanned(
            lit,
            format_args!(
                "invalid experiment name {}; use one or more ASCII letters, digits, `_`, `.` and `-`",
                lit.token()
            ),
        );
        None
    }
}

fn krate(lit: &LitStr, errors: &mut Errors) -> Option<syn::Path> {
    match lit.parse_with(syn::Path::parse_mod_style) {
        Ok(path) => Some(path),
        Err(_) => {
            errors.spanned(lit, "`crate` expects the path of the scythe crate, e.g. `crate = \"scythe\"`");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::{ToTokens, quote};

    use super::*;

    fn parse_ok(args: TokenStream) -> Options {
        let mut errors = Errors::default();
        let options = parse(args, &mut errors);
        if let Err(error) = errors.finish(Some(())) {
            panic!("unexpected error: {error}");
        }
        options
    }

    fn messages(args: TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        parse(args, &mut errors);
        match errors.finish(Some(())) {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn no_options_set_nothing() {
        let options = parse_ok(quote!());
        assert!(options.name.is_none() && options.retries.is_none() && options.krate.is_none());
        assert!(options.timeout.is_none() && options.high_memory.is_none() && options.batch.is_none());
        assert!(options.concurrency.is_none());
    }

    #[test]
    fn reads_every_option() {
        let options = parse_ok(quote!(
            name = "sim.v2-a_b",
            description = "Simulates.",
            retries = 3,
            timeout = "1h30m",
            schedule_timeout = "2d",
            high_memory,
            high_cpu = false,
            has_gpu = true,
            batch = 16,
            concurrency = 4,
            cache_version = "2024-06",
            crate = "::my::scythe",
        ));
        assert_eq!(options.cache_version.as_deref(), Some("2024-06"));
        assert_eq!(options.name.as_deref(), Some("sim.v2-a_b"));
        assert_eq!(options.description.as_deref(), Some("Simulates."));
        assert_eq!(options.retries, Some(3));
        assert_eq!(options.timeout, Some(Duration::from_secs(5400)));
        assert_eq!(options.schedule_timeout, Some(Duration::from_secs(2 * 86_400)));
        assert_eq!((options.high_memory, options.high_cpu, options.has_gpu), (Some(true), Some(false), Some(true)));
        assert_eq!(options.batch, Some(16));
        assert_eq!(options.concurrency, Some(4));
        let krate = options.krate.map(|path| path.to_token_stream().to_string());
        assert_eq!(krate.as_deref(), Some(":: my :: scythe"));
    }

    #[test]
    fn crate_accepts_the_crate_keyword() {
        let options = parse_ok(quote!(crate = "crate"));
        assert_eq!(options.krate.map(|p| p.to_token_stream().to_string()).as_deref(), Some("crate"));
    }

    #[test]
    fn rejects_unknown_and_duplicate_options() {
        assert_eq!(
            messages(quote!(retry = 2)),
            ["unknown option `retry`; expected one of `name`, `description`, `retries`, `timeout`, \
              `schedule_timeout`, `high_memory`, `high_cpu`, `has_gpu`, `batch`, `concurrency`, `cache_version`, `crate`"]
        );
        assert_eq!(messages(quote!(retries = 1, retries = 2)), ["duplicate option `retries`"]);
        assert_eq!(messages(quote!(has_gpu, has_gpu = false)), ["duplicate option `has_gpu`"]);
    }

    #[test]
    fn accumulates_every_error() {
        let errors = messages(quote!(retry = 2, timeout = "0s", name = "a b", batch = 0, concurrency = 0));
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn rejects_values_of_the_wrong_kind() {
        assert_eq!(messages(quote!(retries)), ["`retries` needs a value: `retries = 2`"]);
        assert_eq!(messages(quote!(retries(2))), ["`retries` needs a value: `retries = 2`"]);
        assert_eq!(messages(quote!(retries = "2")), ["`retries` expects a whole number: `retries = 2`"]);
        assert_eq!(messages(quote!(retries = -1)), ["`retries` must be a whole number from 0 to 4294967295"]);
        assert_eq!(messages(quote!(retries = 1.5)), ["`retries` expects a whole number: `retries = 2`"]);
        assert_eq!(messages(quote!(retries = 5000000000)), ["`retries` must be a whole number from 0 to 4294967295"]);
        assert_eq!(messages(quote!(name = simulate)), ["`name` expects a string: `name = \"simulate\"`"]);
        assert_eq!(messages(quote!(has_gpu = "yes")), ["`has_gpu` is a flag: write `has_gpu` or `has_gpu = false`"]);
        assert_eq!(messages(quote!(batch = 0)), ["`batch` must be at least 1"]);
        assert_eq!(messages(quote!(concurrency = 0)), ["`concurrency` must be at least 1"]);
        assert_eq!(messages(quote!(concurrency = "4")), ["`concurrency` expects a whole number: `concurrency = 4`"]);
        assert_eq!(
            messages(quote!(crate = "not a path")),
            ["`crate` expects the path of the scythe crate, e.g. `crate = \"scythe\"`"]
        );
    }

    #[test]
    fn checks_durations() {
        assert_eq!(messages(quote!(timeout = "0s")), ["`timeout` must be greater than zero"]);
        assert_eq!(messages(quote!(timeout = 10m)), ["`timeout` expects a duration string: `timeout = \"10m\"`"]);
        assert_eq!(
            messages(quote!(schedule_timeout = "2 hourz")),
            ["invalid duration \"2 hourz\": unknown unit `hourz`; write numbers with units (`ms`, `s`, \
              `min`, `h`, `d`, ...), e.g. \"90s\", \"10min\" or \"1h 30m\""]
        );
        assert_eq!(messages(quote!(timeout = "2 hours")), Vec::<String>::new());
    }

    #[test]
    fn checks_names() {
        assert_eq!(
            messages(quote!(name = "my experiment")),
            ["invalid experiment name \"my experiment\"; use one or more ASCII letters, digits, `_`, `.` and `-`"]
        );
        assert_eq!(messages(quote!(name = "")).len(), 1);
    }

    #[test]
    fn the_reference_lists_every_option() {
        // The table of `scythe::experiment`'s documentation: one row per option (the three
        // labels share one), each naming the option in backticks.
        let rows: Vec<&str> =
            include_str!("../experiment.md").lines().filter(|line| line.starts_with("| [`")).collect();
        for key in Key::ALL {
            let named = format!("`{key}`");
            assert!(rows.iter().any(|row| row.contains(&named)), "the option table misses {named}");
        }
        assert_eq!(rows.len(), Key::ALL.len() - 2, "one row per option, the labels share one: {rows:#?}");
    }

    #[test]
    fn reports_syntax_errors() {
        assert_eq!(messages(quote!(retries = 2 timeout = "1m")).len(), 1);
    }
}
