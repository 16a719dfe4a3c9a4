//! The root package's example binaries, which `cargo test` builds next to the test binaries.

use std::path::PathBuf;
use std::process::Command;

/// Path of example `name` (e.g. `faults`), built by `cargo test` into `target/<profile>/examples`.
pub(crate) fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/<test> → target/<profile>/examples/<name>
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("test binaries live in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "example `{name}` is not built at {}; run the tests with `cargo test`", path.display());
    path
}

/// A command running example `name` on the embedded engine, whatever the test's environment
/// holds: the suite runs with a Hatchet engine's token exported (for the Hatchet tests), and a
/// developer's `SCYTHE_LOG`/`RUST_LOG` would change what the binary prints.
pub(crate) fn embedded(name: &str) -> Command {
    let mut command = Command::new(example(name));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("HATCHET_") || key.starts_with("SCYTHE_") || key == "RUST_LOG" {
            command.env_remove(key.as_ref());
        }
    }
    command.env("SCYTHE_ENGINE", "embedded");
    command
}
