//! A window's records on disk until the window is handed over: each record's JSON Lines text
//! and, when its page was read for a CSV, its CSV frame, so that handing a window over copies
//! bytes and parses nothing a second time.
//!
//! Each entry: the text's length (u32, little-endian) and the text; then the frame's length
//! (u32, `NO_FRAME` when there is none) and, with a frame, the id of the columns that made it
//! (u64) and the frame.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::output::{create_private, jsonl_line};
use crate::record::Activity;

const NO_FRAME: u32 = u32::MAX;

/// Appends records to a window's spool file.
pub struct SpoolWriter {
    out: BufWriter<File>,
}

impl SpoolWriter {
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(SpoolWriter {
            out: BufWriter::with_capacity(128 * 1024, create_private(path)?),
        })
    }

    pub fn append(&mut self, record: &Activity) -> io::Result<()> {
        let line = jsonl_line(record);
        self.out.write_all(&length_of(line.as_bytes())?)?;
        self.out.write_all(line.as_bytes())?;
        match record.frame() {
            Some((columns, frame)) => {
                self.out.write_all(&length_of(frame)?)?;
                self.out.write_all(&(columns as u64).to_le_bytes())?;
                self.out.write_all(frame)
            }
            None => self.out.write_all(&NO_FRAME.to_le_bytes()),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A length as the spool stores it; `NO_FRAME` is not one.
fn length_of(bytes: &[u8]) -> io::Result<[u8; 4]> {
    match u32::try_from(bytes.len()) {
        Ok(length) if length != NO_FRAME => Ok(length.to_le_bytes()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a record of 4 GiB or more cannot be spooled",
        )),
    }
}

/// One spooled record: its JSON Lines text (without the line break) and its CSV frame with the
/// id of the columns that made it, if it has one.
pub struct SpooledRecord<'a> {
    pub line: &'a str,
    pub frame: Option<(usize, &'a [u8])>,
}

/// Reads a window's spool back, record by record, into buffers it reuses.
pub struct SpoolReader {
    input: BufReader<File>,
    line: Vec<u8>,
    frame: Vec<u8>,
}

impl SpoolReader {
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(SpoolReader {
            input: BufReader::with_capacity(256 * 1024, File::open(path)?),
            line: Vec::with_capacity(4096),
            frame: Vec::with_capacity(4096),
        })
    }

    /// The next record, or `None` at the end of the spool. A spool cut short is an error,
    /// never a record.
    pub fn next_record(&mut self) -> io::Result<Option<SpooledRecord<'_>>> {
        if self.input.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let columns = self.read_entry().map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                io::Error::new(e.kind(), "the spool ends inside a record")
            }
            _ => e,
        })?;
        let line = std::str::from_utf8(&self.line)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Some(SpooledRecord {
            line,
            frame: columns.map(|columns| (columns, self.frame.as_slice())),
        }))
    }

    /// Reads one entry into the buffers; the id of the columns of its frame, if it has one.
    fn read_entry(&mut self) -> io::Result<Option<usize>> {
        let mut length = [0u8; 4];
        self.input.read_exact(&mut length)?;
        read_exactly(&mut self.input, &mut self.line, u32::from_le_bytes(length))?;
        self.input.read_exact(&mut length)?;
        match u32::from_le_bytes(length) {
            NO_FRAME => Ok(None),
            frame_length => {
                let mut columns = [0u8; 8];
                self.input.read_exact(&mut columns)?;
                read_exactly(&mut self.input, &mut self.frame, frame_length)?;
                usize::try_from(u64::from_le_bytes(columns))
                    .map(Some)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }
}

/// Reads exactly `length` bytes into `buffer` (replacing what it held).
fn read_exactly(input: &mut impl Read, buffer: &mut Vec<u8>, length: u32) -> io::Result<()> {
    buffer.clear();
    let read = input.take(u64::from(length)).read_to_end(buffer)?;
    if read == length as usize {
        Ok(())
    } else {
        Err(io::ErrorKind::UnexpectedEof.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::CsvBuilder;
    use crate::record::{parse_page_for, PageReading};

    fn page(records: &[&str]) -> Vec<u8> {
        format!("{{\"value\":[{}]}}", records.join(",")).into_bytes()
    }

    #[test]
    fn records_come_back_with_their_text_and_frame() {
        let dir = tempfile::tempdir().unwrap();
        let csv = CsvBuilder::create(dir.path().join("cells")).unwrap();
        let texts = [
            r#"{"Id":"a","TimeStamp":"2018-01-01T00:00:00Z","Note":"x\ny"}"#,
            "{\"Id\":\"b\",\n\"TimeStamp\":\"2018-01-01T00:00:01Z\"}",
        ];
        let with_frames = parse_page_for(page(&texts), &csv.page_reading()).unwrap();
        let without = parse_page_for(page(&texts[..1]), &PageReading::Keys).unwrap();
        let path = dir.path().join("window.tmp");
        let mut writer = SpoolWriter::create(&path).unwrap();
        for record in with_frames.iter().chain(&without) {
            writer.append(record).unwrap();
        }
        writer.flush().unwrap();

        let mut reader = SpoolReader::open(&path).unwrap();
        for record in with_frames.iter().chain(&without) {
            let spooled = reader.next_record().unwrap().expect("a record");
            assert_eq!(spooled.line, jsonl_line(record));
            assert_eq!(spooled.frame, record.frame());
        }
        assert!(reader.next_record().unwrap().is_none());
        assert!(with_frames.iter().all(|r| r.frame().is_some()));
        assert!(without[0].frame().is_none());
    }

    #[test]
    fn a_spool_cut_short_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let csv = CsvBuilder::create(dir.path().join("cells")).unwrap();
        let text = r#"{"Id":"a","TimeStamp":"2018-01-01T00:00:00Z"}"#;
        let with_frame = parse_page_for(page(&[text]), &csv.page_reading()).unwrap();
        let without = parse_page_for(page(&[text]), &PageReading::Keys).unwrap();
        for (n, record) in [&with_frame[0], &without[0]].into_iter().enumerate() {
            let path = dir.path().join(format!("window{n}.tmp"));
            let mut writer = SpoolWriter::create(&path).unwrap();
            writer.append(record).unwrap();
            writer.flush().unwrap();
            let whole = std::fs::read(&path).unwrap();
            for cut in 1..whole.len() {
                std::fs::write(&path, &whole[..cut]).unwrap();
                let mut reader = SpoolReader::open(&path).unwrap();
                let error = reader.next_record().err();
                assert_eq!(
                    error.map(|e| (e.kind(), e.to_string())),
                    Some((
                        io::ErrorKind::UnexpectedEof,
                        "the spool ends inside a record".to_string()
                    )),
                    "cut after {cut} of {} bytes",
                    whole.len()
                );
            }
        }
    }
}
