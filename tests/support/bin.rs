//! The root package's example binaries, which `cargo test` builds next to the test binaries.

use std::path::PathBuf;

/// Path of example `name` (e.g. `faults`), built by `cargo test` into `target/<profile>/examples`.
pub(crate) fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/<test> → target/<profile>/examples/<name>
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("test binaries live in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "example `{name}` is not built at {}; run the tests with `cargo test`", path.display());
    path
}
