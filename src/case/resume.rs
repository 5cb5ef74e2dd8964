//! Resuming a mailbox's partial evidence: the bytes its checkpoint vouches for are checked
//! against the checkpoint's SHA-256 before anything is built on them; damaged ones are kept
//! aside, never extended or overwritten.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use chrono::Utc;
use sha2::{Digest, Sha256};

use super::run::{CaseRun, Stopped};
use super::{relative, Checkpoint, MailboxEntry, MailboxPaths};
use crate::output::{CsvBuilder, OutputError, OutputFormat, OutputPlan};

/// The partial evidence a pull continues: the checkpointed part of an earlier run, checked
/// against the checkpoint's SHA-256, or a new, empty file.
pub struct Resumed {
    pub file: File,
    pub checkpoint: Checkpoint,
    pub hasher: Sha256,
    pub records: u64,
    /// The CSV's cells of the checkpointed records (for a CSV case).
    pub csv: Option<CsvBuilder>,
}

/// Opens the mailbox's partial evidence to continue it. A partial whose checkpointed bytes
/// are missing or differ from what the checkpoint vouches for is kept aside (named in the
/// entry and on stderr), and the mailbox starts again from its beginning.
pub fn resume_partial(
    run: &CaseRun,
    paths: &MailboxPaths,
    entry: &mut MailboxEntry,
) -> Result<Resumed, Stopped> {
    let saved = if run
        .query
        .source
        .descriptor()
        .resume
        .allowed(run.query.paging)
        && paths.partial.exists()
    {
        Checkpoint::load(&paths.checkpoint)?
    } else {
        None
    };
    let new_csv = || -> Result<Option<CsvBuilder>, OutputError> {
        if run.format != OutputFormat::Csv {
            return Ok(None);
        }
        let spool = OutputPlan::temporary(&paths.csv).with_extension("cells");
        CsvBuilder::create_for(
            spool.clone(),
            None,
            run.query.source.descriptor().record_shape,
        )
        .map(Some)
        .map_err(|e| OutputError::io("cannot create", &spool, e))
    };
    let open = |truncate: bool| {
        OpenOptions::new()
            .create(true)
            .truncate(truncate)
            .read(true)
            .write(true)
            .open(&paths.partial)
            .map_err(|e| OutputError::io("cannot open", &paths.partial, e))
    };
    if let Some(checkpoint) = saved.filter(|c| c.bytes > 0) {
        let mut file = open(false)?;
        let mut csv = new_csv()?;
        match read_checkpointed(&mut file, &checkpoint, csv.as_mut()) {
            Ok((hasher, records)) => {
                // What follows the checkpoint was written by a run that did not record it.
                file.set_len(checkpoint.bytes)
                    .and_then(|()| file.seek(SeekFrom::End(0)).map(|_| ()))
                    .map_err(|e| OutputError::io("cannot truncate", &paths.partial, e))?;
                return Ok(Resumed {
                    file,
                    checkpoint,
                    hasher,
                    records,
                    csv,
                });
            }
            Err(damage) => {
                drop(file);
                let aside = set_aside(paths)?;
                eprintln!(
                    "warning: {}: {damage}; kept aside as {} and pulled again from the beginning",
                    paths.partial.display(),
                    aside.display()
                );
                entry.set_aside.push(relative(&run.case, &aside));
            }
        }
    }
    let _ = std::fs::remove_file(&paths.checkpoint);
    Ok(Resumed {
        file: open(true)?,
        checkpoint: Checkpoint::default(),
        hasher: Sha256::new(),
        records: 0,
        csv: new_csv()?,
    })
}

/// Reads the bytes a checkpoint vouches for: their hash (checked) and their records (fed to
/// the CSV). The error says what is wrong with them.
fn read_checkpointed(
    file: &mut File,
    checkpoint: &Checkpoint,
    mut csv: Option<&mut CsvBuilder>,
) -> Result<(Sha256, u64), String> {
    let Some(expected) = &checkpoint.sha256 else {
        return Err("its checkpoint records no SHA-256 to check it against".into());
    };
    let length = file.metadata().map_err(|e| e.to_string())?.len();
    if length < checkpoint.bytes {
        return Err(format!(
            "it holds {length} bytes, fewer than the {} its checkpoint vouches for",
            checkpoint.bytes
        ));
    }
    let mut reader = BufReader::with_capacity(256 * 1024, (&*file).take(checkpoint.bytes));
    let (mut hasher, mut records, mut line) = (Sha256::new(), 0u64, Vec::new());
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if read == 0 {
            break;
        }
        hasher.update(&line);
        records += 1;
        if let Some(csv) = csv.as_deref_mut() {
            let text = std::str::from_utf8(&line).map_err(|e| e.to_string())?;
            let text = text.strip_suffix('\n').unwrap_or(text);
            csv.add(text).map_err(|e| e.to_string())?;
        }
    }
    if hex::encode(hasher.clone().finalize()) != *expected {
        return Err("its checkpointed bytes differ from what the checkpoint vouches for".into());
    }
    Ok((hasher, records))
}

/// Renames a damaged partial evidence file to a name of its own, never over another.
fn set_aside(paths: &MailboxPaths) -> Result<std::path::PathBuf, OutputError> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    for n in 0..1000 {
        let name = match n {
            0 => format!("activities.jsonl.damaged-{stamp}"),
            n => format!("activities.jsonl.damaged-{stamp}-{n}"),
        };
        let aside = paths.folder.join(name);
        if !aside.exists() {
            std::fs::rename(&paths.partial, &aside)
                .map_err(|e| OutputError::io("cannot keep aside", &paths.partial, e))?;
            return Ok(aside);
        }
    }
    Err(OutputError::io(
        "cannot find a free name to keep aside",
        &paths.partial,
        std::io::Error::other("a thousand damaged copies already exist"),
    ))
}
