//! JSON Lines evidence: each record's JSON text exactly as received, one per line.

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};

use super::hashing::HashingWriter;
use crate::record::Activity;

/// A record's JSON text as one line (without the line break).
///
/// The server's text may hold raw line breaks only in white space between tokens (JSON strings
/// cannot contain them), so turning them into spaces keeps one record per line and changes no value.
pub fn jsonl_line(record: &Activity) -> Cow<'_, str> {
    let raw = record.raw_json();
    if memchr::memchr2(b'\n', b'\r', raw.as_bytes()).is_some() {
        Cow::Owned(
            raw.chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    }
}

pub struct JsonlWriter<W: Write> {
    out: HashingWriter<BufWriter<W>>,
    records: u64,
}

impl<W: Write> JsonlWriter<W> {
    pub fn new(inner: W) -> Self {
        JsonlWriter {
            out: HashingWriter::new(BufWriter::with_capacity(256 * 1024, inner)),
            records: 0,
        }
    }

    /// Continues a file that holds `records` records in `bytes` bytes already, hashed into
    /// `hasher`; `inner` writes after them.
    pub fn continuing(inner: W, hasher: sha2::Sha256, bytes: u64, records: u64) -> Self {
        JsonlWriter {
            out: HashingWriter::continuing(
                BufWriter::with_capacity(256 * 1024, inner),
                hasher,
                bytes,
            ),
            records,
        }
    }

    /// The SHA-256 of every line written so far.
    pub fn digest_so_far(&self) -> String {
        self.out.digest_so_far()
    }

    /// Flushes the buffer and returns the inner writer, to make what was written durable.
    pub fn flushed(&mut self) -> io::Result<&W> {
        self.out.flush()?;
        Ok(self.out.get_ref().get_ref())
    }

    pub fn write(&mut self, record: &Activity) -> io::Result<()> {
        self.out.write_all(jsonl_line(record).as_bytes())?;
        self.out.write_all(b"\n")?;
        self.records += 1;
        Ok(())
    }

    /// Writes a record that is already one JSON Lines line (without its line break).
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.records += 1;
        Ok(())
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    pub fn bytes(&self) -> u64 {
        self.out.bytes()
    }

    /// Flushes; returns the inner writer, SHA-256 and size.
    pub fn finish(self) -> io::Result<(W, String, u64)> {
        let (buffered, sha256, bytes) = self.out.finish();
        let inner = buffered.into_inner().map_err(|e| e.into_error())?;
        Ok((inner, sha256, bytes))
    }
}
