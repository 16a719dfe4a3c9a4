//! [`DesignRows`]: the rows of a design, generated a chunk at a time as typed columns, so a
//! design of any size streams to a file in bounded memory.

use serde_json::{Map, Value};

use super::fields::DesignField;
use super::record::{DesignMethod, DesignRecord, Dimension, Distribution};
use super::unit::{UnitDesign, UnitPoints};
use super::{DesignError, saltelli_block};
use super::{halton::HaltonPoints, lhs::LhsPoints, morris::MorrisPoints, random::RandomPoints};
use super::{saltelli::SaltelliPoints, sobol::SobolPoints};

/// Every row of a design over an input's fields, any range of them computed on its own: the
/// same rows whichever chunks they are asked in.
#[derive(Debug, Clone)]
pub struct DesignRows {
    columns: Vec<String>,
    sources: Vec<Source>,
    dimensions: Vec<Dimension>,
    /// The method's points; `None` for a grid.
    points: Option<UnitPoints>,
    /// A grid's level counts, per dimension.
    levels: Vec<usize>,
    rows: u64,
}

#[derive(Debug, Clone)]
enum Source {
    Dimension(usize),
    /// A field held at one value (the only value of a one-value choice).
    Fixed([Value; 1]),
}

/// Rows `start..start + rows` of a design, one [`ColumnChunk`] per column.
#[derive(Debug, Clone, PartialEq)]
pub struct DesignChunk<'a> {
    /// The first row's index in the design.
    pub start: u64,
    /// The number of rows.
    pub rows: usize,
    /// The columns, in [`DesignRows::columns`] order.
    pub columns: Vec<ColumnChunk<'a>>,
}

/// The values of one column in a chunk.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnChunk<'a> {
    /// Real numbers (uniform, log-uniform and normal draws).
    Numbers(Vec<f64>),
    /// Whole numbers (an integer field's draws).
    Integers(Vec<i64>),
    /// Indexes into `values` (enum variants, bools, `--levels`, a grid's levels, or the one
    /// value of a `--set` field).
    Choices {
        /// The values chosen from.
        values: &'a [Value],
        /// Which value each row has.
        index: Vec<u32>,
    },
}

impl ColumnChunk<'_> {
    /// Row `row`'s value as JSON (a non-finite number is `null`).
    pub fn value(&self, row: usize) -> Value {
        match self {
            ColumnChunk::Numbers(numbers) => {
                serde_json::Number::from_f64(numbers[row]).map_or(Value::Null, Value::Number)
            }
            ColumnChunk::Integers(integers) => Value::from(integers[row]),
            ColumnChunk::Choices { values, index } => values[index[row] as usize].clone(),
        }
    }
}

impl DesignRows {
    /// The dotted field paths of the columns, in the input's field order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The number of rows.
    pub fn len(&self) -> u64 {
        self.rows
    }

    /// Whether the design has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Rows `start..start + count`, cut at the end of the design.
    pub fn chunk(&self, start: u64, count: usize) -> DesignChunk<'_> {
        let count = count.min(self.rows.saturating_sub(start) as usize);
        let dims = self.dimensions.len();
        let mut unit = UnitDesign::with_capacity(dims, count);
        match &self.points {
            Some(points) => points.fill(start, count, &mut unit),
            None => {
                // A grid row's level of each dimension, last dimension fastest, as the middle of
                // its stratum: a categorical of k values maps (index + ½)/k back to index.
                let mut row = vec![0.0; dims];
                for r in start..start + count as u64 {
                    let mut rest = r;
                    for (u, &levels) in row.iter_mut().zip(&self.levels).rev() {
                        let levels = levels.max(1) as u64;
                        *u = ((rest % levels) as f64 + 0.5) / levels as f64;
                        rest /= levels;
                    }
                    unit.push(&row);
                }
            }
        }
        let columns = self
            .sources
            .iter()
            .map(|source| match source {
                Source::Fixed(value) => ColumnChunk::Choices { values: value, index: vec![0; count] },
                Source::Dimension(j) => {
                    let distribution = &self.dimensions[*j].distribution;
                    let coordinates = unit.iter().map(|point| point[*j]);
                    match distribution {
                        Distribution::Uniform { integer: true, .. } => {
                            ColumnChunk::Integers(coordinates.map(|u| distribution.integer(u)).collect())
                        }
                        Distribution::Categorical { values } => ColumnChunk::Choices {
                            values,
                            index: coordinates.map(|u| distribution.choice(u) as u32).collect(),
                        },
                        _ => ColumnChunk::Numbers(coordinates.map(|u| distribution.number(u)).collect()),
                    }
                }
            })
            .collect();
        DesignChunk { start, rows: count, columns }
    }
}

impl DesignChunk<'_> {
    /// Row `row` as a JSON object over `columns` (the design's), nested structs rebuilt from
    /// the dotted paths.
    pub fn object(&self, columns: &[String], row: usize) -> Value {
        nest(columns.iter().zip(self.columns.iter().map(|column| column.value(row))))
    }
}

/// A JSON object from `(dotted path, value)` pairs.
pub(crate) fn nest(pairs: impl IntoIterator<Item = (impl AsRef<str>, Value)>) -> Value {
    let mut root = Map::new();
    for (path, value) in pairs {
        let mut object = &mut root;
        let mut parts = path.as_ref().split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                object.insert(part.to_owned(), value);
                break;
            }
            let entry = object.entry(part.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(inner) = entry else { break };
            object = inner;
        }
    }
    Value::Object(root)
}

impl DesignRecord {
    /// The design's rows over `fields` (the same fields [`plan`](super::plan) saw): sampled
    /// dimensions from the method, fixed fields from [`DesignRecord::fixed`].
    pub fn rows(&self, fields: &[DesignField]) -> Result<DesignRows, DesignError> {
        let dims = self.dimensions.len();
        let columns: Vec<String> = fields.iter().map(|f| f.path.clone()).collect();
        let sources = columns
            .iter()
            .map(|path| match self.dimensions.iter().position(|d| &d.field == path) {
                Some(j) => Source::Dimension(j),
                None => Source::Fixed([self.fixed.get(path).cloned().unwrap_or(Value::Null)]),
            })
            .collect();
        let levels: Vec<usize> = self
            .dimensions
            .iter()
            .map(|d| match &d.distribution {
                Distribution::Categorical { values } => values.len(),
                _ => 1,
            })
            .collect();
        let rows = match self.method {
            DesignMethod::Grid => self.n,
            DesignMethod::Saltelli => self.n.saturating_mul(saltelli_block(dims, self.second_order) as u64),
            DesignMethod::Morris => self.n.saturating_mul(dims as u64 + 1),
            _ => self.n,
        };
        let points = match self.method {
            DesignMethod::Grid => None,
            _ => Some(self.unit_points(dims)?),
        };
        Ok(DesignRows { columns, sources, dimensions: self.dimensions.clone(), points, levels, rows })
    }

    /// The method's points over `dims` dimensions (a grid's are random: grids have none).
    pub(crate) fn unit_points(&self, dims: usize) -> Result<UnitPoints, DesignError> {
        let (n, seed) = (self.n, self.seed);
        Ok(match self.method {
            DesignMethod::Random | DesignMethod::Grid => UnitPoints::Random(RandomPoints::new(dims, seed)),
            DesignMethod::Lhs => UnitPoints::Lhs(LhsPoints::maximin(n, dims, seed, self.maximin.unwrap_or(1) as usize)),
            DesignMethod::Sobol => UnitPoints::Sobol(SobolPoints::new(n, dims, seed)?),
            DesignMethod::Halton => UnitPoints::Halton(HaltonPoints::new(dims, seed)),
            DesignMethod::Saltelli => UnitPoints::Saltelli(SaltelliPoints::new(n, dims, seed, self.second_order)?),
            DesignMethod::Morris => UnitPoints::Morris(MorrisPoints::new(dims, self.levels.unwrap_or(4), seed)?),
        })
    }
}
