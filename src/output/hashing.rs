//! A writer that hashes and counts what passes through it.

use std::io::{self, Write};

use sha2::{Digest, Sha256};

pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Continues a file whose first `bytes` bytes were hashed into `hasher` already.
    pub fn continuing(inner: W, hasher: Sha256, bytes: u64) -> Self {
        HashingWriter {
            inner,
            hasher,
            bytes,
        }
    }

    /// The hex SHA-256 of everything written so far (the writer goes on).
    pub fn digest_so_far(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The inner writer, the hex SHA-256 and the byte count of everything written.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
