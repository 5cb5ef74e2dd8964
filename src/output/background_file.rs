//! A file hashed and written on a thread of its own, so the thread that produces its bytes
//! (the case timeline's flattener, the busiest step of a batch's end) does not also pay for
//! SHA-256 and the write system calls.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use super::HashingWriter;

/// Bytes are handed to the writing thread in blocks of about this size.
const BLOCK: usize = 256 * 1024;

/// Blocks that may wait for the writing thread before `write` waits too.
const QUEUE: usize = 4;

pub struct BackgroundFile {
    block: Vec<u8>,
    blocks: Option<mpsc::SyncSender<Vec<u8>>>,
    writer: Option<JoinHandle<io::Result<(String, u64)>>>,
}

impl BackgroundFile {
    /// Creates `path` (a new, private file) and starts its writing thread.
    pub fn create(path: &Path) -> io::Result<Self> {
        Self::new(super::create_private(path)?)
    }

    /// Writes into `file` on a thread of its own.
    pub fn new(file: File) -> io::Result<Self> {
        let (blocks, received) = mpsc::sync_channel::<Vec<u8>>(QUEUE);
        let writer = std::thread::Builder::new()
            .name("file-writer".into())
            .spawn(move || {
                let mut out = HashingWriter::new(BufWriter::with_capacity(BLOCK, file));
                for block in received {
                    out.write_all(&block)?;
                }
                let (buffered, sha256, bytes) = out.finish();
                buffered.into_inner().map_err(|e| e.into_error())?;
                Ok((sha256, bytes))
            })?;
        Ok(BackgroundFile {
            block: Vec::with_capacity(BLOCK),
            blocks: Some(blocks),
            writer: Some(writer),
        })
    }

    fn hand_over(&mut self) -> io::Result<()> {
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        let sent = match &self.blocks {
            Some(blocks) => blocks.send(block).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The thread has stopped: its error is the one to report.
        self.blocks = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Err(error))) => Err(error),
            _ => Err(io::Error::other("the file's writing thread stopped")),
        }
    }

    /// Writes what is left and waits for the thread; the file's SHA-256 and size.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        if !self.block.is_empty() {
            self.hand_over()?;
        }
        self.blocks = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(written)) => written,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(io::Error::other("the file's writing thread stopped")),
        }
    }
}

impl Write for BackgroundFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.block.extend_from_slice(bytes);
        if self.block.len() >= BLOCK {
            self.hand_over()?;
        }
        Ok(bytes.len())
    }

    /// Hands over what is buffered; the file itself is flushed by `finish`.
    fn flush(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        self.hand_over()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn writes_and_hashes_every_byte_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut file = BackgroundFile::create(&path).unwrap();
        let mut expected = Vec::new();
        for i in 0..5000u32 {
            let chunk = format!("row {i} {}\n", "x".repeat((i % 300) as usize));
            file.write_all(chunk.as_bytes()).unwrap();
            expected.extend_from_slice(chunk.as_bytes());
            if i % 1000 == 0 {
                file.flush().unwrap();
            }
        }
        let (sha256, bytes) = file.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        assert_eq!(bytes, expected.len() as u64);
        assert_eq!(sha256, hex::encode(Sha256::digest(&expected)));
    }

    #[test]
    fn a_failed_write_is_reported_not_lost() {
        // /dev/full accepts the open and fails every write.
        let mut file = BackgroundFile::new(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .unwrap();
        let block = vec![b'x'; BLOCK];
        let written = (0..QUEUE + 4).try_for_each(|_| file.write_all(&block));
        let finished = match written {
            Ok(()) => file.finish().map(|_| ()),
            Err(error) => Err(error),
        };
        let error = finished.unwrap_err();
        assert!(
            error.to_string().contains("No space left"),
            "the device's error is reported: {error}"
        );
    }
}
