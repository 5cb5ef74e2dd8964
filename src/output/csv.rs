//! The flattened CSV, derived from the JSON Lines evidence in a second streaming pass (the
//! header needs every column of the result, which is only known once the pull is done).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead, Write};

use super::flatten::{flatten_record, CsvSchema};

#[derive(Debug, Clone, Copy)]
pub struct CsvOptions {
    /// Neutralize cells a spreadsheet would run as a formula.
    pub sanitize: bool,
}

/// Streams every line of `jsonl` into one CSV row of `out`. Returns the number of rows.
pub fn write_csv_from_jsonl(
    jsonl: impl BufRead,
    schema: &CsvSchema,
    out: impl Write,
    options: CsvOptions,
) -> io::Result<u64> {
    let header = schema.header();
    let index: HashMap<&str, usize> = header
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    writer.write_record(&header)?;
    let mut row: Vec<String> = vec![String::new(); header.len()];
    let mut rows = 0u64;
    for (number, line) in jsonl.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        row.iter_mut().for_each(String::clear);
        let mut unknown_column = None;
        flatten_record(&line, |column, value| match index.get(column) {
            Some(&i) => push_cell(&mut row[i], value, options.sanitize),
            None => unknown_column = Some(column.to_string()),
        })
        .map_err(|err| {
            invalid(format!(
                "line {} of the JSON Lines is not a record: {err}",
                number + 1
            ))
        })?;
        if let Some(column) = unknown_column {
            return Err(invalid(format!(
                "line {} has column {column:?} that the schema never saw",
                number + 1
            )));
        }
        writer.write_record(&row)?;
        rows += 1;
    }
    writer.flush()?;
    Ok(rows)
}

fn push_cell(cell: &mut String, value: Cow<'_, str>, sanitize: bool) {
    if sanitize && value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        // OWASP's advice: a leading apostrophe makes spreadsheets treat the cell as text.
        cell.push('\'');
    }
    cell.push_str(&value);
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(lines: &str, sanitize: bool) -> String {
        let mut schema = CsvSchema::default();
        for line in lines.lines() {
            schema.observe(line).unwrap();
        }
        let mut out = Vec::new();
        write_csv_from_jsonl(lines.as_bytes(), &schema, &mut out, CsvOptions { sanitize }).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn neutralizes_formulas_only_when_asked() {
        let line = r#"{"TimeStamp":"t","CustomProperties":[{"Name":"Subject","Value":"=HYPERLINK(\"x\")"}]}"#;
        assert!(convert(line, true).contains(r#"'=HYPERLINK(""x"")"#));
        assert!(convert(line, false).contains(r#","=HYPERLINK(""x"")""#));
    }

    #[test]
    fn rows_round_trip_through_a_csv_reader() {
        let line = r#"{"TimeStamp":"t","Id":"a","CustomProperties":[{"Name":"S","Value":"a,b \"c\"\r\n\td ☃ مرحبا 日本"}]}"#;
        let text = convert(line, false);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let row = reader.records().next().unwrap().unwrap();
        let s = headers
            .iter()
            .position(|h| h == "CustomProperties.S")
            .unwrap();
        assert_eq!(&row[s], "a,b \"c\"\r\n\td ☃ مرحبا 日本");
    }
}
