//! The findings of one mailbox, each naming the activity Ids that support it.
//!
//! "New" is judged against the mailbox's own baseline: the first 60 % of the time its
//! activities span. A source first seen after that is new; one seen on at most two days and in
//! under 2 % of logons is rare.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::events::{Event, MailboxEvents, Shared};
use super::geo::GeoLookup;
use crate::triage::category::Category;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    /// What kind of finding, and with it its MITRE ATT&CK technique and the next step.
    pub category: Category,
    pub title: String,
    pub detail: String,
    pub activity_ids: Vec<String>,
}

impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut finding = serializer.serialize_struct("Finding", 7)?;
        finding.serialize_field("severity", &self.severity)?;
        finding.serialize_field("category", &self.category)?;
        finding.serialize_field("technique", self.category.technique())?;
        finding.serialize_field("next_step", self.category.next_step())?;
        finding.serialize_field("title", &self.title)?;
        finding.serialize_field("detail", &self.detail)?;
        finding.serialize_field("activity_ids", &self.activity_ids)?;
        finding.end()
    }
}

/// One suspicious source and everything its sessions did: the findings an analyst reads as
/// one story, instead of the same events repeated as logon, search and session findings.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub source: String,
    /// The attacker's sign-in session, for an incident the identity evidence made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub severity: Severity,
    /// Indexes into the report's findings: the source's logon finding first, then the findings
    /// about what its sessions did (sessions, searches, reads, forwards, hiding).
    pub findings: Vec<usize>,
}

/// A table of the report (also one CSV file).
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<&'static str>,
    /// Cells share the activities' strings: a large mailbox's tables list hundreds of
    /// thousands of reads.
    pub rows: Vec<Row>,
}

/// A table's row.
pub type Row = Box<[Shared]>;

/// Cells made for a table alone, not shared with the activities.
pub(super) fn cells(rows: Vec<Vec<String>>) -> Vec<Row> {
    rows.into_iter()
        .map(|row| row.into_iter().map(Shared::from).collect())
        .collect()
}

/// Activity counts per day, for the charts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DailySeries {
    pub days: Vec<String>,
    /// Series name → count per day (aligned with `days`).
    pub series: BTreeMap<String, Vec<u64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MailboxReport {
    pub mailbox: String,
    pub activities: usize,
    pub first: Option<String>,
    pub last: Option<String>,
    pub findings: Vec<Finding>,
    /// The findings grouped by suspicious source, most severe first.
    pub incidents: Vec<Incident>,
    pub tables: Vec<Table>,
    pub activity_by_app: DailySeries,
    pub logons_by_ip: DailySeries,
    pub logons_by_country: BTreeMap<String, u64>,
    /// The attacker sessions the identity evidence showed (`triage::identity`); empty, and
    /// not written, for mailbox evidence alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<AttackerSession>,
}

impl MailboxReport {
    /// Adds `new` findings and the incidents made of them (their `findings` index the
    /// report's findings followed by `new`),
    /// keeping the findings in the report's order (most severe first, then by kind) and every
    /// incident pointing at its own.
    pub(crate) fn add_findings(&mut self, new: Vec<Finding>, incidents: Vec<Incident>) {
        self.findings.extend(new);
        let mut order: Vec<usize> = (0..self.findings.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&self.findings[a], &self.findings[b]);
            a.severity
                .cmp(&b.severity)
                .then_with(|| a.category.name().cmp(b.category.name()))
        });
        let mut position = vec![0; order.len()];
        for (new_place, &old_place) in order.iter().enumerate() {
            position[old_place] = new_place;
        }
        let mut findings: Vec<Option<Finding>> = std::mem::take(&mut self.findings)
            .into_iter()
            .map(Some)
            .collect();
        self.findings = order.iter().filter_map(|&i| findings[i].take()).collect();
        for incident in &mut self.incidents {
            for index in &mut incident.findings {
                *index = position[*index];
            }
        }
        let mut added: Vec<Incident> = incidents
            .into_iter()
            .map(|mut incident| {
                for index in &mut incident.findings {
                    *index = position[*index];
                }
                incident
            })
            .collect();
        // The session incidents lead: they hold the sign-in, what it did and what it left.
        added.append(&mut self.incidents);
        self.incidents = added;
        self.incidents.sort_by_key(|i| i.severity);
    }
}

/// An attacker session as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AttackerSession {
    pub session: String,
    pub person: String,
    pub severity: Severity,
    pub points: u32,
    pub reasons: Vec<String>,
    pub explained: Vec<String>,
    pub addresses: Vec<String>,
    pub replay_addresses: Vec<String>,
    pub tokens: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    /// Last seen within the last day of the evidence.
    pub live: bool,
    pub evidence_ends: String,
    /// Mailbox records joined to the session, by how.
    pub joins: BTreeMap<&'static str, usize>,
    pub signin_ids: Vec<String>,
}

/// What the analyst configured.
pub struct Settings {
    pub home_countries: Vec<String>,
    pub keywords: Vec<String>,
    pub geo: GeoLookup,
}

pub const DEFAULT_KEYWORDS: &[&str] = &[
    "wire",
    "transfer",
    "invoice",
    "payment",
    "bank",
    "ach",
    "routing",
    "remittance",
    "payroll",
    "w-2",
    "w2",
    "swift",
    "iban",
    "account number",
    "beneficiary",
    "deposit",
    "direct deposit",
    "tax",
    "401k",
    "vendor",
    "remit",
];

pub(super) const READ_KINDS: &[&str] = &[
    "ReadingPaneDisplayStart",
    // An audit log Bind: a message read, by InternetMessageId.
    "MailItemsAccessed",
    "MarkAsRead",
    "Reply",
    "ReplyAll",
    "Forward",
];

/// A time the service wrote in a custom property (`05/01/2018 10:00:00 AM`) as ISO 8601. The
/// reference names no zone for it; it is taken as UTC, as every other time of the service.
/// A value in another shape is kept as it is.
pub(super) fn normalized_time(text: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(text.trim(), "%m/%d/%Y %I:%M:%S %p")
        .map(|t| stamp(Some(t.and_utc())))
        .unwrap_or_else(|_| text.to_string())
}

/// A time as a person reads it: ISO 8601, UTC marked.
pub(super) fn stamp(time: Option<DateTime<Utc>>) -> String {
    time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The source of a logon: the first address of an X-Forwarded-For chain, and the whole chain.
pub fn logon_source(event: &Event) -> Option<(String, String)> {
    let chain = event.prop("ClientIP").or_else(|| event.prop("IPAddress"))?;
    let client = chain.split(',').next()?.trim().to_string();
    Some((client, chain.to_string()))
}

pub fn is_logon(event: &Event) -> bool {
    matches!(&*event.kind, "ServerLogon" | "Logon")
}

pub fn user_agent(event: &Event) -> Option<&str> {
    event.prop("UserAgent").or_else(|| event.prop("Browser"))
}

/// Per-source facts.
#[derive(Default)]
pub(super) struct Source {
    pub(super) chain: BTreeSet<String>,
    pub(super) apps: BTreeSet<String>,
    pub(super) agents: BTreeSet<String>,
    pub(super) days: BTreeSet<String>,
    pub(super) first: Option<DateTime<Utc>>,
    pub(super) last: Option<DateTime<Utc>>,
    pub(super) ids: Vec<String>,
    pub(super) logon_indexes: Vec<usize>,
}

use super::findings as techniques;

pub fn analyze_mailbox(mailbox: &MailboxEvents, settings: &Settings) -> MailboxReport {
    let events = &mailbox.events;
    let first = events.iter().find_map(|e| e.time);
    let last = events.iter().rev().find_map(|e| e.time);
    let baseline_end = match (first, last) {
        (Some(a), Some(b)) => {
            Some(a + Duration::milliseconds(((b - a).num_milliseconds() as f64 * 0.6) as i64))
        }
        _ => None,
    };
    let is_new =
        |t: Option<DateTime<Utc>>| matches!((t, baseline_end), (Some(t), Some(end)) if t > end);
    let mut findings = Vec::new();
    let mut tables = Vec::new();
    let logons = techniques::logons::logons(events, settings, &is_new, &mut findings, &mut tables);
    // The suspicious sessions first: the other findings say whether they fall in one.
    let sessions =
        techniques::sessions::suspicious_sessions(events, &logons.sources, &logons.flagged);
    let suspicious_ids: HashSet<&str> = sessions
        .iter()
        .flat_map(|s| s.ids.iter().map(String::as_str))
        .collect();
    let delivered: HashMap<&str, &Event> = events
        .iter()
        .filter(|e| &*e.kind == "MessageDelivered" && !e.item.is_empty())
        .map(|e| (&*e.item, e))
        .collect();
    techniques::searches::searches(
        events,
        settings,
        &suspicious_ids,
        &mut findings,
        &mut tables,
    );
    let by_day = techniques::clients::clients(events, &is_new, &mut findings, &mut tables);
    techniques::attachments::attachments(events, &delivered, &mut findings, &mut tables);
    techniques::reads::reads(events, &delivered, &suspicious_ids, &mut tables);
    techniques::hiding::hiding(
        events,
        &delivered,
        &suspicious_ids,
        &mut findings,
        &mut tables,
    );
    techniques::rules::rules(
        events,
        &mailbox.mailbox,
        settings,
        &logons.flagged,
        &mut findings,
        &mut tables,
    );
    techniques::sessions::session_findings(
        &sessions,
        &logons.severities,
        &delivered,
        &mut findings,
        &mut tables,
    );

    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| a.category.name().cmp(b.category.name()))
    });
    // Audit log records made outside any session (a rule, a forwarding change, a folder sync)
    // carry their client's address: they join the incident of that source.
    let made_from: HashMap<&str, String> = events
        .iter()
        .filter(|e| {
            matches!(
                &*e.kind,
                "InboxRule" | "MailboxForwarding" | "MailItemsSync"
            )
        })
        .filter_map(|e| Some((&*e.id, logon_source(e)?.0)))
        .collect();
    let incidents = group_incidents(&findings, &logons, &sessions, &made_from);
    MailboxReport {
        mailbox: mailbox.mailbox.clone(),
        activities: events.len(),
        first: first.map(|t| stamp(Some(t))),
        last: last.map(|t| stamp(Some(t))),
        findings,
        incidents,
        tables,
        activity_by_app: by_day,
        logons_by_ip: daily(
            events
                .iter()
                .filter(|e| is_logon(e))
                .filter_map(|e| logon_source(e).map(|(ip, _)| (e.time, ip))),
        ),
        logons_by_country: logons.by_country,
        sessions: Vec::new(),
    }
}

/// One incident per flagged source: its logon finding, and every other finding that cites
/// what its sessions did, or what was made from it (each finding in at most one incident).
fn group_incidents(
    findings: &[Finding],
    logons: &techniques::logons::Logons,
    sessions: &[techniques::sessions::Session<'_>],
    made_from: &HashMap<&str, String>,
) -> Vec<Incident> {
    let mut placed: HashSet<usize> = HashSet::default();
    let mut incidents = Vec::new();
    for (index, finding) in findings.iter().enumerate() {
        if finding.category != Category::Logon || finding.severity == Severity::Low {
            continue;
        }
        let Some((ip, _)) = logons
            .sources
            .iter()
            .filter(|(ip, _)| logons.flagged.contains(*ip))
            .find(|(_, source)| source.ids == finding.activity_ids)
        else {
            continue;
        };
        let session_ids: HashSet<&str> = sessions
            .iter()
            .filter(|s| &s.ip == ip)
            .flat_map(|s| s.ids.iter().map(String::as_str))
            .collect();
        placed.insert(index);
        let mut members = vec![index];
        for (other, related) in findings.iter().enumerate() {
            let cites_session = related.activity_ids.iter().any(|id| {
                session_ids.contains(id.as_str()) || made_from.get(id.as_str()) == Some(ip)
            });
            if other != index
                && !placed.contains(&other)
                && related.category != Category::Logon
                && cites_session
            {
                placed.insert(other);
                members.push(other);
            }
        }
        incidents.push(Incident {
            source: ip.clone(),
            session: None,
            severity: finding.severity,
            findings: members,
        });
    }
    incidents
}

pub(super) fn severity_rank(text: &str) -> u8 {
    match text {
        "high" => 0,
        "medium" => 1,
        "low" => 2,
        _ => 3,
    }
}

pub(super) fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

pub(super) fn daily<S: AsRef<str>>(
    points: impl Iterator<Item = (Option<DateTime<Utc>>, S)>,
) -> DailySeries {
    let mut counts: BTreeMap<String, BTreeMap<chrono::NaiveDate, u64>> = BTreeMap::new();
    let mut days: BTreeSet<chrono::NaiveDate> = BTreeSet::new();
    for (time, name) in points {
        let Some(time) = time else { continue };
        let day = time.date_naive();
        days.insert(day);
        let name = name.as_ref();
        if !counts.contains_key(name) {
            counts.insert(name.to_string(), BTreeMap::new());
        }
        if let Some(by_day) = counts.get_mut(name) {
            *by_day.entry(day).or_default() += 1;
        }
    }
    let series = counts
        .into_iter()
        .map(|(name, by_day)| {
            (
                name,
                days.iter()
                    .map(|d| by_day.get(d).copied().unwrap_or(0))
                    .collect(),
            )
        })
        .collect();
    DailySeries {
        days: days
            .iter()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect(),
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_property_times_read_as_iso_8601() {
        assert_eq!(
            normalized_time("05/01/2018 10:00:00 AM"),
            "2018-05-01T10:00:00Z"
        );
        assert_eq!(
            normalized_time("12/31/2017 11:59:59 PM"),
            "2017-12-31T23:59:59Z"
        );
        assert_eq!(normalized_time("not a time"), "not a time");
    }
}
