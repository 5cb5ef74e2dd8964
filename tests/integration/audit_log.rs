//! Triage of Unified Audit Log records: a Purview audit search export (CSV, UTF-8 with BOM, the
//! record as JSON in `AuditData`), the same records as JSON Lines, and wrapped as Graph
//! auditLogRecords. A compromised mailbox with an owner who works from the office and from home
//! every day, and a colleague; the attacker signs in from a new network, searches for invoices,
//! reads, makes a hiding rule, forwards the mailbox and syncs the inbox.

use o365_activities::triage::category::Category;
use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};

const OWNER: &str = "ann@contoso.com";
const COLLEAGUE: &str = "bob@contoso.com";
const ATTACKER_IP: &str = "203.0.113.50";

struct Records {
    records: Vec<Value>,
    serial: u32,
}

impl Records {
    fn push(
        &mut self,
        day: i64,
        minute: i64,
        operation: &str,
        user: &str,
        fields: Value,
    ) -> String {
        self.serial += 1;
        let id = format!("00000000-0000-4000-8000-{:012}", self.serial);
        let time = Utc.with_ymd_and_hms(2024, 3, 1, 8, 0, 0).unwrap()
            + Duration::days(day)
            + Duration::minutes(minute);
        let mut record = json!({
            "Id": id,
            "RecordType": 2,
            // The UAL writes UTC without a zone designator.
            "CreationTime": time.format("%Y-%m-%dT%H:%M:%S").to_string(),
            "Operation": operation,
            "OrganizationId": "4a9b6c1e-0000-4000-8000-000000000001",
            "UserType": 0,
            "Workload": "Exchange",
            "UserId": user,
            "ResultStatus": "Succeeded",
        });
        if let (Value::Object(base), Value::Object(extra)) = (&mut record, fields) {
            base.extend(extra);
        }
        self.records.push(record);
        id
    }

    fn login(&mut self, day: i64, minute: i64, user: &str, address: &str, client: &str) -> String {
        self.push(
            day,
            minute,
            "MailboxLogin",
            user,
            json!({"MailboxOwnerUPN": user, "ClientIPAddress": address, "ClientInfoString": client,
                   "LogonType": 0, "SessionId": format!("{user}-{day}-{address}")}),
        )
    }
}

/// Thirty days: the owner from the office (with a port, as the UAL writes it) and from home
/// (IPv6, bracketed), the colleague alike; the attack on days 26 and 27.
fn tenant() -> (Vec<Value>, Vec<String>) {
    let mut r = Records {
        records: Vec::new(),
        serial: 0,
    };
    let owa =
        "Client=OWA;Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0";
    let outlook = "Client=MSExchangeRPC";
    for day in 0..30 {
        for user in [OWNER, COLLEAGUE] {
            r.login(day, 60, user, "198.51.100.7:50123", outlook);
            r.login(day, 600, user, "[2001:db8:10::5]:443", owa);
            r.push(day, 62, "MailItemsAccessed", user, json!({
                "MailboxOwnerUPN": user, "ClientIPAddress": "198.51.100.7:50123",
                "ClientInfoString": outlook, "SessionId": format!("{user}-{day}-198.51.100.7:50123"),
                "OperationProperties": [{"Name": "MailAccessType", "Value": "Bind"}, {"Name": "IsThrottled", "Value": "False"}],
                "Folders": [{"Path": "\\Inbox", "FolderItems": [{"InternetMessageId": format!("<d{day}@partner.example>"), "SizeInBytes": 4200}]}],
                "OperationCount": 1}));
            // Outlook in cached mode synchronises folders every day: not a finding by itself.
            r.push(
                day,
                63,
                "MailItemsAccessed",
                user,
                json!({
                "MailboxOwnerUPN": user, "ClientIPAddress": "198.51.100.7:50123",
                "ClientInfoString": outlook,
                "OperationProperties": [{"Name": "MailAccessType", "Value": "Sync"}],
                "Folders": [{"Path": "\\Inbox"}]}),
            );
            if day % 7 == 3 {
                // The colleague in finance searches for invoices every week.
                r.push(
                    day,
                    70,
                    "SearchQueryInitiatedExchange",
                    user,
                    json!({
                    "MailboxOwnerUPN": user, "ClientIPAddress": "198.51.100.7:50123",
                    "ClientInfoString": outlook, "QueryText": "invoice march"}),
                );
                r.push(day, 75, "Move", user, json!({
                    "MailboxOwnerUPN": user, "ClientIPAddress": "198.51.100.7:50123",
                    "ClientInfoString": outlook, "DestFolder": {"Path": "\\Archive"},
                    "AffectedItems": [{"InternetMessageId": format!("<d{day}@partner.example>"), "Subject": "Statement"}]}));
            }
        }
    }
    let mut attack = Vec::new();
    let session = json!({"MailboxOwnerUPN": OWNER, "ClientIPAddress": format!("{ATTACKER_IP}:61234"),
                         "ClientInfoString": owa, "SessionId": "attacker-session"});
    let with = |extra: Value| {
        let mut fields = session.clone();
        if let (Value::Object(base), Value::Object(extra)) = (&mut fields, extra) {
            base.extend(extra);
        }
        fields
    };
    attack.push(r.push(
        26,
        840,
        "MailboxLogin",
        OWNER,
        with(json!({"LogonType": 0})),
    ));
    attack.push(r.push(
        26,
        841,
        "SearchQueryInitiatedExchange",
        OWNER,
        with(json!({"QueryText": "wire transfer payment"})),
    ));
    attack.push(r.push(26, 842, "MailItemsAccessed", OWNER, with(json!({
        "OperationProperties": [{"Name": "MailAccessType", "Value": "Bind"}],
        "Folders": [{"Path": "\\Inbox", "FolderItems": [{"InternetMessageId": "<inv-2024-031@partner.example>"}]}]}))));
    attack.push(r.push(
        26,
        845,
        "New-InboxRule",
        OWNER,
        json!({
        "ClientIP": format!("{ATTACKER_IP}:61234"), "ObjectId": "ann\\.",
        "Parameters": [
            {"Name": "Name", "Value": "."},
            {"Name": "SubjectOrBodyContainsWords", "Value": "invoice;payment"},
            {"Name": "MoveToFolder", "Value": "RSS Feeds"},
            {"Name": "MarkAsRead", "Value": "True"},
            {"Name": "StopProcessingRules", "Value": "True"}]}),
    ));
    attack.push(r.push(
        26,
        846,
        "Set-Mailbox",
        OWNER,
        json!({
        "ClientIP": format!("{ATTACKER_IP}:61234"), "ObjectId": OWNER,
        "Parameters": [
            {"Name": "Identity", "Value": OWNER},
            {"Name": "ForwardingSmtpAddress", "Value": "smtp:ap-desk@lookalike.example"},
            {"Name": "DeliverToMailboxAndForward", "Value": "True"}]}),
    ));
    attack.push(r.push(
        27,
        30,
        "MailItemsAccessed",
        OWNER,
        with(json!({
        "OperationProperties": [{"Name": "MailAccessType", "Value": "Sync"}],
        "Folders": [{"Path": "\\Inbox"}]})),
    ));
    (r.records, attack)
}

/// As Purview writes it: a BOM, CRLF, the record as JSON in a quoted column.
fn write_export(path: &Path, records: &[Value]) {
    o365_activities::mock::audit_log::write_export(records, path).unwrap();
}

fn write_lines(path: &Path, records: impl Iterator<Item = Value>) {
    let text: Vec<String> = records.map(|r| r.to_string()).collect();
    std::fs::write(path, text.join("\n") + "\n").unwrap();
}

fn triage(input: &Path) -> Value {
    let output = input.with_extension("report.json");
    let words: [&std::ffi::OsStr; 6] = [
        input.as_ref(),
        "--quiet".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--output".as_ref(),
        output.as_ref(),
    ];
    crate::support::triage_output(&words);
    serde_json::from_str(&std::fs::read_to_string(output).unwrap()).unwrap()
}

/// (severity, category, title, activity ids) of a mailbox's findings.
fn findings(report: &Value, mailbox: &str) -> Vec<(String, String, String, Vec<String>)> {
    let mailbox = report["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mailbox"] == mailbox)
        .unwrap_or_else(|| panic!("no mailbox {mailbox}"));
    mailbox["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_string(),
                f["category"].as_str().unwrap().to_string(),
                f["title"].as_str().unwrap().to_string(),
                f["activity_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn a_purview_export_jsonl_and_graph_records_give_the_same_findings() {
    let dir = tempfile::tempdir().unwrap();
    let (records, attack) = tenant();
    let export = dir.path().join("AuditLog_2024-03-01.csv");
    write_export(&export, &records);
    let lines = dir.path().join("records.jsonl");
    write_lines(&lines, records.iter().cloned());
    let graph = dir.path().join("graph.jsonl");
    write_lines(
        &graph,
        records.iter().map(|r| {
            json!({"id": r["Id"], "createdDateTime": format!("{}Z", r["CreationTime"].as_str().unwrap()),
                   "operation": r["Operation"], "userPrincipalName": r["UserId"], "auditData": r})
        }),
    );

    let from_export = triage(&export);
    assert_eq!(
        from_export["case"]["mailboxes"].as_array().unwrap().len(),
        2
    );
    let owner = findings(&from_export, OWNER);
    let raised = |category: &str| {
        owner
            .iter()
            .filter(|(severity, c, ..)| c == category && severity == "high")
            .collect::<Vec<_>>()
    };
    // The attacker's source, from a network the owner never used, and what it did.
    assert!(
        raised("logon")
            .iter()
            .any(|(_, _, title, _)| title.contains(ATTACKER_IP)),
        "{owner:#?}"
    );
    assert!(raised("search")
        .iter()
        .any(|(.., ids)| ids.contains(&attack[1])));
    let rule = raised("rule");
    assert_eq!(rule.len(), 1, "{owner:#?}");
    assert_eq!(rule[0].3, vec![attack[3].clone()]);
    let forwarding = raised("forwarding");
    assert_eq!(forwarding.len(), 1);
    assert!(forwarding[0].2.contains("ap-desk@lookalike.example"));
    assert!(raised("client")
        .iter()
        .any(|(.., ids)| ids.contains(&attack[5])));
    // The rule, the forwarding and the sync were made from the attacker's address: they are told
    // as part of its incident, not beside it.
    let mailbox = from_export["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mailbox"] == OWNER)
        .unwrap();
    let incident = mailbox["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["source"] == ATTACKER_IP)
        .expect("an incident for the attacker's address");
    let members: Vec<&str> = incident["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            mailbox["findings"][i.as_u64().unwrap() as usize]["category"]
                .as_str()
                .unwrap()
        })
        .collect();
    for category in ["logon", "search", "rule", "forwarding", "client"] {
        assert!(members.contains(&category), "{category} not in {members:?}");
    }
    // Nothing of the owner's own office, home or daily syncs is raised.
    for (severity, category, title, ids) in &owner {
        if severity != "low" {
            assert!(
                ids.iter().all(|id| attack.contains(id)),
                "{severity} {category} {title} cites the owner's own activity"
            );
        }
    }
    // The finance colleague's weekly invoice searches and archiving are not findings.
    let colleague: Vec<_> = findings(&from_export, COLLEAGUE)
        .into_iter()
        .filter(|(severity, ..)| severity != "low")
        .collect();
    assert!(colleague.is_empty(), "{colleague:#?}");

    for other in [&lines, &graph] {
        let report = triage(other);
        assert_eq!(
            findings(&report, OWNER),
            owner,
            "{} differs from the export",
            other.display()
        );
    }
}

#[test]
fn an_export_without_audit_data_is_refused_with_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let (records, _) = tenant();
    let export = dir.path().join("broken.csv");
    write_export(&export, &records[..3]);
    // Damage one row's AuditData.
    let text = std::fs::read_to_string(&export).unwrap();
    let damaged = text.replacen("\"{\"\"Id\"\"", "\"{\"\"Id\"\":,", 1);
    assert_ne!(text, damaged);
    std::fs::write(&export, damaged).unwrap();
    let result = Command::cargo_bin("o365-activities")
        .unwrap()
        .args(["triage", "--quiet"])
        .arg(&export)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("row 2: not an audit record"), "{stderr}");
}

/// The mock tenant's realistic compromise, rendered as the audit log would hold it (the demo's
/// export): triage finds the attacker's addresses, rule and forwarding, and nothing of note in
/// the finance colleague's mailbox.
#[test]
fn the_mock_tenants_compromise_is_found_through_its_audit_log_export() {
    use crate::support::Tenant;
    use o365_activities::mock::audit_log::audit_records;
    use o365_activities::mock::Scenario;
    use o365_activities::triage::analyze::DEFAULT_KEYWORDS;
    use o365_activities::triage::{analyze_mailbox, plan_inputs, Settings, Severity};
    for seed in [1u64, 2] {
        let corpus = Tenant::builder()
            .users(4)
            .per_user(1500)
            .days(120)
            .seed(seed)
            .scenario(Scenario::Bec)
            .corpus();
        let truth = corpus.truth.clone().unwrap();
        let (records, planted) = audit_records(&corpus);
        let planted = planted.expect("the rule and forwarding are planted");
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("audit.csv");
        write_export(&export, &records);
        let settings = Settings {
            home_countries: vec![],
            keywords: DEFAULT_KEYWORDS.iter().map(|s| s.to_string()).collect(),
            geo: Default::default(),
        };
        let inputs = plan_inputs(&[export]).unwrap();
        assert_eq!(inputs.len(), 4, "one mailbox per user");
        for input in inputs {
            let report = analyze_mailbox(&input.load().unwrap(), &settings);
            let raised: Vec<_> = report
                .findings
                .iter()
                .filter(|f| f.severity != Severity::Low)
                .collect();
            if report.mailbox != truth.mailbox {
                assert!(
                    raised.len() <= 2,
                    "seed {seed}, {}: {:#?}",
                    report.mailbox,
                    raised.iter().map(|f| &f.title).collect::<Vec<_>>()
                );
                continue;
            }
            let high_citing = |id: &str| {
                raised
                    .iter()
                    .any(|f| f.severity == Severity::High && f.activity_ids.iter().any(|i| i == id))
            };
            assert!(high_citing(&planted.inbox_rule_id), "seed {seed}: no rule");
            assert!(
                high_citing(&planted.forwarding_id),
                "seed {seed}: no forwarding"
            );
            for ip in &truth.attacker_ips {
                assert!(
                    raised
                        .iter()
                        .any(|f| f.category == Category::Logon && f.title.contains(ip.as_str())),
                    "seed {seed}: attacker address {ip} not raised"
                );
            }
            for ip in &truth.owner_ips {
                assert!(
                    !raised.iter().any(|f| f.severity == Severity::High
                        && f.category == Category::Logon
                        && f.title.contains(ip.as_str())),
                    "seed {seed}: the owner's {ip} is high"
                );
            }
        }
    }
}

/// `mock-tenant generate --audit-log` writes the export an analyst can try triage on.
#[test]
fn the_generator_writes_an_audit_log_export_that_triage_reads() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.csv");
    let generated = Command::cargo_bin("o365-activities")
        .unwrap()
        .args([
            "mock-tenant",
            "generate",
            "--quiet",
            "--users",
            "3",
            "--per-user",
            "400",
        ])
        .args(["--scenario", "bec", "--out"])
        .arg(dir.path().join("corpus.jsonl"))
        .arg("--audit-log")
        .arg(&export)
        .status()
        .unwrap();
    assert!(generated.success());
    assert!(std::fs::read(&export)
        .unwrap()
        .starts_with(b"\xEF\xBB\xBFRecordId,"));
    let triaged = Command::cargo_bin("o365-activities")
        .unwrap()
        .args(["triage", "--quiet", "--format", "jsonl"])
        .arg(&export)
        .output()
        .unwrap();
    assert!(triaged.status.success());
    let findings: Vec<Value> = String::from_utf8_lossy(&triaged.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for category in ["rule", "forwarding", "logon"] {
        assert!(
            findings
                .iter()
                .any(|f| f["category"] == category && f["severity"] == "high"),
            "no high {category} finding"
        );
    }
}

/// A record that names no user is left out, and said to be.
#[test]
fn records_without_a_user_are_counted_not_dropped_silently() {
    let dir = tempfile::tempdir().unwrap();
    let (mut records, _) = tenant();
    if let Value::Object(fields) = &mut records[5] {
        fields.remove("UserId");
        fields.remove("MailboxOwnerUPN");
    }
    let lines = dir.path().join("records.jsonl");
    write_lines(&lines, records.into_iter());
    let result = Command::cargo_bin("o365-activities")
        .unwrap()
        .args(["triage", "--format", "jsonl"])
        .arg(&lines)
        .output()
        .unwrap();
    assert!(result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("1 records name neither MailboxOwnerUPN nor UserId"),
        "{stderr}"
    );
}
