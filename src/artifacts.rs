//! Input artifacts: local files named by the specs' `FileRef` fields, uploaded once per run to
//! `artifacts/<field>/<file name>` and replaced in the specs by their stored URIs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray};
use futures::{StreamExt, TryStreamExt};
use scythe_core::layout::RunLayout;
use scythe_core::schema::{ColumnKind, DataSchema};
use scythe_core::validate::{SpecError, SpecIssue, replace_column};
use scythe_storage::{Store, check_key};

use crate::error::Error;
use crate::specs::local_file;

/// Uploads in flight at once.
const UPLOAD_CONCURRENCY: usize = 8;
/// Most input file problems listed in one error; the rest are counted.
const MAX_ISSUES: usize = 10;

/// The local files of each file field, checked, with their file names.
#[derive(Debug, Default)]
pub(crate) struct ArtifactPlan {
    /// field → (as written in the specs → canonical path)
    written: BTreeMap<String, HashMap<String, PathBuf>>,
    /// field → (canonical path → file name)
    names: BTreeMap<String, BTreeMap<PathBuf, String>>,
}

impl ArtifactPlan {
    /// Finds and checks every local input file before anything is written; see
    /// [`ArtifactPlan::check`].
    pub(crate) fn new(batches: &[RecordBatch], input: &DataSchema) -> Result<Self, Error> {
        Self::check(batches, input)
            .map_err(|source| Error::Specs { origin: "the specs' input files".to_owned(), source })
    }

    /// Checks every local input file without writing anything: each must exist and be a file,
    /// its name must make a valid storage key (`artifacts/<field>/<file name>`: no control
    /// characters), and two different files in one field cannot share a file name (they would
    /// upload to the same key). Problems name the row and field.
    pub(crate) fn check(batches: &[RecordBatch], input: &DataSchema) -> Result<Self, SpecError> {
        let mut plan = ArtifactPlan::default();
        let mut issues = Vec::new();
        let mut total = 0usize;
        let mut report = |row: u64, field: &str, message: String| {
            total += 1;
            if issues.len() < MAX_ISSUES {
                issues.push(SpecIssue { row: Some(row), field: Some(field.to_owned()), message });
            }
        };
        for column in input.columns_of(ColumnKind::FileRef) {
            let field = column.name.as_str();
            let written = plan.written.entry(column.name.clone()).or_default();
            let names = plan.names.entry(column.name.clone()).or_default();
            let mut by_name: HashMap<String, PathBuf> = HashMap::new();
            let mut row = 0u64;
            for batch in batches {
                let Some(values) = batch.column_by_name(field) else { continue };
                for value in values.as_string::<i32>().iter() {
                    if let Some(value) = value
                        && !written.contains_key(value)
                        && let Some(path) = local_file(value)
                    {
                        match checked_file(&path, field, &by_name) {
                            Ok((canonical, name)) => {
                                by_name.insert(name.clone(), canonical.clone());
                                names.insert(canonical.clone(), name);
                                written.insert(value.to_owned(), canonical);
                            }
                            Err(message) => report(row, field, message),
                        }
                    }
                    row += 1;
                }
            }
        }
        if total == 0 { Ok(plan) } else { Err(SpecError { issues, total }) }
    }

    /// Whether any local file must be uploaded.
    pub(crate) fn is_empty(&self) -> bool {
        self.names.values().all(BTreeMap::is_empty)
    }

    /// Uploads every file once and rewrites the specs to the stored URIs.
    /// Returns the new batches and, per field, the uploaded URIs.
    pub(crate) async fn upload(
        &self,
        store: &Store,
        layout: &RunLayout,
        batches: Vec<RecordBatch>,
    ) -> Result<(Vec<RecordBatch>, BTreeMap<String, Vec<String>>), Error> {
        let mut uris: BTreeMap<String, HashMap<PathBuf, String>> = BTreeMap::new();
        // Owned jobs: a stream of closures borrowing `self` would make this future !Send.
        let jobs: Vec<(String, PathBuf, String)> = self
            .names
            .iter()
            .flat_map(|(field, names)| {
                names.iter().map(|(path, name)| (field.clone(), path.clone(), layout.artifact(field, name)))
            })
            .collect();
        let uploaded: Vec<(String, PathBuf, String)> =
            futures::stream::iter(jobs.into_iter().map(|(field, path, key)| {
                let store = store.clone();
                async move {
                    store.upload_file(&path, &key).await?;
                    let uri = store.uri(&key);
                    Ok::<_, Error>((field, path, uri))
                }
            }))
            .buffer_unordered(UPLOAD_CONCURRENCY)
            .try_collect()
            .await?;
        for (field, path, uri) in uploaded {
            uris.entry(field).or_default().insert(path, uri);
        }
        let mut rewritten = Vec::with_capacity(batches.len());
        for mut batch in batches {
            for (field, written) in &self.written {
                let Some(values) = batch.column_by_name(field) else { continue };
                let field_uris = uris.get(field);
                let column: StringArray = values
                    .as_string::<i32>()
                    .iter()
                    .map(|value| {
                        value.map(|value| {
                            written.get(value).and_then(|path| field_uris?.get(path)).map_or(value, String::as_str)
                        })
                    })
                    .collect();
                batch = replace_column(&batch, field, Arc::new(column) as ArrayRef)
                    .map_err(Error::arrow("rewriting input file references"))?;
            }
            rewritten.push(batch);
        }
        let listing = uris
            .into_iter()
            .map(|(field, by_path)| {
                let mut list: Vec<String> = by_path.into_values().collect();
                list.sort();
                (field, list)
            })
            .filter(|(_, list)| !list.is_empty())
            .collect();
        Ok((rewritten, listing))
    }
}

/// Resolves a local input file and checks it can be uploaded: it exists, is a file, its name
/// makes a valid key, and no other file of the field (`by_name`) has that name.
fn checked_file(path: &Path, field: &str, by_name: &HashMap<String, PathBuf>) -> Result<(PathBuf, String), String> {
    let canonical = std::fs::canonicalize(path).map_err(|error| format!("input file `{}`: {error}", path.display()))?;
    if !canonical.is_file() {
        return Err(format!("`{}` is not a file", path.display()));
    }
    let name = canonical.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if let Err(error) = check_key(&format!("artifacts/{field}/{name}")) {
        let reason = match error {
            scythe_storage::StoreError::InvalidKey { reason, .. } => reason,
            other => other.to_string(),
        };
        return Err(format!(
            "input file {:?} cannot be stored under its name ({reason}); rename the file",
            canonical.display().to_string()
        ));
    }
    if let Some(other) = by_name.get(&name).filter(|other| **other != canonical) {
        return Err(format!(
            "two different files called `{name}` (`{}` and `{}`) would both upload to artifacts/{field}/{name}; rename one",
            other.display(),
            canonical.display(),
        ));
    }
    Ok((canonical, name))
}
