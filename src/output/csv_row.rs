//! One CSV row: RFC 4180 encoding of a frame's cells, and the apostrophe that keeps a
//! spreadsheet from running a cell as a formula.

use std::io;

use super::cell_frame::{frame_cells, invalid};

/// The first characters that make a spreadsheet run a cell as a formula.
pub(super) const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell or header cell as it was before `sanitize` neutralised it (the leading apostrophe
/// before a formula's first character taken off).
pub fn unsanitized(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// Encodes rows as RFC 4180 CSV with CRLF line ends, byte for byte as the `csv` crate's writer
/// does (a field is quoted only when it holds a comma, a quote, CR or LF; quotes are doubled),
/// without its per-field bookkeeping: most cells of a row are empty, and each costs one comma.
#[derive(Default)]
pub(super) struct RowEncoder {
    pub(super) buffer: Vec<u8>,
}

impl RowEncoder {
    /// Appends a frame's cells as one row; `position` maps column ids to header positions and
    /// `cells` (one a column) is scratch space.
    pub(super) fn frame_row(
        &mut self,
        frame: &[u8],
        position: &[usize],
        cells: &mut [(usize, usize)],
        sanitize: bool,
    ) -> io::Result<()> {
        cells.iter_mut().for_each(|c| *c = (0, 0));
        for cell in frame_cells(frame) {
            let (id, text) = cell?;
            let slot = position
                .get(id)
                .and_then(|&at| cells.get_mut(at))
                .ok_or_else(|| invalid("a CSV frame names an unknown column".into()))?;
            *slot = (text.start, text.end);
        }
        self.row(
            cells.iter().map(|&(start, end)| &frame[start..end]),
            sanitize,
        );
        Ok(())
    }

    /// Appends one row; with `sanitize`, cells a spreadsheet would run as a formula get a
    /// leading apostrophe (OWASP's advice: spreadsheets then treat the cell as text). Header
    /// cells too: a key such as `@odata.type` starts with `@`, which a spreadsheet reads as a
    /// formula as well, so it is written `'@odata.type` (shown as `@odata.type`).
    pub(super) fn row<'a>(&mut self, fields: impl Iterator<Item = &'a [u8]>, sanitize: bool) {
        for (index, text) in fields.enumerate() {
            if index > 0 {
                self.buffer.push(b',');
            }
            let formula = sanitize
                && text
                    .first()
                    .is_some_and(|b| FORMULA_STARTS.contains(&char::from(*b)));
            self.field(text, if formula { Some(b'\'') } else { None });
        }
        self.buffer.extend_from_slice(b"\r\n");
    }

    fn field(&mut self, text: &[u8], prefix: Option<u8>) {
        if text.is_empty() {
            return;
        }
        // No early exit: a plain fold over the whole cell compiles to vector compares, which
        // beat both a byte loop that stops at the first hit and a vectorized search's setup.
        let quoted = text.iter().fold(false, |quoted, &b| {
            quoted | matches!(b, b',' | b'"' | b'\n' | b'\r')
        });
        if quoted {
            self.buffer.push(b'"');
        }
        self.buffer.extend(prefix);
        if quoted {
            for part in text.split_inclusive(|&b| b == b'"') {
                self.buffer.extend_from_slice(part);
                if part.last() == Some(&b'"') {
                    self.buffer.push(b'"');
                }
            }
            self.buffer.push(b'"');
        } else {
            self.buffer.extend_from_slice(text);
        }
    }
}
