//! `--source signins`: the Entra ID sign-in logs, `GET /auditLogs/signIns`.
//!
//! Shapes: microsoft-graph-docs-contrib `api-reference/beta/resources/signin.md` and
//! `api-reference/v1.0/resources/signin.md` (the record: `id`, `createdDateTime`, ...),
//! `api-reference/beta/api/signin-list.md` (newest first, `$top` at most 1,000, `$skiptoken`,
//! `$filter`; AuditLog.Read.All and Directory.Read.All; a reader role for a delegated caller).
//! Beta is the default: `sessionId`, `uniqueTokenIdentifier`, `signInEventTypes`,
//! `autonomousSystemNumber`, `originalTransferMethod`, `incomingTokenType` and
//! `authenticationDetails` are beta properties (the v1.0 resource lacks them), and a beta list
//! that does not filter on `signInEventTypes` returns interactive sign-ins only, so each event
//! type is asked for (`signInEventTypes/any(t: t eq '...')`, as `signin-list.md`'s examples
//! filter it). With `--graph-version v1.0` one request a window is made, and the manifest names
//! the fields it cannot have and the sign-ins it does not see.

use std::sync::Arc;

use super::{retained_range, Ask, LogKind, LogWalk};
use crate::source::paging::PagingError;
use crate::source::{Configured, GraphVersion, SourceRequest};

static KIND: LogKind = LogKind {
    path: "auditLogs/signIns",
    time_field: "createdDateTime",
    noun: "sign-ins",
    user_words: "userPrincipalName eq",
    walk: SIGNINS.walk,
};

/// The event types `signInEventTypes` documents (beta `signin.md`): "interactiveUser,
/// nonInteractiveUser, servicePrincipal, managedIdentity, unknownFutureValue".
const EVENT_TYPES: [&str; 4] = [
    "interactiveUser",
    "nonInteractiveUser",
    "servicePrincipal",
    "managedIdentity",
];

/// The beta properties the joins need that v1.0's `signIn` does not have.
const BETA_ONLY: [&str; 8] = [
    "sessionId",
    "uniqueTokenIdentifier",
    "signInEventTypes",
    "autonomousSystemNumber",
    "originalTransferMethod",
    "incomingTokenType",
    "userAgent",
    "authenticationDetails",
];

/// The sign-in logs' retention with Entra ID P1 or P2 (entra-docs `docs/identity/
/// monitoring-health/reference-reports-data-retention.md`: sign-ins 30 days; a tenant without
/// a premium licence cannot read them through Graph at all).
const RETENTION_DAYS: i64 = 30;

const LICENCE: &str = "reading sign-in logs through Microsoft Graph needs a Microsoft Entra ID \
     P1 or P2 licence in the tenant (entra-docs howto-configure-prerequisites-for-reporting-api)";

/// `--source signins` as configured.
#[derive(Debug, Clone)]
pub struct SignInsSpec {
    version: GraphVersion,
    event_types: Vec<String>,
    /// `None`: the tenant's sign-ins.
    user: Option<String>,
    /// A case's: each mailbox's walk is of its own user.
    per_mailbox: bool,
    /// Windows fetched at once (`--window-concurrency`).
    windows: u32,
}

/// The Entra ID sign-in logs: `GET /{version}/auditLogs/signIns`
/// (microsoft-graph-docs-contrib `api-reference/beta/api/signin-list.md`).
pub static SIGNINS: crate::source::SourceDescriptor = crate::source::SourceDescriptor {
    name: "signins",
    summary: "Entra ID sign-in logs through Graph (30 days; needs Entra ID P1/P2)",
    noun: "sign-ins",
    record_shape: crate::output::RecordShape {
        fixed: &["createdDateTime", "id"],
        leading: &[
            "createdDateTime",
            "userPrincipalName",
            "ipAddress",
            "appDisplayName",
            "signInEventTypes",
            "sessionId",
            "id",
        ],
    },
    resume: crate::source::Resume::FromDurablePoint,
    reads: &[
        crate::source::FlagGroup::Graph,
        crate::source::FlagGroup::SignInLogs,
        crate::source::FlagGroup::EntraLogs,
        crate::source::FlagGroup::SignIn,
    ],
    client: crate::source::ClientKind::Api {
        resource: "https://graph.microsoft.com",
    },
    endpoint_flag: "--graph-url",
    permissions: "the app needs the AuditLog.Read.All and Directory.Read.All application \
     permissions with admin consent (a signed-in analyst: those delegated permissions and a \
     role that reads sign-in logs, such as Reports Reader or Security Reader), and the tenant a \
     Microsoft Entra ID P1 or P2 licence",
    retention_days: Some(RETENTION_DAYS),
    walk: "the sign-in list in windows of six hours, then of about 5,000 records, several at \
           once, one request an event type, handed over oldest first",
    configure,
};

fn configure(request: &SourceRequest<'_>) -> Result<Configured, String> {
    let user = match request.users {
        [] => None,
        [user] => Some(super::upn("signins", user)?),
        _ => {
            return Err(
                "--source signins pulls one user's sign-ins (or, without --user, the \
                 tenant's): give at most one --user (batch takes a list)"
                    .into(),
            )
        }
    };
    let version = request
        .args
        .graph
        .graph_version
        .unwrap_or(GraphVersion::Beta);
    let event_types = crate::source::descriptor::non_empty(
        "--sign-in-event-types",
        &request.args.sign_in_logs.sign_in_event_types,
    )?;
    if let Some(unknown) = event_types
        .iter()
        .find(|t| !EVENT_TYPES.contains(&t.as_str()))
    {
        return Err(format!(
            "--sign-in-event-types {unknown:?} is not a signInEventTypes value; use {}",
            EVENT_TYPES.join(", ")
        ));
    }
    let label = user
        .clone()
        .unwrap_or_else(|| "every user of the tenant".into());
    Ok(Configured {
        spec: Arc::new(SignInsSpec {
            version,
            event_types,
            user,
            per_mailbox: false,
            windows: request.args.entra_logs.window_concurrency,
        }),
        url: crate::source::checked_url("--graph-url", &request.args.graph.graph_url)?,
        api_version: version.as_str().into(),
        label,
    })
}

impl crate::source::SourceSpec for SignInsSpec {
    fn case_filter(&self, filter: &crate::odata::ActivityFilter) -> String {
        crate::source::range_in_words(KIND.time_field, filter)
    }

    fn descriptor(&self) -> &'static crate::source::SourceDescriptor {
        &SIGNINS
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
        let range = retained_range(&walk, RETENTION_DAYS, "sign-in logs")?;
        let user_filter = user.as_deref().map(|u| {
            format!(
                "userPrincipalName eq {}",
                crate::odata::string_literal(&u.to_ascii_lowercase())
            )
        });
        let asks = match self.version {
            GraphVersion::Beta => self
                .event_types
                .iter()
                .map(|t| Ask {
                    name: t.clone(),
                    filter: Some(
                        [
                            user_filter.clone(),
                            Some(format!("signInEventTypes/any(t: t eq '{t}')")),
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" and "),
                    ),
                })
                .collect(),
            GraphVersion::V1 => vec![Ask {
                name: "interactiveUser".into(),
                filter: user_filter,
            }],
        };
        let mut log = LogWalk::new(
            walk.api_client()?,
            &KIND,
            self.version.as_str(),
            asks,
            user,
            |_, _| true,
            range,
            Some(LICENCE),
            walk.sleeper.now(),
        )
        .concurrently(self.windows);
        if self.version == GraphVersion::V1 {
            let notes = log.notes();
            notes.missing_fields = BETA_ONLY.iter().map(|f| f.to_string()).collect();
            notes.not_seen = Some(
                "v1.0 lists interactive sign-ins only: non-interactive, service principal and \
                 managed identity sign-ins need --graph-version beta"
                    .into(),
            );
        }
        Ok(Box::new(log))
    }

    fn filters(&self) -> Vec<String> {
        let mut filters = vec![format!("graph {}", self.version.as_str())];
        if self.version == GraphVersion::Beta {
            filters.extend(self.event_types.iter().cloned());
        }
        filters
    }

    fn for_case(&self, _shared: &std::path::Path) -> Option<Arc<dyn crate::source::SourceSpec>> {
        Some(Arc::new(SignInsSpec {
            per_mailbox: true,
            ..self.clone()
        }))
    }
}
