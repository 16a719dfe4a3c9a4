//! [`BatchBuilder`]: a chunk of a design's rows as an Arrow batch of the input's columns, built
//! column by column (numbers and integers cast from one array, choices taken from their values
//! decoded once), with no JSON per row.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StructArray, UInt32Array, new_null_array};
use arrow::compute::{CastOptions, cast_with_options, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use scythe_core::design::{ColumnChunk, DesignChunk, DesignRows};
use scythe_core::schema::DataSchema;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::specs::{json_reading_schema, tuples_as_objects};

/// Builds the batches of one design; remembers each column's choices as Arrow values.
pub(crate) struct BatchBuilder<'a> {
    rows: &'a DesignRows,
    /// The input's columns as specs files are read (dictionaries as plain strings); `conform`
    /// casts them to the input's own types.
    schema: SchemaRef,
    /// Per design column, its choices as an Arrow array of the field's type.
    choices: Vec<Option<ArrayRef>>,
}

impl<'a> BatchBuilder<'a> {
    /// A builder for `rows` over `input`.
    pub(crate) fn new(rows: &'a DesignRows, input: &DataSchema) -> Self {
        Self { rows, schema: json_reading_schema(input), choices: vec![None; rows.columns().len()] }
    }

    /// The chunk as a batch whose columns are the input's top-level fields.
    pub(crate) fn batch(&mut self, chunk: &DesignChunk<'_>) -> Result<RecordBatch, Error> {
        let schema = Arc::clone(&self.schema);
        let columns = schema
            .fields()
            .iter()
            .map(|field| self.array(field.name(), field, chunk))
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(schema, columns).map_err(Error::arrow("building the design's specs"))
    }

    /// The array of the field at dotted `path`: a design column, a struct of them, or nulls
    /// (which validation refuses if the field needs a value).
    fn array(&mut self, path: &str, field: &Field, chunk: &DesignChunk<'_>) -> Result<ArrayRef, Error> {
        if let Some(column) = self.rows.columns().iter().position(|c| c == path) {
            return self.leaf(column, path, field.data_type(), chunk);
        }
        match field.data_type() {
            DataType::Struct(children) if self.rows.columns().iter().any(|c| c.starts_with(&format!("{path}."))) => {
                let arrays = children
                    .iter()
                    .map(|child| self.array(&format!("{path}.{}", child.name()), child, chunk))
                    .collect::<Result<Vec<_>, _>>()?;
                let array = StructArray::try_new(children.clone(), arrays, None)
                    .map_err(Error::arrow(format!("building field `{path}` of the design's specs")))?;
                Ok(Arc::new(array))
            }
            other => Ok(new_null_array(other, chunk.rows)),
        }
    }

    fn leaf(&mut self, column: usize, path: &str, to: &DataType, chunk: &DesignChunk<'_>) -> Result<ArrayRef, Error> {
        let context = || format!("building field `{path}` ({to}) of the design's specs");
        // Unsafe casts fail instead of turning a value that does not fit into null.
        let options = CastOptions { safe: false, ..CastOptions::default() };
        let array: ArrayRef = match &chunk.columns[column] {
            ColumnChunk::Numbers(numbers) => Arc::new(Float64Array::from(numbers.clone())),
            ColumnChunk::Integers(integers) => Arc::new(Int64Array::from(integers.clone())),
            ColumnChunk::Choices { values, index } => {
                let known = match &mut self.choices[column] {
                    Some(known) => known,
                    slot @ None => slot.insert(decode(values, to).map_err(Error::arrow(context()))?),
                };
                return take(known, &UInt32Array::from(index.clone()), None).map_err(Error::arrow(context()));
            }
        };
        if array.data_type() == to {
            return Ok(array);
        }
        cast_with_options(&array, to, &options).map_err(Error::arrow(context()))
    }
}

/// `values` as an Arrow array of `data_type`, read like a JSON Lines specs file.
fn decode(values: &[Value], data_type: &DataType) -> Result<ArrayRef, arrow::error::ArrowError> {
    let schema = Arc::new(Schema::new(vec![Field::new("value", data_type.clone(), true)]));
    let mut decoder = arrow::json::ReaderBuilder::new(schema)
        .with_batch_size(values.len().max(1))
        .with_strict_mode(true)
        .build_decoder()?;
    let rows: Vec<Value> = values
        .iter()
        .map(|value| {
            let mut value = value.clone();
            tuples_as_objects(&mut value, data_type);
            Value::Object(Map::from_iter([("value".to_owned(), value)]))
        })
        .collect();
    decoder.serialize(&rows)?;
    let batch = decoder.flush()?.ok_or_else(|| arrow::error::ArrowError::JsonError("no values".to_owned()))?;
    Ok(Arc::clone(batch.column(0)))
}
