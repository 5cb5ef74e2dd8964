//! What goes wrong on purpose: 503s, dropped connections, cut-off bodies, and a live mailbox
//! (activities arriving, the oldest purged), all drawn from the seeded generator.

use std::sync::atomic::Ordering;
use std::sync::RwLock;

use super::super::store::{Mailbox, StoredActivity};
use super::Tenant;

pub(super) enum Fault {
    None,
    Fail { retry_after: Option<u64> },
    Reset,
    Truncate,
}

impl Tenant {
    pub(super) fn draw_fault(&self) -> Fault {
        let faults = &self.settings.faults;
        let Ok(mut rng) = self.rng.lock() else {
            return Fault::None;
        };
        let roll = rng.f64();
        if roll < faults.fail_rate {
            let retry_after = rng.bool().then(|| rng.u64(1..=2));
            Fault::Fail { retry_after }
        } else if roll < faults.fail_rate + faults.reset_rate {
            Fault::Reset
        } else if roll < faults.fail_rate + faults.reset_rate + faults.truncate_rate {
            Fault::Truncate
        } else {
            Fault::None
        }
    }
    /// Live-mailbox effects of one request: new activities in, oldest out.
    pub(super) fn churn(&self, mailbox: &RwLock<Mailbox>) {
        let faults = &self.settings.faults;
        if faults.insert_per_request == 0 && faults.age_per_request == 0 {
            return;
        }
        let Ok(mut mailbox) = mailbox.write() else {
            return;
        };
        mailbox.purge_oldest(faults.age_per_request);
        for _ in 0..faults.insert_per_request {
            let n = self.inserted.fetch_add(1, Ordering::Relaxed);
            let now = chrono::Utc::now();
            let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let id = format!("AAMkAGlive{n:012}");
            let json = serde_json::json!({
                "Id": id, "ActivityCreationTime": stamp, "ActivityIdType": "MessageDelivered",
                "AppIdType": "Exchange", "ClientSessionId": "", "ActivityItemId": format!("AAMkAGI2live{n:012}"),
                "TimeStamp": stamp, "TenantId": "679126f3-02de-3513-e336-0eac1294b120",
                "CustomProperties": [{"Name": "Subject", "Value": "arrived during the pull"}],
            });
            mailbox.insert(StoredActivity {
                time_nanos: now.timestamp_millis() * 1_000_000,
                id,
                activity_type: "MessageDelivered".into(),
                app_type: "Exchange".into(),
                json: json.to_string(),
            });
        }
    }
}
