//! 1. Logons per source IP, scored from several signals rather than one.
//!
//! A new address alone means little: home connections change lease every few weeks, phones hop
//! across their carrier's range, owners travel. A source is suspicious when it is new *and* in
//! a network the owner never used, and more so when what it did looks like an attacker's
//! (finance searches the owner never ran, forwarding, hiding), when the owner was active from a
//! known network at the same time, when it comes from a hosting network, when it appeared right
//! after a risky attachment was opened, or from abroad. Churn inside known networks, and travel
//! with the owner's own devices and clients, stays low. Each finding lists the signals that gave
//! it its severity.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use super::super::analyze::*;
use super::super::events::Event;
use super::super::query_xml::search_query;
use super::attachments::is_high_risk;
use super::searches::contains_term;
use super::sessions::suspicious_sessions;
use crate::triage::category::Category;

/// What the logon analysis found that later findings build on.
pub struct Logons {
    pub sources: BTreeMap<String, Source>,
    pub flagged: HashSet<String>,
    /// The severity of each flagged source.
    pub severities: HashMap<String, Severity>,
    pub by_country: BTreeMap<String, u64>,
}

/// Points at which a source is high, medium or low.
const HIGH: i32 = 5;
const MEDIUM: i32 = 3;
const LOW: i32 = 1;

/// How close in time a logon from a known network makes "two places at once".
const SAME_TIME: i64 = 15;
/// How long after a risky attachment was opened a new source counts as following it.
const AFTER_LURE_DAYS: i64 = 14;

/// Organisation names of hosting and cloud networks (an ASN database gives them).
const HOSTING: &[&str] = &[
    "amazon",
    "aws",
    "microsoft",
    "azure",
    "google",
    "digitalocean",
    "ovh",
    "hetzner",
    "linode",
    "akamai",
    "vultr",
    "choopa",
    "m247",
    "leaseweb",
    "contabo",
    "hosting",
    "cloud",
    "datacenter",
    "data center",
    "vpn",
    "proxy",
    "colo",
    "server",
];

/// Why a new place with only the owner's own devices and clients, doing nothing unusual, stays
/// low.
pub const TRAVEL: &str = "travel with the owner's devices (only the owner's own clients and user agents, doing nothing unusual)";

/// One reason a source got its points.
struct Signal {
    points: i32,
    why: String,
}

/// What the mailbox's own first 60 % of time shows as normal.
struct Baseline {
    networks: HashSet<String>,
    agents: HashSet<String>,
    apps: HashSet<String>,
    /// Finance terms the owner searched for themselves.
    finance_terms: HashSet<String>,
    /// The owner forwards mail, or hides items in RSS Feeds or Conversation History, themselves.
    forwards: bool,
    hides: bool,
}

pub fn logons(
    events: &[Event],
    settings: &Settings,
    is_new: &dyn Fn(Option<DateTime<Utc>>) -> bool,
    findings: &mut Vec<Finding>,
    tables: &mut Vec<Table>,
) -> Logons {
    let sources = collect_sources(events);
    let geo_of = |ip: &str| -> (Option<String>, Option<String>) {
        match ip.parse::<IpAddr>() {
            Ok(addr) => (settings.geo.country(addr), settings.geo.asn(addr)),
            Err(_) => (None, None),
        }
    };
    let network_of = |ip: &str| geo_of(ip).1.unwrap_or_else(|| prefix_of(ip));
    let baseline = baseline(events, settings, is_new, &network_of);
    let keywords: Vec<String> = settings.keywords.iter().map(|k| k.to_lowercase()).collect();

    // Sources in networks the owner never used: the only ones whose sessions are followed.
    let unfamiliar: HashSet<String> = sources
        .iter()
        .filter(|(ip, source)| is_new(source.first) && !baseline.networks.contains(&network_of(ip)))
        .map(|(ip, _)| ip.clone())
        .collect();
    let sessions = suspicious_sessions(events, &sources, &unfamiliar);
    let known_logon_times: Vec<DateTime<Utc>> = events
        .iter()
        .filter(|e| is_logon(e))
        .filter(|e| {
            logon_source(e).is_some_and(|(ip, _)| baseline.networks.contains(&network_of(&ip)))
        })
        .filter_map(|e| e.time)
        .collect();
    let lures_opened = lures_opened(events);

    let mut country_first: HashMap<String, Option<DateTime<Utc>>> = HashMap::default();
    for (ip, source) in &sources {
        if let Some(country) = geo_of(ip).0 {
            let seen = country_first.entry(country).or_insert(source.first);
            *seen = (*seen).min(source.first).or(source.first);
        }
    }
    let mut flagged = HashSet::default();
    let mut severities = HashMap::default();
    let mut rows = Vec::new();
    let mut by_country: BTreeMap<String, u64> = BTreeMap::new();
    for (ip, source) in &sources {
        let (country, asn) = geo_of(ip);
        if let Some(country) = &country {
            *by_country.entry(country.clone()).or_default() += source.ids.len() as u64;
        }
        let mut signals = Vec::new();
        let mut travel = false;
        let network = network_of(ip);
        if unfamiliar.contains(ip) {
            signals.push(Signal {
                points: 2,
                why: format!("new source in a network the owner never used ({network})"),
            });
            let activity: Vec<&Event> = sessions
                .iter()
                .filter(|s| &s.ip == ip)
                .flat_map(|s| s.events.iter().copied())
                .collect();
            signals.extend(behaviour(&activity, &keywords, &baseline));
            let overlaps = source
                .logon_indexes
                .iter()
                .filter_map(|&i| events[i].time)
                .any(|t| {
                    known_logon_times
                        .iter()
                        .any(|k| (*k - t).num_minutes().abs() <= SAME_TIME)
                });
            if overlaps {
                signals.push(Signal {
                    points: 2,
                    why: format!("the owner was active from a known network within {SAME_TIME} minutes (two places at once)"),
                });
            }
            let owns_everything = source.agents.iter().all(|a| baseline.agents.contains(a))
                && source.apps.iter().all(|a| baseline.apps.contains(a));
            // A new place with the owner's own devices and habits: their trip, a hotel, a
            // friend's Wi-Fi. Nothing an attacker does (a behaviour signal) and not while the
            // owner was elsewhere.
            travel = owns_everything && signals.iter().all(|s| s.points <= 2) && !overlaps;
            if owns_everything && signals.iter().all(|s| s.points <= 2) {
                signals.push(Signal {
                    points: -2,
                    why: if travel {
                        TRAVEL.into()
                    } else {
                        "only the owner's own clients and user agents, doing nothing unusual".into()
                    },
                });
            }
        }
        if let Some(org) = &asn {
            let lower = org.to_lowercase();
            if HOSTING.iter().any(|h| lower.contains(h)) {
                signals.push(Signal {
                    points: 2,
                    why: format!("a hosting or cloud network ({org})"),
                });
            }
        }
        let new_agents: Vec<&String> = source
            .agents
            .iter()
            .filter(|a| !baseline.agents.contains(*a))
            .collect();
        if !new_agents.is_empty() && is_new(source.first) {
            signals.push(Signal {
                points: 1,
                why: format!(
                    "a user agent the owner never used ({})",
                    quoted(&new_agents)
                ),
            });
        }
        let new_apps: Vec<&String> = source
            .apps
            .iter()
            .filter(|a| !baseline.apps.contains(*a))
            .collect();
        if !new_apps.is_empty() && is_new(source.first) {
            signals.push(Signal {
                points: 2,
                why: format!("a client type the owner never used ({})", quoted(&new_apps)),
            });
        }
        let after_lure = source.first.is_some_and(|first| {
            lures_opened.iter().any(|opened| {
                first >= *opened && first - *opened <= Duration::days(AFTER_LURE_DAYS)
            })
        });
        if after_lure && unfamiliar.contains(ip) {
            signals.push(Signal {
                points: 1,
                why: "first seen within two weeks after a risky attachment was opened".into(),
            });
            // None of the owner's user agents: a new device or client in a new place, inside
            // the compromise window, ranks with the proxies.
            let all_new = !source.agents.is_empty()
                && source.agents.iter().all(|a| !baseline.agents.contains(a));
            if all_new {
                signals.push(Signal {
                    points: 1,
                    why: "a new place with a new device or client (none of the owner's user agents) inside the compromise window".into(),
                });
            }
        }
        let foreign = match &country {
            Some(c) if !settings.home_countries.is_empty() => !settings
                .home_countries
                .iter()
                .any(|h| h.eq_ignore_ascii_case(c)),
            _ => false,
        };
        if foreign {
            signals.push(Signal {
                points: 2,
                why: format!(
                    "country {} outside --home-country",
                    country.as_deref().unwrap_or("")
                ),
            });
        } else if let Some(c) = &country {
            if is_new(country_first.get(c).copied().flatten()) && unfamiliar.contains(ip) {
                signals.push(Signal {
                    points: 1,
                    why: format!("a country new to the mailbox ({c})"),
                });
            }
        }
        // Travel with the owner's devices is low whatever else adds up (a country new to the
        // mailbox, a lure opened before the trip): its signal takes what brings the sum to low.
        if travel {
            let others: i32 = signals
                .iter()
                .filter(|s| s.why != TRAVEL)
                .map(|s| s.points)
                .sum();
            if let Some(signal) = signals.iter_mut().find(|s| s.why == TRAVEL) {
                signal.points = LOW - others;
            }
        }
        let score: i32 = signals.iter().map(|s| s.points).sum();
        let severity = match score {
            s if s >= HIGH => Some(Severity::High),
            s if s >= MEDIUM => Some(Severity::Medium),
            s if s >= LOW => Some(Severity::Low),
            _ => None,
        };
        if let Some(serious @ (Severity::High | Severity::Medium)) = severity {
            flagged.insert(ip.clone());
            severities.insert(ip.clone(), serious);
        }
        if let Some(severity) = severity {
            findings.push(finding(
                ip, source, &country, &asn, severity, score, &signals,
            ));
        }
        rows.push(vec![
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
    for (finding, addresses) in devices(events, &baseline, &lures_opened, is_new) {
        for ip in addresses {
            flagged.insert(ip.clone());
            let severity = severities.entry(ip).or_insert(finding.severity);
            *severity = (*severity).min(finding.severity);
        }
        findings.push(finding);
    }
    rows.sort_by(|a, b| {
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
        rows: cells(rows),
    });
    Logons {
        sources,
        flagged,
        severities,
        by_country,
    }
}

fn quoted(values: &[&String]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn finding(
    ip: &str,
    source: &Source,
    country: &Option<String>,
    asn: &Option<String>,
    severity: Severity,
    score: i32,
    signals: &[Signal],
) -> Finding {
    let place = [country.clone(), asn.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let why = signals
        .iter()
        .map(|s| format!("{:+} {}", s.points, s.why))
        .collect::<Vec<_>>()
        .join("; ");
    Finding {
        severity,
        category: Category::Logon,
        title: if place.is_empty() {
            format!("Logons from {ip}")
        } else {
            format!("Logons from {ip} ({place})")
        },
        detail: format!(
            "{} because {score} points: {why}. {} logons via {} between {} and {}{}",
            severity.as_str(),
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
    }
}

/// Every logon source, with what it used and when.
fn collect_sources(events: &[Event]) -> BTreeMap<String, Source> {
    let mut sources: BTreeMap<String, Source> = BTreeMap::new();
    for (index, event) in events.iter().enumerate().filter(|(_, e)| is_logon(e)) {
        let Some((client, chain)) = logon_source(event) else {
            continue;
        };
        let source = sources.entry(client).or_default();
        if chain.contains(',') {
            source.chain.insert(chain);
        }
        source.apps.insert(event.app.to_string());
        if let Some(agent) = user_agent(event) {
            source.agents.insert(agent.to_string());
        }
        if let Some(t) = event.time {
            source.days.insert(t.format("%Y-%m-%d").to_string());
            source.first = Some(source.first.map_or(t, |f| f.min(t)));
            source.last = Some(source.last.map_or(t, |l| l.max(t)));
        }
        source.ids.push(event.id.to_string());
        source.logon_indexes.push(index);
    }
    sources
}

/// A network without an ASN database: the /16 of an IPv4 address, the /48 of an IPv6 one.
fn prefix_of(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.0.0/16", o[0], o[1])
        }
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => ip.to_string(),
    }
}

fn baseline(
    events: &[Event],
    settings: &Settings,
    is_new: &dyn Fn(Option<DateTime<Utc>>) -> bool,
    network_of: &dyn Fn(&str) -> String,
) -> Baseline {
    let keywords: Vec<String> = settings.keywords.iter().map(|k| k.to_lowercase()).collect();
    let mut baseline = Baseline {
        networks: HashSet::default(),
        agents: HashSet::default(),
        apps: HashSet::default(),
        finance_terms: HashSet::default(),
        forwards: false,
        hides: false,
    };
    for event in events.iter().filter(|e| !is_new(e.time)) {
        if is_logon(event) {
            if let Some((ip, _)) = logon_source(event) {
                baseline.networks.insert(network_of(&ip));
            }
            if let Some(agent) = user_agent(event) {
                baseline.agents.insert(agent.to_string());
            }
            baseline.apps.insert(event.app.to_string());
        } else if &*event.kind == "Forward" {
            baseline.forwards = true;
        } else if is_hiding_move(event) {
            baseline.hides = true;
        } else if &*event.kind == "SearchResult" {
            if let Some(query) = event.prop("Query").and_then(search_query) {
                let lower = query.text.to_lowercase();
                baseline.finance_terms.extend(
                    keywords
                        .iter()
                        .filter(|k| contains_term(&lower, k))
                        .cloned(),
                );
            }
        }
    }
    baseline
}

/// What a source's sessions did that an attacker does and the owner does not.
fn behaviour(activity: &[&Event], keywords: &[String], baseline: &Baseline) -> Vec<Signal> {
    let mut signals = Vec::new();
    let unusual_terms: BTreeSet<&String> = activity
        .iter()
        .filter(|e| &*e.kind == "SearchResult")
        .filter_map(|e| e.prop("Query").and_then(search_query))
        .flat_map(|q| {
            let lower = q.text.to_lowercase();
            keywords
                .iter()
                .filter(|k| contains_term(&lower, k) && !baseline.finance_terms.contains(*k))
                .collect::<Vec<_>>()
        })
        .collect();
    if !unusual_terms.is_empty() {
        signals.push(Signal {
            points: 3,
            why: format!(
                "searched for finance terms the owner never searched for ({})",
                unusual_terms
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    if !baseline.forwards && activity.iter().any(|e| &*e.kind == "Forward") {
        signals.push(Signal {
            points: 2,
            why: "forwarded a message (the owner never did)".into(),
        });
    }
    if !baseline.hides && activity.iter().any(|e| is_hiding_move(e)) {
        signals.push(Signal {
            points: 3,
            why: "moved an item to RSS Feeds or Conversation History (the owner never did)".into(),
        });
    }
    signals
}

/// A move into the folders a fraud hides its thread in.
fn is_hiding_move(event: &Event) -> bool {
    &*event.kind == "Move"
        && event.prop("TargetFolder").is_some_and(|f| {
            matches!(
                f.to_lowercase().as_str(),
                "rss feeds" | "conversation history"
            )
        })
}

/// The device an Exchange ActiveSync client names in its user agent (`Apple-iPhone10C1/1506.79`:
/// the model, then the OS build), or none for other clients. The Activities API's ServerLogon
/// carries the user agent but no DeviceId (`shared/reference/activities-api.md`), so the model
/// stands for the device, and an OS update of a known model is the same device.
fn activesync_device(agent: &str) -> Option<&str> {
    let lower = agent.to_ascii_lowercase();
    let model = agent.split('/').next().unwrap_or(agent);
    let native = [
        "apple-iphone",
        "apple-ipad",
        "apple-ipod",
        "android-",
        "samsung-",
        "msft-",
    ]
    .iter()
    .any(|p| lower.starts_with(p));
    (native || lower.contains("activesync")).then_some(model)
}

/// A device's user agents, first logon, addresses and logon Ids.
type DeviceSeen<'a> = (
    BTreeSet<&'a str>,
    Option<DateTime<Utc>>,
    BTreeSet<String>,
    Vec<String>,
);

/// New mobile device partnerships: an ActiveSync device the owner never synced before. After a
/// risky attachment was opened it is persistence (it keeps syncing after a password reset) and
/// high; otherwise medium, for the owner to confirm. Returns each finding with the addresses it
/// synced from.
fn devices(
    events: &[Event],
    baseline: &Baseline,
    lures_opened: &[DateTime<Utc>],
    is_new: &dyn Fn(Option<DateTime<Utc>>) -> bool,
) -> Vec<(Finding, Vec<String>)> {
    let known: HashSet<&str> = baseline
        .agents
        .iter()
        .filter_map(|a| activesync_device(a))
        .collect();
    // Device → (its user agents, first seen, addresses, logon ids), in the order first seen.
    let mut seen: BTreeMap<&str, DeviceSeen<'_>> = BTreeMap::new();
    for event in events.iter().filter(|e| is_logon(e)) {
        let Some(agent) = user_agent(event) else {
            continue;
        };
        let Some(device) = activesync_device(agent) else {
            continue;
        };
        if known.contains(device) {
            continue;
        }
        let entry = seen.entry(device).or_default();
        entry.0.insert(agent);
        entry.1 = match (entry.1, event.time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some((ip, _)) = logon_source(event) {
            entry.2.insert(ip);
        }
        entry.3.push(event.id.to_string());
    }
    seen.into_iter()
        .filter(|(_, (_, first, _, _))| is_new(*first))
        .map(|(device, (agents, first, addresses, ids))| {
            let after_lure = first.is_some_and(|first| {
                lures_opened.iter().any(|opened| {
                    first >= *opened && first - *opened <= Duration::days(AFTER_LURE_DAYS)
                })
            });
            let (severity, why) = if after_lure {
                (
                    Severity::High,
                    "first synced within two weeks after a risky attachment was opened: persistence that survives a password reset",
                )
            } else {
                (
                    Severity::Medium,
                    "a device the owner never synced before: confirm the owner added it",
                )
            };
            let agents: Vec<&str> = agents.into_iter().collect();
            let finding = Finding {
                severity,
                category: Category::Device,
                title: format!("A new mobile device partnership ({device})"),
                detail: format!(
                    "{} because {why}. Exchange ActiveSync user agent {} first seen {}, {} logons from {}",
                    severity.as_str(),
                    agents.join(", "),
                    stamp(first),
                    ids.len(),
                    addresses.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                activity_ids: ids,
            };
            (finding, addresses.into_iter().collect())
        })
        .collect()
}

/// When risky attachments (HTML, scripts, disk images...) were opened.
fn lures_opened(events: &[Event]) -> Vec<DateTime<Utc>> {
    let risky: HashSet<&str> = events
        .iter()
        .filter(|e| &*e.kind == "MessageDelivered")
        .filter(|e| e.prop("AttachmentDetail").is_some_and(is_high_risk))
        .map(|e| &*e.item)
        .collect();
    events
        .iter()
        .filter(|e| &*e.kind == "OpenedAnAttachment" && risky.contains(&*e.item))
        .filter_map(|e| e.time)
        .collect()
}

#[cfg(test)]
mod tests;
