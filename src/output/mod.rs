//! Writing results: the JSON Lines evidence, the flattened CSV derived from it, the manifest.

mod background_file;
mod cell_frame;
mod csv;
mod csv_row;
mod files;
mod flatten;
mod hashing;
mod jsonl;
mod known_columns_csv;
mod lock;
mod manifest;
mod sink;

pub use self::csv::{unsanitized, CsvBuilder, CsvOptions, SharedColumns};
pub use background_file::BackgroundFile;
pub use files::{
    commit, create_private, hash_file, remove_leftovers, write_atomically, write_atomically_with,
    write_stdout, write_stdout_with, FileDigest, OutputError, OutputFormat, OutputPlan,
};
pub use flatten::{
    custom_column, custom_property_of, flatten_record, top_level_column, CellSink, RecordShape,
    STANDARD_COLUMNS,
};
pub use hashing::HashingWriter;
pub use jsonl::{jsonl_line, JsonlWriter};
pub use known_columns_csv::{Added, KnownColumnsCsv};
pub use lock::{LockError, RunLock};
pub use manifest::{Manifest, ManifestFile, ManifestQuery, PullCounters, PullStatus};
pub use sink::RecordSink;
