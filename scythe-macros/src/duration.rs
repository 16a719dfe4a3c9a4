//! Human durations such as `"1h 30m"`, checked at compile time.
//!
//! The grammar is `humantime`'s: numbers (fractions allowed) each followed by a unit, `ns`, `us`,
//! `ms`, `s`/`sec`, `m`/`min`, `h`/`hours`, `d`/`days`, `w`/`weeks`, `M`/`months` (30.44 days) or
//! `y`/`years` (365.25 days), optionally separated by spaces: `"500ms"`, `"90s"`, `"10min"`,
//! `"1h30m"`, `"1.5h"`, `"2 days"`. On top of it, Scythe rejects zero.

use std::fmt;
use std::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DurationError {
    /// `humantime` could not read the string.
    Invalid {
        /// The string as written.
        text: String,
        /// What `humantime` found wrong.
        error: humantime::DurationError,
    },
    /// The duration is zero.
    Zero,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use humantime::DurationError as E;
        match self {
            Self::Zero => f.write_str("the duration must be greater than zero"),
            // Offsets into the string mean little in an error message: show the text there.
            Self::Invalid { text, error: E::InvalidCharacter(at) } => {
                match text.get(*at..).and_then(|s| s.chars().next()) {
                    Some(c) => write!(f, "unexpected `{c}`"),
                    None => write!(f, "{}", E::InvalidCharacter(*at)),
                }
            }
            Self::Invalid { text, error: E::NumberExpected(at) } => match text.get(*at..).map(str::trim) {
                Some(rest) if !rest.is_empty() => write!(f, "expected a number before `{rest}`"),
                _ => write!(f, "{}", E::NumberExpected(*at)),
            },
            Self::Invalid { error: E::UnknownUnit { unit, .. }, .. } if !unit.is_empty() => {
                write!(f, "unknown unit `{unit}`")
            }
            Self::Invalid { error: E::Empty, .. } => f.write_str("the duration is empty"),
            Self::Invalid { error, .. } => write!(f, "{error}"),
        }
    }
}

/// Parses a human duration such as `"1h 30m"` with `humantime`; zero is an error.
pub(crate) fn parse(text: &str) -> Result<Duration, DurationError> {
    match humantime::parse_duration(text) {
        Ok(Duration::ZERO) => Err(DurationError::Zero),
        Ok(duration) => Ok(duration),
        Err(error) => Err(DurationError::Invalid { text: text.to_owned(), error }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> u128 {
        parse(text).expect("expected success").as_millis()
    }

    fn message(text: &str) -> String {
        parse(text).expect_err("expected an error").to_string()
    }

    #[test]
    fn parses_the_units_the_docs_list() {
        assert_eq!(millis("500ms"), 500);
        assert_eq!(millis("90s"), 90_000);
        assert_eq!(millis("10m"), 600_000);
        assert_eq!(millis("10min"), 600_000);
        assert_eq!(millis("10 minutes"), 600_000);
        assert_eq!(millis("2h"), 7_200_000);
        assert_eq!(millis("1d"), 86_400_000);
        assert_eq!(millis("2days"), 2 * 86_400_000);
        assert_eq!(millis("1w"), 7 * 86_400_000);
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
    }

    #[test]
    fn adds_up_groups_and_fractions() {
        assert_eq!(millis("1h30m"), 5_400_000);
        assert_eq!(millis("1h 30m"), 5_400_000);
        assert_eq!(millis("1m30s500ms"), 90_500);
        assert_eq!(millis("0h5s"), 5_000);
        assert_eq!(millis("1.5h"), 5_400_000);
    }

    #[test]
    fn rejects_zero() {
        assert_eq!(parse("0s"), Err(DurationError::Zero));
        assert_eq!(parse("0h0m"), Err(DurationError::Zero));
    }

    #[test]
    fn rejects_malformed_strings_with_readable_messages() {
        assert_eq!(message(""), "the duration is empty");
        assert_eq!(message("  "), "the duration is empty");
        assert_eq!(message("10"), "time unit needed, for example 10sec or 10ms");
        assert_eq!(message("1h30"), "time unit needed, for example 30sec or 30ms");
        assert_eq!(message("10 minuts"), "unknown unit `minuts`");
        assert_eq!(message("-1s"), "expected a number before `-1s`");
        assert_eq!(message("ten minutes"), "expected a number before `ten minutes`");
        assert_eq!(message("1h,30m"), "unexpected `,`");
    }

    #[test]
    fn rejects_overflow() {
        assert!(message("99999999999999999999s").starts_with("number is too large"));
        assert!(message("18446744073709551615d").starts_with("number is too large"));
    }
}
