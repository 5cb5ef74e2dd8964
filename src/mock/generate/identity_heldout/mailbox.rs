//! Mailbox activity as the Unified Audit Log records it (Exchange mailbox schema of
//! MicrosoftDocs/office-365-management-api `office-365-management-activity-api-schema.md`),
//! each record made through a sign-in's token: `MailboxLogin`, `MailItemsAccessed` (Bind with
//! the messages' `InternetMessageId`s in `Folders[].FolderItems[]`; Sync with the folder only,
//! as the service writes it for a whole-folder download; `IsThrottled` `True` with no items,
//! when Bind logging paused), `Send`, `Move`, `SoftDelete`, `SearchQueryInitiatedExchange`
//! (`QueryText`, the name peers read: not in the schema page) and `UpdateInboxRules` (an
//! Outlook client's rule change: `OperationProperties` `RuleName`, `RuleCondition`,
//! `RuleActions`, inferred from the records peers parse).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::log::Log;
use super::shapes::{guid, mailbox_base, Client, Token};

/// A message in a mailbox.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub subject: String,
    pub folder: &'static str,
    pub arrived: DateTime<Utc>,
}

/// A mailbox used through a token with a client.
#[derive(Debug, Clone)]
pub struct Access {
    pub token: Token,
    pub client: Client,
    pub mailbox: String,
}

impl Access {
    pub fn new(token: &Token, info: &str) -> Self {
        Access {
            token: token.clone(),
            client: Client {
                info: info.into(),
                logon_type: 0,
            },
            mailbox: token.upn.clone(),
        }
    }
}

fn base(log: &mut Log, access: &Access, at: DateTime<Utc>, operation: &str) -> Value {
    mailbox_base(
        &mut log.rng,
        &access.token,
        &access.client,
        &access.mailbox,
        at,
        operation,
    )
}

pub fn login(log: &mut Log, access: &Access, at: DateTime<Utc>) -> String {
    let record = base(log, access, at, "MailboxLogin");
    log.record(record)
}

fn mail_items_accessed(
    log: &mut Log,
    access: &Access,
    at: DateTime<Utc>,
    kind: &str,
    throttled: bool,
    folders: Value,
    count: usize,
) -> String {
    let mut record = base(log, access, at, "MailItemsAccessed");
    record["OperationProperties"] = json!([
        {"Name": "MailAccessType", "Value": kind},
        {"Name": "IsThrottled", "Value": if throttled { "True" } else { "False" }},
    ]);
    record["Folders"] = folders;
    record["OperationCount"] = json!(count);
    log.record(record)
}

/// A Bind of `messages` (one folder, aggregated as the service does over two minutes).
pub fn bind(log: &mut Log, access: &Access, at: DateTime<Utc>, messages: &[&Message]) -> String {
    let folder = messages.first().map(|m| m.folder).unwrap_or("Inbox");
    let items: Vec<Value> = messages
        .iter()
        .map(|m| json!({"InternetMessageId": m.id, "SizeInBytes": 18_000 + m.subject.len() * 731}))
        .collect();
    let folders =
        json!([{"Id": folder_id(folder), "Path": format!("\\{folder}"), "FolderItems": items}]);
    mail_items_accessed(log, access, at, "Bind", false, folders, messages.len())
}

/// A Sync of a whole folder: the folder only, no messages.
pub fn sync(log: &mut Log, access: &Access, at: DateTime<Utc>, folder: &str) -> String {
    let folders = json!([{"Id": folder_id(folder), "Path": format!("\\{folder}")}]);
    mail_items_accessed(log, access, at, "Sync", false, folders, 1)
}

/// The record that says Bind logging paused (more than 1,000 records in 24 hours): no items.
pub fn throttled(log: &mut Log, access: &Access, at: DateTime<Utc>) -> String {
    mail_items_accessed(log, access, at, "Bind", true, json!([]), 1)
}

pub fn send(
    log: &mut Log,
    access: &Access,
    at: DateTime<Utc>,
    message: &Message,
    to: &[&str],
) -> String {
    let mut record = base(log, access, at, "Send");
    record["Item"] = json!({
        "Id": guid(&mut log.rng),
        "InternetMessageId": message.id,
        "Subject": message.subject,
        "ParentFolder": {"Path": "\\Sent Items"},
        "Recipients": to,
    });
    log.record(record)
}

pub fn move_to(
    log: &mut Log,
    access: &Access,
    at: DateTime<Utc>,
    to: &str,
    messages: &[&Message],
) -> String {
    let from = messages.first().map(|m| m.folder).unwrap_or("Inbox");
    let mut record = base(log, access, at, "Move");
    record["Folder"] = json!({"Id": folder_id(from), "Path": format!("\\{from}")});
    record["DestFolder"] = json!({"Id": folder_id(to), "Path": format!("\\{to}")});
    record["AffectedItems"] = affected(messages);
    log.record(record)
}

pub fn soft_delete(
    log: &mut Log,
    access: &Access,
    at: DateTime<Utc>,
    messages: &[&Message],
) -> String {
    let from = messages.first().map(|m| m.folder).unwrap_or("Inbox");
    let mut record = base(log, access, at, "SoftDelete");
    record["Folder"] = json!({"Id": folder_id(from), "Path": format!("\\{from}")});
    record["AffectedItems"] = affected(messages);
    log.record(record)
}

pub fn search(log: &mut Log, access: &Access, at: DateTime<Utc>, query: &str) -> String {
    let mut record = base(log, access, at, "SearchQueryInitiatedExchange");
    record["QueryText"] = json!(query);
    record["SearchQueryIdentifier"] = json!(guid(&mut log.rng));
    log.record(record)
}

/// An inbox rule written by an Outlook client (`UpdateInboxRules`).
pub fn update_inbox_rules(
    log: &mut Log,
    access: &Access,
    at: DateTime<Utc>,
    (name, condition, actions): (&str, &str, &str),
) -> String {
    let mut record = base(log, access, at, "UpdateInboxRules");
    record["OperationProperties"] = json!([
        {"Name": "RuleOperation", "Value": "AddMailboxRule"},
        {"Name": "RuleName", "Value": name},
        {"Name": "RuleCondition", "Value": condition},
        {"Name": "RuleActions", "Value": actions},
    ]);
    log.record(record)
}

fn affected(messages: &[&Message]) -> Value {
    messages
        .iter()
        .map(|m| json!({"InternetMessageId": m.id, "Subject": m.subject}))
        .collect()
}

/// A folder's id: fixed per folder name (the mailbox's folder, inferred format).
fn folder_id(folder: &str) -> String {
    let hash = folder.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    });
    format!("LgAAAAB{hash:08X}AQAAAAAAAA==")
}
