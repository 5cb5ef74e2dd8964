//! A mailbox's durable position: written atomically, and only after the page it describes is
//! on disk, so a crash at any point leaves a checkpoint that is true.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::output::{commit, create_private, OutputError, OutputPlan, PullCounters};
use crate::pipeline::CrashPoints;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Every activity strictly before this TimeStamp is in the evidence file (keyset paging).
    pub bound: Option<chrono::DateTime<chrono::Utc>>,
    /// Bytes of the evidence file that hold those activities; anything after is discarded.
    pub bytes: u64,
    /// SHA-256 of those bytes: a resumed run checks them before it builds on them. A
    /// checkpoint without it (an older version's) vouches for nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(flatten)]
    pub counters: PullCounters,
}

impl Checkpoint {
    pub fn load(path: &Path) -> Result<Option<Self>, OutputError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| OutputError::io("cannot parse", path, e.into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(OutputError::io("cannot read", path, e)),
        }
    }

    pub fn save(&self, path: &Path, crash: &CrashPoints) -> Result<(), OutputError> {
        let temporary = OutputPlan::temporary(path);
        let text = serde_json::to_vec(self)
            .map_err(|e| OutputError::io("cannot serialize", path, e.into()))?;
        create_private(&temporary)
            .and_then(|mut file| std::io::Write::write_all(&mut file, &text))
            .map_err(|e| OutputError::io("cannot write", &temporary, e))?;
        crash.point("checkpoint written, not yet renamed");
        commit(&temporary, path)
    }
}
