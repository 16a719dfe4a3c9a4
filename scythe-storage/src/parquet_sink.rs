//! [`ParquetSink`]: a final table streamed into an object, encoded on a thread of its own.
//!
//! Three stages run at once, joined by bounded channels: the caller produces record batches,
//! a blocking thread encodes them (dictionaries, statistics, zstd: the costly part), and a
//! task uploads the encoded bytes (multipart for large tables). The caller's own work (reading
//! parts, joining index columns) thus overlaps with the encoding.
//!
//! Only [`ParquetSink::close`] completes the object: a sink dropped before, or a stage that
//! fails, aborts the upload, so no truncated table is ever left looking complete.

use std::io::Write;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use object_store::buffered::BufWriter;
use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::classify::{Access, classify};
use crate::error::StoreError;
use crate::parquet_io::{TableKind, writer_properties};
use crate::store::Store;

/// Batches waiting to be encoded.
const BATCHES_IN_FLIGHT: usize = 2;
/// Encoded bytes handed to the upload at a time.
const CHUNK_BYTES: usize = 8 << 20;
/// Chunks waiting to be uploaded.
const CHUNKS_IN_FLIGHT: usize = 2;

/// What the caller sends the encoder.
enum Command {
    Write(RecordBatch),
    /// Write the footer and complete the object.
    Close,
}

/// What the encoder sends the upload.
enum Encoded {
    Chunk(Bytes),
    /// The last chunk was sent: complete the object.
    Done,
}

/// Streams record batches into a Parquet object (multipart upload for large tables), encoding
/// on a blocking thread while the caller prepares the next batch.
pub struct ParquetSink {
    commands: mpsc::Sender<Command>,
    encoder: JoinHandle<Result<(), StoreError>>,
    upload: JoinHandle<Result<(), StoreError>>,
    uri: String,
    rows: u64,
}

impl std::fmt::Debug for ParquetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSink").field("uri", &self.uri).field("rows", &self.rows).finish()
    }
}

impl ParquetSink {
    /// Starts a final table at `key` with `schema` and key-value `metadata` (e.g. `pandas`).
    /// Must be called within a tokio runtime, which runs the encoding and the upload.
    pub fn create(
        store: &Store,
        key: &str,
        schema: SchemaRef,
        metadata: &[(String, String)],
        row_group_rows: usize,
    ) -> Result<Self, StoreError> {
        let uri = store.uri(key);
        let path = store.path(key)?;
        let properties = writer_properties(TableKind::Final, metadata, row_group_rows);
        let parquet = |uri: &str| {
            let uri = uri.to_owned();
            move |source| StoreError::Parquet { uri: uri.clone(), source }
        };
        let (chunks, mut encoded) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let mut writer =
            ArrowWriter::try_new(ChunkWriter::new(chunks), schema, Some(properties)).map_err(parquet(&uri))?;
        let (commands, mut received) = mpsc::channel(BATCHES_IN_FLIGHT);
        let encoder = tokio::task::spawn_blocking({
            let failed = parquet(&uri);
            move || {
                loop {
                    match received.blocking_recv() {
                        Some(Command::Write(batch)) => writer.write(&batch).map_err(&failed)?,
                        Some(Command::Close) => break,
                        // Dropped unclosed: the upload aborts when `Done` never comes.
                        None => return Ok(()),
                    }
                }
                let mut out = writer.into_inner().map_err(&failed)?;
                out.finish().map_err(|error| failed(ParquetError::External(Box::new(error))))
            }
        });
        let upload = tokio::spawn({
            let (location, uri) = (store.location().clone(), uri.clone());
            let mut object = BufWriter::new(Arc::clone(store.object_store()), path);
            async move {
                let failed = |error| classify(&location, uri.clone(), Access::Write, error);
                loop {
                    match encoded.recv().await {
                        Some(Encoded::Chunk(bytes)) => {
                            if let Err(error) = object.put(bytes).await {
                                let _ = object.abort().await;
                                return Err(failed(error));
                            }
                        }
                        Some(Encoded::Done) => {
                            use tokio::io::AsyncWriteExt;
                            return object.shutdown().await.map_err(|error| failed(backend_error(error)));
                        }
                        None => {
                            let _ = object.abort().await;
                            return Ok(());
                        }
                    }
                }
            }
        });
        Ok(Self { commands, encoder, upload, uri, rows: 0 })
    }

    /// Appends a batch (encoded in the background; an error shows here or at [`Self::close`]).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        self.rows += batch.num_rows() as u64;
        if self.commands.send(Command::Write(batch.clone())).await.is_err() {
            // The encoder stopped: its error (or the upload's) says why.
            return Err(self.stopped().await);
        }
        Ok(())
    }

    /// Finishes the file; returns the number of rows written.
    pub async fn close(mut self) -> Result<u64, StoreError> {
        if self.commands.send(Command::Close).await.is_err() {
            return Err(self.stopped().await);
        }
        let encoded = join(&mut self.encoder, &self.uri).await;
        let uploaded = join(&mut self.upload, &self.uri).await;
        // An upload error is the cause of an encoder's failed send: report it first.
        uploaded.and(encoded)?;
        Ok(self.rows)
    }

    /// The error of a stage that stopped before it was asked to.
    async fn stopped(&mut self) -> StoreError {
        let uploaded = join(&mut self.upload, &self.uri).await;
        let encoded = join(&mut self.encoder, &self.uri).await;
        match uploaded.and(encoded) {
            Err(error) => error,
            Ok(()) => internal(&self.uri, "the Parquet encoder stopped without an error"),
        }
    }
}

/// The backend's error inside an I/O error of the upload.
fn backend_error(error: std::io::Error) -> object_store::Error {
    let text = error.to_string();
    match error.into_inner().map(|inner| inner.downcast::<object_store::Error>()) {
        Some(Ok(source)) => *source,
        Some(Err(other)) => object_store::Error::Generic { store: "upload", source: other },
        None => object_store::Error::Generic { store: "upload", source: text.into() },
    }
}

/// The result of a stage, a panic turned into an error.
async fn join(stage: &mut JoinHandle<Result<(), StoreError>>, uri: &str) -> Result<(), StoreError> {
    match stage.await {
        Ok(result) => result,
        Err(error) => Err(internal(uri, &format!("a Parquet writing task failed: {error}"))),
    }
}

fn internal(uri: &str, reason: &str) -> StoreError {
    StoreError::Parquet { uri: uri.to_owned(), source: ParquetError::General(reason.to_owned()) }
}

/// The encoder's output: bytes gathered into chunks of [`CHUNK_BYTES`] for the upload.
struct ChunkWriter {
    chunks: mpsc::Sender<Encoded>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    fn new(chunks: mpsc::Sender<Encoded>) -> Self {
        Self { chunks, buffer: Vec::with_capacity(CHUNK_BYTES) }
    }

    fn send(&self, message: Encoded) -> std::io::Result<()> {
        self.chunks
            .blocking_send(message)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload of the table stopped"))
    }

    fn send_buffer(&mut self) -> std::io::Result<()> {
        let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
        self.send(Encoded::Chunk(Bytes::from(full)))
    }

    /// Sends what is left, then says the object is complete.
    fn finish(&mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            self.send_buffer()?;
        }
        self.send(Encoded::Done)
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send_buffer()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(start: u64, n: u64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::UInt64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from_iter_values(start..start + n)) as ArrayRef])
            .unwrap()
    }

    #[tokio::test]
    async fn a_closed_sink_holds_every_row_in_order() {
        let store = Store::memory();
        // Several row groups and more than one chunk of encoded bytes.
        let mut sink = ParquetSink::create(&store, "t.pq", batch(0, 1).schema(), &[], 100_000).unwrap();
        let n = 3_000_000;
        for start in (0..n).step_by(250_000) {
            sink.write(&batch(start, 250_000)).await.unwrap();
        }
        assert_eq!(sink.close().await.unwrap(), n);
        let read = store.read_parquet_whole("t.pq").await.unwrap();
        let values: Vec<u64> = read
            .iter()
            .flat_map(|b| b.column(0).as_any().downcast_ref::<UInt64Array>().unwrap().values().to_vec())
            .collect();
        assert_eq!(values, (0..n).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sink_dropped_unclosed_leaves_no_object() {
        let store = Store::memory();
        let mut sink = ParquetSink::create(&store, "t.pq", batch(0, 1).schema(), &[], 1000).unwrap();
        sink.write(&batch(0, 5000)).await.unwrap();
        drop(sink);
        // The stages notice the drop and abort; give them a moment.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!store.exists("t.pq").await.unwrap());
    }

    #[tokio::test]
    async fn a_batch_of_another_schema_fails_the_sink() {
        let store = Store::memory();
        let other = Arc::new(Schema::new(vec![Field::new("y", DataType::Utf8, false)]));
        let mut sink = ParquetSink::create(&store, "t.pq", other, &[], 1000).unwrap();
        // The encoder fails in the background: at the next write or at close.
        let written = sink.write(&batch(0, 10)).await;
        let error = match written {
            Err(error) => error,
            Ok(()) => sink.close().await.unwrap_err(),
        };
        assert!(matches!(error, StoreError::Parquet { .. }), "{error}");
        assert!(!store.exists("t.pq").await.unwrap());
    }
}
