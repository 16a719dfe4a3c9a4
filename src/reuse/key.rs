//! Cache keys of specs: SHA-256 of the experiment's name, its code fingerprint, its input and
//! output schemas, and the canonical input row, with each `FileRef` input replaced by the
//! SHA-256 of the file's contents (so a file changed in place changes the key, and the same
//! file uploaded under another run's folder does not).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::row::{RowConverter, SortField};
use scythe_core::CodeFingerprint;
use scythe_core::schema::{ColumnKind, ExperimentSchema};
use scythe_storage::Store;
use sha2::{Digest, Sha256};

use crate::cache::FileCache;
use crate::error::Error;

/// A spec's cache key: 64 hex digits.
pub(crate) type Key = String;

/// Computes the keys of one experiment's specs.
pub(crate) struct Keyer {
    /// Hash state after the experiment-wide parts of the key.
    base: Sha256,
    /// The input columns, in schema order, and whether each is a file reference.
    columns: Vec<(String, bool)>,
    converter: RowConverter,
    /// Content hash by stored URI, computed once per file.
    file_hashes: HashMap<String, Option<String>>,
}

impl Keyer {
    /// A keyer for `schema` with `fingerprint`.
    pub(crate) fn new(schema: &ExperimentSchema, fingerprint: &CodeFingerprint) -> Result<Self, Error> {
        let mut base = Sha256::new();
        for part in [
            "scythe-result-cache-v1",
            schema.name(),
            fingerprint.function,
            fingerprint.cache_version,
            fingerprint.crate_version,
        ] {
            update_framed(&mut base, part.as_bytes());
        }
        update_framed(&mut base, format!("{:?}", schema.input().fields()).as_bytes());
        update_framed(&mut base, format!("{:?}", schema.output().fields()).as_bytes());
        let files: Vec<&str> = schema.input().columns_of(ColumnKind::FileRef).map(|c| c.name.as_str()).collect();
        let columns: Vec<(String, bool)> =
            schema.input().fields().iter().map(|f| (f.name().clone(), files.contains(&f.name().as_str()))).collect();
        let sort_fields = schema
            .input()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(field, (_, is_file))| {
                SortField::new(if *is_file { arrow::datatypes::DataType::Utf8 } else { field.data_type().clone() })
            })
            .collect();
        let converter = RowConverter::new(sort_fields).map_err(Error::arrow("encoding spec rows for the cache"))?;
        Ok(Self { base, columns, converter, file_hashes: HashMap::new() })
    }

    /// The key of every row of `specs` (conformed input rows, file references as stored URIs);
    /// `None` for a row whose input file cannot be read (it runs, and fails with the reason).
    pub(crate) async fn keys(
        &mut self,
        specs: &RecordBatch,
        cache: &FileCache,
        store: &Store,
    ) -> Result<Vec<Option<Key>>, Error> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        let mut unreadable = vec![false; specs.num_rows()];
        let wanted = self.columns.clone();
        for (name, is_file) in &wanted {
            let column = specs.column_by_name(name).ok_or_else(|| Error::CorruptRun {
                run: String::new(),
                reason: format!("the specs lack input field `{name}`"),
            })?;
            if !is_file {
                columns.push(Arc::clone(column));
                continue;
            }
            let uris = column.as_string::<i32>();
            let mut hashes = Vec::with_capacity(uris.len());
            for (uri, unreadable) in uris.iter().zip(unreadable.iter_mut()) {
                let Some(uri) = uri else {
                    hashes.push(None);
                    continue;
                };
                let hash = self.file_hash(uri, cache, store).await;
                *unreadable |= hash.is_none();
                hashes.push(hash);
            }
            columns.push(Arc::new(StringArray::from(hashes)));
        }
        let rows =
            self.converter.convert_columns(&columns).map_err(Error::arrow("encoding spec rows for the cache"))?;
        Ok((0..specs.num_rows())
            .map(|row| {
                (!unreadable[row]).then(|| {
                    let mut hasher = self.base.clone();
                    update_framed(&mut hasher, rows.row(row).as_ref());
                    hex(&hasher.finalize())
                })
            })
            .collect())
    }

    /// `sha256:<hex>` of the file at `uri`, fetched through the worker's input cache.
    async fn file_hash(&mut self, uri: &str, cache: &FileCache, store: &Store) -> Option<String> {
        if let Some(known) = self.file_hashes.get(uri) {
            return known.clone();
        }
        let hash = match cache.local_path(uri, store).await {
            Ok(path) => tokio::task::spawn_blocking(move || hash_file(&path)).await.ok().flatten(),
            Err(error) => {
                tracing::debug!(uri, "not cached: its input file cannot be read: {error}");
                None
            }
        };
        self.file_hashes.insert(uri.to_owned(), hash.clone());
        hash
    }
}

/// `sha256:<hex>` of a local file's contents.
fn hash_file(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buffer).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Some(format!("sha256:{}", hex(&hasher.finalize())))
}

/// Length-prefixed, so no two sequences of parts hash alike.
fn update_framed(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_keeps_parts_apart() {
        let digest = |parts: &[&str]| {
            let mut hasher = Sha256::new();
            for part in parts {
                update_framed(&mut hasher, part.as_bytes());
            }
            hex(&hasher.finalize())
        };
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
        assert_eq!(digest(&["ab", "c"]).len(), 64);
    }

    #[test]
    fn files_hash_by_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        std::fs::write(&a, "x\n1\n").expect("write");
        std::fs::write(&b, "x\n1\n").expect("write");
        assert_eq!(hash_file(&a), hash_file(&b));
        std::fs::write(&b, "x\n2\n").expect("write");
        assert_ne!(hash_file(&a), hash_file(&b));
        assert_eq!(hash_file(&dir.path().join("missing")), None);
    }
}
