//! Human durations such as `"1h30m"`, checked at compile time.
//!
//! A duration is one or more `<number><unit>` groups, optionally separated by spaces, with units
//! `ms`, `s`, `m`, `h` and `d`: `"500ms"`, `"90s"`, `"10m"`, `"1h30m"`, `"2d"`.

use std::fmt;
use std::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationError {
    /// The string has no groups at all.
    Empty,
    /// A character that cannot start a group, such as `.` or `-`.
    UnexpectedChar(char),
    /// A number with no unit after it, such as the `30` of `"1m30"`.
    MissingUnit(String),
    /// A unit other than `ms`, `s`, `m`, `h` and `d`.
    UnknownUnit(String),
    /// The total does not fit in `u64` milliseconds.
    TooLong,
    /// Every group is zero.
    Zero,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the duration is empty"),
            Self::UnexpectedChar(c) => write!(f, "unexpected `{c}`; write whole numbers followed by a unit"),
            Self::MissingUnit(number) => write!(f, "`{number}` has no unit"),
            Self::UnknownUnit(unit) => write!(f, "unknown unit `{unit}`"),
            Self::TooLong => f.write_str("the duration is too long"),
            Self::Zero => f.write_str("the duration must be greater than zero"),
        }
    }
}

/// Parses a human duration such as `"1h30m"`; zero is an error.
pub(crate) fn parse(text: &str) -> Result<Duration, DurationError> {
    let mut millis: u64 = 0;
    let mut rest = text.trim_start();
    if rest.is_empty() {
        return Err(DurationError::Empty);
    }
    while let Some(first) = rest.chars().next() {
        if !first.is_ascii_digit() {
            return Err(DurationError::UnexpectedChar(first));
        }
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let letters = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let (unit, after) = after.split_at(letters);
        let unit_millis = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(match after.chars().next() {
                    Some(c) if !c.is_whitespace() => DurationError::UnexpectedChar(c),
                    _ => DurationError::MissingUnit(number.to_owned()),
                });
            }
            _ => return Err(DurationError::UnknownUnit(unit.to_owned())),
        };
        let group =
            number.parse::<u64>().ok().and_then(|n| n.checked_mul(unit_millis)).ok_or(DurationError::TooLong)?;
        millis = millis.checked_add(group).ok_or(DurationError::TooLong)?;
        rest = after.trim_start();
    }
    if millis == 0 {
        return Err(DurationError::Zero);
    }
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> u128 {
        parse(text).expect("expected success").as_millis()
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(millis("500ms"), 500);
        assert_eq!(millis("90s"), 90_000);
        assert_eq!(millis("10m"), 600_000);
        assert_eq!(millis("2h"), 7_200_000);
        assert_eq!(millis("1d"), 86_400_000);
    }

    #[test]
    fn adds_up_groups() {
        assert_eq!(millis("1h30m"), 5_400_000);
        assert_eq!(millis("1h 30m"), 5_400_000);
        assert_eq!(millis("1m30s500ms"), 90_500);
        assert_eq!(millis("0h5s"), 5_000);
    }

    #[test]
    fn rejects_zero() {
        assert_eq!(parse("0s"), Err(DurationError::Zero));
        assert_eq!(parse("0h0m"), Err(DurationError::Zero));
    }

    #[test]
    fn rejects_malformed_strings() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(parse("  "), Err(DurationError::Empty));
        assert_eq!(parse("10"), Err(DurationError::MissingUnit("10".into())));
        assert_eq!(parse("1m30"), Err(DurationError::MissingUnit("30".into())));
        assert_eq!(parse("10min"), Err(DurationError::UnknownUnit("min".into())));
        assert_eq!(parse("10 m"), Err(DurationError::MissingUnit("10".into())));
        assert_eq!(parse("1.5h"), Err(DurationError::UnexpectedChar('.')));
        assert_eq!(parse("-1s"), Err(DurationError::UnexpectedChar('-')));
        assert_eq!(parse("h"), Err(DurationError::UnexpectedChar('h')));
    }

    #[test]
    fn rejects_overflow() {
        assert_eq!(parse("99999999999999999999s"), Err(DurationError::TooLong));
        assert_eq!(parse("18446744073709551615d"), Err(DurationError::TooLong));
        assert_eq!(parse("18446744073709551615ms 1ms"), Err(DurationError::TooLong));
    }

    #[test]
    fn error_messages_read_well() {
        assert_eq!(parse("10min").expect_err("expected an error").to_string(), "unknown unit `min`");
        assert_eq!(parse("1m30").expect_err("expected an error").to_string(), "`30` has no unit");
    }
}
