//! What a source declares about itself, once: the CLI's help and refusals, the client it
//! needs, the manifest's words and the case's resume rule are all read from here.

use std::sync::Arc;

use crate::output::RecordShape;
use crate::source::{PagingMode, SourceArgs, SourceSpec};

/// A group of command-line flags, each with its own help heading. The time range, output and
/// connection flags are every source's; a source lists the groups it reads beyond those, and a
/// flag of a group it does not read is refused on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagGroup {
    /// `--types`, `--select`, `--paging`, `--base-url`, ...: the Activities API's query and
    /// connection.
    Activities,
    /// `--operations`, `--poll-interval`, ...: Graph audit log queries.
    AuditQuery,
    /// `--content-types`, `--state`, `--management-url`: the Management Activity API.
    Feed,
    /// `--graph-url`, `--graph-version`: every source read through Microsoft Graph.
    Graph,
    /// `--sign-in-event-types`: the Entra ID sign-in logs.
    SignInLogs,
    /// `--window-concurrency`: both Entra ID logs (sign-ins, directory audits).
    EntraLogs,
    /// `--tenant`, `--client-id`, `--certificate`, `--device-code`, `--authority-url`.
    SignIn,
}

impl FlagGroup {
    /// Every group, for the checks that walk them all.
    pub const ALL: [FlagGroup; 7] = [
        FlagGroup::Activities,
        FlagGroup::AuditQuery,
        FlagGroup::Feed,
        FlagGroup::Graph,
        FlagGroup::SignInLogs,
        FlagGroup::EntraLogs,
        FlagGroup::SignIn,
    ];
}

/// Which HTTP client a source's requests go through, and how it signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// The Activities API's client (its own sign-in: a token, or Basic).
    Activities,
    /// The shared API client: a token, or a sign-in through the identity platform for
    /// `resource` (its `.default` scope, whatever URL the API is reached at).
    Api { resource: &'static str },
}

/// How a stopped pull of the source continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// From its last durable point ("everything before T is written").
    FromDurablePoint,
    /// From its last durable point with keyset paging; skip paging starts again (offsets shift
    /// on a live mailbox).
    FromDurablePointWhenKeyset,
    /// From the start: what it walks has no time bound that says what is left.
    StartsAgain,
}

impl Resume {
    pub fn allowed(self, paging: PagingMode) -> bool {
        match self {
            Resume::FromDurablePoint => true,
            Resume::FromDurablePointWhenKeyset => paging == PagingMode::Keyset,
            Resume::StartsAgain => false,
        }
    }
}

/// A source's declaration.
#[derive(Debug)]
pub struct SourceDescriptor {
    /// Its `--source` value and its name in manifests (never renamed: old cases resume by it).
    pub name: &'static str,
    /// One line for `--source`'s help.
    pub summary: &'static str,
    /// What its records are called in messages ("audit log records").
    pub noun: &'static str,
    /// Its CSV's leading columns.
    pub record_shape: RecordShape,
    pub resume: Resume,
    /// The flag groups it reads beyond the common ones.
    pub reads: &'static [FlagGroup],
    pub client: ClientKind,
    /// The flag that sets its endpoint (its default is declared on the flag, `source::args`).
    pub endpoint_flag: &'static str,
    /// What a 403 tells the analyst to fix: the permission (and licence) it needs.
    pub permissions: &'static str,
    /// How far back the service keeps records, in days (`None`: no documented limit).
    pub retention_days: Option<i64>,
    /// How the manifest describes its walk (the Activities API names its paging mode instead).
    pub walk: &'static str,
    /// Its flags, read into its configuration (a usage error says what to fix).
    pub configure: fn(&SourceRequest<'_>) -> Result<Configured, String>,
}

/// What a source is configured from: its flags and the `--user`s given (one for a pull of a
/// mailbox, the case's first for a batch; any number for the feed).
pub struct SourceRequest<'a> {
    pub args: &'a SourceArgs,
    pub users: &'a [String],
}

impl SourceRequest<'_> {
    /// The one mailbox a source that pulls one mailbox is asked for.
    pub fn one_user(&self, source: &str) -> Result<&str, String> {
        match self.users {
            [user] => Ok(user.as_str()),
            [] => Err(format!(
                "--user is required with --source {source}: give the mailbox's UPN"
            )),
            _ => Err(format!(
                "--source {source} pulls one mailbox: give one --user (batch takes a list)"
            )),
        }
    }
}

/// A source as configured, and where its client connects.
pub struct Configured {
    pub spec: Arc<dyn SourceSpec>,
    /// The service root (checked: an http(s) URL without a query).
    pub url: String,
    pub api_version: String,
    /// Whose records, as messages and the manifest name them.
    pub label: String,
}

/// `url` of `flag`, checked: an http(s) URL without a query, without a trailing `/`.
pub fn checked_url(flag: &str, url: &str) -> Result<String, String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("{flag} {url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        return Err(format!(
            "{flag} {url:?} must be an http(s) URL without a query"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Values of a list flag, trimmed; an empty one is refused.
pub fn non_empty(flag: &str, values: &[String]) -> Result<Vec<String>, String> {
    if values.iter().any(|v| v.trim().is_empty()) {
        return Err(format!("{flag} has an empty value"));
    }
    Ok(values.iter().map(|v| v.trim().to_string()).collect())
}

impl SourceDescriptor {
    pub fn reads(&self, group: FlagGroup) -> bool {
        self.reads.contains(&group)
    }
}
