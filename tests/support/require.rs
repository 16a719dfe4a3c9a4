//! Skipping a check whose external part (an engine, an emulator, Python) is missing — or failing
//! it, when the suite must not pass by skipping.

/// The variable `scripts/test.sh` sets to `1`: every external part it starts must be used.
pub(crate) const REQUIRE: &str = "SCYTHE_TEST_REQUIRE";

/// Prints why a check is skipped, or panics when [`REQUIRE`] is `1`: CI must fail loudly when
/// an engine or emulator it should have started is absent.
pub(crate) fn skip(reason: &str) {
    if std::env::var_os(REQUIRE).is_some_and(|value| value == "1") {
        panic!("{reason}, and {REQUIRE}=1 (set by scripts/test.sh) forbids skipping this check");
    }
    eprintln!("skipping: {reason}");
}

/// Whether a Hatchet engine is configured (`HATCHET_CLIENT_TOKEN` set); if not, skips (see
/// [`skip`]) and returns `false`.
pub(crate) fn hatchet() -> bool {
    if std::env::var_os("HATCHET_CLIENT_TOKEN").is_some() {
        return true;
    }
    skip("HATCHET_CLIENT_TOKEN is not set (source the env file of `scripts/hatchet-engine.sh start`)");
    false
}
