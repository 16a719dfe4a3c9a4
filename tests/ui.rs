//! Compile-time behaviour of `#[scythe::experiment]`: what it accepts and how it reports mistakes.
//!
//! Each `ui/fail/<mistake>.rs` holds one mistake and its expected diagnostics in `<mistake>.stderr`
//! (regenerate with `TRYBUILD=overwrite cargo test --test ui`, then read every diff); each
//! `ui/pass/*.rs` must compile and run.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
