//! The held-out tenant's three logs as they are written, with the generator's one random
//! source: every record goes in through here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use fastrand::Rng;
use serde_json::Value;

use super::shapes::{admin_record, directory_audit, signin, Auth, Initiator, Token};

pub struct Log {
    pub rng: Rng,
    pub signins: Vec<Value>,
    pub directory_audits: Vec<Value>,
    pub records: Vec<Value>,
    /// The addresses each session's successful sign-ins came from, as they are written.
    pub addresses: BTreeMap<String, BTreeSet<String>>,
}

/// The `id` (directory audits, sign-ins) or `Id` (audit log records) of `record`.
pub fn id_of(record: &Value) -> String {
    id_str(record).to_string()
}

fn id_str(record: &Value) -> &str {
    record["id"]
        .as_str()
        .or(record["Id"].as_str())
        .unwrap_or_default()
}

impl Log {
    pub fn new(seed: u64) -> Self {
        Log {
            rng: Rng::with_seed(seed ^ 0x4865_6c64_4964),
            signins: Vec::new(),
            directory_audits: Vec::new(),
            records: Vec::new(),
            addresses: BTreeMap::new(),
        }
    }

    /// Writes the sign-in of `auth`, some seconds into the minute it was planned for; the
    /// token it issued.
    pub fn sign_in(&mut self, auth: &Auth<'_>) -> Token {
        let mut auth = auth.clone();
        auth.at += Duration::milliseconds(self.rng.i64(0..59_000));
        let (value, token) = signin(&mut self.rng, &auth);
        if auth.error == 0 {
            self.addresses
                .entry(auth.session.to_string())
                .or_default()
                .insert(auth.net.ip.clone());
        }
        self.signins.push(value);
        token
    }

    /// Writes a directory audit; its id.
    pub fn audit(
        &mut self,
        at: DateTime<Utc>,
        activity: (&str, &str, &str),
        initiator: Initiator<'_>,
        targets: Value,
        details: Value,
    ) -> String {
        let record = directory_audit(&mut self.rng, at, activity, initiator, targets, details);
        let id = id_of(&record);
        self.directory_audits.push(record);
        id
    }

    /// Writes an audit log record; its `Id`.
    pub fn record(&mut self, record: Value) -> String {
        let id = id_of(&record);
        self.records.push(record);
        id
    }

    /// Writes an Exchange admin record; its `Id`.
    #[allow(clippy::too_many_arguments)]
    pub fn admin(
        &mut self,
        actor: (&str, u32),
        token: Option<&Token>,
        at: DateTime<Utc>,
        cmdlet: &str,
        object: &str,
        parameters: &[(&str, &str)],
    ) -> String {
        let record = admin_record(&mut self.rng, actor, token, at, cmdlet, object, parameters);
        self.record(record)
    }

    /// Every log in time order (ties by id, so the order is the seed's alone).
    pub fn sort(&mut self) {
        fn by(records: &mut [Value], field: &str) {
            records.sort_by(|a, b| {
                (a[field].as_str(), id_str(a)).cmp(&(b[field].as_str(), id_str(b)))
            });
        }
        by(&mut self.signins, "createdDateTime");
        by(&mut self.directory_audits, "activityDateTime");
        by(&mut self.records, "CreationTime");
    }
}
