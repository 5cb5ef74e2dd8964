//! Writing results: the JSON Lines evidence, the flattened CSV derived from it, the manifest.

mod csv;
mod files;
mod flatten;
mod hashing;
mod jsonl;
mod manifest;

pub use self::csv::{write_csv_from_jsonl, CsvOptions};
pub use files::{commit, hash_file, FileDigest, OutputError, OutputFormat, OutputPlan};
pub use flatten::{flatten_record, CsvSchema, STANDARD_COLUMNS};
pub use hashing::HashingWriter;
pub use jsonl::JsonlWriter;
pub use manifest::{Manifest, ManifestFile, ManifestQuery, PullStatus};
