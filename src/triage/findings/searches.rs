//! 2. Searches: the RawQuery of every SearchResult, finance terms flagged.

use rustc_hash::FxHashSet as HashSet;

use super::super::analyze::*;
use super::super::events::Event;
use super::super::query_xml::search_query;
use crate::triage::category::Category;

pub fn searches(
    events: &[Event],
    settings: &Settings,
    suspicious_ids: &HashSet<&str>,
    findings: &mut Vec<Finding>,
    tables: &mut Vec<Table>,
) {
    let keywords: Vec<String> = settings.keywords.iter().map(|k| k.to_lowercase()).collect();
    let mut search_rows = Vec::new();
    let mut last_logon_ip: Option<String> = None;
    for event in events {
        if is_logon(event) {
            last_logon_ip = logon_source(event).map(|(ip, _)| ip);
            continue;
        }
        if &*event.kind != "SearchResult" {
            continue;
        }
        let Some(query) = event.prop("Query").and_then(search_query) else {
            continue;
        };
        let lower = query.text.to_lowercase();
        let terms: Vec<&String> = keywords
            .iter()
            .filter(|k| contains_term(&lower, k))
            .collect();
        // Finance searches are the routine of whole departments: a finding only inside a
        // suspicious session (the table lists them all).
        let in_session = suspicious_ids.contains(&*event.id);
        if !terms.is_empty() && in_session {
            findings.push(Finding {
                severity: Severity::High,
                category: Category::Search,
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
                    " (in a suspicious session)"
                ),
                activity_ids: vec![event.id.to_string()],
            });
        }
        search_rows.push(vec![
            stamp(event.time),
            event.app.to_string(),
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
            event.id.to_string(),
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
        rows: cells(search_rows),
    });
}

/// A keyword matches at word boundaries (so "ach" does not match "each").
pub(super) fn contains_term(text: &str, term: &str) -> bool {
    text.match_indices(term).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + term.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
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
}
