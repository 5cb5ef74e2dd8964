//! 7. Suspicious sessions: what follows each flagged logon, as one timeline.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::super::analyze::*;
use super::super::events::Event;
use super::super::query_xml::search_query;
use crate::triage::category::Category;

/// A finding per session, as severe as the source that opened it.
pub fn session_findings(
    sessions: &[Session<'_>],
    severities: &HashMap<String, Severity>,
    delivered: &HashMap<&str, &Event>,
    findings: &mut Vec<Finding>,
    tables: &mut Vec<Table>,
) {
    let mut session_rows = Vec::new();
    for session in sessions {
        let searches = session
            .events
            .iter()
            .filter(|e| &*e.kind == "SearchResult")
            .count();
        let reads = session
            .events
            .iter()
            .filter(|e| READ_KINDS.contains(&&*e.kind))
            .count();
        findings.push(Finding {
            severity: severities.get(&session.ip).copied().unwrap_or(Severity::High),
            category: Category::Session,
            title: format!("Suspicious session from {} at {}", session.ip, stamp(session.start)),
            detail: format!("{} activities ({searches} searches, {reads} reads) until a logon from a known source", session.events.len()),
            activity_ids: session.ids.clone(),
        });
        for event in &session.events {
            let what = event
                .prop("Subject")
                .map(str::to_string)
                .or_else(|| event.prop("Query").and_then(search_query).map(|q| q.text))
                .or_else(|| {
                    delivered
                        .get(&*event.item)
                        .and_then(|d| d.prop("Subject"))
                        .map(str::to_string)
                })
                .or_else(|| event.prop("TargetFolder").map(|f| format!("to {f}")))
                .unwrap_or_default();
            session_rows.push(vec![
                session.ip.clone(),
                stamp(event.time),
                event.kind.to_string(),
                event.app.to_string(),
                what,
                event.id.to_string(),
            ]);
        }
    }
    tables.push(Table {
        name: "suspicious_sessions",
        columns: vec!["SourceIP", "Time", "Activity", "App", "What", "Id"],
        rows: cells(session_rows),
    });
}

pub struct Session<'a> {
    pub ip: String,
    pub start: Option<DateTime<Utc>>,
    pub events: Vec<&'a Event>,
    pub ids: Vec<String>,
}

/// For each burst of logons from a flagged source: the activities of the client sessions those
/// logons opened, until a logon from a source that is not flagged.
///
/// A ServerLogon and the Web Logon that follows it often carry different ClientSessionIds (the
/// blog: session ids are of limited use), so every logon of the burst (within a minute)
/// contributes its session id.
pub fn suspicious_sessions<'a>(
    events: &'a [Event],
    sources: &BTreeMap<String, Source>,
    flagged: &HashSet<String>,
) -> Vec<Session<'a>> {
    let mut sessions = Vec::new();
    for ip in flagged {
        let Some(source) = sources.get(ip) else {
            continue;
        };
        let mut bursts: Vec<Vec<usize>> = Vec::new();
        for &index in &source.logon_indexes {
            let joins_last = bursts.last().and_then(|b| b.first()).is_some_and(|&first| {
                matches!((events[first].time, events[index].time), (Some(a), Some(b)) if b - a <= Duration::minutes(1))
            });
            match bursts.last_mut() {
                Some(burst) if joins_last => burst.push(index),
                _ => bursts.push(vec![index]),
            }
        }
        for burst in bursts {
            let start = burst[0];
            let session_ids: HashSet<&str> = burst
                .iter()
                .map(|&i| &*events[i].session)
                .filter(|s| !s.is_empty())
                .collect();
            let mut session = Session {
                ip: ip.clone(),
                start: events[start].time,
                events: Vec::new(),
                ids: Vec::new(),
            };
            for (index, event) in events.iter().enumerate().skip(start) {
                if burst.contains(&index) {
                    session.ids.push(event.id.to_string());
                    session.events.push(event);
                    continue;
                }
                if is_logon(event)
                    && logon_source(event).is_some_and(|(other, _)| !flagged.contains(&other))
                {
                    break;
                }
                let belongs = if session_ids.is_empty() {
                    &*event.app != "Exchange"
                } else {
                    session_ids.contains(&*event.session)
                };
                if belongs && !is_logon(event) {
                    session.ids.push(event.id.to_string());
                    session.events.push(event);
                }
            }
            sessions.push(session);
        }
    }
    sessions.sort_by_key(|s| s.start);
    sessions
}
