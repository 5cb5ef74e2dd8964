//! `--source directory-audits`: the Entra ID audit log, `GET /auditLogs/directoryAudits`.
//!
//! Shapes: microsoft-graph-docs-contrib `api-reference/v1.0/resources/directoryaudit.md` (the
//! record: `id`, `activityDateTime`, `initiatedBy`, `targetResources`, ...) and
//! `api-reference/v1.0/api/directoryaudit-list.md` (`$filter`, `$top`, `skiptoken`;
//! AuditLog.Read.All). Activity names (`activityDisplayName`) are those of entra-docs
//! `docs/identity/monitoring-health/reference-audit-activities.md`.
//!
//! `--user`, as initiator or target: `directoryaudit.md` documents `$filter` on
//! `initiatedBy/user/userPrincipalName` but, on `targetResources`, on `id` and `displayName`
//! only (no `userPrincipalName`), and no `or` across the two. So the API is asked for the time
//! range alone, and the records whose initiator (`initiatedBy.user.userPrincipalName`) or any
//! target (`targetResources[].userPrincipalName`) is the user are kept here; the others are
//! counted in the manifest (`source_log.walk.not_the_users`).

use std::sync::Arc;

use super::{upn, Ask, LogKind, LogWalk};
use crate::record::Activity;
use crate::source::paging::PagingError;
use crate::source::{Configured, GraphVersion, SourceRequest};

static KIND: LogKind = LogKind {
    path: "auditLogs/directoryAudits",
    time_field: "activityDateTime",
    noun: "directory audit records",
    user_words: "initiated by or targeting (matched here)",
    walk: DIRECTORY_AUDITS.walk,
};

/// With Entra ID P1 or P2 the audit log keeps 30 days; without, 7 (entra-docs
/// `docs/identity/monitoring-health/reference-reports-data-retention.md`).
const RETENTION_DAYS: i64 = 30;
const RETENTION_DAYS_FREE: i64 = 7;

/// `--source directory-audits` as configured.
#[derive(Debug, Clone)]
pub struct DirectoryAuditsSpec {
    version: GraphVersion,
    user: Option<String>,
    per_mailbox: bool,
    /// Windows fetched at once (`--window-concurrency`).
    windows: u32,
}

/// The Entra ID audit log: `GET /{version}/auditLogs/directoryAudits`
/// (microsoft-graph-docs-contrib `api-reference/v1.0/api/directoryaudit-list.md`).
pub static DIRECTORY_AUDITS: crate::source::SourceDescriptor = crate::source::SourceDescriptor {
    name: "directory-audits",
    summary: "Entra ID directory audits through Graph (30 days; 7 without P1)",
    noun: "directory audit records",
    record_shape: crate::output::RecordShape {
        fixed: &["activityDateTime", "id"],
        leading: &[
            "activityDateTime",
            "activityDisplayName",
            "category",
            "result",
            "initiatedBy.user.userPrincipalName",
            "id",
        ],
    },
    resume: crate::source::Resume::FromDurablePoint,
    reads: &[
        crate::source::FlagGroup::Graph,
        crate::source::FlagGroup::EntraLogs,
        crate::source::FlagGroup::SignIn,
    ],
    client: crate::source::ClientKind::Api {
        resource: "https://graph.microsoft.com",
    },
    endpoint_flag: "--graph-url",
    permissions: "the app needs the AuditLog.Read.All and Directory.Read.All application \
     permissions with admin consent (a signed-in analyst: those delegated permissions and a \
     role that reads audit logs, such as Reports Reader or Security Reader)",
    retention_days: Some(RETENTION_DAYS),
    walk: "the directory audit list in windows of six hours, then of about 5,000 records, \
           several at once, handed over oldest first; --user matched here",
    configure,
};

fn configure(request: &SourceRequest<'_>) -> Result<Configured, String> {
    let user = match request.users {
        [] => None,
        [user] => Some(upn("directory-audits", user)?),
        _ => {
            return Err(
                "--source directory-audits pulls one user's records (or, without \
                 --user, the tenant's): give at most one --user (batch takes a list)"
                    .into(),
            )
        }
    };
    let version = request.args.graph.graph_version.unwrap_or(GraphVersion::V1);
    let label = user
        .clone()
        .unwrap_or_else(|| "every user of the tenant".into());
    Ok(Configured {
        spec: Arc::new(DirectoryAuditsSpec {
            version,
            user,
            per_mailbox: false,
            windows: request.args.entra_logs.window_concurrency,
        }),
        url: crate::source::checked_url("--graph-url", &request.args.graph.graph_url)?,
        api_version: version.as_str().into(),
        label,
    })
}

/// Whether `record` was initiated by `user` or targets them (`None`: every record).
fn initiator_or_target(record: &Activity, user: Option<&str>) -> bool {
    let Some(user) = user else {
        return true;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(record.raw_json()) else {
        // Kept: what cannot be read cannot be said not to be the user's.
        return true;
    };
    let is_user = |v: &serde_json::Value| v.as_str().is_some_and(|u| u.eq_ignore_ascii_case(user));
    is_user(&value["initiatedBy"]["user"]["userPrincipalName"])
        || value["targetResources"]
            .as_array()
            .is_some_and(|targets| targets.iter().any(|t| is_user(&t["userPrincipalName"])))
}

impl crate::source::SourceSpec for DirectoryAuditsSpec {
    fn case_filter(&self, filter: &crate::odata::ActivityFilter) -> String {
        crate::source::range_in_words(KIND.time_field, filter)
    }

    fn descriptor(&self) -> &'static crate::source::SourceDescriptor {
        &DIRECTORY_AUDITS
    }

    fn open<'a>(
        &'a self,
        walk: crate::source::Walk<'a>,
    ) -> Result<Box<dyn crate::source::Source + 'a>, PagingError> {
        let user = if self.per_mailbox {
            Some(walk.user.to_string())
        } else {
            self.user.clone()
        };
        let range = super::retained_range(&walk, RETENTION_DAYS, "directory audit logs")?;
        let mut log = LogWalk::new(
            walk.api_client()?,
            &KIND,
            self.version.as_str(),
            vec![Ask {
                name: "the time range".into(),
                filter: None,
            }],
            user,
            initiator_or_target,
            range,
            None,
            walk.sleeper.now(),
        )
        .concurrently(self.windows);
        let free = super::earliest(walk.sleeper.now(), RETENTION_DAYS_FREE);
        if range.0 < free {
            tracing::warn!(
                "the range starts before {}: a tenant without Microsoft Entra ID P1 or P2 keeps \
                 its directory audit log {RETENTION_DAYS_FREE} days, so without one nothing \
                 earlier exists",
                crate::source::manifest_time(free)
            );
            log.notes().before_free_retention = Some(format!(
                "records before {} exist only in a tenant with Entra ID P1 or P2 \
                     ({RETENTION_DAYS_FREE} days without)",
                crate::source::manifest_time(free)
            ));
        }
        Ok(Box::new(log))
    }

    fn filters(&self) -> Vec<String> {
        vec![format!("graph {}", self.version.as_str())]
    }

    fn for_case(&self, _shared: &std::path::Path) -> Option<Arc<dyn crate::source::SourceSpec>> {
        Some(Arc::new(DirectoryAuditsSpec {
            per_mailbox: true,
            ..self.clone()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_matched_as_initiator_or_target_whatever_the_case() {
        let page = br#"{"value":[
            {"id":"a","activityDateTime":"2024-05-01T10:00:00Z","initiatedBy":{"user":{"userPrincipalName":"Victim@contoso.com"}},"targetResources":[]},
            {"id":"b","activityDateTime":"2024-05-01T10:00:01Z","initiatedBy":{"app":{"displayName":"x"}},"targetResources":[{"userPrincipalName":"victim@contoso.com"}]},
            {"id":"c","activityDateTime":"2024-05-01T10:00:02Z","initiatedBy":{"user":{"userPrincipalName":"admin@contoso.com"}},"targetResources":[{"userPrincipalName":"other@contoso.com"}]}
        ]}"#;
        let records = crate::record::parse_page(page.to_vec()).unwrap();
        let kept: Vec<&str> = records
            .iter()
            .filter(|r| initiator_or_target(r, Some("victim@contoso.com")))
            .map(|r| r.key())
            .collect();
        assert_eq!(kept, ["a", "b"]);
        assert!(records.iter().all(|r| initiator_or_target(r, None)));
    }
}
