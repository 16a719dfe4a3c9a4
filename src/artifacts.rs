//! Input artifacts: local files named by the specs' `FileRef` fields, uploaded once per run to
//! `artifacts/<field>/<file name>` and replaced in the specs by their stored URIs.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray};
use futures::{StreamExt, TryStreamExt};
use scythe_core::layout::RunLayout;
use scythe_core::schema::{ColumnKind, DataSchema};
use scythe_core::validate::replace_column;
use scythe_storage::Store;

use crate::error::Error;
use crate::specs::local_file;

/// Uploads in flight at once.
const UPLOAD_CONCURRENCY: usize = 8;

/// The local files of each file field, checked, with their file names.
#[derive(Debug, Default)]
pub(crate) struct ArtifactPlan {
    /// field → (as written in the specs → canonical path)
    written: BTreeMap<String, HashMap<String, PathBuf>>,
    /// field → (canonical path → file name)
    names: BTreeMap<String, BTreeMap<PathBuf, String>>,
}

impl ArtifactPlan {
    /// Finds and checks every local input file before anything is written: each must exist, and
    /// two different files in one field cannot share a file name.
    pub(crate) fn new(batches: &[RecordBatch], input: &DataSchema) -> Result<Self, Error> {
        let mut plan = ArtifactPlan::default();
        for column in input.columns_of(ColumnKind::FileRef) {
            let written = plan.written.entry(column.name.clone()).or_default();
            let names = plan.names.entry(column.name.clone()).or_default();
            let mut by_name: HashMap<String, PathBuf> = HashMap::new();
            let mut row = 0u64;
            for batch in batches {
                let Some(values) = batch.column_by_name(&column.name) else { continue };
                for value in values.as_string::<i32>().iter() {
                    if let Some(value) = value
                        && !written.contains_key(value)
                        && let Some(path) = local_file(value)
                    {
                        let canonical = std::fs::canonicalize(&path).map_err(|error| {
                            Error::Artifacts(format!(
                                "row {row}, field `{}`: input file `{}`: {error}",
                                column.name,
                                path.display()
                            ))
                        })?;
                        if !canonical.is_file() {
                            return Err(Error::Artifacts(format!(
                                "row {row}, field `{}`: `{}` is not a file",
                                column.name,
                                path.display()
                            )));
                        }
                        let name = canonical.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                        if let Some(other) = by_name.get(&name).filter(|other| **other != canonical) {
                            return Err(Error::Artifacts(format!(
                                "field `{}` names two different files called `{name}` (`{}` and `{}`); they would overwrite each other in artifacts/{}/ — rename one",
                                column.name,
                                other.display(),
                                canonical.display(),
                                column.name
                            )));
                        }
                        by_name.insert(name.clone(), canonical.clone());
                        names.insert(canonical.clone(), name);
                        written.insert(value.to_owned(), canonical);
                    }
                    row += 1;
                }
            }
        }
        Ok(plan)
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
