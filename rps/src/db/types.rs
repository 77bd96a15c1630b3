//! The two array columns of the reference schema (`profiles.tags text[]`, `wirelessconfigs.link_policy int[]`).
//!
//! Postgres stores them as native arrays (the reference DDL); SQLite has no arrays, so its schema stores the same
//! list as JSON text. A value remembers which representation it is bound as: rows read from Postgres decode as
//! native arrays, rows read from SQLite as JSON, and values built for a write take the connection's backend.

use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, Value, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbBackend, QueryResult, TryGetError, TryGetable};
use serde::{Serialize, de::DeserializeOwned};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Repr {
    #[default]
    Native,
    Json,
}

impl Repr {
    fn of(backend: DbBackend) -> Self {
        if backend == DbBackend::Postgres {
            Repr::Native
        } else {
            Repr::Json
        }
    }
}

macro_rules! array_column {
    ($name:ident, $item:ty, $variant:ident, $array_type:ident, $sql:literal) => {
        #[doc = concat!("A nullable `", $sql, "` column: a native array on Postgres, JSON text on SQLite.")]
        #[derive(Clone, Debug, Default)]
        pub struct $name {
            items: Option<Vec<$item>>,
            repr: Repr,
        }

        impl $name {
            pub fn new(items: Option<Vec<$item>>, backend: DbBackend) -> Self {
                Self { items, repr: Repr::of(backend) }
            }

            pub fn items(&self) -> Option<&[$item]> {
                self.items.as_deref()
            }

            pub fn into_items(self) -> Option<Vec<$item>> {
                self.items
            }
        }

        /// Equal when the lists are equal, whatever representation they travel in.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.items == other.items
            }
        }

        impl Eq for $name {}

        impl From<$name> for Value {
            fn from(a: $name) -> Value {
                match a.repr {
                    Repr::Native => Value::Array(
                        ArrayType::$array_type,
                        a.items.map(|v| Box::new(v.into_iter().map(|x| Value::$variant(Some(x.into()))).collect())),
                    ),
                    Repr::Json => Value::String(a.items.map(|v| json_text(&v))),
                }
            }
        }

        impl TryGetable for $name {
            fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
                // A Postgres row decodes the native array; any other row refuses with a type error and holds JSON.
                if let Ok(items) = <Option<Vec<$item>> as TryGetable>::try_get_by(res, idx) {
                    return Ok(Self { items, repr: Repr::Native });
                }
                let text = <Option<String> as TryGetable>::try_get_by(res, idx)?;
                let items = match text {
                    None => None,
                    Some(t) => Some(from_json_text(&t).map_err(|e| {
                        TryGetError::DbErr(sea_orm::DbErr::Type(format!("{} column is not a JSON list: {e}", $sql)))
                    })?),
                };
                Ok(Self { items, repr: Repr::Json })
            }
        }

        impl ValueType for $name {
            fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
                match v {
                    Value::Array(_, items) => {
                        let items = match items {
                            None => None,
                            Some(values) => Some(
                                values
                                    .into_iter()
                                    .map(|x| <$item as ValueType>::try_from(x))
                                    .collect::<Result<Vec<_>, _>>()?,
                            ),
                        };
                        Ok(Self { items, repr: Repr::Native })
                    }
                    Value::String(None) => Ok(Self { items: None, repr: Repr::Json }),
                    Value::String(Some(t)) => {
                        Ok(Self { items: Some(from_json_text(&t).map_err(|_| ValueTypeErr)?), repr: Repr::Json })
                    }
                    _ => Err(ValueTypeErr),
                }
            }

            fn type_name() -> String {
                stringify!($name).to_owned()
            }

            fn array_type() -> ArrayType {
                ArrayType::$array_type
            }

            fn column_type() -> ColumnType {
                ColumnType::custom($sql)
            }
        }

        impl Nullable for $name {
            fn null() -> Value {
                Value::String(None)
            }
        }
    };
}

array_column!(TextArray, String, String, String, "text[]");
array_column!(IntArray, i32, Int, Int, "int[]");

fn json_text<T: Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

fn from_json_text<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_native_on_postgres_and_json_on_sqlite() {
        let tags = Some(vec!["a".to_owned(), "b c".to_owned()]);
        let pg: Value = TextArray::new(tags.clone(), DbBackend::Postgres).into();
        assert!(matches!(pg, Value::Array(ArrayType::String, Some(ref v)) if v.len() == 2));
        let lite: Value = TextArray::new(tags, DbBackend::Sqlite).into();
        assert_eq!(lite, Value::String(Some(r#"["a","b c"]"#.to_owned())));
        let none: Value = IntArray::new(None, DbBackend::Sqlite).into();
        assert_eq!(none, Value::String(None));
        let back = <IntArray as ValueType>::try_from(Value::String(Some("[1,14]".into()))).unwrap();
        assert_eq!(back.items(), Some(&[1, 14][..]));
    }
}
