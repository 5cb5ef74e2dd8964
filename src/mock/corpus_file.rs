//! A corpus as files and as the server holds it: written as JSON Lines with each record's
//! mailbox, the default tenant, and the records by mailbox.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::files::{write_atomically_with, MockFileError};
use super::generate::generate_each;
use super::store::{StoredActivity, MAILBOX_FIELD};
use super::{generate, Corpus, CorpusSpec, Scenario, Truth};

/// Writes the corpus as JSON Lines, each record prefixed with its mailbox.
pub fn write_corpus(corpus: &Corpus, path: &Path) -> Result<u64, MockFileError> {
    let mut records = 0u64;
    write_atomically_with(path, |out| {
        for (upn, activities) in &corpus.mailboxes {
            records += write_mailbox(out, upn, activities)?;
        }
        Ok(())
    })?;
    Ok(records)
}

/// One mailbox's lines; how many.
fn write_mailbox(
    out: &mut dyn Write,
    upn: &str,
    activities: &[StoredActivity],
) -> std::io::Result<u64> {
    let mailbox_field = serde_json::to_string(MAILBOX_FIELD).unwrap_or_default();
    let upn_json = serde_json::to_string(upn).unwrap_or_default();
    for activity in activities {
        let rest = activity.json.strip_prefix('{').unwrap_or(&activity.json);
        writeln!(out, "{{{mailbox_field}:{upn_json},{rest}")?;
    }
    Ok(activities.len() as u64)
}

/// What `generate_to_file` wrote.
pub struct Written {
    pub records: u64,
    pub mailboxes: usize,
    pub truth: Option<Truth>,
}

/// Generates the tenant of `spec` straight into the corpus file, a mailbox at a time: the same
/// bytes as `write_corpus(&generate(spec))`, with one mailbox in memory whatever the tenant's
/// size.
pub fn generate_to_file(spec: &CorpusSpec, path: &Path) -> Result<Written, MockFileError> {
    let (mut records, mut mailboxes, mut truth) = (0u64, 0usize, None);
    write_atomically_with(path, |out| {
        let mut failed = None;
        truth = generate_each(spec, |upn, activities| {
            if failed.is_some() {
                return;
            }
            match write_mailbox(out, &upn, &activities) {
                Ok(n) => {
                    records += n;
                    mailboxes += 1;
                }
                Err(e) => failed = Some(e),
            }
        });
        failed.map_or(Ok(()), Err)
    })?;
    Ok(Written {
        records,
        mailboxes,
        truth,
    })
}

/// The corpus `serve` uses without `--corpus`: five mailboxes, a planted BEC in the first.
pub fn default_corpus(seed: u64) -> Corpus {
    generate(&CorpusSpec {
        users: 5,
        per_user: 2000,
        days: 180,
        end: crate::mock::generate::default_end(),
        seed,
        scenario: Scenario::Bec,
    })
}

pub fn corpus_by_mailbox(corpus: Corpus) -> BTreeMap<String, Vec<StoredActivity>> {
    corpus
        .mailboxes
        .into_iter()
        .map(|(upn, activities)| (upn.to_ascii_lowercase(), activities))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streamed a mailbox at a time, the corpus file is the very bytes of the whole tenant
    /// written at once.
    #[test]
    fn a_streamed_corpus_is_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        for scenario in [Scenario::Bec, Scenario::BecSimple, Scenario::None] {
            let spec = CorpusSpec {
                users: 4,
                per_user: 300,
                days: 30,
                end: crate::mock::generate::default_end(),
                seed: 3,
                scenario,
            };
            let (whole, streamed) = (dir.path().join("whole"), dir.path().join("streamed"));
            let corpus = generate(&spec);
            let records = write_corpus(&corpus, &whole).unwrap();
            let written = generate_to_file(&spec, &streamed).unwrap();
            assert_eq!(written.records, records);
            assert_eq!(written.mailboxes, 4);
            assert_eq!(
                std::fs::read(&whole).unwrap(),
                std::fs::read(&streamed).unwrap()
            );
            assert_eq!(
                serde_json::to_string(&written.truth).unwrap(),
                serde_json::to_string(&corpus.truth).unwrap()
            );
        }
    }
}
