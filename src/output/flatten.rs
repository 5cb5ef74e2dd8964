//! Flattening one activity into named CSV cells.
//!
//! Column names never collide:
//! - a top-level property is its own name (`TimeStamp`, `Id`, an unknown `Foo`);
//! - a custom property is `CustomProperties.<Name>`; a second one of the same name in one
//!   record is `CustomProperties.<Name>#2`, and so on;
//! - `CustomProperties` entries that are not `{"Name": "...", "Value": ...}`, or a
//!   `CustomProperties` that is not an array, go whole (as JSON) into the `CustomProperties` column;
//! - a top-level name that itself starts with `CustomProperties.` or `\` gets a leading `\`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The blog's required properties, always the first columns, in this order.
pub const STANDARD_COLUMNS: [&str; 6] = [
    "TimeStamp",
    "ActivityIdType",
    "AppIdType",
    "ActivityItemId",
    "ActivityCreationTime",
    "ClientSessionId",
];

const CUSTOM: &str = "CustomProperties";
const CUSTOM_PREFIX: &str = "CustomProperties.";

/// A record's top-level members in document order, duplicates kept.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(16);
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    members.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomProperty<'a> {
    #[serde(rename = "Name", borrow)]
    name: Cow<'a, str>,
    #[serde(rename = "Value", borrow, default)]
    value: Option<&'a RawValue>,
}

/// Calls `cell(column, value)` for every cell of one record. Values are the text a CSV cell
/// holds: strings unescaped, null empty, numbers, booleans, arrays and objects as JSON.
pub fn flatten_record(
    raw: &str,
    mut cell: impl FnMut(&str, Cow<'_, str>),
) -> Result<(), serde_json::Error> {
    let members: Members = serde_json::from_str(raw)?;
    let mut column = String::with_capacity(64);
    for (key, value) in &members.0 {
        if key == CUSTOM {
            flatten_custom(value, &mut column, &mut cell)?;
            continue;
        }
        column.clear();
        if key.starts_with(CUSTOM_PREFIX) || key.starts_with('\\') {
            column.push('\\');
        }
        column.push_str(key);
        cell(&column, cell_text(value)?);
    }
    Ok(())
}

fn flatten_custom(
    value: &RawValue,
    column: &mut String,
    cell: &mut impl FnMut(&str, Cow<'_, str>),
) -> Result<(), serde_json::Error> {
    let Ok(entries) = serde_json::from_str::<Vec<&RawValue>>(value.get()) else {
        if value.get() != "null" {
            cell(CUSTOM, Cow::Borrowed(value.get()));
        }
        return Ok(());
    };
    let mut seen: HashMap<Cow<str>, u32> = HashMap::new();
    let mut odd: Vec<&str> = Vec::new();
    for entry in entries {
        let Ok(property) = serde_json::from_str::<CustomProperty>(entry.get()) else {
            odd.push(entry.get());
            continue;
        };
        let occurrence = seen.entry(property.name.clone()).or_insert(0);
        *occurrence += 1;
        column.clear();
        column.push_str(CUSTOM_PREFIX);
        column.push_str(&property.name);
        if *occurrence > 1 {
            column.push('#');
            column.push_str(&occurrence.to_string());
        }
        let text = match property.value {
            Some(v) => cell_text(v)?,
            None => Cow::Borrowed(""),
        };
        cell(column, text);
    }
    if !odd.is_empty() {
        cell(CUSTOM, Cow::Owned(format!("[{}]", odd.join(","))));
    }
    Ok(())
}

fn cell_text(value: &RawValue) -> Result<Cow<'_, str>, serde_json::Error> {
    let text = value.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<Cow<str>>(text),
        // Nested values are re-encoded compactly, whatever whitespace the server sent.
        Some(b'[') | Some(b'{') => Ok(Cow::Owned(
            serde_json::from_str::<serde_json::Value>(text)?.to_string(),
        )),
        _ if text == "null" => Ok(Cow::Borrowed("")),
        _ => Ok(Cow::Borrowed(text)),
    }
}

/// Every column seen in a result; the header is derived from it in a fixed order.
#[derive(Debug, Default, Clone)]
pub struct CsvSchema {
    columns: HashSet<String>,
}

impl CsvSchema {
    /// Notes the columns of one record.
    pub fn observe(&mut self, raw: &str) -> Result<(), serde_json::Error> {
        flatten_record(raw, |column, _| {
            if !self.columns.contains(column) {
                self.columns.insert(column.to_string());
            }
        })
    }

    /// Standard columns first (always present), other top-level properties by name, the
    /// `CustomProperties` leftovers, then custom properties by name.
    pub fn header(&self) -> Vec<String> {
        let mut header: Vec<String> = STANDARD_COLUMNS.iter().map(|c| c.to_string()).collect();
        let mut top_level: Vec<&String> = Vec::new();
        let mut custom: Vec<&String> = Vec::new();
        let mut leftovers = false;
        for column in &self.columns {
            if STANDARD_COLUMNS.contains(&column.as_str()) {
                continue;
            } else if column == CUSTOM {
                leftovers = true;
            } else if column.starts_with(CUSTOM_PREFIX) {
                custom.push(column);
            } else {
                top_level.push(column);
            }
        }
        top_level.sort();
        custom.sort();
        header.extend(top_level.into_iter().cloned());
        if leftovers {
            header.push(CUSTOM.to_string());
        }
        header.extend(custom.into_iter().cloned());
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(raw: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        flatten_record(raw, |c, v| out.push((c.to_string(), v.into_owned()))).unwrap();
        out
    }

    #[test]
    fn flattens_standard_custom_repeated_null_and_nested() {
        let raw = r#"{"Id":"a","TimeStamp":"t","Extra":{"x":[1,2]},"N":null,"B":true,
            "CustomProperties":[{"Name":"ClientIP","Value":"1.2.3.4"},{"Name":"ClientIP","Value":"5.6.7.8"},
            {"Name":"Empty","Value":null},{"Oops":1},{"Name":"Quote","Value":"a \"b\", c\nd"}]}"#;
        assert_eq!(
            cells(raw),
            vec![
                ("Id".into(), "a".into()),
                ("TimeStamp".into(), "t".into()),
                ("Extra".into(), r#"{"x":[1,2]}"#.into()),
                ("N".into(), "".into()),
                ("B".into(), "true".into()),
                ("CustomProperties.ClientIP".into(), "1.2.3.4".into()),
                ("CustomProperties.ClientIP#2".into(), "5.6.7.8".into()),
                ("CustomProperties.Empty".into(), "".into()),
                ("CustomProperties.Quote".into(), "a \"b\", c\nd".into()),
                ("CustomProperties".into(), r#"[{"Oops":1}]"#.into()),
            ]
        );
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
    fn header_order_is_fixed() {
        let mut schema = CsvSchema::default();
        schema.observe(r#"{"Zed":1,"Id":"a","CustomProperties":[{"Name":"B","Value":"1"},{"Name":"A","Value":"2"}]}"#).unwrap();
        schema
            .observe(r#"{"TenantId":"t","CustomProperties":[7]}"#)
            .unwrap();
        assert_eq!(
            schema.header(),
            vec![
                "TimeStamp",
                "ActivityIdType",
                "AppIdType",
                "ActivityItemId",
                "ActivityCreationTime",
                "ClientSessionId",
                "Id",
                "TenantId",
                "Zed",
                "CustomProperties",
                "CustomProperties.A",
                "CustomProperties.B",
            ]
        );
    }
}
