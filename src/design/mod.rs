//! Designs of experiments. Publicly, the methods of [`scythe_core::design`] (for a custom
//! sampler, [`App::sampler`](crate::App::sampler), that starts from a built-in design, e.g.
//! [`lhs`] in the unit cube). Inside Scythe, the command-line options (`--set`, `--levels`,
//! `--dist`, …) parsed at the edge, the design built from the input's JSON Schema, and its
//! specs written (`design --out FILE`) or handed to a run (`scatter --design`).

pub use scythe_core::design::*;

mod batch;
mod write;

use scythe_core::schema::DataSchema;
use serde_json::Value;

use crate::error::Error;
use crate::specs::Specs;

use batch::BatchBuilder;
pub(crate) use write::{write, write_template};

/// Rows generated, validated and written at a time (one Parquet row group each).
const CHUNK_ROWS: usize = 64 * 1024;

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

/// A design built for an input: its record and its rows.
pub(crate) struct Built {
    /// What the manifest records.
    pub(crate) record: DesignRecord,
    /// The rows, generated a chunk at a time.
    pub(crate) rows: DesignRows,
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
    let rows = record.rows(&fields)?;
    Ok(Built { record, rows })
}

impl Built {
    /// The design as specs for a run (validated by the run like any specs).
    pub(crate) fn to_specs(&self, input: &DataSchema) -> Result<Specs, Error> {
        let mut builder = BatchBuilder::new(&self.rows, input);
        let batches = (0..self.rows.len())
            .step_by(CHUNK_ROWS)
            .map(|start| builder.batch(&self.rows.chunk(start, CHUNK_ROWS)))
            .collect::<Result<_, _>>()?;
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

/// `design --template`: the input's fields (dotted paths for nested ones) and one example row.
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
