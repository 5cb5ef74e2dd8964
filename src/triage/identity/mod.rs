//! Session triage: the Entra ID sign-ins and directory audits of a mailbox's person joined to
//! what their sessions did in the mailbox. Which sign-in session is the attacker's, from where
//! it was replayed, what it read, what it left behind, whether it is still live, and what to
//! remove, in order.
//!
//! `evidence` reads the files (a person at a time, the tenant-wide part small), `joins` puts
//! each mailbox record in its session (and says which joins Microsoft's documents confirm),
//! `sessions` scores each session, `persistence` finds what it left, `response` the exposure,
//! liveness, remediation list and timeline, `spray` password spraying.

pub mod evidence;
pub mod joins;
pub mod persistence;
pub mod records;
pub mod response;
pub mod sessions;
pub mod spray;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

pub use evidence::{IdentityEvidence, PersonEvidence};
use joins::{Join, SessionIndex};
use persistence::Persistence;
use records::SignIn;
use sessions::{Baseline, SessionVerdict};

use super::analyze::{stamp, AttackerSession, Finding, Incident, MailboxReport, Severity, Table};
use super::category::Category;
use super::events::MailboxEvents;

/// Adds to `report` (the mailbox's own analysis) what `person`'s identity evidence shows.
pub fn analyze_identity(
    report: &mut MailboxReport,
    mailbox: &MailboxEvents,
    person: &PersonEvidence,
    tenant: &IdentityEvidence,
) {
    let name = mailbox.mailbox.to_lowercase();
    let events = &mailbox.events;
    let baseline = Baseline::new(&person.signins);
    let groups = sessions::group(&person.signins);
    let keyed: Vec<(&str, Vec<&SignIn>)> = groups
        .iter()
        .map(|(key, signins)| (key.as_str(), signins.clone()))
        .collect();
    let joined_of: Vec<Option<(&str, Join)>> = SessionIndex::new(&keyed).join_all(events);
    let mut by_session: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, joined) in joined_of.iter().enumerate() {
        if let Some((key, _)) = joined {
            by_session.entry(key).or_default().push(i);
        }
    }
    let networks: HashMap<&str, String> = person
        .signins
        .iter()
        .map(|s| (s.ip.as_str(), s.network()))
        .collect();
    let network_of = |ip: &str| {
        networks
            .get(ip)
            .cloned()
            .unwrap_or_else(|| records::prefix(ip))
    };
    let verdicts: Vec<SessionVerdict> = keyed
        .iter()
        .map(|(key, signins)| {
            let joined: Vec<_> = by_session
                .get(key)
                .into_iter()
                .flatten()
                .filter_map(|&i| Some((&events[i], joined_of[i]?.1)))
                .collect();
            sessions::score(key, signins, &joined, &baseline, &network_of)
        })
        .collect();
    let attackers: Vec<&SessionVerdict> = verdicts
        .iter()
        .filter(|v| v.severity != Severity::Low)
        .collect();
    let attacker_keys: HashSet<&str> = attackers.iter().map(|v| v.key.as_str()).collect();
    let severity_of: HashMap<&str, Severity> = attackers
        .iter()
        .map(|v| (v.key.as_str(), v.severity))
        .collect();
    let session_of = |i: usize| {
        joined_of[i]
            .filter(|(key, _)| attacker_keys.contains(key))
            .map(|(key, join)| (key.to_string(), join))
    };
    let left = persistence::persistence(&name, &person.audits, events, &attackers, &session_of);
    let end = [
        events.iter().rev().find_map(|e| e.time),
        person.signins.iter().filter_map(|s| s.time).max(),
        person.audits.iter().filter_map(|a| a.time).max(),
        tenant.newest,
    ]
    .into_iter()
    .flatten()
    .max();

    let first_new = report.findings.len();
    let mut new: Vec<Finding> = Vec::new();
    let mut incidents: Vec<Incident> = Vec::new();
    let placed: HashSet<usize> = report
        .incidents
        .iter()
        .flat_map(|i| i.findings.iter().copied())
        .collect();
    let mut exposure_rows = Vec::new();
    let mut timeline_signins: Vec<(&str, &SignIn)> = Vec::new();
    let mut timeline_joined: Vec<(&str, usize, Join)> = Vec::new();
    // Sessions used from several networks or countries that stayed low: one finding that
    // says why (the confounders), not one a day.
    let explained: Vec<&SessionVerdict> = verdicts
        .iter()
        .filter(|v| v.severity == Severity::Low)
        .filter(|v| v.networks.len() > 1 || v.countries.len() > 1)
        .collect();
    if let Some(example) = explained.first() {
        new.push(Finding {
            severity: Severity::Low,
            category: Category::StolenSession,
            title: format!(
                "{} sessions used from several networks or countries, explained",
                explained.len()
            ),
            detail: format!(
                "the first, {} at {}: {}",
                example.key,
                stamp(example.first),
                points_text(example)
            ),
            activity_ids: explained
                .iter()
                .flat_map(|v| v.signin_ids.iter().cloned())
                .collect(),
        });
    }
    for verdict in &verdicts {
        if verdict.severity == Severity::Low {
            continue;
        }
        let key = verdict.key.as_str();
        let joined: Vec<usize> = by_session.get(key).cloned().unwrap_or_default();
        let mut counts: BTreeMap<Join, usize> = BTreeMap::new();
        for &i in &joined {
            if let Some((_, join)) = joined_of[i] {
                *counts.entry(join).or_default() += 1;
            }
        }
        let last_event = joined.iter().filter_map(|&i| events[i].time).max();
        let (last_seen, live) = response::liveness(verdict.last_signin.max(last_event), end);
        let kinds = action_counts(joined.iter().map(|&i| &*events[i].kind));
        let joins_text = counts
            .iter()
            .map(|(join, n)| format!("{n} {}", join.describe()))
            .collect::<Vec<_>>()
            .join(", ");
        let category = if verdict.aitm {
            Category::Aitm
        } else if verdict.device_code {
            Category::DeviceCode
        } else {
            Category::StolenSession
        };
        let replay: Vec<String> = verdict.replay_addresses.iter().cloned().collect();
        let mut members = vec![first_new + new.len()];
        let mut ids = verdict.signin_ids.clone();
        let mut seen: HashSet<&str> = HashSet::new();
        ids.extend(
            joined
                .iter()
                .map(|&i| &*events[i].id)
                .filter(|id| seen.insert(id))
                .map(str::to_string),
        );
        new.push(Finding {
            severity: verdict.severity,
            category,
            title: format!(
                "Attacker session {key} of {name}: signed in {}, replayed from {}",
                stamp(verdict.first),
                if replay.is_empty() {
                    "-".to_string()
                } else {
                    replay.join(", ")
                }
            ),
            detail: format!(
                "{}; in the mailbox: {} ({}); last seen {}, {}",
                points_text(verdict),
                if kinds.is_empty() {
                    "nothing joined".to_string()
                } else {
                    kinds
                },
                if joins_text.is_empty() {
                    "-".to_string()
                } else {
                    joins_text
                },
                stamp(last_seen),
                if live {
                    "STILL LIVE (within the last day of the evidence)"
                } else {
                    "not seen in the last day of the evidence"
                }
            ),
            activity_ids: ids,
        });
        for p in left
            .iter()
            .filter(|p| p.session.as_ref().is_some_and(|(s, _)| s == key))
        {
            members.push(first_new + new.len());
            new.push(persistence_finding(p, verdict.severity));
        }
        let session_joined: Vec<(&str, usize)> = joined.iter().map(|&i| (key, i)).collect();
        let rows = response::exposure(events, &session_joined);
        if !rows.is_empty() {
            let (mut binds, mut syncs, mut throttled) = (0, 0, 0);
            for row in &rows {
                match &*row[6] {
                    "sync" => syncs += 1,
                    "throttled" => throttled += 1,
                    _ => binds += 1,
                }
            }
            members.push(first_new + new.len());
            new.push(Finding {
                severity: verdict.severity,
                category: Category::Exposure,
                title: format!("What session {key} read: {binds} messages, {syncs} folders synced"),
                detail: format!(
                    "{binds} messages read (by InternetMessageId), {syncs} folders synced (every message in them){}; list them with --exposed FILE.csv",
                    if throttled > 0 {
                        format!(", throttled {throttled} times (up to 24 hours of reads unaudited each)")
                    } else {
                        String::new()
                    }
                ),
                activity_ids: rows.iter().map(|r| r[7].to_string()).collect::<BTreeSet<_>>().into_iter().collect(),
            });
            exposure_rows.extend(rows);
        }
        // The mailbox's own findings about what the session did join its incident.
        let joined_ids: HashSet<&str> = joined.iter().map(|&i| &*events[i].id).collect();
        for (index, finding) in report.findings.iter().enumerate() {
            if !placed.contains(&index)
                && !incidents
                    .iter()
                    .any(|i: &Incident| i.findings.contains(&index))
                && finding.severity != Severity::Low
                && finding
                    .activity_ids
                    .iter()
                    .any(|id| joined_ids.contains(id.as_str()))
            {
                members.push(index);
            }
        }
        incidents.push(Incident {
            source: if replay.is_empty() {
                verdict
                    .addresses
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                replay.join(", ")
            },
            session: Some(key.to_string()),
            severity: verdict.severity,
            findings: members,
        });
        timeline_signins.extend(
            groups
                .iter()
                .filter(|(k, _)| k == key)
                .flat_map(|(_, s)| s.iter().map(|s| (key, *s))),
        );
        timeline_joined.extend(
            joined
                .iter()
                .filter_map(|&i| Some((key, i, joined_of[i]?.1))),
        );
        report.sessions.push(AttackerSession {
            session: key.to_string(),
            person: name.clone(),
            severity: verdict.severity,
            points: verdict.points,
            reasons: verdict.reasons.clone(),
            explained: verdict.explained.clone(),
            addresses: verdict.addresses.iter().cloned().collect(),
            replay_addresses: replay,
            tokens: verdict.tokens.iter().cloned().collect(),
            first_seen: stamp(verdict.first),
            last_seen: stamp(last_seen),
            live,
            evidence_ends: stamp(end),
            joins: counts.iter().map(|(join, n)| (join.name(), *n)).collect(),
            signin_ids: verdict.signin_ids.clone(),
        });
    }
    // What was left behind outside any attacker session: the directory's listed low (a new
    // phone, a consent), the audit log switched off or permissions given medium; rules and
    // forwarding are the mailbox's own findings already.
    for p in left.iter().filter(|p| p.session.is_none()) {
        let severity = match p.category {
            Category::AuditDisabled | Category::MailboxPermission => Severity::Medium,
            Category::Rule | Category::Forwarding => continue,
            _ => Severity::Low,
        };
        new.push(persistence_finding(p, severity));
    }
    new.extend(spray::spraying(&name, tenant));
    let tied: Vec<&Persistence> = left
        .iter()
        .filter(|p| {
            p.session
                .as_ref()
                .is_some_and(|(s, _)| severity_of.get(s.as_str()) == Some(&Severity::High))
        })
        .collect();
    let high: Vec<&SessionVerdict> = attackers
        .iter()
        .copied()
        .filter(|v| v.severity == Severity::High)
        .collect();
    if !high.is_empty() {
        report
            .tables
            .push(response::remediation(&name, &high, &tied));
        let first_signin = high.iter().filter_map(|v| v.first).min();
        let phish = phish_before(report, mailbox, first_signin);
        report.tables.push(response::timeline(
            phish.as_ref().map(|(e, t)| (*e, t.as_str())),
            &timeline_signins,
            events,
            &timeline_joined,
            &tied,
        ));
    }
    if !exposure_rows.is_empty() {
        report.tables.push(Table {
            name: "exposure",
            columns: response::EXPOSURE_COLUMNS.to_vec(),
            rows: exposure_rows,
        });
    }
    if !left.is_empty() {
        report.tables.push(persistence_table(&left));
    }
    report.add_findings(new, incidents);
}

/// The earliest record of a lure (a medium or high attachment finding) before the first
/// attacker sign-in, with the finding's title.
fn phish_before<'a>(
    report: &MailboxReport,
    mailbox: &'a MailboxEvents,
    first: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<(&'a super::events::Event, String)> {
    let first = first?;
    let findings: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.category == Category::Attachment && f.severity != Severity::Low)
        .collect();
    let cited: HashMap<&str, &Finding> = findings
        .iter()
        .flat_map(|f| f.activity_ids.iter().map(move |id| (id.as_str(), *f)))
        .collect();
    mailbox
        .events
        .iter()
        .filter(|e| e.time.is_some_and(|t| t <= first))
        .find(|e| cited.contains_key(&*e.id))
        .map(|e| (e, cited[&*e.id].title.clone()))
}

fn points_text(verdict: &SessionVerdict) -> String {
    let mut text = format!("{} points: {}", verdict.points, verdict.reasons.join("; "));
    if verdict.reasons.is_empty() {
        text = format!("{} points", verdict.points);
    }
    if !verdict.explained.is_empty() {
        text.push_str(&format!("; explained: {}", verdict.explained.join("; ")));
    }
    text
}

/// `3 searches, 40 reads, ...` of a session's records.
fn action_counts<'a>(kinds: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for kind in kinds {
        let family = match kind {
            "SearchResult" | "Search" => "searches",
            "MailItemsAccessed" | "ReadingPaneDisplayStart" | "MarkAsRead" => "reads",
            "MailItemsSync" => "folder syncs",
            "MailItemsThrottled" => "throttlings",
            "MessageSent" | "Reply" | "ReplyAll" | "Forward" => "sends",
            "Move" => "moves",
            "Delete" => "deletes",
            "InboxRule" => "rules",
            "MailboxForwarding" => "forwarding changes",
            "Logon" | "ServerLogon" => "logons",
            _ => "other",
        };
        *counts.entry(family).or_default() += 1;
    }
    counts
        .iter()
        .map(|(family, n)| format!("{n} {family}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn persistence_finding(p: &Persistence, severity: Severity) -> Finding {
    let made = match &p.session {
        Some((session, join)) => {
            format!("made in attacker session {session} ({})", join.describe())
        }
        None => "not tied to an attacker session".to_string(),
    };
    Finding {
        severity,
        category: p.category,
        title: format!("{} at {}: {}", p.what, stamp(p.time), p.object),
        detail: format!("{} ({}), {made}", p.what, p.log),
        activity_ids: vec![p.id.clone()],
    }
}

fn persistence_table(left: &[Persistence]) -> Table {
    Table {
        name: "persistence",
        columns: vec![
            "when",
            "kind",
            "what",
            "object",
            "log",
            "session",
            "joined",
            "evidence_id",
        ],
        rows: left
            .iter()
            .map(|p| {
                [
                    stamp(p.time),
                    p.category.name().to_string(),
                    p.what.clone(),
                    p.object.clone(),
                    p.log.to_string(),
                    p.session
                        .as_ref()
                        .map(|(s, _)| s.clone())
                        .unwrap_or_default(),
                    p.session
                        .as_ref()
                        .map(|(_, j)| j.describe().to_string())
                        .unwrap_or_default(),
                    p.id.clone(),
                ]
                .into_iter()
                .map(super::events::Shared::from)
                .collect()
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
