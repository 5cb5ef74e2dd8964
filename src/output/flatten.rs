//! Flattening one activity into named CSV cells, in a single parse of its JSON text.
//!
//! Column names never collide:
//! - a top-level property is its own name (`TimeStamp`, `Id`, an unknown `Foo`);
//! - a custom property is `CustomProperties.<Name>`; a second one of the same name in one
//!   record is `CustomProperties.<Name>#2`, and so on; a `#` in a name is doubled;
//! - `CustomProperties` entries that are not `{"Name": "...", "Value": ...}` objects, or a
//!   `CustomProperties` that is not an array, go (as JSON) into the `CustomProperties` column;
//! - a Graph `auditLogRecord`'s `auditData` object is flattened one level, each property
//!   `auditData.<Name>` (anything else in `auditData` goes, as JSON, into the `auditData` column);
//! - a top-level name that itself starts with `CustomProperties.`, `auditData.` or `\` gets a
//!   leading `\`.
//!
//! Cell text: strings as they are, null empty, booleans and numbers as JSON, arrays and objects
//! as compact JSON.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::json_key::JsonKey;

/// The blog's required properties, always the first columns, in this order.
pub const STANDARD_COLUMNS: [&str; 6] = [
    "TimeStamp",
    "ActivityIdType",
    "AppIdType",
    "ActivityItemId",
    "ActivityCreationTime",
    "ClientSessionId",
];

pub const CUSTOM: &str = "CustomProperties";
pub const CUSTOM_PREFIX: &str = "CustomProperties.";
pub const AUDIT_DATA: &str = "auditData";
pub const AUDIT_DATA_PREFIX: &str = "auditData.";

/// Which records a CSV holds, for the columns that lead its header: a source declares its own
/// (`SourceDescriptor::record_shape`), so a new source needs nothing here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordShape {
    /// Columns every CSV of this shape has, whether or not a record fills them.
    pub fixed: &'static [&'static str],
    /// Columns that lead the header, in this order, when present.
    pub leading: &'static [&'static str],
}

impl Default for RecordShape {
    fn default() -> Self {
        RecordShape::ACTIVITIES
    }
}

/// The columns that lead an audit log CSV, when its records have them: the Management API's
/// names, and Graph's (a CSV holds one or the other).
const AUDIT_LEADING: [&str; 12] = [
    "CreationTime",
    "createdDateTime",
    "Operation",
    "operation",
    "UserId",
    "userPrincipalName",
    "ClientIP",
    "clientIp",
    "Workload",
    "service",
    "Id",
    "id",
];

impl RecordShape {
    /// Activities records: the blog's six standard columns first, always present.
    pub const ACTIVITIES: RecordShape = RecordShape {
        fixed: &STANDARD_COLUMNS,
        leading: &STANDARD_COLUMNS,
    };

    /// Unified Audit Log records (Management Activity API records, or Graph auditLogRecords):
    /// time, operation, user, address and id first, when present.
    pub const AUDIT_LOG: RecordShape = RecordShape {
        fixed: &[],
        leading: &AUDIT_LEADING,
    };

    /// The columns every CSV of this shape has, whether or not a record fills them.
    pub fn fixed_columns(self) -> &'static [&'static str] {
        self.fixed
    }

    fn leading_columns(self) -> &'static [&'static str] {
        self.leading
    }

    /// Where a column goes in the header: the leading column (if any), this shape's leading
    /// columns, other top-level properties by name, the `CustomProperties` leftovers, custom
    /// properties by name, `auditData` properties by name.
    pub fn header_rank(self, name: &str, leading: bool) -> (u8, usize, &str) {
        if leading {
            (0, 0, "")
        } else if let Some(i) = self.leading_columns().iter().position(|s| *s == name) {
            (1, i, "")
        } else if name == CUSTOM {
            (3, 0, "")
        } else if name.starts_with(CUSTOM_PREFIX) {
            (4, 0, name)
        } else if name == AUDIT_DATA {
            (5, 0, "")
        } else if name.starts_with(AUDIT_DATA_PREFIX) {
            (6, 0, name)
        } else {
            (2, 0, name)
        }
    }
}

/// Receives the cells of one record as they are parsed.
pub trait CellSink {
    fn top_level(&mut self, key: &str, text: &str);
    /// A custom property; the sink numbers repeated names within one record.
    fn custom(&mut self, name: &str, text: &str);
    fn leftovers(&mut self, json: &str);
    /// A property of a Graph record's `auditData` object.
    fn audit_data(&mut self, key: &str, text: &str);
}

/// The column name of a top-level property.
pub fn top_level_column(key: &str) -> Cow<'_, str> {
    if key.starts_with(CUSTOM_PREFIX) || key.starts_with(AUDIT_DATA_PREFIX) || key.starts_with('\\')
    {
        Cow::Owned(format!("\\{key}"))
    } else {
        Cow::Borrowed(key)
    }
}

/// The column name of the `occurrence`-th custom property `name` of a record. A `#` in the
/// name is doubled, so a single `#` always starts the occurrence: a property named `X#2` is
/// `CustomProperties.X##2`, a second `X` is `CustomProperties.X#2`.
pub fn custom_column(name: &str, occurrence: u32) -> String {
    let name = if name.contains('#') {
        Cow::Owned(name.replace('#', "##"))
    } else {
        Cow::Borrowed(name)
    };
    if occurrence > 1 {
        format!("{CUSTOM_PREFIX}{name}#{occurrence}")
    } else {
        format!("{CUSTOM_PREFIX}{name}")
    }
}

/// The custom property and its occurrence that a column name after `CustomProperties.` stands
/// for (the inverse of `custom_column`).
pub fn custom_property_of(column: &str) -> (String, u32) {
    let digits = column.len() - column.bytes().rev().take_while(u8::is_ascii_digit).count();
    let hashes = column[..digits]
        .bytes()
        .rev()
        .take_while(|b| *b == b'#')
        .count();
    let occurrence = column[digits..].parse::<u32>().ok();
    match occurrence {
        // An odd run of `#`: its last one starts the occurrence.
        Some(occurrence) if hashes % 2 == 1 => {
            (column[..digits - 1].replace("##", "#"), occurrence)
        }
        _ => (column.replace("##", "#"), 1),
    }
}

/// Parses `raw` once, calling `sink` for every cell in document order.
pub fn flatten_record(raw: &str, sink: &mut impl CellSink) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(raw);
    flatten_from(&mut deserializer, sink, &mut |_, _| {})?;
    deserializer.end()
}

/// Reads one record from `deserializer`, calling `sink` for every cell in document order and
/// `strings` with each top-level property whose value is a string (borrowed from the input
/// where it holds no escapes): whoever parses a record for its cells gets its keys too.
pub fn flatten_from<'de, D: Deserializer<'de>>(
    deserializer: D,
    sink: &mut impl CellSink,
    strings: &mut impl FnMut(&str, &Cow<'de, str>),
) -> Result<(), D::Error> {
    deserializer.deserialize_map(RecordSeed { sink, strings })
}

/// A JSON value as cell text: strings borrowed where possible, null, anything else kept as a
/// value (boxed: this type is moved for every value parsed, and strings are the common case).
enum Scalar<'a> {
    Text(Cow<'a, str>),
    Null,
    Other(Box<Value>),
}

impl Scalar<'_> {
    fn cell(&self) -> Cow<'_, str> {
        match self {
            Scalar::Text(text) => Cow::Borrowed(text),
            Scalar::Null => Cow::Borrowed(""),
            Scalar::Other(value) => Cow::Owned(value.to_string()),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Scalar::Text(text) => Value::String(text.into_owned()),
            Scalar::Null => Value::Null,
            Scalar::Other(value) => *value,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Box::new(Value::Bool(v))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Box::new(Value::from(v))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Box::new(Value::from(v))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Box::new(Value::from(v))))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(|value| Scalar::Other(Box::new(value)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|value| Scalar::Other(Box::new(value)))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// One element of `CustomProperties`.
enum Entry<'a> {
    Property {
        name: Cow<'a, str>,
        value: Scalar<'a>,
    },
    Odd(Value),
}

impl<'de> Deserialize<'de> for Entry<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = Entry<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a custom property")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // Fixed slots: the usual {"Name","Value"} entry allocates nothing.
                let mut name: Option<Scalar<'de>> = None;
                let mut value: Option<Scalar<'de>> = None;
                let mut others: Vec<(JsonKey<'de>, Scalar<'de>)> = Vec::new();
                while let Some(key) = map.next_key::<JsonKey<'de>>()? {
                    let field: Scalar<'de> = map.next_value()?;
                    match &*key {
                        "Name" if name.is_none() => name = Some(field),
                        "Value" if value.is_none() => value = Some(field),
                        _ => others.push((key, field)),
                    }
                }
                match (name, others.is_empty()) {
                    (Some(Scalar::Text(name)), true) => Ok(Entry::Property {
                        name,
                        value: value.unwrap_or(Scalar::Null),
                    }),
                    (name, _) => {
                        let mut object = serde_json::Map::new();
                        if let Some(name) = name {
                            object.insert("Name".into(), name.into_value());
                        }
                        if let Some(value) = value {
                            object.insert("Value".into(), value.into_value());
                        }
                        for (key, field) in others {
                            object.insert(key.0.into_owned(), field.into_value());
                        }
                        Ok(Entry::Odd(Value::Object(object)))
                    }
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Entry::Odd)
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Entry::Odd(Value::String(v.to_string())))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Entry::Odd(Value::String(v.to_string())))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Entry::Odd(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Entry::Odd(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Entry::Odd(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Entry::Odd(Value::from(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Entry::Odd(Value::Null))
            }
        }
        deserializer.deserialize_any(EntryVisitor)
    }
}

/// Reads a record's properties: `CustomProperties` through `CustomSeed`, others as cells.
struct RecordSeed<'s, S, F> {
    sink: &'s mut S,
    strings: &'s mut F,
}

impl<'de, S: CellSink, F: FnMut(&str, &Cow<'de, str>)> Visitor<'de> for RecordSeed<'_, S, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an activity object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<JsonKey<'de>>()? {
            if &*key == CUSTOM {
                map.next_value_seed(CustomSeed(&mut *self.sink))?;
            } else if &*key == AUDIT_DATA {
                map.next_value_seed(AuditDataSeed(&mut *self.sink))?;
            } else {
                let value: Scalar = map.next_value()?;
                if let Scalar::Text(text) = &value {
                    (self.strings)(&key, text);
                }
                self.sink.top_level(&key, &value.cell());
            }
        }
        Ok(())
    }
}

/// A Graph record's `auditData`: an object's properties as `auditData.<Name>` cells; any other
/// value as the `auditData` cell.
struct AuditDataSeed<'s, S>(&'s mut S);

impl<'de, S: CellSink> DeserializeSeed<'de> for AuditDataSeed<'_, S> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match Scalar::deserialize(deserializer)? {
            Scalar::Other(value) if value.is_object() => {
                if let Value::Object(object) = *value {
                    for (key, field) in object {
                        let text = match field {
                            Value::String(text) => text,
                            Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        self.0.audit_data(&key, &text);
                    }
                }
            }
            other => self.0.top_level(AUDIT_DATA, &other.cell()),
        }
        Ok(())
    }
}

struct CustomSeed<'s, S>(&'s mut S);

impl<'de, S: CellSink> DeserializeSeed<'de> for CustomSeed<'_, S> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S: CellSink> Visitor<'de> for CustomSeed<'_, S> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of custom properties")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut odd: Vec<Value> = Vec::new();
        while let Some(entry) = seq.next_element::<Entry<'de>>()? {
            match entry {
                Entry::Property { name, value } => self.0.custom(&name, &value.cell()),
                Entry::Odd(value) => odd.push(value),
            }
        }
        if !odd.is_empty() {
            self.0.leftovers(&Value::Array(odd).to_string());
        }
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.0.leftovers(&value.to_string());
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.leftovers(&Value::String(v.to_string()).to_string());
        Ok(())
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.leftovers(&v.to_string());
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.leftovers(&v.to_string());
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.leftovers(&v.to_string());
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.leftovers(&Value::from(v).to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects (column name, text) pairs.
    #[derive(Default)]
    struct Cells(
        Vec<(String, String)>,
        std::collections::HashMap<String, u32>,
    );

    impl CellSink for Cells {
        fn top_level(&mut self, key: &str, text: &str) {
            self.0
                .push((top_level_column(key).into_owned(), text.to_string()));
        }
        fn custom(&mut self, name: &str, text: &str) {
            let occurrence = self.1.entry(name.to_string()).or_insert(0);
            *occurrence += 1;
            self.0
                .push((custom_column(name, *occurrence), text.to_string()));
        }
        fn leftovers(&mut self, json: &str) {
            self.0.push((CUSTOM.to_string(), json.to_string()));
        }
        fn audit_data(&mut self, key: &str, text: &str) {
            self.0
                .push((format!("{AUDIT_DATA_PREFIX}{key}"), text.to_string()));
        }
    }

    fn cells(raw: &str) -> Vec<(String, String)> {
        let mut sink = Cells::default();
        flatten_record(raw, &mut sink).unwrap();
        sink.0
    }

    #[test]
    fn flattens_standard_custom_repeated_null_and_nested() {
        let raw = r#"{"Id":"a","TimeStamp":"t","Extra":{"x": [1, 2]},"N":null,"B":true,"F":1.5,
            "CustomProperties":[{"Name":"ClientIP","Value":"1.2.3.4"},{"Name":"ClientIP","Value":"5.6.7.8"},
            {"Name":"Empty","Value":null},{"Oops":1},{"Name":"Quote","Value":"a \"b\", c\nd"},{"Name":"Missing"}]}"#;
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cells(raw),
            pairs(&[
                ("Id", "a"),
                ("TimeStamp", "t"),
                ("Extra", r#"{"x":[1,2]}"#),
                ("N", ""),
                ("B", "true"),
                ("F", "1.5"),
                ("CustomProperties.ClientIP", "1.2.3.4"),
                ("CustomProperties.ClientIP#2", "5.6.7.8"),
                ("CustomProperties.Empty", ""),
                ("CustomProperties.Quote", "a \"b\", c\nd"),
                ("CustomProperties.Missing", ""),
                ("CustomProperties", r#"[{"Oops":1}]"#),
            ])
        );
    }

    #[test]
    fn custom_columns_never_collide_and_say_which_property_they_hold() {
        let properties = [
            ("X", 1),
            ("X", 2),
            ("X#2", 1),
            ("X#", 2),
            ("X##2", 1),
            ("#", 1),
            ("#", 3),
            ("12", 1),
            ("12", 12),
        ];
        let columns: Vec<String> = properties
            .iter()
            .map(|(name, occurrence)| custom_column(name, *occurrence))
            .collect();
        let unique: std::collections::HashSet<&String> = columns.iter().collect();
        assert_eq!(unique.len(), columns.len(), "{columns:?}");
        assert_eq!(columns[2], "CustomProperties.X##2");
        for ((name, occurrence), column) in properties.iter().zip(&columns) {
            let body = column.strip_prefix(CUSTOM_PREFIX).unwrap();
            assert_eq!(
                custom_property_of(body),
                (name.to_string(), *occurrence),
                "{column}"
            );
        }
    }

    #[test]
    fn a_graph_records_audit_data_is_flattened_one_level() {
        let raw = r#"{"id":"g","auditData.Id":"posing","auditData":{"Id":"a","Folders":[{"Path":"\\Inbox"}],"LogonType":0,"X":null}}"#;
        assert_eq!(
            cells(raw),
            vec![
                ("id".to_string(), "g".to_string()),
                ("\\auditData.Id".to_string(), "posing".to_string()),
                ("auditData.Id".to_string(), "a".to_string()),
                (
                    "auditData.Folders".to_string(),
                    r#"[{"Path":"\\Inbox"}]"#.to_string()
                ),
                ("auditData.LogonType".to_string(), "0".to_string()),
                ("auditData.X".to_string(), String::new()),
            ]
        );
        let odd = cells(r#"{"auditData":"text"}"#);
        assert_eq!(odd, vec![("auditData".to_string(), "text".to_string())]);
    }

    #[test]
    fn audit_log_columns_lead_with_time_operation_and_user() {
        let shape = RecordShape::AUDIT_LOG;
        let mut names = vec![
            "zeta",
            "auditData.Id",
            "operation",
            "createdDateTime",
            "auditData",
        ];
        names.sort_by(|a, b| {
            shape
                .header_rank(a, false)
                .cmp(&shape.header_rank(b, false))
        });
        assert_eq!(
            names,
            vec![
                "createdDateTime",
                "operation",
                "zeta",
                "auditData",
                "auditData.Id"
            ]
        );
        assert!(shape.fixed_columns().is_empty());
        assert_eq!(RecordShape::ACTIVITIES.fixed_columns(), STANDARD_COLUMNS);
    }

    #[test]
    fn top_level_names_cannot_pose_as_custom_columns() {
        let raw = r#"{"CustomProperties.ClientIP":"x","\\y":"z","CustomProperties":{"odd":1}}"#;
        let got: Vec<String> = cells(raw).into_iter().map(|(c, _)| c).collect();
        assert_eq!(
            got,
            vec!["\\CustomProperties.ClientIP", "\\\\y", "CustomProperties"]
        );
    }

    #[test]
    fn odd_entries_keep_their_json() {
        let raw = r#"{"CustomProperties":[{"Name":1,"Value":"x"},{"Name":"A","Value":"1","Extra":true},"s",null]}"#;
        assert_eq!(
            cells(raw),
            vec![(
                "CustomProperties".to_string(),
                r#"[{"Name":1,"Value":"x"},{"Name":"A","Value":"1","Extra":true},"s",null]"#
                    .to_string()
            )]
        );
        assert!(flatten_record(r#"{"a":1} trailing"#, &mut Cells::default()).is_err());
        assert!(flatten_record(r#"[1]"#, &mut Cells::default()).is_err());
    }
}
