//! What a responder does with an attacker session: what it read (exposure), whether it is
//! still live, the remediation list in the order it is run, and the incident's timeline.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::joins::Join;
use super::persistence::{parameter, Persistence};
use super::records::SignIn;
use super::sessions::SessionVerdict;
use crate::triage::analyze::{logon_source, stamp, Row, Table, READ_KINDS};
use crate::triage::category::Category;
use crate::triage::events::{Event, Shared};

pub const EXPOSURE_COLUMNS: [&str; 8] = [
    "message",
    "subject",
    "sender",
    "folder",
    "when",
    "session",
    "how",
    "evidence_id",
];

fn row(cells: impl IntoIterator<Item = String>) -> Row {
    cells.into_iter().map(Shared::from).collect()
}

/// What the sessions' records read: a row per message bound (by InternetMessageId, with the
/// subject and sender another record gives), a row per folder synced (every message in it),
/// a row per throttling (up to 24 hours unaudited from then).
pub fn exposure(events: &[Event], joined: &[(&str, usize)]) -> Vec<Row> {
    // Subject and sender of each message, from whichever record names them.
    let mut about: HashMap<&str, (&str, &str)> = HashMap::new();
    for event in events.iter().filter(|e| !e.item.is_empty()) {
        let subject = event.prop("Subject").unwrap_or("");
        let sender = event
            .prop("From")
            .or_else(|| event.prop("SenderAddress"))
            .or_else(|| event.prop("SenderSmtpAddress"))
            .unwrap_or("");
        if subject.is_empty() && sender.is_empty() {
            continue;
        }
        let entry = about.entry(&event.item).or_insert(("", ""));
        if entry.0.is_empty() {
            entry.0 = subject;
        }
        if entry.1.is_empty() {
            entry.1 = sender;
        }
    }
    let mut rows = Vec::new();
    for &(session, index) in joined {
        let event = &events[index];
        let when = stamp(event.time);
        let (message, folder, how) = match &*event.kind {
            "MailItemsSync" => (
                "(every message in the folder)".to_string(),
                event.prop("TargetFolder").unwrap_or("").to_string(),
                "sync".to_string(),
            ),
            "MailItemsThrottled" => (
                "(reads unaudited for up to 24 hours from here)".to_string(),
                String::new(),
                "throttled".to_string(),
            ),
            "MailItemsAccessed" if !event.item.is_empty() => (
                event.item.to_string(),
                event.prop("FolderPath").unwrap_or("").to_string(),
                "bind".to_string(),
            ),
            kind if READ_KINDS.contains(&kind) && !event.item.is_empty() => (
                event.item.to_string(),
                event.prop("TargetFolder").unwrap_or("").to_string(),
                format!("read ({kind})"),
            ),
            _ => continue,
        };
        let (subject, sender) = about.get(&*event.item).copied().unwrap_or(("", ""));
        rows.push(row([
            message,
            subject.to_string(),
            sender.to_string(),
            folder,
            when,
            session.to_string(),
            how,
            event.id.to_string(),
        ]));
    }
    rows
}

/// A session's last sign-in or joined record, and whether it falls within the last day of the
/// evidence (`end`).
pub fn liveness(
    last: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> (Option<DateTime<Utc>>, bool) {
    let live = matches!((last, end), (Some(last), Some(end)) if end - last <= Duration::days(1));
    (last, live)
}

/// The remediation list, in the order a responder runs it: revoke the sessions, remove the
/// attacker's MFA methods, consents and service principals, rules, forwarding and permissions,
/// switch the audit log back on, then reset the credentials. Each step names its object.
pub fn remediation(person: &str, sessions: &[&SessionVerdict], left: &[&Persistence]) -> Table {
    let mut steps: Vec<[String; 3]> = Vec::new();
    let keys: Vec<&str> = sessions.iter().map(|s| s.key.as_str()).collect();
    steps.push([
        "revoke the sign-in sessions and refresh tokens".into(),
        format!("{person} (sessions {})", keys.join(", ")),
        format!(
            "Revoke-MgUserSignInSession -UserId {person}   # Graph: POST /users/{person}/revokeSignInSessions"
        ),
    ]);
    let of = |category: Category| left.iter().filter(move |p| p.category == category);
    for p in of(Category::MfaMethod) {
        steps.push([
            format!("remove the MFA method registered at {}", stamp(p.time)),
            format!("{} ({}; directory audit {})", p.what, p.object, p.id),
            format!(
                "Get-MgUserAuthenticationMethod -UserId {person}   # then remove the method added at {} (Remove-MgUserAuthentication<Type>Method)",
                stamp(p.time)
            ),
        ]);
    }
    for p in of(Category::Consent) {
        // An audit that names no target (none documented, but possible) says so.
        let sp = if p.target.is_empty() {
            "<the service principal's id: not in the audit>"
        } else {
            p.target.as_str()
        };
        steps.push([
            "remove the consent and the service principal".into(),
            format!("{} ({})", p.object, p.id),
            format!(
                "Get-MgOauth2PermissionGrant -Filter \"clientId eq '{sp}'\" | Remove-MgOauth2PermissionGrant; Remove-MgServicePrincipal -ServicePrincipalId {sp}"
            ),
        ]);
    }
    for p in of(Category::Device) {
        steps.push([
            "remove the device the attacker registered".into(),
            format!("{} ({})", p.object, p.id),
            format!("Remove-MgDevice -DeviceId {}", p.target),
        ]);
    }
    for p in of(Category::Rule) {
        steps.push([
            "remove the inbox rule".into(),
            format!("{} (record {})", p.object, p.id),
            format!(
                "Remove-InboxRule -Mailbox {person} -Identity {}",
                powershell_string(&p.target)
            ),
        ]);
    }
    for p in of(Category::Forwarding) {
        steps.push([
            "remove the forwarding".into(),
            format!("{} (record {})", p.object, p.id),
            format!(
                "Set-Mailbox -Identity {person} -ForwardingSmtpAddress $null -ForwardingAddress $null -DeliverToMailboxAndForward $false"
            ),
        ]);
    }
    for p in of(Category::MailboxPermission) {
        // The mailbox is the record's `Identity` (an attacker grants itself another's), the
        // grantee its `User` or `Trustee`.
        let mailbox = parameter(&p.object, "Identity").unwrap_or(person);
        let grantee = if p.target.is_empty() {
            "<the grantee: not in the record>"
        } else {
            p.target.as_str()
        };
        let (cmdlet, grantee_flag, default_rights) = if p.what == "Add-RecipientPermission" {
            ("Remove-RecipientPermission", "-Trustee", "SendAs")
        } else {
            ("Remove-MailboxPermission", "-User", "FullAccess")
        };
        let rights = parameter(&p.object, "AccessRights").unwrap_or(default_rights);
        steps.push([
            "remove the permission".into(),
            format!("{} (record {})", p.object, p.id),
            format!(
                "{cmdlet} -Identity {} {grantee_flag} {} -AccessRights {rights} -Confirm:$false",
                powershell_string(mailbox),
                powershell_string(grantee)
            ),
        ]);
    }
    for p in of(Category::AuditDisabled) {
        steps.push([
            "switch the unified audit log back on".into(),
            format!("record {}", p.id),
            "Set-AdminAuditLogConfig -UnifiedAuditLogIngestionEnabled $true".into(),
        ]);
    }
    steps.push([
        "reset the credentials".into(),
        person.to_string(),
        format!(
            "reset the password of {person} and require MFA re-registration; then revoke the sessions once more"
        ),
    ]);
    Table {
        name: "remediation",
        columns: vec!["step", "action", "object", "command"],
        rows: steps
            .into_iter()
            .enumerate()
            .map(|(n, [action, object, command])| {
                row([(n + 1).to_string(), action, object, command])
            })
            .collect(),
    }
}

/// `text` as a PowerShell string a responder can paste: double-quoted, with the characters
/// PowerShell expands or ends a string on escaped by its backtick (`about_Quoting_Rules`).
fn powershell_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        if matches!(c, '`' | '$' | '"') {
            quoted.push('`');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// One incident's timeline across sources: the phish, the sessions' sign-ins, what their
/// records did, what they left behind.
pub fn timeline(
    phish: Option<(&Event, &str)>,
    signins: &[(&str, &SignIn)],
    events: &[Event],
    joined: &[(&str, usize, Join)],
    left: &[&Persistence],
) -> Table {
    let mut rows: Vec<(Option<DateTime<Utc>>, [String; 5])> = Vec::new();
    if let Some((event, title)) = phish {
        rows.push((
            event.time,
            [
                "mailbox".into(),
                format!("phish: {title}"),
                logon_source(event).map(|(ip, _)| ip).unwrap_or_default(),
                String::new(),
                event.id.to_string(),
            ],
        ));
    }
    for (session, signin) in signins {
        rows.push((
            signin.time,
            [
                "sign-in".into(),
                format!(
                    "{} sign-in to {} ({}, {}{})",
                    if signin.interactive {
                        "interactive"
                    } else {
                        "non-interactive"
                    },
                    signin.app,
                    signin.network(),
                    if signin.country.is_empty() {
                        "-"
                    } else {
                        &signin.country
                    },
                    if signin.device_id.is_empty() {
                        ", no device"
                    } else {
                        ""
                    }
                ),
                signin.ip.clone(),
                session.to_string(),
                signin.id.clone(),
            ],
        ));
    }
    for &(session, index, join) in joined {
        let event = &events[index];
        let detail = event
            .prop("Subject")
            .or_else(|| event.prop("TargetFolder"))
            .or_else(|| Some(&*event.item).filter(|i| !i.is_empty()))
            .unwrap_or("");
        rows.push((
            event.time,
            [
                "audit log".into(),
                format!("{} {detail} ({})", event.kind, join.describe()),
                logon_source(event).map(|(ip, _)| ip).unwrap_or_default(),
                session.to_string(),
                event.id.to_string(),
            ],
        ));
    }
    for p in left {
        if p.log != "directory audit" {
            continue; // the audit log's own are in the rows above
        }
        rows.push((
            p.time,
            [
                p.log.into(),
                format!("{}: {}", p.what, p.object),
                String::new(),
                p.session
                    .as_ref()
                    .map(|(s, _)| s.clone())
                    .unwrap_or_default(),
                p.id.clone(),
            ],
        ));
    }
    rows.sort_by(|a, b| (a.0, &a.1[4]).cmp(&(b.0, &b.1[4])));
    Table {
        name: "incident_timeline",
        columns: vec![
            "when",
            "source",
            "what",
            "address",
            "session",
            "evidence_id",
        ],
        rows: rows
            .into_iter()
            .map(|(time, [source, what, address, session, id])| {
                row([stamp(time), source, what, address, session, id])
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left(what: &str, parameters: &str, target: &str) -> Persistence {
        Persistence {
            id: "r1".into(),
            time: None,
            category: Category::MailboxPermission,
            what: what.into(),
            object: parameters.into(),
            target: target.into(),
            log: "audit log",
            session: None,
        }
    }

    #[test]
    fn a_permission_is_removed_from_the_mailbox_it_was_granted_on_for_its_grantee() {
        let full = left(
            "Add-MailboxPermission",
            "Identity=cfo@contoso.com; User=it@contoso.com; AccessRights=FullAccess",
            "it@contoso.com",
        );
        let send_as = left(
            "Add-RecipientPermission",
            "Identity=cfo@contoso.com; Trustee=it@contoso.com; AccessRights=SendAs",
            "it@contoso.com",
        );
        let table = remediation("it@contoso.com", &[], &[&full, &send_as]);
        let commands: Vec<&str> = table.rows.iter().map(|r| &*r[3]).collect();
        assert_eq!(
            commands[1],
            "Remove-MailboxPermission -Identity \"cfo@contoso.com\" -User \"it@contoso.com\" \
             -AccessRights FullAccess -Confirm:$false"
        );
        assert_eq!(
            commands[2],
            "Remove-RecipientPermission -Identity \"cfo@contoso.com\" -Trustee \
             \"it@contoso.com\" -AccessRights SendAs -Confirm:$false"
        );
    }

    #[test]
    fn a_name_powershell_would_expand_is_escaped() {
        assert_eq!(powershell_string("."), "\".\"");
        assert_eq!(
            powershell_string("pay $ \"now\" `x"),
            "\"pay `$ `\"now`\" ``x\""
        );
    }
}
