//! Building records: unique deterministic ids, sessions, and the record shape itself.

use chrono::{DateTime, Duration, Utc};
use fastrand::Rng;
use serde_json::{json, Value};

use super::super::store::StoredActivity;
use super::vocabulary::{client_version, timestamp_text, TENANT_ID};

/// One mailbox owner's habits.
pub(super) struct Owner {
    pub(super) upn: String,
    pub(super) ips: Vec<String>,
    pub(super) utc_offset_hours: i64,
}

impl Owner {
    /// `h:m` of the owner's own clock on `day` (a UTC midnight), as a UTC instant.
    pub(super) fn local(&self, day: DateTime<Utc>, h: i64, m: i64) -> DateTime<Utc> {
        day + Duration::hours(h - self.utc_offset_hours) + Duration::minutes(m)
    }
}

/// Builds records with unique, deterministic ids.
pub(super) struct Builder {
    pub(super) rng: Rng,
    pub(super) serial: u64,
}

/// A message delivered to a mailbox, which later activities refer to.
#[derive(Clone)]
pub(super) struct Message {
    pub(super) item_id: String,
    pub(super) subject: String,
    pub(super) sender: String,
    pub(super) received: DateTime<Utc>,
    pub(super) internet_message_id: String,
}

/// One client session: app, session id, source.
pub(super) struct Session {
    pub(super) app: &'static str,
    pub(super) session_id: String,
    pub(super) ip: String,
    pub(super) user_agent: &'static str,
    pub(super) sequence: u64,
}

impl Builder {
    pub(super) fn id(&mut self, prefix: &str) -> String {
        self.serial += 1;
        let mut bytes = [0u8; 24];
        for b in bytes.iter_mut() {
            *b = self.rng.u8(..);
        }
        let body: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("{prefix}{:08}{body}", self.serial)
    }

    pub(super) fn uuid(&mut self) -> String {
        let h = |rng: &mut Rng, n: usize| {
            (0..n)
                .map(|_| format!("{:x}", rng.u8(0..16)))
                .collect::<String>()
        };
        format!(
            "{}-{}-{}-{}-{}",
            h(&mut self.rng, 8),
            h(&mut self.rng, 4),
            h(&mut self.rng, 4),
            h(&mut self.rng, 4),
            h(&mut self.rng, 12)
        )
    }

    pub(super) fn record(
        &mut self,
        time: DateTime<Utc>,
        activity_type: &str,
        app: &str,
        session: Option<&mut Session>,
        item_id: &str,
        custom: Vec<(&str, String)>,
    ) -> StoredActivity {
        let id = self.id("AAMkAG");
        let created = time + Duration::milliseconds(self.rng.i64(0..1500));
        let (session_id, sequence) = match session {
            Some(s) => {
                s.sequence += 1;
                (s.session_id.clone(), Some(s.sequence))
            }
            None => (self.uuid(), None),
        };
        let mut record = json!({
            "Id": id,
            "ActivityCreationTime": timestamp_text(created),
            "ActivityIdType": activity_type,
            "AppIdType": app,
            "ClientVersion": client_version(app),
            "ClientSessionId": session_id,
            "ActivityItemId": item_id,
            "TimeStamp": timestamp_text(time),
            "TenantId": TENANT_ID,
        });
        if let (Some(sequence), Some(object)) = (sequence, record.as_object_mut()) {
            object.insert("SequenceNumber".into(), json!(sequence));
        }
        if !custom.is_empty() {
            let properties: Vec<Value> = custom
                .into_iter()
                .map(|(name, value)| json!({"Name": name, "Value": value}))
                .collect();
            record["CustomProperties"] = Value::Array(properties);
        }
        StoredActivity {
            time_nanos: time.timestamp_nanos_opt().unwrap_or(0),
            id: record["Id"].as_str().unwrap_or_default().to_string(),
            activity_type: activity_type.to_string(),
            app_type: app.to_string(),
            json: record.to_string(),
        }
    }
}
