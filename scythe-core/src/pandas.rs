//! The `pandas` schema metadata that lets `pandas.read_parquet` restore a table's index.

use arrow::datatypes::{DataType, Schema};
use serde_json::{Value, json};

/// Schema metadata key pandas reads.
pub const PANDAS_METADATA_KEY: &str = "pandas";

/// The `pandas` metadata JSON for a table whose `index_columns` form its (Multi)Index.
///
/// Index columns are stored as ordinary columns, like pyarrow does; every column's pandas and
/// numpy types are derived from its Arrow type.
pub fn pandas_metadata(schema: &Schema, index_columns: &[&str]) -> String {
    let columns: Vec<Value> = schema
        .fields()
        .iter()
        .map(|field| {
            let (pandas_type, numpy_type) = pandas_types(field.data_type());
            json!({
                "name": field.name(),
                "field_name": field.name(),
                "pandas_type": pandas_type,
                "numpy_type": numpy_type,
                "metadata": Value::Null,
            })
        })
        .collect();
    json!({
        "index_columns": index_columns,
        "column_indexes": [{
            "name": Value::Null,
            "field_name": Value::Null,
            "pandas_type": "unicode",
            "numpy_type": "object",
            "metadata": {"encoding": "UTF-8"},
        }],
        "columns": columns,
        "creator": {"library": "scythe", "version": env!("CARGO_PKG_VERSION")},
        "pandas_version": "2.2.3",
    })
    .to_string()
}

fn pandas_types(data_type: &DataType) -> (&'static str, &'static str) {
    match data_type {
        DataType::Boolean => ("bool", "bool"),
        DataType::Int8 => ("int8", "int8"),
        DataType::Int16 => ("int16", "int16"),
        DataType::Int32 => ("int32", "int32"),
        DataType::Int64 => ("int64", "int64"),
        DataType::UInt8 => ("uint8", "uint8"),
        DataType::UInt16 => ("uint16", "uint16"),
        DataType::UInt32 => ("uint32", "uint32"),
        DataType::UInt64 => ("uint64", "uint64"),
        DataType::Float16 => ("float16", "float16"),
        DataType::Float32 => ("float32", "float32"),
        DataType::Float64 => ("float64", "float64"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ("unicode", "object"),
        DataType::Dictionary(..) => ("categorical", "int8"),
        DataType::Date32 | DataType::Date64 => ("date", "object"),
        DataType::Timestamp(_, None) => ("datetime", "datetime64[ns]"),
        DataType::Timestamp(_, Some(_)) => ("datetimetz", "datetime64[ns]"),
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => ("list[object]", "object"),
        DataType::Null => ("empty", "object"),
        _ => ("object", "object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;

    #[test]
    fn lists_index_columns_and_types() {
        let schema = Schema::new(vec![
            Field::new("heating", DataType::Float64, false),
            Field::new("experiment_id", DataType::Utf8, false),
            Field::new("sort_index", DataType::UInt64, false),
        ]);
        let metadata: Value =
            serde_json::from_str(&pandas_metadata(&schema, &["experiment_id", "sort_index"])).unwrap();
        assert_eq!(metadata["index_columns"], json!(["experiment_id", "sort_index"]));
        assert_eq!(metadata["columns"][0]["pandas_type"], "float64");
        assert_eq!(metadata["columns"][1]["pandas_type"], "unicode");
        assert_eq!(metadata["columns"][2]["numpy_type"], "uint64");
    }
}
