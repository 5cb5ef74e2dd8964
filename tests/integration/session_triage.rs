//! Session triage through the binary, over evidence files: the mock's identity scenario
//! written as the tool writes its evidence (audit log records, sign-ins, directory audits as
//! JSON Lines), then `triage` joins them and says which session is the attacker's.

use std::path::Path;

use o365_activities::mock::generate::identity_scenario::{
    identity_scenario, IdentityFamily, IdentityScenario,
};
use o365_activities::triage::evaluate_identity::write_evidence;
use serde_json::Value;

use crate::binary_support::binary;

fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let output = binary().current_dir(dir).args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The scenario of `seed` written as evidence files and triaged with `inputs` and `extra`
/// into a JSON report: the scenario, its folder and the report.
fn triaged(
    seed: u64,
    inputs: &[&str],
    extra: &[&str],
) -> (IdentityScenario, tempfile::TempDir, Value) {
    let scenario = identity_scenario(IdentityFamily::Standard, seed);
    let dir = tempfile::tempdir().unwrap();
    write_evidence(&scenario, dir.path()).unwrap();
    let mut args = vec!["triage"];
    args.extend(inputs);
    args.extend(["--format", "json", "--output", "report.json"]);
    args.extend(extra);
    let (code, stderr) = run(dir.path(), &args);
    assert_eq!(code, 0, "{stderr}");
    let report =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    (scenario, dir, report)
}

#[test]
fn triage_joins_the_sign_ins_to_the_mailbox_and_lists_what_the_session_read() {
    let (scenario, dir, report) = triaged(
        5,
        &["audit-log.jsonl", "signins.jsonl", "directory-audits.jsonl"],
        &["--exposed", "exposed.csv", "--timesketch", "timeline.jsonl"],
    );
    let truth = &scenario.truth;
    let victim = report["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mailbox"] == truth.victims[0].as_str())
        .unwrap();
    let session = &victim["sessions"][0];
    assert_eq!(session["session"], truth.attacker_sessions[0].as_str());
    assert_eq!(session["severity"], "high");
    assert!(session["joins"]["aad-session-id"].as_u64().unwrap() > 0);
    let replayed: Vec<&str> = session["replay_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for address in &truth.replay_addresses {
        assert!(
            replayed.contains(&address.as_str()),
            "{address} in {replayed:?}"
        );
    }
    // The session's incident comes first and holds what it left behind.
    let incident = &victim["incidents"][0];
    assert_eq!(incident["session"], truth.attacker_sessions[0].as_str());
    let findings = victim["findings"].as_array().unwrap();
    let cited: Vec<&str> = incident["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| {
            findings[i.as_u64().unwrap() as usize]["activity_ids"]
                .as_array()
                .unwrap()
        })
        .filter_map(Value::as_str)
        .collect();
    for id in &truth.persistence_ids {
        assert!(
            cited.contains(&id.as_str()),
            "{id} not in the session's incident"
        );
    }
    let tables: Vec<&str> = victim["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for table in [
        "remediation",
        "incident_timeline",
        "exposure",
        "persistence",
    ] {
        assert!(tables.contains(&table), "{table} in {tables:?}");
    }
    // Every message the attacker read is listed, with its session and how.
    let exposed = std::fs::read_to_string(dir.path().join("exposed.csv")).unwrap();
    assert!(
        exposed.starts_with("mailbox,message,subject,sender,folder,when,session,how,evidence_id")
    );
    for message in &truth.read_message_ids {
        assert!(exposed.contains(message.as_str()), "{message} not listed");
    }
    assert!(exposed.contains(",bind,"));
    let timeline = std::fs::read_to_string(dir.path().join("timeline.jsonl")).unwrap();
    assert!(timeline.contains("Identity record time"));
    // HTML: the incident on top, its timeline under it, the charts after.
    let (code, stderr) = run(
        dir.path(),
        &[
            "triage",
            "audit-log.jsonl",
            "signins.jsonl",
            "--format",
            "html",
            "--output",
            "r.html",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let page = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    let victim_section = &page[page.find(&format!(">{}</h2>", truth.victims[0])).unwrap()..];
    let at = |text: &str| {
        victim_section
            .find(text)
            .unwrap_or_else(|| panic!("{text}"))
    };
    assert!(at("Incident 1") < at("Remediation, in this order"));
    assert!(at("Remediation, in this order") < at("Incident timeline"));
    assert!(at("Incident timeline") < at("Activity per day"));
    // The other mailboxes: the spraying named, never high alone.
    for mailbox in report["mailboxes"].as_array().unwrap() {
        for finding in mailbox["findings"].as_array().unwrap() {
            if finding["category"] == "spraying" {
                assert_eq!(finding["severity"], "medium", "{finding}");
            }
        }
    }
}

#[test]
fn identity_evidence_alone_is_triaged_a_person_at_a_time() {
    let (scenario, _dir, report) = triaged(2, &["signins.jsonl", "directory-audits.jsonl"], &[]);
    let people = report["mailboxes"].as_array().unwrap();
    assert!(people.len() >= 5);
    let victim = people
        .iter()
        .find(|m| m["mailbox"] == scenario.truth.victims[0].as_str())
        .unwrap();
    assert_eq!(victim["sessions"][0]["severity"], "high");
}

#[test]
fn a_file_of_other_records_a_sign_in_csv_and_exposed_without_sign_ins_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("other.jsonl"),
        "{\"name\": \"not a record\"}\n",
    )
    .unwrap();
    let (code, stderr) = run(dir.path(), &["triage", "other.jsonl"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not one triage reads"), "{stderr}");

    std::fs::write(
        dir.path().join("signins.csv"),
        "id,createdDateTime\n1,2024-05-01\n",
    )
    .unwrap();
    let manifest = serde_json::json!({"tool": "o365-activities", "tool_version": "1",
        "started_at": "", "finished_at": "", "status": "complete",
        "query": {"source": "signins", "base_url": "", "api_version": "beta", "mailbox": "",
            "filter": "", "paging": "", "page_size": 0, "select": null, "first_request": ""},
        "records": 1, "pages": 1, "requests": 1, "retries": 0, "throttle_waits": 0,
        "throttle_wait_seconds": 0.0, "files": []});
    std::fs::write(
        dir.path().join("signins.csv.manifest.json"),
        manifest.to_string(),
    )
    .unwrap();
    let (code, stderr) = run(dir.path(), &["triage", "signins.csv"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("give triage its JSON Lines evidence"),
        "{stderr}"
    );

    let scenario = identity_scenario(IdentityFamily::Standard, 1);
    write_evidence(&scenario, dir.path()).unwrap();
    let (code, stderr) = run(
        dir.path(),
        &["triage", "audit-log.jsonl", "--exposed", "x.csv"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--exposed lists what attacker sessions read"),
        "{stderr}"
    );
    assert!(!dir.path().join("x.csv").exists());
}
