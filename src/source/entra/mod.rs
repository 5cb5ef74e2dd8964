//! The Entra ID activity logs read through Microsoft Graph's reporting API: the sign-in logs
//! (`signins.rs`) and the directory audits (`directory_audits.rs`), walked the same way here.
//!
//! Both lists answer newest first and page by server-driven `@odata.nextLink`s (opaque
//! `$skiptoken`): microsoft-graph-docs-contrib `api-reference/beta/api/signin-list.md` ("by
//! default, the most recent sign-ins are returned first", "The maximum and default page size is
//! 1,000 objects", `$top`, `$skiptoken`, `$filter`) and `api-reference/v1.0/api/
//! directoryaudit-list.md` (`$filter` `eq`, `ge`, `le`, `startswith`; `$top`; `skiptoken`).
//! The walk does not rely on the order: the range is cut into windows, oldest first; each
//! window's pages are followed through the shared `LinkWalk` to their end (one walk per query
//! of the window, e.g. one per sign-in event type), its records checked and de-duplicated on
//! `id` (`RecordChecks`), records outside the window dropped (their own window asks for them),
//! and the rest sorted by (time, id) and handed over, then a durable point at the window's end.
//! So a resumed case starts at a window's end, and what it writes is what an uninterrupted run
//! writes, byte for byte. Windows are cut and fetched several at once (`windows.rs`: six hours
//! wide, then as wide as holds about 5,000 records; held in memory until handed over).
//!
//! Throttling: Graph's "Identity and access reports service limits"
//! (`concepts/throttling-limits.md`) allow five requests per 10 seconds per app per tenant:
//! `--window-concurrency` (4 by default) windows at once, and a 429 waits its `Retry-After` in
//! the shared client.
//!
//! Latency: entries reach the logs minutes to hours after the event (entra-docs
//! `docs/identity/monitoring-health/reference-log-latency.md`, which gives no bound and names
//! 24 hours for several reports). A range ending less than `STILL_GROWING` ago is marked in the
//! manifest (`source_log.possibly_still_growing`); running the same range again later picks up
//! what arrived late, each record once (the records are de-duplicated on `id`).

pub(super) mod directory_audits;
pub(super) mod signins;
mod windows;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use futures::StreamExt;

use crate::http::ApiClient;
use crate::record::{sort_in_time_order, Activity, PageReading, RecordChecks};
use crate::source::paging::{EmitWindow, Handover, PagingError, PartialHandover};
use windows::{Asking, Cuts};

/// A range ending less than this long ago may still be growing.
pub(super) const STILL_GROWING: TimeDelta = TimeDelta::hours(24);

/// The largest `$top` both lists document (`signin-list.md`: "The maximum and default page
/// size is 1,000 objects"; the directory audits document the same `$top` and no other maximum).
pub(super) const MAX_TOP: u32 = 1000;

/// What a `$filter` value must have encoded in a query (and `'`, `(`, `)`, `,` too, as
/// Microsoft's examples write `%27`).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b',')
    .add(b'<')
    .add(b'>')
    .add(b'=')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Which of the two logs, and how its records are kept.
#[derive(Debug)]
pub(super) struct LogKind {
    /// The collection below the version: `auditLogs/signIns`.
    pub path: &'static str,
    /// The time property that `$filter` bounds (`createdDateTime`, `activityDateTime`).
    pub time_field: &'static str,
    pub noun: &'static str,
    /// How the manifest's filter names the `--user` match (`userPrincipalName eq`).
    pub user_words: &'static str,
    /// How the manifest describes the walk (the source descriptor's `walk`).
    pub walk: &'static str,
}

/// One query of a window: the filter beyond the time range (`None`: the range alone), and
/// how it is named in the manifest.
#[derive(Debug, Clone)]
pub(super) struct Ask {
    pub name: String,
    pub filter: Option<String>,
}

/// A record kept or not after it is read (the directory audits' `--user` is matched here).
pub(super) type Keep = fn(&Activity, Option<&str>) -> bool;

/// What the manifest records of the walk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    pub requests_per_window: usize,
    pub windows: u64,
    /// Records read that the local filter did not keep (`--user` against a directory audit's
    /// target).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_the_users: u64,
    /// Records the service sent from outside the window asked for (their own window keeps
    /// them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub outside_window: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What an Entra ID log's manifest says of its walk (`source_log`): read back with
/// `Manifest::source_log_as::<EntraLog>()`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct EntraLog {
    #[serde(flatten)]
    pub notes: LogNotes,
    #[serde(default)]
    pub record_checks: crate::record::RecordCheckCounts,
    pub walk: Counts,
}

/// What a walk could not see or may not yet hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogNotes {
    /// Records before this exist only in a tenant with Entra ID P1 or P2 (directory audits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_free_retention: Option<String>,
    /// Fields the Graph version asked for does not have (sign-ins of v1.0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_fields: Vec<String>,
    /// What the walk cannot see, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_seen: Option<String>,
    /// The range ends so recently that the log may still receive records inside it.
    pub possibly_still_growing: bool,
}

/// One walk of a log over a range.
pub(super) struct LogWalk<'a> {
    ask: Asking<'a>,
    /// Windows fetched at once (`--window-concurrency`).
    concurrency: usize,
    user: Option<String>,
    keep: Keep,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// What the manifest adds (missing fields, what the walk cannot see, retention).
    notes: LogNotes,
    checks: RecordChecks,
    counts: Counts,
}

impl<'a> LogWalk<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        client: &'a ApiClient,
        kind: &'static LogKind,
        version: &str,
        asks: Vec<Ask>,
        user: Option<String>,
        keep: Keep,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        licence_hint: Option<&'static str>,
        now: DateTime<Utc>,
    ) -> Self {
        let notes = LogNotes {
            possibly_still_growing: end > now - STILL_GROWING,
            ..LogNotes::default()
        };
        LogWalk {
            counts: Counts {
                requests_per_window: asks.len(),
                ..Counts::default()
            },
            ask: Asking::new(client, kind, version, asks, licence_hint),
            concurrency: 1,
            user,
            keep,
            start,
            end,
            notes,
            checks: RecordChecks::default(),
        }
    }

    /// Fetches `windows` windows at once (at least one).
    pub(super) fn concurrently(mut self, windows: u32) -> Self {
        self.concurrency = windows.max(1) as usize;
        self
    }

    /// What the manifest says beyond the counters, for the source to fill in.
    pub(super) fn notes(&mut self) -> &mut LogNotes {
        &mut self.notes
    }

    pub(super) fn range(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.start, self.end)
    }

    pub(super) fn pages(&self) -> u64 {
        self.ask.pages.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub(super) fn asks(&self) -> &[Ask] {
        &self.ask.asks
    }

    pub(super) fn first_request(&self, describe: bool) -> String {
        let first_end = self
            .start
            .checked_add_signed(windows::FIRST)
            .map_or(self.end, |end| end.min(self.end));
        let first = self
            .ask
            .asks
            .first()
            .map(|ask| self.ask.url(ask, self.start, first_end))
            .unwrap_or_default();
        if !describe {
            return format!("GET {first}");
        }
        format!(
            "GET {first}\nAuthorization: {}\nThen its @odata.nextLink pages; {} request(s) a \
             window (six hours wide, then as wide as holds about 5,000 records), {} window(s) at once, handed \
             over oldest first.\n",
            self.ask.client.options().credentials.redacted(),
            self.ask.asks.len(),
            self.concurrency
        )
    }

    pub(super) fn log(&self) -> EntraLog {
        EntraLog {
            notes: self.notes.clone(),
            record_checks: self.checks.counts().clone(),
            walk: self.counts.clone(),
        }
    }

    pub(super) async fn deliver(
        &mut self,
        reading: PageReading,
        partial: PartialHandover,
        interrupt: impl std::future::Future<Output = ()>,
        emit: &mut EmitWindow<'_>,
    ) -> Result<(), PagingError> {
        let mut interrupt = std::pin::pin!(interrupt);
        let (ask, reading) = (&self.ask, &reading);
        let cuts = Cuts::new(self.start, self.end);
        let mut windows =
            futures::stream::iter(std::iter::from_fn(|| cuts.next_window()))
                .map(|(start, end)| async move {
                    (start, end, ask.read_window(start, end, reading).await)
                })
                .buffered(self.concurrency);
        // The start of the first window not yet handed over.
        let mut head = self.start;
        let mut keeping = Keeping {
            kind: ask.kind,
            user: self.user.as_deref(),
            keep: self.keep,
            checks: &mut self.checks,
            counts: &mut self.counts,
        };
        let stopped = loop {
            let next = tokio::select! {
                biased;
                _ = interrupt.as_mut() => break Some(PagingError::Interrupted),
                next = windows.next() => next,
            };
            let Some((start, end, read)) = next else {
                break None;
            };
            let fetched = match read {
                Ok(fetched) => fetched,
                Err(error) => break Some(error),
            };
            cuts.observed(start, end, fetched.len());
            let records = keeping.final_order(fetched, start, end);
            if !records.is_empty() {
                emit(Handover::Records(records))?;
            }
            keeping.counts.windows += 1;
            // Windows partition time: a later one's records are not this one's.
            keeping.checks.forget_kept();
            emit(Handover::Finished(Some(end)))?;
            head = end;
        };
        drop(windows);
        if let Some(error) = stopped {
            // What the head window had fetched (the windows after it are after a gap).
            if let Some((end, fetched)) = ask.take(head) {
                let records = keeping.final_order(fetched, head, end);
                if partial == PartialHandover::Everything && !records.is_empty() {
                    emit(Handover::Records(records))?;
                }
            }
            keeping.checks.warn_summary(ask.kind.noun);
            return Err(error);
        }
        keeping.checks.warn_summary(ask.kind.noun);
        emit(Handover::Finished(None))
    }
}

/// What decides which records of a window are kept, and counts them.
struct Keeping<'w> {
    kind: &'static LogKind,
    user: Option<&'w str>,
    keep: Keep,
    checks: &'w mut RecordChecks,
    counts: &'w mut Counts,
}

impl Keeping<'_> {
    /// The window's records: checked, the user's, inside the window, in (time, id) order.
    fn final_order(
        &mut self,
        mut records: Vec<Activity>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Vec<Activity> {
        let before = records.len();
        records.retain(|record| record.timestamp().is_none_or(|t| t >= start && t < end));
        self.counts.outside_window += (before - records.len()) as u64;
        let before = records.len();
        records.retain(|record| (self.keep)(record, self.user));
        self.counts.not_the_users += (before - records.len()) as u64;
        records.retain(|record| self.checks.admit(record, self.kind.noun));
        sort_in_time_order(&mut records);
        records
    }
}

/// The 403 of a tenant without Entra ID P1 or P2: "Neither tenant is B2C or tenant doesn't
/// have premium license" (entra-docs `docs/identity/monitoring-health/
/// howto-configure-prerequisites-for-reporting-api.md`, "Common errors"), with the code
/// `Authentication_RequestFromNonPremiumTenantOrB2CTenant` (Graph's known issues, "License
/// check errors for Azure AD activity reports").
pub(super) fn is_licence_refusal(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("nonpremiumtenant") || lower.contains("premium license")
}

/// The earliest instant the log keeps, `days` back from `now`.
pub(super) fn earliest(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    now - TimeDelta::days(days)
}

/// `user` checked as a user principal name.
pub(super) fn upn(source: &str, user: &str) -> Result<String, String> {
    if user.eq_ignore_ascii_case("me") || !user.contains('@') {
        return Err(format!(
            "--user {user:?}: --source {source} matches users by user principal name; give \
             one, such as victim@contoso.com"
        ));
    }
    Ok(user.trim().to_string())
}

/// The range of the walk: `--start` (or the retention's start), never before a checkpoint's
/// bound; a `--start` before what the log keeps is refused, naming the earliest date. The
/// retention is counted back from the walk's clock (`Walk::sleeper`).
pub(super) fn retained_range(
    walk: &crate::source::Walk<'_>,
    days: i64,
    what: &str,
) -> Result<(DateTime<Utc>, DateTime<Utc>), PagingError> {
    let end = walk.query.filter.end;
    let earliest = earliest(walk.sleeper.now(), days);
    if let Some(start) = walk.query.filter.start {
        if start < earliest && walk.resume_after.is_none_or(|bound| bound < earliest) {
            return Err(PagingError::Input(format!(
                "--start {} is beyond what the {what} keep ({days} days): the earliest \
                 available is {}; give --start {} or later",
                crate::source::manifest_time(start),
                crate::source::manifest_time(earliest),
                earliest.format("%Y-%m-%dT%H:%M:%SZ"),
            )));
        }
    }
    // Without --start: the whole retention, a minute inside it so the oldest window is kept.
    Ok((
        walk.start(earliest + chrono::TimeDelta::minutes(1))
            .min(end),
        end,
    ))
}

/// Both Entra ID logs walk the same way: the walk is the source.
impl crate::source::Source for LogWalk<'_> {
    fn pages(&self) -> u64 {
        LogWalk::pages(self)
    }

    fn first_request(&self, describe: bool) -> String {
        LogWalk::first_request(self, describe)
    }

    fn filter_description(&self) -> String {
        let (start, end) = self.range();
        let mut text = format!(
            "{} from {} to {} (exclusive)",
            self.ask.kind.time_field,
            crate::source::manifest_time(start),
            crate::source::manifest_time(end)
        );
        if let Some(user) = self.user() {
            text.push_str(&format!("; {} {user}", self.ask.kind.user_words));
        }
        let asks: Vec<&str> = self.asks().iter().map(|a| a.name.as_str()).collect();
        text.push_str(&format!("; asked as {}", asks.join(", ")));
        text
    }

    fn walk_description(&self) -> String {
        self.ask.kind.walk.into()
    }

    fn log(&self) -> Option<serde_json::Value> {
        serde_json::to_value(LogWalk::log(self)).ok()
    }

    fn deliver<'s>(
        &'s mut self,
        reading: crate::record::PageReading,
        partial: crate::source::PartialHandover,
        interrupt: crate::source::Interrupt<'s>,
        emit: &'s mut crate::source::EmitWindow<'_>,
    ) -> futures::future::BoxFuture<'s, Result<(), PagingError>> {
        Box::pin(LogWalk::deliver(self, reading, partial, interrupt, emit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_licence_refusal_is_told_by_its_code_or_its_words() {
        assert!(is_licence_refusal(
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant: Neither tenant is B2C or \
             tenant doesn't have premium license"
        ));
        assert!(!is_licence_refusal(
            "Authorization_RequestDenied: Insufficient privileges to complete the operation."
        ));
    }
}
