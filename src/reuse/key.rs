//! Cache keys of specs. Each spec gets three digests (SHA-256):
//!
//! - the **result key**: the experiment's name, its code fingerprint, its input and output
//!   schemas, and the canonical input row, with each `FileRef` input replaced by the SHA-256 of
//!   the file's contents (so a file changed in place changes the key, and the same file
//!   uploaded under another run's folder does not). A result is reused only on this key.
//! - the **spec key** (first 16 bytes): the name, the input schema and the row's values
//!   *without* its file inputs and without the code: what stays the same when only the code
//!   or an input file's contents changed. The index is sharded by it, so one lookup finds both
//!   the hits and what tells why a miss ran (`--explain`).
//! - the **files digest** (first 16 bytes, only for experiments with `FileRef` inputs): the
//!   content hashes of the row's input files.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::row::{RowConverter, Rows, SortField};
use scythe_core::CodeFingerprint;
use scythe_core::schema::{ColumnKind, ExperimentSchema};
use scythe_storage::Store;
use sha2::{Digest, Sha256};

use crate::cache::FileCache;
use crate::error::Error;

/// A spec's result key: a SHA-256.
pub(crate) type Key = [u8; 32];
/// A spec key or a files digest: the first 16 bytes of a SHA-256.
pub(crate) type Short = [u8; 16];

/// Rows keyed per thread at least: below this, one thread does it all.
const ROWS_PER_THREAD: usize = 16 * 1024;

/// The digests of one spec (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpecKeys {
    pub(crate) result: Key,
    pub(crate) spec: Short,
    /// `None` for an experiment without file inputs.
    pub(crate) files: Option<Short>,
}

/// Which digests [`Keyer::keys`] computes; those left out are zero (`files`: `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digests {
    /// All three.
    All,
    /// The result key alone: all a whole run's digest needs.
    Result,
    /// The spec key and the files digest: the rest, for the index lookup.
    SpecAndFiles,
}

/// Computes the keys of one experiment's specs.
pub(crate) struct Keyer {
    /// Hash state after the experiment-wide parts of the result key.
    result_base: Sha256,
    /// Hash state after the experiment-wide parts of the spec key.
    spec_base: Sha256,
    /// The input columns, in schema order, and whether each is a file reference.
    columns: Vec<(String, bool)>,
    /// Every input column, file references as content hashes.
    converter: RowConverter,
    /// The input columns that are not file references (`None`: there are none).
    value_converter: Option<RowConverter>,
    /// Content hash by stored URI, computed once per file.
    file_hashes: HashMap<String, Option<String>>,
}

impl Keyer {
    /// A keyer for `schema` with `fingerprint`.
    pub(crate) fn new(schema: &ExperimentSchema, fingerprint: &CodeFingerprint) -> Result<Self, Error> {
        let input_fields = format!("{:?}", schema.input().fields());
        let mut result_base = Sha256::new();
        for part in [
            "scythe-result-cache-v1",
            schema.name(),
            fingerprint.function,
            fingerprint.cache_version,
            fingerprint.crate_version,
        ] {
            update_framed(&mut result_base, part.as_bytes());
        }
        update_framed(&mut result_base, input_fields.as_bytes());
        update_framed(&mut result_base, format!("{:?}", schema.output().fields()).as_bytes());
        let mut spec_base = Sha256::new();
        for part in ["scythe-spec-v1", schema.name(), &input_fields] {
            update_framed(&mut spec_base, part.as_bytes());
        }
        let files: Vec<&str> = schema.input().columns_of(ColumnKind::FileRef).map(|c| c.name.as_str()).collect();
        let columns: Vec<(String, bool)> =
            schema.input().fields().iter().map(|f| (f.name().clone(), files.contains(&f.name().as_str()))).collect();
        let sort_field = |field: &arrow::datatypes::FieldRef, is_file: bool| {
            SortField::new(if is_file { arrow::datatypes::DataType::Utf8 } else { field.data_type().clone() })
        };
        let fields = schema.input().fields();
        let converter =
            RowConverter::new(fields.iter().zip(&columns).map(|(f, (_, file))| sort_field(f, *file)).collect())
                .map_err(Error::arrow("encoding spec rows for the cache"))?;
        let value_converter = if files.is_empty() {
            None
        } else {
            let values = fields.iter().zip(&columns).filter(|(_, (_, file))| !file).map(|(f, _)| sort_field(f, false));
            Some(RowConverter::new(values.collect()).map_err(Error::arrow("encoding spec rows for the cache"))?)
        };
        Ok(Self { result_base, spec_base, columns, converter, value_converter, file_hashes: HashMap::new() })
    }

    /// The `digests` of every row of `specs` (conformed input rows, file references as stored
    /// URIs); `None` for a row whose input file cannot be read (it runs, and fails with the
    /// reason; the same rows whatever `digests`). Rows are hashed on all CPUs.
    pub(crate) async fn keys(
        &mut self,
        specs: &RecordBatch,
        cache: &FileCache,
        store: &Store,
        digests: Digests,
    ) -> Result<Vec<Option<SpecKeys>>, Error> {
        let n = specs.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        let mut values: Vec<ArrayRef> = Vec::new();
        // Per row, the content hashes of its files, in column order (empty without files).
        let mut file_hashes: Vec<Vec<u8>> = Vec::new();
        let mut unreadable = vec![false; n];
        let wanted = self.columns.clone();
        for (name, is_file) in &wanted {
            let column = specs.column_by_name(name).ok_or_else(|| Error::CorruptRun {
                run: String::new(),
                reason: format!("the specs lack input field `{name}`"),
            })?;
            if !is_file {
                columns.push(Arc::clone(column));
                values.push(Arc::clone(column));
                continue;
            }
            file_hashes.resize_with(n, Vec::new);
            let uris = column.as_string::<i32>();
            let mut hashes = Vec::with_capacity(uris.len());
            for (row, uri) in uris.iter().enumerate() {
                let hash = match uri {
                    Some(uri) => {
                        let hash = self.file_hash(uri, cache, store).await;
                        unreadable[row] |= hash.is_none();
                        hash
                    }
                    None => None,
                };
                update_framed_vec(&mut file_hashes[row], hash.as_deref().unwrap_or("").as_bytes());
                hashes.push(hash);
            }
            columns.push(Arc::new(StringArray::from(hashes)));
        }
        let encode = |converter: &RowConverter, columns: &[ArrayRef]| {
            converter.convert_columns(columns).map_err(Error::arrow("encoding spec rows for the cache"))
        };
        let rows = encode(&self.converter, &columns)?;
        // A converter over no columns encodes no rows at all: only file inputs have no value rows.
        let value_rows = match &self.value_converter {
            Some(converter) if !values.is_empty() => Some(encode(converter, &values)?),
            _ => None,
        };
        let job = HashJob {
            result_base: &self.result_base,
            spec_base: &self.spec_base,
            rows: &rows,
            has_files: self.value_converter.is_some(),
            value_rows: value_rows.as_ref(),
            file_hashes: &file_hashes,
            unreadable: &unreadable,
            digests,
        };
        Ok(job.run(n))
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

/// The hashing of one batch of encoded rows, split over the CPUs.
struct HashJob<'a> {
    result_base: &'a Sha256,
    spec_base: &'a Sha256,
    /// Every input column, files as content hashes.
    rows: &'a Rows,
    /// Whether the input has file columns (then the spec key leaves them out).
    has_files: bool,
    /// The columns that are not files, when there are files and other columns.
    value_rows: Option<&'a Rows>,
    /// Per row, its framed file hashes (empty without files).
    file_hashes: &'a [Vec<u8>],
    unreadable: &'a [bool],
    digests: Digests,
}

impl HashJob<'_> {
    fn run(&self, n: usize) -> Vec<Option<SpecKeys>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(n / ROWS_PER_THREAD).max(1);
        if threads == 1 {
            return (0..n).map(|row| self.keys_of(row)).collect();
        }
        let per_thread = n.div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .step_by(per_thread)
                .map(|start| {
                    scope.spawn(move || {
                        (start..n.min(start + per_thread)).map(|row| self.keys_of(row)).collect::<Vec<_>>()
                    })
                })
                .collect();
            // A hashing thread cannot panic (no indexing past the rows it was given); should
            // one, its rows are simply not cached.
            handles
                .into_iter()
                .zip((0..n).step_by(per_thread))
                .flat_map(|(handle, start)| {
                    handle.join().unwrap_or_else(|_| vec![None; n.min(start + per_thread) - start])
                })
                .collect()
        })
    }

    fn keys_of(&self, row: usize) -> Option<SpecKeys> {
        if self.unreadable[row] {
            return None;
        }
        let encoded = self.rows.row(row);
        let mut keys = SpecKeys { result: [0; 32], spec: [0; 16], files: None };
        if self.digests != Digests::SpecAndFiles {
            let mut result = self.result_base.clone();
            update_framed(&mut result, encoded.as_ref());
            keys.result = result.finalize().into();
        }
        if self.digests == Digests::Result {
            return Some(keys);
        }
        let mut spec = self.spec_base.clone();
        match (self.has_files, self.value_rows) {
            (false, _) => update_framed(&mut spec, encoded.as_ref()),
            (true, Some(values)) => update_framed(&mut spec, values.row(row).as_ref()),
            // Only file inputs: the spec key is the experiment's alone.
            (true, None) => update_framed(&mut spec, &[]),
        }
        keys.spec = short(&spec.finalize());
        keys.files = self.has_files.then(|| short(&Sha256::digest(&self.file_hashes[row])));
        Some(keys)
    }
}

/// The first 16 bytes of a digest.
fn short(digest: &[u8]) -> Short {
    let mut out = [0; 16];
    out.copy_from_slice(&digest[..16]);
    out
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

/// [`update_framed`] into a buffer hashed later.
fn update_framed_vec(buffer: &mut Vec<u8>, bytes: &[u8]) {
    buffer.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    buffer.extend_from_slice(bytes);
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
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
