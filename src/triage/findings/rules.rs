//! Technique 8: inbox rules and mailbox forwarding (audit log records; the Activities API never
//! had them), and a whole folder synchronised from a suspicious source.
//!
//! A rule is how a BEC actor keeps the fraud's thread from its owner: mail with "invoice" or
//! "payment" moved to RSS Feeds or Conversation History, marked read, deleted, or forwarded to
//! an outside address. Forwarding the whole mailbox to an outside address copies everything.

use rustc_hash::FxHashSet as HashSet;

use super::super::analyze::*;
use super::super::events::Event;
use crate::triage::category::Category;

pub fn rules(
    events: &[Event],
    mailbox: &str,
    settings: &Settings,
    flagged_sources: &HashSet<String>,
    findings: &mut Vec<Finding>,
    tables: &mut Vec<Table>,
) {
    let domain = mailbox
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase());
    let outside = |addresses: &str| -> Vec<String> {
        addresses
            .split([';', ',', ' '])
            .map(bare_address)
            .filter(|a| a.contains('@'))
            .filter(|a| {
                let their = a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
                their != domain
            })
            .map(str::to_string)
            .collect()
    };
    let keywords: Vec<String> = settings.keywords.iter().map(|k| k.to_lowercase()).collect();
    let mut rows = Vec::new();
    for event in events {
        let source = logon_source(event).map(|(ip, _)| ip).unwrap_or_default();
        let from_flagged = flagged_sources.contains(&source);
        let (severity, category, title, detail) = match &*event.kind {
            "InboxRule" => {
                let actions = event.prop("RuleActions").unwrap_or("");
                let conditions = event.prop("RuleConditions").unwrap_or("");
                let forwards = outside(event.prop("ForwardTo").unwrap_or(""));
                let lower_actions = actions.to_lowercase();
                let hides = ["rss", "conversation history", "archive", "deleted items"]
                    .iter()
                    .any(|folder| lower_actions.contains(&format!("folder={folder}")))
                    || lower_actions.contains("delete")
                    || lower_actions.contains("markasread");
                let lower_conditions = conditions.to_lowercase();
                let finance: Vec<&str> = keywords
                    .iter()
                    .filter(|k| lower_conditions.contains(k.as_str()))
                    .map(String::as_str)
                    .collect();
                let severity = if !forwards.is_empty()
                    || (hides && (!finance.is_empty() || from_flagged))
                {
                    Severity::High
                } else if hides {
                    Severity::Medium
                } else {
                    Severity::Low
                };
                let mut why = Vec::new();
                if !forwards.is_empty() {
                    why.push(format!("forwards to {}", forwards.join(", ")));
                }
                if hides {
                    why.push(format!("hides mail ({actions})"));
                }
                if !finance.is_empty() {
                    why.push(format!("on finance terms ({})", finance.join(", ")));
                }
                if from_flagged {
                    why.push(format!("made from the flagged source {source}"));
                }
                let name = event.prop("Subject").unwrap_or("(unnamed)");
                (
                    severity,
                    Category::Rule,
                    format!("Inbox rule {name:?} at {}", stamp(event.time)),
                    format!(
                        "{severity_name} because it {}; conditions: {}",
                        if why.is_empty() { "changes how mail is filed".to_string() } else { why.join("; ") },
                        if conditions.is_empty() { "none (every message)" } else { conditions },
                        severity_name = severity.as_str()
                    ),
                )
            }
            "MailboxForwarding" => {
                let raw = event.prop("ForwardTo").unwrap_or("");
                let forwards = outside(raw);
                let to = bare_address(raw);
                let keeps = event
                    .prop("RuleActions")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                let severity = if forwards.is_empty() {
                    Severity::Medium
                } else {
                    Severity::High
                };
                (
                    severity,
                    Category::Forwarding,
                    format!("Mailbox forwarding to {to} at {}", stamp(event.time)),
                    format!(
                        "{} address; {}",
                        if forwards.is_empty() { "an inside" } else { "an outside" },
                        if keeps {
                            "a copy stays in the mailbox, so the owner notices nothing"
                        } else {
                            "mail no longer reaches the mailbox"
                        }
                    ),
                )
            }
            "MailItemsSync" if from_flagged => (
                Severity::High,
                Category::Client,
                format!("Folder synchronised from {source} at {}", stamp(event.time)),
                format!(
                    "MailItemsAccessed Sync of {} via {}: the whole folder downloaded from a flagged source (bulk collection, as IMAP4 is)",
                    event.prop("TargetFolder").unwrap_or("a folder"),
                    event.app
                ),
            ),
            _ => continue,
        };
        rows.push(vec![
            stamp(event.time),
            category.name().to_string(),
            severity.as_str().to_string(),
            title.clone(),
            source.clone(),
            event.id.to_string(),
        ]);
        findings.push(Finding {
            severity,
            category,
            title,
            detail,
            activity_ids: vec![event.id.to_string()],
        });
    }
    tables.push(Table {
        name: "rules_and_forwarding",
        columns: vec!["Time", "Kind", "Severity", "What", "SourceIP", "Id"],
        rows: cells(rows),
    });
}

/// An address as Exchange may write it (`smtp:a@b`, `SMTP:a@b`), without the prefix.
fn bare_address(raw: &str) -> &str {
    let raw = raw.trim();
    raw.strip_prefix("smtp:")
        .or_else(|| raw.strip_prefix("SMTP:"))
        .unwrap_or(raw)
}
