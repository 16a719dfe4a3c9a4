//! Designs of experiments on the command line: options (`--set`, `--levels`, `--dist`, …)
//! parsed at the edge, the design built by `scythe_core::design` from the input's JSON Schema,
//! and written as specs (`design --out FILE`) or handed to a run (`scatter --design`).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use scythe_core::design::{
    DesignField, DesignMethod, DesignRecord, DesignRequest, DesignTable, Distribution, FieldKind, design_fields, plan,
};
use scythe_core::schema::DataSchema;
use serde_json::Value;

use crate::error::Error;
use crate::specs::{Specs, json_reading_schema, tuples_as_objects};

/// Options of a design shared by `design`, `scatter --design` and `allocate --design`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct DesignOptions {
    /// Size: rows (random, lhs, sobol, halton), base samples N (saltelli: N·(d+2) rows, or
    /// N·(2d+2) with --second-order), trajectories r (morris: r·(d+1) rows); unused by grid.
    #[arg(short = 'n', value_name = "N")]
    pub(crate) n: Option<u64>,
    /// Hold a field at one value (dotted path for nested fields; `null` for an Option). Repeat.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub(crate) set: Vec<String>,
    /// Draw a field from these values (grid: cross them). Repeat per field.
    #[arg(long = "levels", value_name = "FIELD=V1,V2,…")]
    pub(crate) levels: Vec<String>,
    /// Draw a number from normal(μ,σ), loguniform(a,b) or uniform(a,b) instead of its schema
    /// bounds. Repeat per field.
    #[arg(long = "dist", value_name = "FIELD=DIST")]
    pub(crate) dist: Vec<String>,
    /// grid: K evenly spaced values per numeric field without --levels.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) points: Option<u64>,
    /// saltelli: add the BA rows for second-order indices (2d+2 rows per base sample).
    #[arg(long)]
    pub(crate) second_order: bool,
    /// morris: the number of grid levels p (even).
    #[arg(long, value_name = "P", default_value_t = 4)]
    pub(crate) morris_levels: u32,
    /// lhs: keep the most spread (maximin) of this many Latin hypercubes (costs K·n²·d).
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) maximin: u32,
}

/// Parses a design method's name.
pub(crate) fn parse_method(text: &str) -> Result<DesignMethod, String> {
    const ALL: [DesignMethod; 7] = [
        DesignMethod::Grid,
        DesignMethod::Random,
        DesignMethod::Lhs,
        DesignMethod::Sobol,
        DesignMethod::Halton,
        DesignMethod::Saltelli,
        DesignMethod::Morris,
    ];
    ALL.into_iter()
        .find(|method| method.as_str() == text)
        .ok_or_else(|| format!("unknown design `{text}`; expected one of {}", ALL.map(DesignMethod::as_str).join(", ")))
}

/// A design built for an input: its record, rows and the input's fields.
pub(crate) struct Built {
    /// What the manifest records.
    pub(crate) record: DesignRecord,
    /// The rows.
    pub(crate) table: DesignTable,
}

/// Builds a design over `input`, printing its warnings to stderr.
pub(crate) fn build(
    input: &DataSchema,
    method: DesignMethod,
    seed: u64,
    options: &DesignOptions,
) -> Result<Built, Error> {
    let fields = design_fields(input.json_schema());
    let n = match (method, options.n) {
        (DesignMethod::Grid, _) => 0,
        (_, Some(n)) => n,
        (_, None) => return Err(Error::Settings(format!("--method {method} needs a size: pass -n N"))),
    };
    let request = DesignRequest {
        method,
        n,
        seed,
        set: options.set.iter().map(|text| split_assignment("--set", text)).collect::<Result<_, _>>()?,
        levels: options
            .levels
            .iter()
            .map(|text| {
                let (field, values) = split_assignment("--levels", text)?;
                Ok((field, values.split(',').map(str::to_owned).collect()))
            })
            .collect::<Result<_, Error>>()?,
        dists: options
            .dist
            .iter()
            .map(|text| {
                let (field, dist) = split_assignment("--dist", text)?;
                Ok((field.clone(), parse_distribution(&field, &dist)?))
            })
            .collect::<Result<_, Error>>()?,
        points: options.points.map(|k| k as usize),
        second_order: options.second_order,
        morris_levels: options.morris_levels,
        maximin: options.maximin,
    };
    let (record, warnings) = plan(&fields, &request)?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let table = record.table(&fields)?;
    Ok(Built { record, table })
}

impl Built {
    /// The design as specs for a run (validated by the run like any specs).
    pub(crate) fn to_specs(&self, input: &DataSchema) -> Result<Specs, Error> {
        let batches = to_batches(&self.table, input)?;
        Ok(Specs::Designed { batches, record: Box::new(self.record.clone()) })
    }
}

fn split_assignment(option: &str, text: &str) -> Result<(String, String), Error> {
    text.split_once('=')
        .map(|(field, value)| (field.trim().to_owned(), value.to_owned()))
        .ok_or_else(|| Error::Settings(format!("{option} `{text}`: write FIELD=VALUE")))
}

/// `normal(μ,σ)`, `loguniform(a,b)` or `uniform(a,b)`.
fn parse_distribution(field: &str, text: &str) -> Result<Distribution, Error> {
    let bad = || {
        Error::Settings(format!(
            "--dist {field}={text}: write normal(MEAN,SD), loguniform(LOW,HIGH) or uniform(LOW,HIGH)"
        ))
    };
    let (name, rest) = text.trim().split_once('(').ok_or_else(bad)?;
    let args = rest.strip_suffix(')').ok_or_else(bad)?;
    let numbers: Vec<f64> = args.split(',').map(|a| a.trim().parse()).collect::<Result<_, _>>().map_err(|_| bad())?;
    let [a, b] = numbers[..] else { return Err(bad()) };
    match name.trim() {
        "normal" => Ok(Distribution::Normal { mean: a, sd: b }),
        "loguniform" => Ok(Distribution::LogUniform { low: a, high: b }),
        "uniform" => Ok(Distribution::Uniform { low: a, high: b, integer: false }),
        _ => Err(bad()),
    }
}

/// Converts the rows to Arrow batches of the input's columns (rows as JSON objects).
fn to_batches(table: &DesignTable, input: &DataSchema) -> Result<Vec<RecordBatch>, Error> {
    const ROWS: usize = 64 * 1024;
    let schema = json_reading_schema(input);
    let arrow =
        |source: arrow::error::ArrowError| Error::Arrow { context: "building the design's specs".to_owned(), source };
    let mut batches = Vec::new();
    for start in (0..table.rows.len()).step_by(ROWS) {
        let end = (start + ROWS).min(table.rows.len());
        let mut decoder = arrow::json::ReaderBuilder::new(Arc::clone(&schema))
            .with_batch_size(end - start)
            .with_strict_mode(true)
            .build_decoder()
            .map_err(arrow)?;
        let rows: Vec<Value> = (start..end)
            .map(|i| {
                let mut object = table.object(i);
                if let Value::Object(map) = &mut object {
                    for field in input.fields() {
                        if let Some(value) = map.get_mut(field.name()) {
                            tuples_as_objects(value, field.data_type());
                        }
                    }
                }
                object
            })
            .collect();
        decoder.serialize(&rows).map_err(arrow)?;
        if let Some(batch) = decoder.flush().map_err(arrow)? {
            batches.push(batch);
        }
    }
    Ok(batches)
}

/// Writes validated design specs to `out` (`.csv`, `.pq`/`.parquet`, `.jsonl`) or, without a
/// path, as CSV to stdout.
pub(crate) fn write(table: &DesignTable, valid: &[RecordBatch], out: Option<&Path>) -> Result<(), Error> {
    let Some(path) = out else {
        let mut stdout = std::io::stdout().lock();
        return write_csv(table, &mut stdout).map_err(Error::io("writing to standard output"));
    };
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let context = format!("writing `{}`", path.display());
    if !matches!(extension.as_str(), "csv" | "jsonl" | "ndjson" | "pq" | "parquet") {
        return Err(Error::Settings(format!(
            "--out `{}`: unknown format `.{extension}`; use .csv, .jsonl or .pq",
            path.display()
        )));
    }
    if extension == "csv"
        && let Some(nested) = table.columns.iter().find(|c| c.contains('.'))
    {
        return Err(Error::Settings(format!(
            "field `{nested}` is inside a nested struct, which CSV cannot hold; write .jsonl or .pq"
        )));
    }
    let file = std::fs::File::create(path).map_err(Error::io(context.clone()))?;
    let mut writer = std::io::BufWriter::new(file);
    match extension.as_str() {
        "csv" => write_csv(table, &mut writer).map_err(Error::io(context.clone()))?,
        "jsonl" | "ndjson" => {
            for i in 0..table.rows.len() {
                let line = serde_json::to_string(&table.object(i))
                    .map_err(|error| Error::Document { document: context.clone(), reason: error.to_string() })?;
                writeln!(writer, "{line}").map_err(Error::io(context.clone()))?;
            }
        }
        _ => {
            let schema = valid
                .first()
                .map(RecordBatch::schema)
                .ok_or_else(|| Error::Settings("the design has no rows".to_owned()))?;
            let parquet = |error: parquet::errors::ParquetError| Error::Document {
                document: context.clone(),
                reason: error.to_string(),
            };
            let mut parquet_writer =
                parquet::arrow::ArrowWriter::try_new(&mut writer, schema, None).map_err(parquet)?;
            for batch in valid {
                parquet_writer.write(batch).map_err(parquet)?;
            }
            parquet_writer.close().map_err(parquet)?;
        }
    }
    writer.flush().map_err(Error::io(context))
}

/// CSV: a header of field names, then one line per row; null is an empty cell.
fn write_csv(table: &DesignTable, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}", table.columns.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","))?;
    for row in &table.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|value| match value {
                Value::Null => String::new(),
                Value::String(text) => csv_cell(text),
                other => csv_cell(&other.to_string()),
            })
            .collect();
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) || text.is_empty() {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// `design --template`: the CSV header of the input's fields and one example row.
pub(crate) fn template(input: &DataSchema) -> DesignTable {
    let fields = design_fields(input.json_schema());
    let row = fields.iter().map(example).collect();
    DesignTable { columns: fields.iter().map(|f| f.path.clone()).collect(), rows: vec![row] }
}

fn example(field: &DesignField) -> Value {
    match &field.kind {
        FieldKind::Number { low, high, integer } => {
            let value = match (low, high) {
                (Some(low), Some(high)) => (low.value + high.value) / 2.0,
                (Some(low), None) => low.value + 1.0,
                (None, Some(high)) => high.value - 1.0,
                (None, None) => 0.0,
            };
            if *integer { Value::from(value.round() as i64) } else { Value::from(value) }
        }
        FieldKind::Choice(values) => values.first().cloned().unwrap_or(Value::Null),
        FieldKind::Other(what) if what.starts_with("a FileRef") => Value::from("path/to/file"),
        FieldKind::Other(_) => Value::from("text"),
    }
}
