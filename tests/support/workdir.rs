//! A temporary folder for the `counted` example's runs: its store and the input files
//! `a.txt` ("alpha") and `b.txt` ("bravo!").

use std::path::PathBuf;

/// The folder (deleted when dropped).
pub(crate) struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    /// A new folder holding `a.txt` and `b.txt`.
    pub(crate) fn new() -> Self {
        let work = Self { dir: tempfile::tempdir().expect("a temporary folder") };
        work.write("a.txt", "alpha");
        work.write("b.txt", "bravo!");
        work
    }

    /// `name` inside the folder.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name` inside the folder.
    pub(crate) fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).expect("writing a test file");
    }
}
