//! 1. Logons per source IP: new or rare sources, user agents, countries and networks.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::super::analyze::*;
use super::super::events::Event;
use std::net::IpAddr;

/// What the logon analysis found that later findings build on.
pub struct Logons {
    pub sources: BTreeMap<String, Source>,
    pub flagged: HashSet<String>,
    pub by_country: BTreeMap<String, u64>,
}

pub fn logons(
    events: &[Event],
    settings: &Settings,
    is_new: &dyn Fn(Option<DateTime<Utc>>) -> bool,
    findings: &mut Vec<Finding>,
    tables: &mut Vec<Table>,
) -> Logons {
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

    Logons {
        sources,
        flagged: flagged_ips,
        by_country: logons_by_country,
    }
}
