//! [`App`]: the user's binary — register experiments, then `run()` the command line.

use std::collections::BTreeMap;
use std::sync::Arc;

use scythe_core::{Experiment, ExperimentData};

use crate::error::Error;
use crate::registry::{Registered, register};
use crate::specs::Specs;

/// Makes specs for a sample of `n` with a seed.
pub(crate) type Sampler = Arc<dyn Fn(usize, u64) -> Result<Specs, Error> + Send + Sync>;

/// The command-line application: `scatter`, `resume`, `gather`, `runs`, `status`, `results`,
/// `schema`.
///
/// ```no_run
/// # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, JsonSchema)] struct Input { x: f64 }
/// # #[derive(Serialize, Deserialize, JsonSchema)] struct Output { y: f64 }
/// #[scythe::experiment]
/// fn square(input: Input) -> Output { Output { y: input.x * input.x } }
///
/// fn main() -> std::process::ExitCode {
///     scythe::App::new()
///         .experiment::<square>()
///         .sampler::<square>(|n, _seed| (0..n).map(|i| Input { x: i as f64 }).collect())
///         .run()
/// }
/// ```
#[derive(Default)]
pub struct App {
    pub(crate) experiments: Vec<Arc<dyn Registered>>,
    pub(crate) samplers: BTreeMap<String, Sampler>,
    pub(crate) errors: Vec<Error>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.experiments.iter().map(|e| e.schema().name()).collect();
        f.debug_struct("App").field("experiments", &names).finish()
    }
}

impl App {
    /// An app with no experiments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers experiment `E` (the type `#[scythe::experiment]` generated).
    ///
    /// Two experiments registered under one name are an error, reported when the app runs.
    pub fn experiment<E: Experiment>(mut self) -> Self {
        if self.experiments.iter().any(|known| known.schema().name() == E::CONFIG.name) {
            self.errors.push(Error::DuplicateExperiment(E::CONFIG.name.to_owned()));
            return self;
        }
        match register::<E>() {
            Ok(experiment) => self.experiments.push(experiment),
            Err(error) => self.errors.push(error),
        }
        self
    }

    /// Lets `scatter <E> --sample N [--seed S]` draw specs from `sample(n, seed)`.
    pub fn sampler<E: Experiment>(
        mut self,
        sample: impl Fn(usize, u64) -> Vec<E::Input> + Send + Sync + 'static,
    ) -> Self
    where
        E::Input: ExperimentData,
    {
        let sampler: Sampler = Arc::new(move |n, seed| Specs::from_values(&sample(n, seed)));
        self.samplers.insert(E::CONFIG.name.to_owned(), sampler);
        self
    }

    pub(crate) fn find(&self, name: &str) -> Result<Arc<dyn Registered>, Error> {
        self.experiments.iter().find(|e| e.schema().name() == name).cloned().ok_or_else(|| Error::UnknownExperiment {
            name: name.to_owned(),
            registered: self
                .experiments
                .iter()
                .map(|e| format!("`{}`", e.schema().name()))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}
