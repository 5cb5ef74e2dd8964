//! A CSV whose columns are known before its first record, written a row at a time with no cell
//! spool (the case timeline: its columns are the union of its mailboxes' CSV headers).
//!
//! The promise is checked, not trusted: a record with a column outside it, or two columns that
//! would share a header name, stops the writer (`Added::Unplanned`), a planned column that no
//! record has fails `finish`, and the caller builds the CSV the spooled way instead. A wrong
//! promise costs time, never a wrong file.

use std::io::{self, Write};

use rustc_hash::FxHashMap;

use super::csv::{Columns, ROW_BLOCK};
use super::csv_row::RowEncoder;
use super::flatten::RecordShape;
use super::CsvOptions;

/// What became of a record.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    Row,
    /// The record has a column the header does not plan for (its name).
    Unplanned(String),
}

pub struct KnownColumnsCsv<W: Write> {
    columns: Columns,
    /// The header position of each column id seen so far.
    position: Vec<usize>,
    /// Header positions by name, and whether a column id has claimed each.
    planned: FxHashMap<String, usize>,
    claimed: Vec<bool>,
    frame: Vec<u8>,
    cells: Vec<(usize, usize)>,
    rows: RowEncoder,
    out: W,
    sanitize: bool,
}

impl<W: Write> KnownColumnsCsv<W> {
    /// Writes the header: `leading` first, then the standard columns and `names` in the usual
    /// header order. `None` if `names` holds `leading` itself (two columns, one name).
    pub fn new(
        mut out: W,
        leading: &str,
        names: impl IntoIterator<Item = String>,
        shape: RecordShape,
        options: CsvOptions,
    ) -> io::Result<Option<Self>> {
        let columns = Columns::with_shape(Some(leading), shape);
        let mut header: Vec<(String, bool)> = vec![(leading.to_string(), true)];
        for id in 1..columns.len() {
            header.push((columns.name(id).to_string(), false));
        }
        for name in names {
            if name == leading {
                return Ok(None);
            }
            if !header.iter().any(|(known, _)| *known == name) {
                header.push((name, false));
            }
        }
        header.sort_by(|(a, a_leads), (b, b_leads)| {
            shape
                .header_rank(a, *a_leads)
                .cmp(&shape.header_rank(b, *b_leads))
        });
        let mut rows = RowEncoder::default();
        rows.row(
            header.iter().map(|(name, _)| name.as_bytes()),
            options.sanitize,
        );
        if options.bom {
            out.write_all(super::csv::BOM)?;
        }
        out.write_all(&rows.buffer)?;
        rows.buffer.clear();
        let mut csv = KnownColumnsCsv {
            columns,
            position: Vec::new(),
            planned: header
                .iter()
                .enumerate()
                .map(|(at, (name, _))| (name.clone(), at))
                .collect(),
            claimed: vec![false; header.len()],
            frame: Vec::new(),
            cells: vec![(0, 0); header.len()],
            rows,
            out,
            sanitize: options.sanitize,
        };
        let placed = csv.place_new_columns();
        debug_assert_eq!(
            placed,
            Added::Row,
            "the leading and standard columns are planned"
        );
        Ok(Some(csv))
    }

    /// Gives each column id seen since the last call its header position.
    fn place_new_columns(&mut self) -> Added {
        while self.position.len() < self.columns.len() {
            let name = self.columns.name(self.position.len());
            match self.planned.get(name) {
                Some(&at) if !self.claimed[at] => {
                    self.claimed[at] = true;
                    self.position.push(at);
                }
                _ => return Added::Unplanned(name.to_string()),
            }
        }
        Added::Row
    }

    /// Writes one record as a row, with the value of the leading column.
    pub fn add(&mut self, leading: &str, raw: &str) -> io::Result<Added> {
        self.columns
            .flatten_into(Some(leading), raw, &mut self.frame)?;
        if let unplanned @ Added::Unplanned(_) = self.place_new_columns() {
            return Ok(unplanned);
        }
        self.rows
            .frame_row(&self.frame, &self.position, &mut self.cells, self.sanitize)?;
        if self.rows.buffer.len() >= ROW_BLOCK {
            self.out.write_all(&self.rows.buffer)?;
            self.rows.buffer.clear();
        }
        Ok(Added::Row)
    }

    /// Writes what is buffered and hands the output back; `None` if a planned column never
    /// came (the header names a column the records lack, so the file is not what the spooled
    /// builder would write).
    pub fn finish(mut self) -> io::Result<Option<W>> {
        self.out.write_all(&self.rows.buffer)?;
        self.out.flush()?;
        Ok(self
            .claimed
            .iter()
            .all(|&claimed| claimed)
            .then_some(self.out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::CsvBuilder;

    const RECORDS: [&str; 3] = [
        r#"{"TimeStamp":"t1","Id":"a","Zed":1,"CustomProperties":[{"Name":"B","Value":"=1+2"},{"Name":"A","Value":"x,\"y\"\r\n"},{"Name":"A","Value":null}]}"#,
        r#"{"TimeStamp":"t2","TenantId":"t","CustomProperties":[7]}"#,
        r#"{"TimeStamp":"t3","ActivityIdType":"Logon","CustomProperties.A":"escaped"}"#,
    ];

    /// The spooled builder's CSV and header for the same records, the oracle.
    fn spooled() -> (Vec<u8>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let mut builder =
            CsvBuilder::create_with_leading(dir.path().join("spool"), Some("Mailbox")).unwrap();
        for (n, raw) in RECORDS.iter().enumerate() {
            builder
                .add_with_leading(Some(&format!("m{n}")), raw)
                .unwrap();
        }
        let header = builder.header();
        let mut out = Vec::new();
        builder
            .write_csv(
                &mut out,
                CsvOptions {
                    sanitize: true,
                    ..Default::default()
                },
            )
            .unwrap();
        (out, header)
    }

    fn streamed(names: Vec<String>) -> Option<(Vec<u8>, Vec<Added>)> {
        let mut csv = KnownColumnsCsv::new(
            Vec::new(),
            "Mailbox",
            names,
            RecordShape::ACTIVITIES,
            CsvOptions {
                sanitize: true,
                ..Default::default()
            },
        )
        .unwrap()?;
        let added = RECORDS
            .iter()
            .enumerate()
            .map(|(n, raw)| csv.add(&format!("m{n}"), raw).unwrap())
            .collect();
        Some((csv.finish().unwrap()?, added))
    }

    #[test]
    fn with_the_right_columns_it_writes_what_the_spooled_builder_writes() {
        let (expected, header) = spooled();
        // Any order, repeats, and the standard columns left out: the header is the same.
        let mut names: Vec<String> = header.into_iter().skip(1).rev().collect();
        names.retain(|name| name != "AppIdType");
        names.push("Zed".into());
        let (bytes, added) = streamed(names).unwrap();
        assert!(added.iter().all(|a| *a == Added::Row));
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    #[test]
    fn a_column_outside_the_promise_is_reported_not_written_or_dropped() {
        let (_, header) = spooled();
        let names: Vec<String> = header
            .into_iter()
            .skip(1)
            .filter(|name| name != "TenantId")
            .collect();
        let mut csv = KnownColumnsCsv::new(
            Vec::new(),
            "Mailbox",
            names,
            RecordShape::ACTIVITIES,
            CsvOptions {
                sanitize: true,
                ..Default::default()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(csv.add("m0", RECORDS[0]).unwrap(), Added::Row);
        assert_eq!(
            csv.add("m1", RECORDS[1]).unwrap(),
            Added::Unplanned("TenantId".into())
        );
    }

    #[test]
    fn a_planned_column_no_record_has_fails_the_finish() {
        let (_, header) = spooled();
        let mut names: Vec<String> = header.into_iter().skip(1).collect();
        names.push("CustomProperties.Stale".into());
        assert!(streamed(names).is_none());
    }

    #[test]
    fn a_promise_that_names_the_leading_column_is_refused() {
        assert!(streamed(vec!["Mailbox".into()]).is_none());
    }
}
