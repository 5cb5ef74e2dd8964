//! The findings of one mailbox, each naming the activity Ids that support it.
//!
//! "New" is judged against the mailbox's own baseline: the first 60 % of the time its
//! activities span. A source first seen after that is new; one seen on at most two days and in
//! under 2 % of logons is rare.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::events::{Event, MailboxEvents};
use super::geo::GeoLookup;
use super::query_xml::raw_query;

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

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub category: &'static str,
    pub title: String,
    pub detail: String,
    pub activity_ids: Vec<String>,
}

/// A table of the report (also one CSV file).
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
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
    pub tables: Vec<Table>,
    pub activity_by_app: DailySeries,
    pub logons_by_ip: DailySeries,
    pub logons_by_country: BTreeMap<String, u64>,
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

const HIGH_RISK_EXTENSIONS: &[&str] = &[
    "htm", "html", "hta", "exe", "js", "jse", "vbs", "vbe", "wsf", "iso", "img", "lnk", "scr",
    "bat", "cmd", "ps1", "jar", "msi", "docm", "xlsm", "pptm", "svg", "one", "vhd",
];
/// Common in ordinary mail, so listed (low) rather than raised.
const LOW_RISK_EXTENSIONS: &[&str] = &["zip", "rar", "7z", "gz", "pdf", "doc", "xls", "rtf"];
const HIDING_FOLDERS_HIGH: &[&str] = &["rss feeds", "rss subscriptions", "conversation history"];
const HIDING_FOLDERS_MEDIUM: &[&str] = &["archive", "junk email", "junk", "deleted items"];
const READ_KINDS: &[&str] = &[
    "ReadingPaneDisplayStart",
    "MarkAsRead",
    "Reply",
    "ReplyAll",
    "Forward",
];

fn stamp(time: Option<DateTime<Utc>>) -> String {
    time.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The source of a logon: the first address of an X-Forwarded-For chain, and the whole chain.
fn logon_source(event: &Event) -> Option<(String, String)> {
    let chain = event.prop("ClientIP").or_else(|| event.prop("IPAddress"))?;
    let client = chain.split(',').next()?.trim().to_string();
    Some((client, chain.to_string()))
}

fn is_logon(event: &Event) -> bool {
    matches!(event.kind.as_str(), "ServerLogon" | "Logon")
}

fn user_agent(event: &Event) -> Option<&str> {
    event.prop("UserAgent").or_else(|| event.prop("Browser"))
}

/// Per-source facts.
#[derive(Default)]
struct Source {
    chain: BTreeSet<String>,
    apps: BTreeSet<String>,
    agents: BTreeSet<String>,
    days: BTreeSet<String>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    ids: Vec<String>,
    logon_indexes: Vec<usize>,
}

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

    // 1. Logons by source.
    let mut sources: BTreeMap<String, Source> = BTreeMap::new();
    let mut agent_first: HashMap<String, Option<DateTime<Utc>>> = HashMap::new();
    let mut logons = 0usize;
    for (index, event) in events.iter().enumerate().filter(|(_, e)| is_logon(e)) {
        logons += 1;
        if let Some(agent) = user_agent(event) {
            let seen = agent_first.entry(agent.to_string()).or_insert(event.time);
            if seen.is_none() {
                *seen = event.time;
            }
        }
        let Some((client, chain)) = logon_source(event) else {
            continue;
        };
        let source = sources.entry(client).or_default();
        if chain.contains(',') {
            source.chain.insert(chain);
        }
        source.apps.insert(event.app.clone());
        if let Some(agent) = user_agent(event) {
            source.agents.insert(agent.to_string());
        }
        if let Some(t) = event.time {
            source.days.insert(t.format("%Y-%m-%d").to_string());
            source.first = Some(source.first.map_or(t, |f| f.min(t)));
            source.last = Some(source.last.map_or(t, |l| l.max(t)));
        }
        source.ids.push(event.id.clone());
        source.logon_indexes.push(index);
    }
    let mut country_first: HashMap<String, Option<DateTime<Utc>>> = HashMap::new();
    let mut asn_first: HashMap<String, Option<DateTime<Utc>>> = HashMap::new();
    let geo_of = |ip: &str| -> (Option<String>, Option<String>) {
        match ip.parse::<IpAddr>() {
            Ok(addr) => (settings.geo.country(addr), settings.geo.asn(addr)),
            Err(_) => (None, None),
        }
    };
    for (ip, source) in &sources {
        let (country, asn) = geo_of(ip);
        if let Some(country) = country {
            let seen = country_first.entry(country).or_insert(source.first);
            *seen = (*seen).min(source.first).or(source.first);
        }
        if let Some(asn) = asn {
            let seen = asn_first.entry(asn).or_insert(source.first);
            *seen = (*seen).min(source.first).or(source.first);
        }
    }
    let mut flagged_ips: HashSet<String> = HashSet::new();
    let mut logon_rows = Vec::new();
    let mut logons_by_country: BTreeMap<String, u64> = BTreeMap::new();
    for (ip, source) in &sources {
        let (country, asn) = geo_of(ip);
        if let Some(country) = &country {
            *logons_by_country.entry(country.clone()).or_default() += source.ids.len() as u64;
        }
        let mut reasons = Vec::new();
        let new_ip = is_new(source.first);
        if new_ip {
            reasons.push("new source IP".to_string());
        }
        let rare =
            source.days.len() <= 2 && source.ids.len() as f64 <= (logons as f64 * 0.02).max(1.0);
        if rare && !new_ip {
            reasons.push("rarely used source IP".to_string());
        }
        let new_agents: Vec<&String> = source
            .agents
            .iter()
            .filter(|a| is_new(agent_first.get(*a).copied().flatten()))
            .collect();
        if !new_agents.is_empty() {
            reasons.push(format!(
                "new user agent {}",
                new_agents
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let foreign = match &country {
            Some(c) if !settings.home_countries.is_empty() => !settings
                .home_countries
                .iter()
                .any(|h| h.eq_ignore_ascii_case(c)),
            _ => false,
        };
        if foreign {
            reasons.push(format!(
                "country {} outside --home-country",
                country.as_deref().unwrap_or("")
            ));
        }
        if let Some(c) = &country {
            if is_new(country_first.get(c).copied().flatten()) {
                reasons.push(format!("new country {c}"));
            }
        }
        if let Some(a) = &asn {
            if is_new(asn_first.get(a).copied().flatten()) {
                reasons.push(format!("new network {a}"));
            }
        }
        let mail_protocol = source.apps.iter().any(|a| a == "IMAP4" || a == "POP3");
        let severity = if new_ip && (reasons.len() > 1 || mail_protocol || rare)
            || (foreign && (new_ip || rare))
        {
            Some(Severity::High)
        } else if new_ip || foreign || (rare && !new_agents.is_empty()) {
            Some(Severity::Medium)
        } else if rare {
            Some(Severity::Low)
        } else {
            None
        };
        if matches!(severity, Some(Severity::High) | Some(Severity::Medium)) {
            flagged_ips.insert(ip.clone());
        }
        if let Some(severity) = severity {
            let place = [country.clone(), asn.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            findings.push(Finding {
                severity,
                category: "logon",
                title: format!(
                    "Logons from {ip}{}",
                    if place.is_empty() {
                        String::new()
                    } else {
                        format!(" ({place})")
                    }
                ),
                detail: format!(
                    "{}; {} logons via {} between {} and {}{}",
                    reasons.join("; "),
                    source.ids.len(),
                    source.apps.iter().cloned().collect::<Vec<_>>().join("/"),
                    stamp(source.first),
                    stamp(source.last),
                    if source.chain.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; X-Forwarded-For chain {}",
                            source.chain.iter().cloned().collect::<Vec<_>>().join(" | ")
                        )
                    }
                ),
                activity_ids: source.ids.clone(),
            });
        }
        logon_rows.push(vec![
            ip.clone(),
            source.chain.iter().cloned().collect::<Vec<_>>().join(" | "),
            country.unwrap_or_default(),
            asn.unwrap_or_default(),
            source.apps.iter().cloned().collect::<Vec<_>>().join(", "),
            source
                .agents
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(" | "),
            stamp(source.first),
            stamp(source.last),
            source.ids.len().to_string(),
            severity.map(|s| s.as_str()).unwrap_or("").to_string(),
        ]);
    }
    logon_rows.sort_by(|a, b| {
        severity_rank(&a[9]).cmp(&severity_rank(&b[9])).then(
            b[8].parse::<u64>()
                .unwrap_or(0)
                .cmp(&a[8].parse::<u64>().unwrap_or(0)),
        )
    });
    tables.push(Table {
        name: "logons",
        columns: vec![
            "SourceIP",
            "ForwardedChain",
            "Country",
            "ASN",
            "Apps",
            "UserAgents",
            "FirstSeen",
            "LastSeen",
            "Logons",
            "Flag",
        ],
        rows: logon_rows,
    });

    // 7 (first, as the other findings use it). Suspicious sessions: what follows a flagged logon.
    let session_of = suspicious_sessions(events, &sources, &flagged_ips);
    let suspicious_ids: HashSet<&str> = session_of
        .iter()
        .flat_map(|s| s.ids.iter().map(String::as_str))
        .collect();

    // 2. Searches.
    let keywords: Vec<String> = settings.keywords.iter().map(|k| k.to_lowercase()).collect();
    let mut search_rows = Vec::new();
    let mut last_logon_ip: Option<String> = None;
    for event in events {
        if is_logon(event) {
            last_logon_ip = logon_source(event).map(|(ip, _)| ip);
            continue;
        }
        if event.kind != "SearchResult" {
            continue;
        }
        let Some(query) = event.prop("Query").and_then(raw_query) else {
            continue;
        };
        let lower = query.text.to_lowercase();
        let terms: Vec<&String> = keywords
            .iter()
            .filter(|k| contains_term(&lower, k))
            .collect();
        let in_session = suspicious_ids.contains(event.id.as_str());
        if !terms.is_empty() {
            findings.push(Finding {
                severity: if in_session {
                    Severity::High
                } else {
                    Severity::Medium
                },
                category: "search",
                title: format!("Search for {:?}", query.text),
                detail: format!(
                    "finance terms {}; {} via {} after a logon from {}{}",
                    terms
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    stamp(event.time),
                    event.app,
                    last_logon_ip.as_deref().unwrap_or("an unknown source"),
                    if in_session {
                        " (in a suspicious session)"
                    } else {
                        ""
                    }
                ),
                activity_ids: vec![event.id.clone()],
            });
        }
        search_rows.push(vec![
            stamp(event.time),
            event.app.clone(),
            query.text.clone(),
            if query.truncated {
                "yes".into()
            } else {
                String::new()
            },
            last_logon_ip.clone().unwrap_or_default(),
            terms
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            event.id.clone(),
        ]);
    }
    tables.push(Table {
        name: "searches",
        columns: vec![
            "Time",
            "App",
            "RawQuery",
            "CutOff",
            "PrecedingLogonIP",
            "FinanceTerms",
            "Id",
        ],
        rows: search_rows,
    });

    // 3. Client types.
    let mut app_counts: BTreeMap<String, u64> = BTreeMap::new();
    for event in events {
        *app_counts.entry(event.app.clone()).or_default() += 1;
    }
    let user_actions: u64 = app_counts
        .iter()
        .filter(|(a, _)| a.as_str() != "Exchange")
        .map(|(_, n)| n)
        .sum();
    let mut app_rows = Vec::new();
    for (app, count) in &app_counts {
        let share = if user_actions > 0 {
            *count as f64 / user_actions as f64
        } else {
            0.0
        };
        let rare = app != "Exchange" && share < 0.02;
        if rare {
            let ids: Vec<String> = events
                .iter()
                .filter(|e| &e.app == app)
                .map(|e| e.id.clone())
                .take(200)
                .collect();
            findings.push(Finding {
                severity: Severity::Low,
                category: "client",
                title: format!("Rarely used client type {app}"),
                detail: format!(
                    "{count} activities, {:.1} % of the mailbox's own activity",
                    share * 100.0
                ),
                activity_ids: ids,
            });
        }
        app_rows.push(vec![
            app.clone(),
            count.to_string(),
            format!("{:.1}", share * 100.0),
            if rare { "rare".into() } else { String::new() },
        ]);
    }
    tables.push(Table {
        name: "client_types",
        columns: vec!["AppIdType", "Activities", "PercentOfUserActivity", "Flag"],
        rows: app_rows,
    });
    let by_day = daily(events.iter().map(|e| (e.time, e.app.clone())));
    let mut day_rows = Vec::new();
    for (index, day) in by_day.days.iter().enumerate() {
        for (app, counts) in &by_day.series {
            if counts[index] > 0 {
                day_rows.push(vec![day.clone(), app.clone(), counts[index].to_string()]);
            }
        }
    }
    tables.push(Table {
        name: "client_types_by_day",
        columns: vec!["Day", "AppIdType", "Activities"],
        rows: day_rows,
    });
    for event in events
        .iter()
        .filter(|e| is_logon(e) && (e.app == "IMAP4" || e.app == "POP3"))
    {
        findings.push(Finding {
            severity: Severity::High,
            category: "client",
            title: format!("{} logon from {}: possible full-mailbox sync", event.app, logon_source(event).map(|s| s.0).unwrap_or_default()),
            detail: format!(
                "{}: mail protocols synchronize the whole mailbox on first logon, exfiltrating it without any read events",
                stamp(event.time)
            ),
            activity_ids: vec![event.id.clone()],
        });
    }

    // 4. Attachments.
    let delivered: HashMap<&str, &Event> = events
        .iter()
        .filter(|e| e.kind == "MessageDelivered" && !e.item.is_empty())
        .map(|e| (e.item.as_str(), e))
        .collect();
    let mut attachment_rows = Vec::new();
    let mut risky_items: HashMap<&str, Severity> = HashMap::new();
    for event in events.iter().filter(|e| e.kind == "MessageDelivered") {
        let Some(detail) = event.prop("AttachmentDetail") else {
            continue;
        };
        let extensions = attachment_extensions(detail);
        let severity = if extensions
            .iter()
            .any(|x| HIGH_RISK_EXTENSIONS.contains(&x.as_str()))
        {
            Severity::High
        } else if extensions
            .iter()
            .any(|x| LOW_RISK_EXTENSIONS.contains(&x.as_str()))
        {
            Severity::Low
        } else {
            continue;
        };
        risky_items.insert(event.item.as_str(), severity);
        let sender = event
            .prop("SenderSmtpAddress")
            .or(event.prop("From"))
            .unwrap_or("");
        let subject = event.prop("Subject").unwrap_or("");
        findings.push(Finding {
            severity,
            category: "attachment",
            title: format!("Risky attachment {detail:?} from {sender}"),
            detail: format!("delivered {}: subject {subject:?}", stamp(event.time)),
            activity_ids: vec![event.id.clone()],
        });
        attachment_rows.push(vec![
            stamp(event.time),
            sender.to_string(),
            subject.to_string(),
            detail.to_string(),
            "delivered".into(),
            severity.as_str().into(),
            event.id.clone(),
        ]);
    }
    for event in events.iter().filter(|e| e.kind == "OpenedAnAttachment") {
        let delivery = delivered.get(event.item.as_str());
        let severity = risky_items.get(event.item.as_str()).copied();
        let subject = delivery.and_then(|d| d.prop("Subject")).unwrap_or("");
        let detail = delivery
            .and_then(|d| d.prop("AttachmentDetail"))
            .unwrap_or("");
        if severity == Some(Severity::High) {
            let mut ids = vec![event.id.clone()];
            ids.extend(delivery.map(|d| d.id.clone()));
            findings.push(Finding {
                severity: Severity::High,
                category: "attachment",
                title: format!("Risky attachment opened: {detail:?}"),
                detail: format!(
                    "{} via {}: subject {subject:?}",
                    stamp(event.time),
                    event.app
                ),
                activity_ids: ids,
            });
        }
        attachment_rows.push(vec![
            stamp(event.time),
            String::new(),
            subject.to_string(),
            detail.to_string(),
            "opened".into(),
            severity.map(|s| s.as_str()).unwrap_or("").into(),
            event.id.clone(),
        ]);
    }
    tables.push(Table {
        name: "attachments",
        columns: vec![
            "Time",
            "Sender",
            "Subject",
            "AttachmentDetail",
            "Event",
            "Risk",
            "Id",
        ],
        rows: attachment_rows,
    });

    // 5. Reads joined to their delivery.
    let mut read_rows = Vec::new();
    let mut by_message: BTreeMap<&str, MessageReads> = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| READ_KINDS.contains(&e.kind.as_str()))
    {
        let delivery = delivered.get(event.item.as_str());
        let subject = delivery
            .and_then(|d| d.prop("Subject"))
            .unwrap_or("")
            .to_string();
        let sender = delivery
            .and_then(|d| d.prop("SenderSmtpAddress"))
            .or(event.prop("SenderAddress"))
            .unwrap_or("")
            .to_string();
        let received = delivery
            .and_then(|d| d.prop("ReceivedTime"))
            .unwrap_or("")
            .to_string();
        let suspicious = suspicious_ids.contains(event.id.as_str());
        read_rows.push(vec![
            stamp(event.time),
            event.kind.clone(),
            event.app.clone(),
            subject.clone(),
            sender.clone(),
            received.clone(),
            if suspicious {
                "suspicious session".into()
            } else {
                String::new()
            },
            event.id.clone(),
        ]);
        let entry = by_message
            .entry(event.item.as_str())
            .or_insert_with(|| MessageReads {
                facts: vec![subject, sender, received],
                reads: 0,
                first: event.time,
                last: event.time,
            });
        entry.reads += 1;
        entry.last = entry.last.max(event.time);
    }
    tables.push(Table {
        name: "reads_by_time",
        columns: vec![
            "Time",
            "Activity",
            "App",
            "Subject",
            "Sender",
            "ReceivedTime",
            "Flag",
            "Id",
        ],
        rows: read_rows,
    });
    let mut message_rows: Vec<Vec<String>> = by_message
        .into_iter()
        .map(|(item, message)| {
            let mut row = message.facts;
            row.extend([
                message.reads.to_string(),
                stamp(message.first),
                stamp(message.last),
                item.to_string(),
            ]);
            row
        })
        .collect();
    message_rows.sort_by(|a, b| {
        b[3].parse::<u64>()
            .unwrap_or(0)
            .cmp(&a[3].parse::<u64>().unwrap_or(0))
    });
    tables.push(Table {
        name: "reads_by_message",
        columns: vec![
            "Subject",
            "Sender",
            "ReceivedTime",
            "Reads",
            "FirstRead",
            "LastRead",
            "ActivityItemId",
        ],
        rows: message_rows,
    });

    // 6. Hiding: items moved out of sight soon after they were sent or delivered; hard deletes.
    let sent: HashMap<&str, &Event> = events
        .iter()
        .filter(|e| e.kind == "MessageSent" && !e.item.is_empty())
        .map(|e| (e.item.as_str(), e))
        .collect();
    let mut hiding_rows = Vec::new();
    for event in events {
        let is_move = event.kind == "Move";
        let hard_delete = event.kind == "Delete" && event.prop("DeleteType") == Some("HardDelete");
        if !is_move && !hard_delete {
            continue;
        }
        let origin = sent
            .get(event.item.as_str())
            .map(|e| ("sent", *e))
            .or(delivered
                .get(event.item.as_str())
                .map(|e| ("delivered", *e)));
        let folder = event.prop("TargetFolder").unwrap_or("").to_string();
        let lower = folder.to_lowercase();
        let soon = match (origin.and_then(|(_, e)| e.time), event.time) {
            (Some(o), Some(t)) => t - o <= Duration::hours(2) && t >= o,
            _ => false,
        };
        let severity = if hard_delete {
            Some(Severity::Medium)
        } else if origin.is_some() && soon && HIDING_FOLDERS_HIGH.contains(&lower.as_str()) {
            Some(Severity::High)
        } else if origin.is_some() && soon && HIDING_FOLDERS_MEDIUM.contains(&lower.as_str()) {
            Some(Severity::Medium)
        } else {
            None
        };
        let Some(severity) = severity else { continue };
        let mut ids = vec![event.id.clone()];
        ids.extend(origin.map(|(_, e)| e.id.clone()));
        let what = match origin {
            Some((how, e)) => match e.prop("Subject") {
                Some(subject) => format!("an item {how} {} ({subject:?})", stamp(e.time)),
                None => format!("an item {how} {}", stamp(e.time)),
            },
            None => "an item".to_string(),
        };
        let title = if hard_delete {
            format!("Hard delete of {what}")
        } else {
            format!("{what} moved to {folder}")
        };
        findings.push(Finding {
            severity,
            category: "hiding",
            title: capitalize(&title),
            detail: format!(
                "{} via {}{}",
                stamp(event.time),
                event.app,
                if suspicious_ids.contains(event.id.as_str()) {
                    " (in a suspicious session)"
                } else {
                    ""
                }
            ),
            activity_ids: ids,
        });
        hiding_rows.push(vec![
            stamp(event.time),
            event.kind.clone(),
            event.app.clone(),
            folder,
            origin.map(|(h, _)| h.to_string()).unwrap_or_default(),
            severity.as_str().into(),
            event.id.clone(),
        ]);
    }
    tables.push(Table {
        name: "hiding",
        columns: vec![
            "Time",
            "Activity",
            "App",
            "TargetFolder",
            "ItemWas",
            "Risk",
            "Id",
        ],
        rows: hiding_rows,
    });

    // 7. The suspicious sessions as one ordered timeline.
    let mut session_rows = Vec::new();
    for session in &session_of {
        let searches = session
            .events
            .iter()
            .filter(|e| e.kind == "SearchResult")
            .count();
        let reads = session
            .events
            .iter()
            .filter(|e| READ_KINDS.contains(&e.kind.as_str()))
            .count();
        findings.push(Finding {
            severity: Severity::High,
            category: "session",
            title: format!("Suspicious session from {} at {}", session.ip, stamp(session.start)),
            detail: format!("{} activities ({searches} searches, {reads} reads) until a logon from a known source", session.events.len()),
            activity_ids: session.ids.clone(),
        });
        for event in &session.events {
            let what = event
                .prop("Subject")
                .map(str::to_string)
                .or_else(|| event.prop("Query").and_then(raw_query).map(|q| q.text))
                .or_else(|| {
                    delivered
                        .get(event.item.as_str())
                        .and_then(|d| d.prop("Subject"))
                        .map(str::to_string)
                })
                .or_else(|| event.prop("TargetFolder").map(|f| format!("to {f}")))
                .unwrap_or_default();
            session_rows.push(vec![
                session.ip.clone(),
                stamp(event.time),
                event.kind.clone(),
                event.app.clone(),
                what,
                event.id.clone(),
            ]);
        }
    }
    tables.push(Table {
        name: "suspicious_sessions",
        columns: vec!["SourceIP", "Time", "Activity", "App", "What", "Id"],
        rows: session_rows,
    });

    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then_with(|| a.category.cmp(b.category))
    });
    MailboxReport {
        mailbox: mailbox.mailbox.clone(),
        activities: events.len(),
        first: first.map(|t| stamp(Some(t))),
        last: last.map(|t| stamp(Some(t))),
        findings,
        tables,
        activity_by_app: by_day,
        logons_by_ip: daily(
            events
                .iter()
                .filter(|e| is_logon(e))
                .filter_map(|e| logon_source(e).map(|(ip, _)| (e.time, ip))),
        ),
        logons_by_country,
    }
}

fn severity_rank(text: &str) -> u8 {
    match text {
        "high" => 0,
        "medium" => 1,
        "low" => 2,
        _ => 3,
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// A keyword matches at word boundaries (so "ach" does not match "each").
fn contains_term(text: &str, term: &str) -> bool {
    text.match_indices(term).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + term.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// File extensions and type words named in an AttachmentDetail value.
fn attachment_extensions(detail: &str) -> Vec<String> {
    detail
        .split(|c: char| !c.is_alphanumeric() && c != '.' && c != '_' && c != '-')
        .filter_map(|word| {
            let lower = word.to_lowercase();
            match lower.rsplit_once('.') {
                Some((_, ext)) if !ext.is_empty() => Some(ext.to_string()),
                _ if !lower.is_empty() => Some(lower),
                _ => None,
            }
        })
        .collect()
}

/// The reads of one message (events come in time order, so the first read is the first seen).
struct MessageReads {
    /// Subject, sender, received time.
    facts: Vec<String>,
    reads: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

struct Session<'a> {
    ip: String,
    start: Option<DateTime<Utc>>,
    events: Vec<&'a Event>,
    ids: Vec<String>,
}

/// For each burst of logons from a flagged source: the activities of the client sessions those
/// logons opened, until a logon from a source that is not flagged.
///
/// A ServerLogon and the Web Logon that follows it often carry different ClientSessionIds (the
/// blog: session ids are of limited use), so every logon of the burst (within a minute)
/// contributes its session id.
fn suspicious_sessions<'a>(
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
                .map(|&i| events[i].session.as_str())
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
                    session.ids.push(event.id.clone());
                    session.events.push(event);
                    continue;
                }
                if is_logon(event)
                    && logon_source(event).is_some_and(|(other, _)| !flagged.contains(&other))
                {
                    break;
                }
                let belongs = if session_ids.is_empty() {
                    event.app != "Exchange"
                } else {
                    session_ids.contains(event.session.as_str())
                };
                if belongs && !is_logon(event) {
                    session.ids.push(event.id.clone());
                    session.events.push(event);
                }
            }
            sessions.push(session);
        }
    }
    sessions.sort_by_key(|s| s.start);
    sessions
}

fn daily(points: impl Iterator<Item = (Option<DateTime<Utc>>, String)>) -> DailySeries {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut days: BTreeSet<String> = BTreeSet::new();
    for (time, name) in points {
        let Some(time) = time else { continue };
        let day = time.format("%Y-%m-%d").to_string();
        days.insert(day.clone());
        *counts.entry(name).or_default().entry(day).or_default() += 1;
    }
    let days: Vec<String> = days.into_iter().collect();
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
    DailySeries { days, series }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_match_whole_words_only() {
        assert!(contains_term("wire transfer", "wire"));
        assert!(contains_term("ach routing", "ach"));
        assert!(!contains_term("each team", "ach"));
        assert!(contains_term("w-2 forms", "w-2"));
    }

    #[test]
    fn attachment_details_yield_extensions() {
        assert_eq!(
            attachment_extensions("Remittance_Advice_88213.htm (htm, ByValue)"),
            vec!["htm", "htm", "byvalue"]
        );
        assert!(
            attachment_extensions("notes.docx (docx, ByValue); photo.jpg (jpg, Inline)")
                .contains(&"jpg".to_string())
        );
    }
}
