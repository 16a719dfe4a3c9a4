//! [`plan`]: from the fields of an input and the options of a design to a [`DesignRecord`], and
//! from a record to the rows of specs ([`DesignRecord::table`]).

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::{Bound, DesignField, FieldKind};
use super::record::{DesignMethod, DesignRecord, Dimension, Distribution};
use super::rows::nest;
use super::{DesignError, UnitDesign, grid_size, saltelli_block};

/// What the user asked for, with field values still as text (`--set x=1.5`).
#[derive(Debug, Clone, PartialEq)]
pub struct DesignRequest {
    /// The method.
    pub method: DesignMethod,
    /// Rows (`random`, `lhs`, `sobol`, `halton`), base samples (`saltelli`), trajectories
    /// (`morris`); unused by `grid`.
    pub n: u64,
    /// The seed.
    pub seed: u64,
    /// `--set FIELD=VALUE`: fields held fixed.
    pub set: Vec<(String, String)>,
    /// `--levels FIELD=V1,V2,…`: fields drawn from (or, in a grid, crossed over) these values.
    pub levels: Vec<(String, Vec<String>)>,
    /// `--dist FIELD=…`: fields drawn from another distribution than the schema's bounds.
    pub dists: Vec<(String, Distribution)>,
    /// `grid`: evenly spaced points per numeric field without `--levels`.
    pub points: Option<usize>,
    /// `saltelli`: include the `BA` rows for second-order indices.
    pub second_order: bool,
    /// `morris`: grid levels `p`.
    pub morris_levels: u32,
    /// `lhs`: candidate hypercubes for the maximin choice (1: plain LHS).
    pub maximin: u32,
}

/// The rows of a design: one value per column, columns in the input's field order.
#[derive(Debug, Clone, PartialEq)]
pub struct DesignTable {
    /// Dotted field paths.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
}

impl DesignTable {
    /// Row `i` as a JSON object, nested structs rebuilt from the dotted paths.
    pub fn object(&self, i: usize) -> Value {
        nest(self.columns.iter().zip(self.rows[i].iter().cloned()))
    }
}

/// Builds the record of a design over `fields`, checking every option. Returns warnings too
/// (e.g. a Sobol' size that is not a power of two).
pub fn plan(fields: &[DesignField], request: &DesignRequest) -> Result<(DesignRecord, Vec<String>), DesignError> {
    let known = |option: &'static str, names: Vec<&String>| -> Result<(), DesignError> {
        let unknown: Vec<String> =
            names.into_iter().filter(|name| !fields.iter().any(|f| &f.path == *name)).cloned().collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let fields = fields.iter().map(|f| format!("`{}`", f.path)).collect::<Vec<_>>().join(", ");
        Err(DesignError::UnknownField { option, unknown, fields })
    };
    known("--set", request.set.iter().map(|(f, _)| f).collect())?;
    known("--levels", request.levels.iter().map(|(f, _)| f).collect())?;
    known("--dist", request.dists.iter().map(|(f, _)| f).collect())?;
    let mut fixed = BTreeMap::new();
    let mut dimensions = Vec::new();
    let mut unfilled = Vec::new();
    for field in fields {
        let set = request.set.iter().find(|(f, _)| *f == field.path).map(|(_, v)| v);
        let levels = request.levels.iter().find(|(f, _)| *f == field.path).map(|(_, v)| v);
        let dist = request.dists.iter().find(|(f, _)| *f == field.path).map(|(_, d)| d);
        if usize::from(set.is_some()) + usize::from(levels.is_some()) + usize::from(dist.is_some()) > 1 {
            return Err(DesignError::BadValue {
                option: "--set/--levels/--dist",
                field: field.path.clone(),
                reason: "is given more than one of --set, --levels and --dist; keep one".to_owned(),
            });
        }
        if let Some(text) = set {
            fixed.insert(field.path.clone(), parse_value(field, text, "--set")?);
        } else if let Some(texts) = levels {
            let values =
                texts.iter().map(|text| parse_value(field, text, "--levels")).collect::<Result<Vec<_>, _>>()?;
            dimensions
                .push(Dimension { field: field.path.clone(), distribution: Distribution::Categorical { values } });
        } else if let Some(dist) = dist {
            let bad = |reason: String| DesignError::BadValue { option: "--dist", field: field.path.clone(), reason };
            dist.check().map_err(bad)?;
            if !matches!(field.kind, FieldKind::Number { .. }) {
                return Err(bad(format!("is {}, not a number; use --levels", field.describe())));
            }
            let continuous = !matches!(dist, Distribution::Uniform { .. } | Distribution::Categorical { .. });
            if continuous && matches!(field.kind, FieldKind::Number { integer: true, .. }) {
                return Err(bad(format!(
                    "is {}; normal and loguniform draws are not whole numbers: use --dist {}=uniform(a,b) or \
                     --levels {}=V1,V2,…",
                    field.describe(),
                    field.path,
                    field.path
                )));
            }
            let dist = match dist {
                Distribution::Uniform { low, high, .. } => Distribution::Uniform {
                    low: *low,
                    high: *high,
                    integer: matches!(field.kind, FieldKind::Number { integer: true, .. }),
                },
                other => other.clone(),
            };
            dimensions.push(Dimension { field: field.path.clone(), distribution: dist });
        } else if let Some(distribution) = schema_distribution(field) {
            dimensions.push(Dimension { field: field.path.clone(), distribution });
        } else {
            unfilled.push(what_to_pass(field));
        }
    }
    if !unfilled.is_empty() {
        return Err(DesignError::Unfilled(unfilled));
    }
    let mut warnings = Vec::new();
    let n = match request.method {
        DesignMethod::Grid => grid_rows(&mut dimensions, request.points)?,
        _ if request.n == 0 => return Err(DesignError::Size("-n must be at least 1".to_owned())),
        _ => request.n,
    };
    if matches!(request.method, DesignMethod::Saltelli | DesignMethod::Morris) && dimensions.is_empty() {
        return Err(DesignError::Size(format!("{} needs at least one sampled field", request.method)));
    }
    if matches!(request.method, DesignMethod::Sobol | DesignMethod::Saltelli) && !n.is_power_of_two() {
        warnings.push(format!(
            "{}: n = {n} is not a power of two; Sobol' points are balanced only for powers of two (e.g. {})",
            request.method,
            n.next_power_of_two()
        ));
    }
    let record = DesignRecord {
        method: request.method,
        n,
        seed: request.seed,
        dimensions,
        fixed,
        second_order: request.method == DesignMethod::Saltelli && request.second_order,
        levels: (request.method == DesignMethod::Morris).then_some(request.morris_levels),
        maximin: (request.method == DesignMethod::Lhs && request.maximin > 1).then_some(request.maximin),
    };
    Ok((record, warnings))
}

/// Grid dimensions become the categorical of their levels; returns the number of rows.
fn grid_rows(dimensions: &mut [Dimension], points: Option<usize>) -> Result<u64, DesignError> {
    for dimension in dimensions.iter_mut() {
        if matches!(dimension.distribution, Distribution::Categorical { .. }) {
            continue;
        }
        let Some(points) = points else {
            return Err(DesignError::BadValue {
                option: "--method grid",
                field: dimension.field.clone(),
                reason:
                    "is numeric: pass --points K (K evenly spaced values per numeric field) or --levels FIELD=V1,V2,…"
                        .to_owned(),
            });
        };
        dimension.distribution = Distribution::Categorical { values: dimension.distribution.grid_values(points) };
    }
    let counts = level_counts(dimensions);
    grid_size(&counts)
        .map(|rows| rows as u64)
        .ok_or_else(|| DesignError::Size("the grid has more rows than fit in memory; use fewer levels".to_owned()))
}

fn level_counts(dimensions: &[Dimension]) -> Vec<usize> {
    dimensions
        .iter()
        .map(|d| match &d.distribution {
            Distribution::Categorical { values } => values.len(),
            _ => 1,
        })
        .collect()
}

/// The distribution the schema alone implies, if it implies one.
fn schema_distribution(field: &DesignField) -> Option<Distribution> {
    match &field.kind {
        FieldKind::Number { low: Some(low), high: Some(high), integer } => Some(Distribution::Uniform {
            low: inside(*low, true, *integer),
            high: inside(*high, false, *integer),
            integer: *integer,
        }),
        FieldKind::Choice(values) if !values.is_empty() => Some(Distribution::Categorical { values: values.clone() }),
        _ => None,
    }
}

/// The nearest value a bound allows: itself if inclusive, else the next number inside (the
/// next integer for integer fields).
fn inside(bound: Bound, lower: bool, integer: bool) -> f64 {
    match (integer, lower) {
        (true, true) => {
            if bound.exclusive {
                bound.value.floor() + 1.0
            } else {
                bound.value.ceil()
            }
        }
        (true, false) => {
            if bound.exclusive {
                bound.value.ceil() - 1.0
            } else {
                bound.value.floor()
            }
        }
        (false, true) => {
            if bound.exclusive {
                bound.value.next_up()
            } else {
                bound.value
            }
        }
        (false, false) => {
            if bound.exclusive {
                bound.value.next_down()
            } else {
                bound.value
            }
        }
    }
}

fn what_to_pass(field: &DesignField) -> String {
    let path = &field.path;
    let null = if field.optional { format!(", or --set {path}=null") } else { String::new() };
    match &field.kind {
        FieldKind::Number { .. } => format!(
            "`{path}` is {} (pass --set {path}=VALUE, --levels {path}=V1,V2,… or --dist {path}=uniform(a,b){null})",
            field.describe()
        ),
        _ => format!("`{path}` is {} (pass --set {path}=VALUE or --levels {path}=V1,V2,…{null})", field.describe()),
    }
}

/// Reads a value given on the command line as the field's type, checking it fits the schema.
fn parse_value(field: &DesignField, text: &str, option: &'static str) -> Result<Value, DesignError> {
    let bad = |reason: String| DesignError::BadValue { option, field: field.path.clone(), reason };
    if text == "null" {
        return if field.optional {
            Ok(Value::Null)
        } else {
            Err(bad("is not optional, so it cannot be null".to_owned()))
        };
    }
    match &field.kind {
        FieldKind::Number { low, high, integer } => {
            let number: f64 = text
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{text}` is not a number; it is {}", field.describe())))?;
            if !number.is_finite() || (*integer && number.fract() != 0.0) {
                return Err(bad(format!("`{text}` is not {}", field.describe())));
            }
            let below = low.is_some_and(|b| number < b.value || (b.exclusive && number == b.value));
            let above = high.is_some_and(|b| number > b.value || (b.exclusive && number == b.value));
            if below || above {
                return Err(bad(format!("{text} is out of range: the field is {}", field.describe())));
            }
            Ok(if *integer { Value::from(number as i64) } else { Value::from(number) })
        }
        FieldKind::Choice(values) => values
            .iter()
            .find(|value| match value {
                Value::String(s) => s == text,
                Value::Bool(b) => text.parse::<bool>() == Ok(*b),
                Value::Number(number) => text.parse::<f64>().ok() == number.as_f64(),
                _ => false,
            })
            .cloned()
            .ok_or_else(|| bad(format!("`{text}` is not {}", field.describe()))),
        FieldKind::Other(_) => Ok(serde_json::from_str::<Value>(text)
            .ok()
            .filter(|value| value.is_array() || value.is_object())
            .unwrap_or_else(|| Value::String(text.to_owned()))),
    }
}

impl DesignRecord {
    /// Every row of the design over `fields` (the same fields [`plan`] saw), as JSON values:
    /// for small designs and tests; [`DesignRecord::rows`] streams.
    pub fn table(&self, fields: &[DesignField]) -> Result<DesignTable, DesignError> {
        let rows = self.rows(fields)?;
        let count =
            usize::try_from(rows.len()).map_err(|_| DesignError::Size(format!("n = {} is too large", self.n)))?;
        let chunk = rows.chunk(0, count);
        let table = (0..chunk.rows).map(|row| chunk.columns.iter().map(|column| column.value(row)).collect()).collect();
        Ok(DesignTable { columns: rows.columns().to_vec(), rows: table })
    }

    /// The design in the unit cube (not for grids): what `report` rebuilds Saltelli's and
    /// Morris's matrices from.
    pub fn unit_design(&self, n: usize, dims: usize) -> Result<UnitDesign, DesignError> {
        let rows = match self.method {
            DesignMethod::Saltelli => n * saltelli_block(dims, self.second_order),
            DesignMethod::Morris => n * (dims + 1),
            _ => n,
        };
        let mut design = UnitDesign::with_capacity(dims, rows);
        let record = DesignRecord { n: n as u64, ..self.clone() };
        record.unit_points(dims)?.fill(0, rows, &mut design);
        Ok(design)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::design::design_fields;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "x": {"type": "number", "exclusiveMinimum": 0.0, "maximum": 1.0},
                "k": {"type": "integer", "minimum": 1, "maximum": 4},
                "mode": {"enum": ["a", "b", "c"]},
                "label": {"type": "string"},
                "note": {"type": ["string", "null"]},
                "wall": {"type": "object", "properties": {"r": {"type": "number", "minimum": 0.5, "maximum": 10.0}}, "required": ["r"]}
            },
            "required": ["x", "k", "mode", "label", "wall"]
        })
    }

    fn request(method: DesignMethod, n: u64) -> DesignRequest {
        DesignRequest {
            method,
            n,
            seed: 1,
            set: vec![("label".into(), "base".into()), ("note".into(), "null".into())],
            levels: Vec::new(),
            dists: Vec::new(),
            points: None,
            second_order: false,
            morris_levels: 4,
            maximin: 1,
        }
    }

    #[test]
    fn unfilled_fields_are_all_named_with_what_to_pass() {
        let fields = design_fields(&schema());
        let mut bare = request(DesignMethod::Lhs, 10);
        bare.set.clear();
        let error = plan(&fields, &bare).expect_err("label and note need values").to_string();
        assert!(error.contains("`label` is a string (pass --set label=VALUE"), "{error}");
        assert!(error.contains("`note`") && error.contains("--set note=null"), "{error}");
    }

    #[test]
    fn distributions_on_integer_fields_stay_whole_numbers() {
        let fields = design_fields(&schema());
        let mut normal = request(DesignMethod::Random, 4);
        normal.dists.push(("k".into(), Distribution::Normal { mean: 2.0, sd: 1.0 }));
        let error = plan(&fields, &normal).expect_err("normal on an integer").to_string();
        assert!(error.starts_with("--dist k:") && error.contains("--dist k=uniform(a,b)"), "{error}");
        let mut uniform = request(DesignMethod::Random, 4);
        uniform.dists.push(("k".into(), Distribution::Uniform { low: 1.0, high: 3.0, integer: false }));
        let (record, _) = plan(&fields, &uniform).expect("uniform on an integer");
        let k = record.dimensions.iter().find(|d| d.field == "k").expect("k is sampled");
        assert_eq!(k.distribution, Distribution::Uniform { low: 1.0, high: 3.0, integer: true });
    }

    #[test]
    fn bad_sets_name_the_field() {
        let fields = design_fields(&schema());
        for (field, value, needle) in [
            ("nope", "1", "names no field"),
            ("x", "0", "out of range"),
            ("k", "1.5", "is not an integer"),
            ("mode", "d", "is not one of"),
            ("k", "null", "not optional"),
        ] {
            let mut bad = request(DesignMethod::Random, 4);
            bad.set.push((field.into(), value.into()));
            let error = plan(&fields, &bad).expect_err("refused").to_string();
            assert!(error.contains(needle) && error.contains(field), "{field}={value}: {error}");
        }
    }

    #[test]
    fn lhs_rows_respect_bounds_and_cover_integers_and_variants() {
        let fields = design_fields(&schema());
        let (record, warnings) = plan(&fields, &request(DesignMethod::Lhs, 40)).expect("valid");
        assert!(warnings.is_empty());
        let names: Vec<&str> = record.dimensions.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(names, ["x", "k", "mode", "wall.r"]);
        let table = record.table(&fields).expect("builds");
        assert_eq!(table.rows.len(), 40);
        let mut ks = BTreeMap::new();
        let mut modes = BTreeMap::new();
        for row in &table.rows {
            let x = row[0].as_f64().expect("number");
            assert!(x > 0.0 && x <= 1.0);
            *ks.entry(row[1].as_i64().expect("integer")).or_insert(0) += 1;
            *modes.entry(row[2].as_str().expect("variant").to_owned()).or_insert(0) += 1;
            assert_eq!(row[3], "base");
            assert_eq!(row[4], Value::Null);
        }
        // 40 strata over 4 integers: 10 each; over 3 variants: 14, 13, 13.
        assert_eq!(ks.values().copied().collect::<Vec<_>>(), [10, 10, 10, 10]);
        assert!(modes.len() == 3 && modes.values().all(|&c| (13..=14).contains(&c)), "{modes:?}");
        assert_eq!(table.object(0)["wall"]["r"], table.rows[0][5]);
    }

    #[test]
    fn grid_crosses_levels_and_points() {
        let fields = design_fields(&schema());
        let mut grid = request(DesignMethod::Grid, 0);
        grid.levels.push(("k".into(), vec!["1".into(), "3".into()]));
        assert!(plan(&fields, &grid).is_err(), "numeric fields need --points");
        grid.points = Some(3);
        let (record, _) = plan(&fields, &grid).expect("valid");
        // x: 3 points, k: 2 levels, mode: 3 variants, wall.r: 3 points.
        assert_eq!(record.n, 54);
        let table = record.table(&fields).expect("builds");
        let mut seen: Vec<String> = table.rows.iter().map(|r| format!("{:?}", &r[..6])).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 54);
        assert_eq!(table.rows[0][5], json!(0.5));
        assert_eq!(table.rows[1][5], json!(5.25));
    }

    #[test]
    fn sobol_warns_off_powers_of_two_and_seeds_reproduce() {
        let fields = design_fields(&schema());
        let (record, warnings) = plan(&fields, &request(DesignMethod::Sobol, 100)).expect("valid");
        assert!(warnings[0].contains("not a power of two"));
        assert_eq!(record.table(&fields), record.table(&fields));
        let (saltelli, _) = plan(&fields, &request(DesignMethod::Saltelli, 8)).expect("valid");
        assert_eq!(saltelli.table(&fields).expect("builds").rows.len(), 8 * (4 + 2));
    }
}
