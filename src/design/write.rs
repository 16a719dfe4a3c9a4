//! Writing a design's specs (`design --out FILE`): `.csv`, `.jsonl`/`.ndjson` or
//! `.pq`/`.parquet`, or CSV on standard output. Rows are generated, validated as a run would
//! validate them, and written a chunk at a time, so memory does not grow with the design; a
//! file appears under its name only once whole (a temporary file beside it is renamed), so a
//! design refused halfway leaves nothing and a rerun replaces the file.

use std::io::Write;
use std::path::Path;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use scythe_core::design::{DesignChunk, DesignRows, DesignTable};
use scythe_core::schema::DataSchema;
use serde_json::Value;

use super::batch::BatchBuilder;
use super::{Built, CHUNK_ROWS, template};
use crate::artifacts::ArtifactPlan;
use crate::error::Error;
use crate::specs::{DecodeCheck, check_batch};

/// The formats `--out` writes, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
    Parquet,
}

impl Format {
    fn of(path: &Path) -> Result<Self, Error> {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" => Ok(Format::JsonLines),
            "pq" | "parquet" => Ok(Format::Parquet),
            _ => Err(Error::Settings(format!(
                "--out `{}`: unknown format `.{extension}`; use .csv, .jsonl or .pq",
                path.display()
            ))),
        }
    }
}

/// Writes the design's validated specs to `out`, or as CSV to stdout; returns the row count.
/// Nothing is written if any row is refused.
pub(crate) fn write(
    built: &Built,
    input: &DataSchema,
    check: DecodeCheck<'_>,
    out: Option<&Path>,
) -> Result<u64, Error> {
    let format = out.map(Format::of).transpose()?.unwrap_or(Format::Csv);
    if format == Format::Csv {
        refuse_nested(built.rows.columns(), "write .jsonl or .pq")?;
    }
    let origin = format!("the {} design", built.record.method);
    let mut builder = BatchBuilder::new(&built.rows, input);
    let mut validate = |chunk: &DesignChunk<'_>| -> Result<RecordBatch, Error> {
        let located = |source| Error::Specs { origin: origin.clone(), source };
        let batch = builder.batch(chunk)?;
        let valid = check_batch(&batch, input, chunk.start, check).map_err(located)?;
        // Input files named by the design (only from --set/--levels) must exist and be
        // uploadable, as allocation would check; checked per chunk, which sees every value.
        ArtifactPlan::check(std::slice::from_ref(&valid), input).map_err(located)?;
        Ok(valid)
    };
    let rows = &built.rows;
    let Some(path) = out else {
        // Standard output cannot be taken back: validate every chunk, then print.
        for start in (0..rows.len()).step_by(CHUNK_ROWS) {
            validate(&rows.chunk(start, CHUNK_ROWS))?;
        }
        let mut stdout = std::io::stdout().lock();
        let context = "writing to standard output";
        write_csv_header(rows.columns(), &mut stdout).map_err(Error::io(context))?;
        for start in (0..rows.len()).step_by(CHUNK_ROWS) {
            write_csv_rows(&rows.chunk(start, CHUNK_ROWS), &mut stdout).map_err(Error::io(context))?;
        }
        stdout.flush().map_err(Error::io(context))?;
        return Ok(rows.len());
    };
    replace_file(path, |file| match format {
        Format::Parquet => write_parquet(rows, &mut validate, file),
        text => write_text(rows, text, &mut validate, file),
    })?;
    Ok(rows.len())
}

/// `design --template`: the fields and one example row, to `out` (`.csv` or `.jsonl`) or as
/// CSV to stdout. CSV cannot hold nested structs: their fields need `.jsonl`.
pub(crate) fn write_template(input: &DataSchema, out: Option<&Path>) -> Result<(), Error> {
    let table = template(input);
    let format = out.map(Format::of).transpose()?.unwrap_or(Format::Csv);
    if format == Format::Parquet {
        return Err(Error::Settings("--template writes .csv or .jsonl; give --out one of those".to_owned()));
    }
    if format == Format::Csv {
        refuse_nested(&table.columns, "pass --out template.jsonl (JSON Lines holds nested structs)")?;
    }
    let Some(path) = out else {
        let mut stdout = std::io::stdout().lock();
        return write_table(&table, format, &mut stdout).map_err(Error::io("writing to standard output"));
    };
    replace_file(path, |file| {
        write_table(&table, format, file).map_err(Error::io(format!("writing `{}`", path.display())))
    })
}

fn refuse_nested(columns: &[String], instead: &str) -> Result<(), Error> {
    match columns.iter().find(|c| c.contains('.')) {
        Some(nested) => Err(Error::Settings(format!(
            "field `{nested}` is inside a nested struct, which CSV cannot hold; {instead}"
        ))),
        None => Ok(()),
    }
}

/// Writes `path` through a temporary file in its folder, renamed over `path` once `write`
/// succeeds (removed if it fails).
fn replace_file(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut tempfile::NamedTempFile>) -> Result<(), Error>,
) -> Result<(), Error> {
    let context = format!("writing `{}`", path.display());
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temporary =
        tempfile::Builder::new().prefix(".scythe-design-").tempfile_in(folder).map_err(Error::io(context.clone()))?;
    {
        let mut buffered = std::io::BufWriter::new(&mut temporary);
        write(&mut buffered)?;
        buffered.flush().map_err(Error::io(context.clone()))?;
    }
    temporary.persist(path).map_err(|error| Error::io(context)(error.error))?;
    Ok(())
}

fn write_parquet(
    rows: &DesignRows,
    validate: &mut dyn FnMut(&DesignChunk<'_>) -> Result<RecordBatch, Error>,
    file: &mut dyn WriteSend,
) -> Result<(), Error> {
    let parquet = |error: parquet::errors::ParquetError| Error::Document {
        document: "the design's Parquet file".to_owned(),
        reason: error.to_string(),
    };
    // One row group per chunk: the writer holds one chunk's encoded pages at a time. Snappy,
    // pyarrow's default.
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(CHUNK_ROWS))
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer: Option<ArrowWriter<&mut dyn WriteSend>> = None;
    let mut file = Some(file);
    for start in (0..rows.len()).step_by(CHUNK_ROWS) {
        let batch = validate(&rows.chunk(start, CHUNK_ROWS))?;
        let writer = match (&mut writer, file.take()) {
            (Some(writer), _) => writer,
            (slot @ None, Some(file)) => {
                slot.insert(ArrowWriter::try_new(file, batch.schema(), Some(properties.clone())).map_err(parquet)?)
            }
            (None, None) => return Err(Error::Internal("the design's Parquet writer is gone".to_owned())),
        };
        writer.write(&batch).map_err(parquet)?;
    }
    let writer = writer.ok_or_else(|| Error::Internal("a design of no rows reached the Parquet writer".to_owned()))?;
    writer.close().map_err(parquet)?;
    Ok(())
}

fn write_text(
    rows: &DesignRows,
    format: Format,
    validate: &mut dyn FnMut(&DesignChunk<'_>) -> Result<RecordBatch, Error>,
    file: &mut dyn Write,
) -> Result<(), Error> {
    let context = "writing the design's specs";
    if format == Format::Csv {
        write_csv_header(rows.columns(), file).map_err(Error::io(context))?;
    }
    for start in (0..rows.len()).step_by(CHUNK_ROWS) {
        let chunk = rows.chunk(start, CHUNK_ROWS);
        validate(&chunk)?;
        match format {
            Format::Csv => write_csv_rows(&chunk, file).map_err(Error::io(context))?,
            _ => {
                for row in 0..chunk.rows {
                    let line = serde_json::to_string(&chunk.object(rows.columns(), row))
                        .map_err(|error| Error::Document { document: context.to_owned(), reason: error.to_string() })?;
                    writeln!(file, "{line}").map_err(Error::io(context))?;
                }
            }
        }
    }
    Ok(())
}

/// A writer the Parquet writer can hold (it needs `Send`).
trait WriteSend: Write + Send {}
impl<W: Write + Send> WriteSend for W {}

fn write_table(table: &DesignTable, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::JsonLines => {
            for i in 0..table.rows.len() {
                writeln!(out, "{}", table.object(i))?;
            }
            Ok(())
        }
        _ => {
            write_csv_header(&table.columns, out)?;
            for row in &table.rows {
                write_csv_line(row.iter().cloned(), out)?;
            }
            Ok(())
        }
    }
}

/// CSV: a header of field names, then one line per row; null is an empty cell.
fn write_csv_header(columns: &[String], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}", columns.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","))
}

fn write_csv_rows(chunk: &DesignChunk<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    for row in 0..chunk.rows {
        write_csv_line(chunk.columns.iter().map(|column| column.value(row)), out)?;
    }
    Ok(())
}

fn write_csv_line(values: impl Iterator<Item = Value>, out: &mut dyn Write) -> std::io::Result<()> {
    let cells: Vec<String> = values
        .map(|value| match value {
            Value::Null => String::new(),
            Value::String(text) => csv_cell(&text),
            other => csv_cell(&other.to_string()),
        })
        .collect();
    writeln!(out, "{}", cells.join(","))
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) || text.is_empty() {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
