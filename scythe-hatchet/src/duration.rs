//! Hatchet's duration strings (`"90s"`, `"10m"`, `"2h"`, `"1500ms"`): what the engine accepts for
//! timeouts, matching `^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ms|s|m|h))+$`.

use std::time::Duration;

use crate::error::RequestError;

/// The largest whole unit that represents `duration` exactly; sub-millisecond parts round up.
pub(crate) fn to_hatchet(what: &'static str, duration: Duration) -> Result<String, RequestError> {
    let millis = duration.as_nanos().div_ceil(1_000_000);
    if millis == 0 {
        return Err(RequestError::OutOfRange {
            what,
            value: format!("{duration:?}"),
            min: "1ms".into(),
            max: "any".into(),
        });
    }
    Ok(match millis {
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_largest_exact_unit() {
        let cases = [
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(600), "10m"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(5400), "90m"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_nanos(1), "1ms"),
        ];
        for (duration, text) in cases {
            assert_eq!(to_hatchet("timeout", duration).unwrap(), text);
        }
        assert!(to_hatchet("timeout", Duration::ZERO).is_err());
    }
}
