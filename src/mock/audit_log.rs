//! The mock tenant's mailboxes as the Unified Audit Log would hold them today, written as a
//! Purview audit search export: the same corpus and the same planted compromise, plus what the
//! Activities API never showed (the attacker's inbox rule and mailbox forwarding).
//!
//! Shapes follow the Management Activity API schema (MicrosoftDocs/office-365-management-api,
//! `office-365-management-activity-api-schema.md`: common, Exchange mailbox, Exchange admin) and
//! the export's columns as Purview writes them (UTF-8 with BOM; `RecordId, CreationDate,
//! RecordType, Operation, UserId, AuditData, ...`). Inferred: `QueryText` of
//! SearchQueryInitiatedExchange; the client strings' exact wording beyond `Client=...`.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::generate::{Corpus, Truth};
use std::io::Write;

use super::files::{
    parse_time as parse_timestamp, raw_query_text, write_atomically_with, MockFileError,
};

/// What the audit log adds to the scenario's truth: the planted rule's and forwarding's record Ids.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AuditTruth {
    pub inbox_rule_id: String,
    pub forwarding_id: String,
    pub forwarding_to: String,
}

/// Record types of the schema's `AuditLogRecordType`.
const EXCHANGE_ITEM: u32 = 2;
const EXCHANGE_ADMIN: u32 = 1;

/// Every mailbox's records, time-ordered; an activity becomes the record the UAL would have
/// written for it (same Id), activities the UAL does not audit (deliveries, calendar, ...) none.
pub fn audit_records(corpus: &Corpus) -> (Vec<Value>, Option<AuditTruth>) {
    let mut records = Vec::new();
    for (mailbox, activities) in &corpus.mailboxes {
        let parsed: Vec<Value> = activities
            .iter()
            .filter_map(|a| serde_json::from_str(&a.json).ok())
            .collect();
        records.extend(mailbox_records(mailbox, &parsed));
    }
    let truth = corpus
        .truth
        .as_ref()
        .and_then(|truth| plant_rule_and_forwarding(truth, &mut records));
    records.sort_by(|a, b| a["CreationTime"].as_str().cmp(&b["CreationTime"].as_str()));
    (records, truth)
}

fn property<'a>(activity: &'a Value, name: &str) -> Option<&'a str> {
    activity["CustomProperties"]
        .as_array()?
        .iter()
        .find(|p| p["Name"] == name)?
        .get("Value")?
        .as_str()
        .filter(|v| !v.is_empty())
}

fn field<'a>(activity: &'a Value, name: &str) -> &'a str {
    activity[name].as_str().unwrap_or("")
}

/// The UAL's time: UTC without a zone designator.
fn creation_time(activity: &Value) -> String {
    parse_timestamp(field(activity, "TimeStamp"))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

fn client_info(app: &str, agent: &str) -> String {
    match app {
        "Web" => format!("Client=OWA;{agent}"),
        "Outlook" => "Client=MSExchangeRPC".to_string(),
        "Mobile" => format!("Client=ActiveSync;{agent}"),
        "IMAP4" => "Client=IMAP4".to_string(),
        "POP3" => "Client=POP3".to_string(),
        other => format!("Client=REST;{other};{agent}"),
    }
}

fn mailbox_records(mailbox: &str, activities: &[Value]) -> Vec<Value> {
    // Messages are known to the UAL by InternetMessageId, not by Activities item Id.
    let message_ids: HashMap<&str, &str> = activities
        .iter()
        .filter(|a| a["ActivityIdType"] == "MessageDelivered")
        .filter_map(|a| {
            Some((
                field(a, "ActivityItemId"),
                property(a, "InternetMessageId")?,
            ))
        })
        .collect();
    let subjects: HashMap<&str, &str> = activities
        .iter()
        .filter_map(|a| Some((field(a, "ActivityItemId"), property(a, "Subject")?)))
        .collect();
    let message_id = |item: &str| {
        message_ids
            .get(item)
            .map(|m| m.to_string())
            .unwrap_or_else(|| format!("<{item}@contoso.example>"))
    };
    // A mailbox record carries the address of the session that made it (a logon's).
    let mut session_address: HashMap<&str, (String, String)> = HashMap::new();
    let mut records = Vec::new();
    for activity in activities {
        let kind = field(activity, "ActivityIdType");
        let session = field(activity, "ClientSessionId");
        let app = field(activity, "AppIdType");
        let item = field(activity, "ActivityItemId");
        let base = |operation: &str, address: &str, info: &str| {
            json!({
                "Id": field(activity, "Id"),
                "RecordType": EXCHANGE_ITEM,
                "CreationTime": creation_time(activity),
                "Operation": operation,
                "OrganizationId": field(activity, "TenantId"),
                "UserType": 0,
                "UserKey": mailbox,
                "Workload": "Exchange",
                "ResultStatus": "Succeeded",
                "UserId": mailbox,
                "MailboxOwnerUPN": mailbox,
                "LogonType": 0,
                "ClientIPAddress": address,
                "ClientInfoString": info,
                "SessionId": session,
            })
        };
        let (address, info) = session_address.get(session).cloned().unwrap_or_default();
        let mut record = match kind {
            "ServerLogon" | "Logon" => {
                let Some(ip) = property(activity, "ClientIP").or(property(activity, "IPAddress"))
                else {
                    continue;
                };
                let client = ip.split(',').next().unwrap_or(ip).trim();
                // The UAL writes the client's port; IPv6 in brackets then.
                let with_port = if client.contains(':') {
                    format!("[{client}]:443")
                } else {
                    format!("{client}:443")
                };
                let agent = property(activity, "UserAgent").unwrap_or("");
                let info = client_info(app, agent);
                session_address.insert(session, (with_port.clone(), info.clone()));
                base("MailboxLogin", &with_port, &info)
            }
            "ReadingPaneDisplayStart" | "MarkAsRead" | "Reply" | "ReplyAll" | "Forward" => {
                let mut record = base("MailItemsAccessed", &address, &info);
                record["OperationProperties"] = json!([
                    {"Name": "MailAccessType", "Value": "Bind"},
                    {"Name": "IsThrottled", "Value": "False"}]);
                record["Folders"] = json!([{"Path": "\\Inbox",
                    "FolderItems": [{"InternetMessageId": message_id(item)}]}]);
                record["OperationCount"] = json!(1);
                record
            }
            "SearchResult" => {
                let query = property(activity, "Query")
                    .map(raw_query_text)
                    .unwrap_or_default();
                let mut record = base("SearchQueryInitiatedExchange", &address, &info);
                record["QueryText"] = json!(query);
                record
            }
            "MessageSent" => {
                let mut record = base("Send", &address, &info);
                record["Item"] = json!({"InternetMessageId": message_id(item),
                    "Subject": subjects.get(item).copied().unwrap_or(""),
                    "ParentFolder": {"Path": "\\Sent Items"}});
                record
            }
            "Move" => {
                let folder = property(activity, "TargetFolder").unwrap_or("Inbox");
                let mut record = base("Move", &address, &info);
                record["DestFolder"] = json!({"Path": format!("\\{folder}")});
                record["AffectedItems"] = json!([{"InternetMessageId": message_id(item),
                    "Subject": subjects.get(item).copied().unwrap_or("")}]);
                record
            }
            "Delete" => {
                let hard = property(activity, "DeleteType") == Some("HardDelete");
                let mut record = base(
                    if hard { "HardDelete" } else { "SoftDelete" },
                    &address,
                    &info,
                );
                record["AffectedItems"] = json!([{"InternetMessageId": message_id(item),
                    "Subject": subjects.get(item).copied().unwrap_or("")}]);
                record
            }
            _ => continue,
        };
        // A record whose session opened with no logon carries no address, not an empty one.
        if let (true, Some(fields)) = (record["ClientIPAddress"] == "", record.as_object_mut()) {
            fields.remove("ClientIPAddress");
        }
        records.push(record);
    }
    records
}

/// The attacker's inbox rule (mail on "invoice" or "payment" to RSS Feeds, marked read) and a
/// forwarding of the mailbox to an address at the lure's domain, minutes after their first
/// finance search, from the address that search came from.
fn plant_rule_and_forwarding(truth: &Truth, records: &mut Vec<Value>) -> Option<AuditTruth> {
    let search = records
        .iter()
        .find(|r| truth.finance_search_ids.first() == r["Id"].as_str().map(String::from).as_ref())?
        .clone();
    let searched: DateTime<Utc> = parse_timestamp(search["CreationTime"].as_str()?)?;
    let at = |minutes: i64| {
        (searched + Duration::minutes(minutes))
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let domain = truth
        .phishing
        .sender
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| "lookalike.example".into());
    let forwarding_to = format!("accounts@{domain}");
    let admin = |id: &str, minutes: i64, operation: &str, parameters: Value| {
        json!({
            "Id": id,
            "RecordType": EXCHANGE_ADMIN,
            "CreationTime": at(minutes),
            "Operation": operation,
            "OrganizationId": search["OrganizationId"],
            "UserType": 0,
            "UserKey": truth.mailbox,
            "Workload": "Exchange",
            "ResultStatus": "True",
            "UserId": truth.mailbox,
            "ObjectId": truth.mailbox,
            "ClientIP": search["ClientIPAddress"],
            "ExternalAccess": false,
            "Parameters": parameters,
        })
    };
    let truth = AuditTruth {
        inbox_rule_id: "planted-inbox-rule".into(),
        forwarding_id: "planted-forwarding".into(),
        forwarding_to,
    };
    records.push(admin(
        &truth.inbox_rule_id,
        3,
        "New-InboxRule",
        json!([
            {"Name": "Mailbox", "Value": search["MailboxOwnerUPN"]},
            {"Name": "Name", "Value": ".."},
            {"Name": "SubjectOrBodyContainsWords", "Value": "invoice;payment"},
            {"Name": "MoveToFolder", "Value": "RSS Feeds"},
            {"Name": "MarkAsRead", "Value": "True"},
            {"Name": "StopProcessingRules", "Value": "True"}]),
    ));
    records.push(admin(
        &truth.forwarding_id,
        4,
        "Set-Mailbox",
        json!([
            {"Name": "Identity", "Value": search["MailboxOwnerUPN"]},
            {"Name": "ForwardingSmtpAddress", "Value": format!("smtp:{}", truth.forwarding_to)},
            {"Name": "DeliverToMailboxAndForward", "Value": "True"}]),
    ));
    Some(truth)
}

/// Writes records as a Purview audit search export.
pub fn write_export(records: &[Value], path: &Path) -> Result<(), MockFileError> {
    write_atomically_with(path, |file| {
        file.write_all(b"\xEF\xBB\xBF")?;
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(file);
        out.write_record([
            "RecordId",
            "CreationDate",
            "RecordType",
            "Operation",
            "UserId",
            "AuditData",
            "AssociatedAdminUnits",
            "AssociatedAdminUnitsNames",
        ])?;
        for record in records {
            let created = format!("{}.0000000Z", record["CreationTime"].as_str().unwrap_or(""));
            out.write_record([
                record["Id"].as_str().unwrap_or(""),
                &created,
                &record["RecordType"].to_string(),
                record["Operation"].as_str().unwrap_or(""),
                record["UserId"].as_str().unwrap_or(""),
                &record.to_string(),
                "",
                "",
            ])?;
        }
        out.flush()
    })
}
