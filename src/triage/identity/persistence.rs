//! What the attacker left behind: MFA methods, consents and grants, service principals,
//! devices (directory audits), inbox rules, forwarding, mailbox and SendAs permissions, the
//! audit log switched off (the mailbox's audit records); each tied to the session that made
//! it when the ids (or the address and time) allow.
//!
//! Activity names are entra-docs `docs/identity/monitoring-health/reference-audit-activities.md`
//! ("User registered security info", "Consent to application", "Add delegated permission
//! grant", "Add service principal", "Register device"); cmdlets and their parameters the
//! Management Activity API schema's Exchange admin records.

use chrono::{DateTime, Duration, Utc};

use super::joins::Join;
use super::records::DirectoryAudit;
use super::sessions::SessionVerdict;
use crate::triage::category::Category;
use crate::triage::events::Event;

/// One thing that lets the attacker stay.
#[derive(Debug, Clone)]
pub struct Persistence {
    pub id: String,
    pub time: Option<DateTime<Utc>>,
    pub category: Category,
    /// What it is, in a line: `MFA method registered`, `inbox rule "."`.
    pub what: String,
    /// What it is in full: a rule's name, conditions and actions; an app's name, id and scopes.
    pub object: String,
    /// The identifier a responder's command takes: a rule's name, a service principal's or
    /// device's id, a forwarding address (empty where the command needs none).
    pub target: String,
    /// Where it was recorded: `directory audit`, `audit log`.
    pub log: &'static str,
    /// The session that made it, and how that is known.
    pub session: Option<(String, Join)>,
}

/// The value of `name` in an admin record's parameters as triage holds them (`Name=Value;
/// Name=Value`, `audit_log::parameters_text`).
pub fn parameter<'a>(parameters: &'a str, name: &str) -> Option<&'a str> {
    parameters
        .split("; ")
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The kind of persistence a directory audit is, if any.
fn audit_category(activity: &str) -> Option<Category> {
    let lower = activity.to_ascii_lowercase();
    if lower.contains("registered security info")
        || lower == "register security info"
        || lower.contains("authentication method")
    {
        Some(Category::MfaMethod)
    } else if lower.starts_with("consent to application")
        || lower.contains("delegated permission grant")
        || lower.contains("app role assignment")
        || lower == "add service principal"
        || lower == "add application"
    {
        Some(Category::Consent)
    } else if lower == "register device" || lower == "add device" {
        Some(Category::Device)
    } else {
        None
    }
}

/// How long after a session's last sign-in an audit from its address still belongs to it.
const AFTER_LAST: i64 = 75;

/// The session a directory audit was made in: by its `correlationId` (inferred: the sign-in's
/// and the audit's are both the request's), or by its initiator's address during the session.
fn audit_session(audit: &DirectoryAudit, sessions: &[&SessionVerdict]) -> Option<(String, Join)> {
    if !audit.correlation.is_empty() {
        if let Some(s) = sessions
            .iter()
            .find(|s| s.correlations.contains(&audit.correlation))
        {
            return Some((s.key.clone(), Join::CorrelationId));
        }
    }
    let time = audit.time?;
    sessions
        .iter()
        .filter(|s| {
            !audit.ip.is_empty()
                && (s.addresses.contains(&audit.ip) || s.replay_addresses.contains(&audit.ip))
        })
        .filter(|s| {
            s.first.is_some_and(|first| first <= time)
                && s.last_signin
                    .is_some_and(|last| time - last <= Duration::minutes(AFTER_LAST))
        })
        .map(|s| (s.key.clone(), Join::AddressAndTime))
        .next()
}

/// The person's persistence from their directory audits (`person` initiated or was the
/// target of each) and mailbox records; `session_of` says which session a mailbox record
/// was joined to.
pub fn persistence(
    person: &str,
    audits: &[DirectoryAudit],
    events: &[Event],
    sessions: &[&SessionVerdict],
    session_of: &dyn Fn(usize) -> Option<(String, Join)>,
) -> Vec<Persistence> {
    let mut found = Vec::new();
    for audit in audits {
        let Some(category) = audit_category(&audit.activity) else {
            continue;
        };
        if !audit.result.is_empty() && !audit.result.eq_ignore_ascii_case("success") {
            continue;
        }
        // Only what was done by the person or to them (an admin consenting for the tenant
        // is the admin's).
        if audit.initiator != person && !audit.target_users.iter().any(|t| t == person) {
            continue;
        }
        let object = audit
            .targets
            .iter()
            .map(|(kind, name, id)| format!("{kind} {name} ({id})"))
            .chain(audit.changes.iter().cloned())
            .collect::<Vec<_>>()
            .join("; ");
        found.push(Persistence {
            id: audit.id.clone(),
            time: audit.time,
            category,
            target: audit
                .targets
                .first()
                .map(|(_, _, id)| id.clone())
                .unwrap_or_default(),
            what: audit.activity.clone(),
            object: if object.is_empty() {
                person.to_string()
            } else {
                object
            },
            log: "directory audit",
            session: audit_session(audit, sessions),
        });
    }
    for (index, event) in events.iter().enumerate() {
        let parameters = event.prop("Parameters").unwrap_or("");
        let (category, what, object, target) = match &*event.kind {
            "InboxRule" => (
                Category::Rule,
                "inbox rule".to_string(),
                format!(
                    "rule {:?}: {} {}",
                    event.prop("Subject").unwrap_or(""),
                    event.prop("RuleConditions").unwrap_or(""),
                    event.prop("RuleActions").unwrap_or("")
                ),
                event.prop("Subject").unwrap_or("").to_string(),
            ),
            "MailboxForwarding" => (
                Category::Forwarding,
                "forwarding".to_string(),
                format!(
                    "ForwardingSmtpAddress {} (DeliverToMailboxAndForward {})",
                    event.prop("ForwardTo").unwrap_or(""),
                    event.prop("RuleActions").unwrap_or("-")
                ),
                event.prop("ForwardTo").unwrap_or("").to_string(),
            ),
            // The grantee is `User` (Add-MailboxPermission) or `Trustee`
            // (Add-RecipientPermission), as Exchange's cmdlet references name them.
            "Add-MailboxPermission" | "Add-RecipientPermission" => (
                Category::MailboxPermission,
                event.kind.to_string(),
                parameters.to_string(),
                parameter(parameters, "User")
                    .or_else(|| parameter(parameters, "Trustee"))
                    .unwrap_or("")
                    .to_string(),
            ),
            "Set-AdminAuditLogConfig"
                if parameters
                    .to_ascii_lowercase()
                    .contains("unifiedauditlogingestionenabled=false") =>
            {
                (
                    Category::AuditDisabled,
                    "unified audit log switched off".to_string(),
                    parameters.to_string(),
                    String::new(),
                )
            }
            _ => continue,
        };
        // One record can be several activities (never for these): one entry a record.
        if found.iter().any(|p: &Persistence| p.id == *event.id) {
            continue;
        }
        found.push(Persistence {
            id: event.id.to_string(),
            time: event.time,
            category,
            what,
            object,
            target,
            log: "audit log",
            session: session_of(index),
        });
    }
    found.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_activities_are_the_kinds_of_persistence_they_name() {
        assert_eq!(
            audit_category("User registered security info"),
            Some(Category::MfaMethod)
        );
        assert_eq!(
            audit_category("Consent to application"),
            Some(Category::Consent)
        );
        assert_eq!(
            audit_category("Add delegated permission grant"),
            Some(Category::Consent)
        );
        assert_eq!(
            audit_category("Add service principal"),
            Some(Category::Consent)
        );
        assert_eq!(audit_category("Register device"), Some(Category::Device));
        assert_eq!(audit_category("Update user"), None);
    }
}
