//! The tenant `demo` runs against: the built-in corpus with its planted compromise, the same
//! tenant as today's Unified Audit Log holds it (each mailbox record naming the sign-in session
//! its token came from, `AppAccessContext`), its Entra ID logs, and the faults and throttling
//! the demo switches on so that the client's retries and splits are seen to work.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::audit_log::{audit_records, write_export, AuditTruth};
use super::files::{parse_time, MockFileError};
use super::generate::identity::{add_app_access_context, identity_logs_of};
use super::{
    corpus_by_mailbox, default_corpus, start_with_audit_log, write_corpus, AuditSettings,
    EntraSettings, FaultSettings, RunningServer, ServerSettings, TokenSpec, Truth,
};

/// Faults the demo switches on. A throttle low enough to be met: pages of 100 make the pull long
/// enough (a few dozen requests) that they do happen. The audit log APIs answer 429 now and
/// then, and cap a query at fewer records than the victim has, so the pull splits its range.
#[derive(Debug, Clone, Copy)]
pub struct DemoFaults {
    pub fail_rate: f64,
    pub truncate_rate: f64,
    /// At most this many requests per this long per mailbox (429 beyond).
    pub throttle: (usize, Duration),
    pub audit_record_limit: usize,
    pub audit_throttle_every: u64,
}

pub const DEMO_FAULTS: DemoFaults = DemoFaults {
    fail_rate: 0.05,
    truncate_rate: 0.03,
    throttle: (20, Duration::from_secs(2)),
    audit_record_limit: 400,
    audit_throttle_every: 7,
};

/// The demo's tenant, generated and ready to serve.
pub struct DemoTenant {
    pub truth: Truth,
    pub audit_truth: Option<AuditTruth>,
    /// The tenant's "now": the end of its records, which the Entra ID pulls run at.
    pub now: DateTime<Utc>,
    /// The first and the last instant of its audit log (the end a second later, exclusive).
    pub audit_range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    corpus: super::Corpus,
    audit_records: Vec<Value>,
    settings: ServerSettings,
}

impl DemoTenant {
    /// The tenant of `seed`, answering `token`.
    pub fn generate(seed: u64, token: &str) -> Self {
        let corpus = default_corpus(seed);
        let truth = corpus.truth.clone().unwrap_or_default();
        let identity = identity_logs_of(&corpus, seed);
        let (mut records, audit_truth) = audit_records(&corpus);
        add_app_access_context(&mut records, &identity);
        let now = super::generate::default_end();
        let faults = DEMO_FAULTS;
        let settings = ServerSettings {
            tokens: vec![TokenSpec {
                token: token.into(),
                me: None,
                withdrawn: false,
            }],
            throttle: Some(faults.throttle),
            faults: FaultSettings {
                fail_rate: faults.fail_rate,
                truncate_rate: faults.truncate_rate,
                seed,
                ..FaultSettings::default()
            },
            audit: AuditSettings {
                record_limit: faults.audit_record_limit,
                throttle_every: Some(faults.audit_throttle_every),
                now: Some(now),
                entra: EntraSettings {
                    signins: Arc::new(Mutex::new(identity.signins)),
                    directory_audits: Arc::new(Mutex::new(identity.directory_audits)),
                    ..EntraSettings::default()
                },
                ..AuditSettings::default()
            },
            ..ServerSettings::default()
        };
        DemoTenant {
            truth,
            audit_truth,
            now,
            audit_range: time_span(&records),
            corpus,
            audit_records: records,
            settings,
        }
    }

    /// Writes what the analyst gets beside the evidence: the whole tenant (`corpus.jsonl`),
    /// what was planted (`truth.json`) and the tenant as a Purview audit search export
    /// (`audit-log-export.csv`).
    pub fn write_files(&self, out_dir: &Path) -> Result<(), MockFileError> {
        write_corpus(&self.corpus, &out_dir.join("corpus.jsonl"))?;
        let truth = serde_json::to_vec_pretty(&self.truth).unwrap_or_default();
        super::files::write_atomically_with(&out_dir.join("truth.json"), |file| {
            std::io::Write::write_all(file, &truth)
        })?;
        write_export(&self.audit_records, &out_dir.join("audit-log-export.csv"))
    }

    /// Serves the tenant on loopback.
    pub async fn start(self) -> Result<RunningServer, std::io::Error> {
        start_with_audit_log(
            corpus_by_mailbox(self.corpus),
            self.audit_records,
            self.settings,
        )
        .await
    }
}

/// The first and the last instant of `records` (the end a second later, being exclusive).
fn time_span(records: &[Value]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let times = records
        .iter()
        .filter_map(|r| r["CreationTime"].as_str())
        .filter_map(parse_time);
    let (first, last) = times.fold(None, |span: Option<(DateTime<Utc>, DateTime<Utc>)>, t| {
        Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))))
    })?;
    Some((first, last + TimeDelta::seconds(1)))
}
