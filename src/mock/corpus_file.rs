//! A corpus as files and as the server holds it: written as JSON Lines with each record's
//! mailbox, the default tenant, and the records by mailbox.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::files::{write_atomically_with, MockFileError};
use super::store::{StoredActivity, MAILBOX_FIELD};
use super::{generate, Corpus, CorpusSpec, Scenario};

/// Writes the corpus as JSON Lines, each record prefixed with its mailbox.
pub fn write_corpus(corpus: &Corpus, path: &Path) -> Result<u64, MockFileError> {
    let mut records = 0u64;
    let mailbox_field = serde_json::to_string(MAILBOX_FIELD).unwrap_or_default();
    write_atomically_with(path, |out| {
        for (upn, activities) in &corpus.mailboxes {
            let upn_json = serde_json::to_string(upn).unwrap_or_default();
            for activity in activities {
                let rest = activity.json.strip_prefix('{').unwrap_or(&activity.json);
                writeln!(out, "{{{mailbox_field}:{upn_json},{rest}")?;
                records += 1;
            }
        }
        Ok(())
    })?;
    Ok(records)
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
