//! The held-out family's truth names records that exist, its confounders are what they say,
//! the seed reaches every playbook and the shapes carry the documented fields.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::super::identity_scenario::{
    identity_scenario, multi_address_sessions, IdentityFamily, IdentityScenario,
};
use super::{generate, playbook_of, PLAYBOOKS};

const SEEDS: std::ops::RangeInclusive<u64> = 1..=8;

fn scenario(seed: u64) -> IdentityScenario {
    identity_scenario(IdentityFamily::Heldout, seed)
}

fn str_of<'v>(value: &'v Value, field: &str) -> &'v str {
    value[field].as_str().unwrap_or("")
}

fn session_of(record: &Value) -> &str {
    record["AppAccessContext"]["AADSessionId"]
        .as_str()
        .unwrap_or("")
}

/// The address of a `ClientIPAddress` (`1.2.3.4:50000`, `[2a01::1]:50000`).
fn host(address: &str) -> &str {
    match address.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => address.split(':').next().unwrap_or(address),
    }
}

fn bound_ids(record: &Value) -> Vec<String> {
    record["Folders"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["FolderItems"].as_array().into_iter().flatten())
        .filter_map(|i| i["InternetMessageId"].as_str().map(String::from))
        .collect()
}

fn access_type(record: &Value) -> (&str, &str) {
    let property = |name: &str| {
        record["OperationProperties"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["Name"] == name)
            .and_then(|p| p["Value"].as_str())
            .unwrap_or("")
    };
    (property("MailAccessType"), property("IsThrottled"))
}

fn sorted_and_unique(list: &[String]) -> bool {
    list.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn the_truth_names_records_that_exist() {
    for seed in SEEDS {
        let s = scenario(seed);
        let t = &s.truth;
        assert_eq!(t.family, "heldout");
        for list in [
            &t.victims,
            &t.attacker_sessions,
            &t.replay_addresses,
            &t.persistence_ids,
            &t.read_message_ids,
            &t.legit_multi_address_sessions,
            &t.spray_addresses,
        ] {
            assert!(!list.is_empty(), "seed {seed}: {t:?}");
            assert!(sorted_and_unique(list), "seed {seed}: {list:?}");
        }
        let ids: BTreeSet<&str> = s
            .directory_audits
            .iter()
            .map(|a| str_of(a, "id"))
            .chain(s.audit_records.iter().map(|r| str_of(r, "Id")))
            .collect();
        for id in &t.persistence_ids {
            assert!(ids.contains(id.as_str()), "seed {seed}: no record {id}");
        }
        let attacker: BTreeSet<&str> = t.attacker_sessions.iter().map(String::as_str).collect();
        for session in &attacker {
            let signins: Vec<&Value> = s
                .signins
                .iter()
                .filter(|x| str_of(x, "sessionId") == *session)
                .collect();
            assert!(
                !signins.is_empty(),
                "seed {seed}: {session} signs in nowhere"
            );
            for signin in signins {
                assert!(t
                    .victims
                    .iter()
                    .any(|v| v == str_of(signin, "userPrincipalName")));
            }
            assert!(
                s.audit_records.iter().any(|r| session_of(r) == *session),
                "seed {seed}: {session} made no record"
            );
        }
        // Every replay address is a non-interactive sign-in of a stolen session.
        for ip in &t.replay_addresses {
            assert!(s.signins.iter().any(|x| str_of(x, "ipAddress") == ip
                && attacker.contains(str_of(x, "sessionId"))
                && x["isInteractive"] == false));
        }
        // A replay address is the attacker's alone: no one else's session comes from it.
        for signin in &s.signins {
            if t.replay_addresses
                .iter()
                .any(|ip| ip == str_of(signin, "ipAddress"))
            {
                assert!(
                    attacker.contains(str_of(signin, "sessionId")),
                    "seed {seed}: {signin}"
                );
            }
        }
        // What the attacker read is exactly the Binds made from the replay addresses.
        let mut read = BTreeSet::new();
        for record in &s.audit_records {
            let from_replay = t
                .replay_addresses
                .iter()
                .any(|ip| ip == host(str_of(record, "ClientIPAddress")));
            if record["Operation"] == "MailItemsAccessed"
                && attacker.contains(session_of(record))
                && from_replay
            {
                read.extend(bound_ids(record));
            }
        }
        let read: Vec<String> = read.into_iter().collect();
        assert_eq!(read, t.read_message_ids, "seed {seed}");
        // Spraying never succeeds, and comes from several addresses at several people.
        assert!(t.spray_addresses.len() >= 4);
        for ip in &t.spray_addresses {
            let tries: Vec<&Value> = s
                .signins
                .iter()
                .filter(|x| str_of(x, "ipAddress") == ip)
                .collect();
            let people: BTreeSet<&str> = tries
                .iter()
                .map(|x| str_of(x, "userPrincipalName"))
                .collect();
            assert!(people.len() >= 2, "seed {seed}: {ip}");
            assert!(tries
                .iter()
                .all(|x| [50126, 50053].contains(&x["status"]["errorCode"].as_u64().unwrap_or(0))));
        }
    }
}

#[test]
fn the_legitimate_multi_address_sessions_are_all_of_them_and_really_have_several_addresses() {
    for seed in SEEDS {
        let s = scenario(seed);
        let expected: Vec<String> = multi_address_sessions(&s.signins)
            .into_iter()
            .filter(|x| !s.truth.attacker_sessions.contains(x))
            .collect();
        assert_eq!(
            expected, s.truth.legit_multi_address_sessions,
            "seed {seed}"
        );
    }
}

#[test]
fn the_confounders_are_what_they_say() {
    let s = scenario(3);
    let t = &s.truth;
    let mut by_session: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for signin in s.signins.iter().filter(|x| x["status"]["errorCode"] == 0) {
        by_session
            .entry(str_of(signin, "sessionId"))
            .or_default()
            .push(signin);
    }
    // A person's laptop sessions among the legitimate multi-address ones (not the phone's).
    let legit = |user: &str| -> Vec<&Vec<&Value>> {
        by_session
            .iter()
            .filter(|(session, signins)| {
                t.legit_multi_address_sessions.iter().any(|l| l == *session)
                    && str_of(signins[0], "userPrincipalName").starts_with(user)
                    && signins
                        .iter()
                        .all(|x| x["appDisplayName"] != "Outlook Mobile")
            })
            .map(|(_, signins)| signins)
            .collect()
    };
    // The VPN: one session, several countries, one compliant device.
    let vpn = legit("mehdi.benali");
    assert!(!vpn.is_empty());
    for signins in &vpn {
        let countries: BTreeSet<&str> = signins
            .iter()
            .map(|x| x["location"]["countryOrRegion"].as_str().unwrap_or(""))
            .collect();
        let devices: BTreeSet<&str> = signins
            .iter()
            .map(|x| x["deviceDetail"]["deviceId"].as_str().unwrap_or(""))
            .collect();
        assert!(countries.len() > 1, "{countries:?}");
        assert_eq!(devices.len(), 1);
        assert!(signins
            .iter()
            .all(|x| x["deviceDetail"]["isCompliant"] == true));
    }
    // IPv6 privacy addresses: several, all in one /64.
    let home = legit("sophie.laurent");
    assert!(!home.is_empty());
    for signins in &home {
        let prefixes: BTreeSet<String> = signins
            .iter()
            .map(|x| {
                str_of(x, "ipAddress")
                    .split(':')
                    .take(4)
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .collect();
        assert_eq!(prefixes.len(), 1, "{prefixes:?}");
    }
    // The VDI: a hosting ASN, an interactive OfficeHome sign-in, two addresses, every day.
    let vdi = legit("thomas.nguyen");
    assert!(vdi.len() >= 20, "{}", vdi.len());
    assert!(vdi.iter().all(
        |signins| signins.iter().any(|x| x["autonomousSystemNumber"] == 8075
            && x["isInteractive"] == true
            && x["appDisplayName"] == "OfficeHome")
    ));
    // The customer site: the office and a guest Wi-Fi in one session.
    assert!(!legit("lea.fontaine").is_empty());
    // The conference room: device code from the office, not the attacker.
    let room: Vec<&Value> = s
        .signins
        .iter()
        .filter(|x| str_of(x, "userPrincipalName") == super::confounders::ROOM)
        .collect();
    assert!(room
        .iter()
        .any(|x| x["authenticationProtocol"] == "deviceCode"));
    assert!(room
        .iter()
        .all(|x| x["originalTransferMethod"] == "deviceCodeFlow"
            && !t
                .attacker_sessions
                .iter()
                .any(|a| a == str_of(x, "sessionId"))));
    // The helpdesk's MFA work and the admin's consent are not the attacker's.
    let activities = |name: &str| -> Vec<&Value> {
        s.directory_audits
            .iter()
            .filter(|a| a["activityDisplayName"] == name)
            .collect()
    };
    for name in [
        "Admin deleted security info",
        "Admin registered security info",
        "Consent to application",
    ] {
        let found = activities(name);
        assert!(!found.is_empty(), "{name}");
        if name != "Consent to application" {
            assert!(found
                .iter()
                .all(|a| !t.persistence_ids.iter().any(|p| p == str_of(a, "id"))));
        }
    }
    assert!(activities("Consent to application")
        .iter()
        .any(|a| !t.persistence_ids.iter().any(|p| p == str_of(a, "id"))));
}

#[test]
fn the_seed_reaches_every_playbook_and_each_leaves_its_signals() {
    let reached: BTreeSet<&str> = SEEDS.map(playbook_of).collect();
    assert_eq!(reached.len(), PLAYBOOKS.len());
    assert_ne!(playbook_of(1), playbook_of(2));
    for seed in 1..=4u64 {
        let s = generate(seed);
        let t = &s.truth;
        assert_eq!(t.playbook, playbook_of(seed));
        let attacker: Vec<&Value> = s
            .signins
            .iter()
            .filter(|x| {
                t.attacker_sessions
                    .iter()
                    .any(|a| a == str_of(x, "sessionId"))
            })
            .collect();
        let operations: BTreeSet<&str> = s
            .audit_records
            .iter()
            .filter(|r| t.persistence_ids.iter().any(|p| p == str_of(r, "Id")))
            .map(|r| str_of(r, "Operation"))
            .collect();
        let in_session = |operation: &str, kind: &str, throttled: &str| {
            s.audit_records.iter().any(|r| {
                r["Operation"] == operation
                    && t.attacker_sessions.iter().any(|a| a == session_of(r))
                    && access_type(r) == (kind, throttled)
            })
        };
        assert!(
            in_session("MailItemsAccessed", "Sync", "False"),
            "seed {seed}"
        );
        match playbook_of(seed) {
            "device-code" => {
                assert!(attacker
                    .iter()
                    .all(|x| x["originalTransferMethod"] == "deviceCodeFlow"));
                assert!(attacker
                    .iter()
                    .any(|x| x["authenticationProtocol"] == "deviceCode"));
                assert!(in_session("MailItemsAccessed", "Bind", "True"));
                assert!(operations.contains("UpdateInboxRules"));
            }
            "aitm-low-and-slow" => {
                let origin = attacker
                    .iter()
                    .find(|x| x["isInteractive"] == true)
                    .unwrap();
                assert_eq!(origin["appDisplayName"], "One Outlook Web");
                let born = str_of(origin, "createdDateTime");
                let first_replay = attacker
                    .iter()
                    .filter(|x| x["isInteractive"] == false)
                    .map(|x| str_of(x, "createdDateTime"))
                    .min()
                    .unwrap();
                let days = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
                assert!((days(first_replay) - days(born)).num_days() >= 3);
                // Low and slow: short visits on different days.
                let visit_days: BTreeSet<&str> = attacker
                    .iter()
                    .filter(|x| x["isInteractive"] == false)
                    .map(|x| &str_of(x, "createdDateTime")[..10])
                    .collect();
                assert!(visit_days.len() >= 3, "{visit_days:?}");
                assert!(operations.contains("Set-Mailbox"));
            }
            "stolen-token" => {
                let devices: BTreeSet<&str> = attacker
                    .iter()
                    .map(|x| x["deviceDetail"]["deviceId"].as_str().unwrap_or(""))
                    .collect();
                assert!(devices.contains("") && devices.len() == 2, "{devices:?}");
                assert!(
                    operations.contains("Set-AdminAuditLogConfig"),
                    "{operations:?}"
                );
                assert!(operations.contains("Add-MailboxPermission"));
                assert!(in_session("MailItemsAccessed", "Bind", "True"));
            }
            "lateral-phish" => {
                assert_eq!(t.victims.len(), 2);
                assert_eq!(t.attacker_sessions.len(), 2);
                let phish = s
                    .audit_records
                    .iter()
                    .find(|r| {
                        r["Operation"] == "Send"
                            && t.attacker_sessions.iter().any(|a| a == session_of(r))
                    })
                    .unwrap();
                let to = phish["Item"]["Recipients"].to_string();
                assert!(t.victims.iter().any(|v| to.contains(v.as_str())));
                assert!(operations.contains("New-InboxRule"));
            }
            other => panic!("{other}"),
        }
    }
}

#[test]
fn the_shapes_carry_the_documented_fields_and_the_ids_join() {
    let s = scenario(6);
    const SIGNIN: &[&str] = &[
        "id",
        "createdDateTime",
        "userPrincipalName",
        "userId",
        "appId",
        "appDisplayName",
        "ipAddress",
        "autonomousSystemNumber",
        "clientAppUsed",
        "userAgent",
        "correlationId",
        "sessionId",
        "uniqueTokenIdentifier",
        "signInEventTypes",
        "isInteractive",
        "incomingTokenType",
        "originalTransferMethod",
        "authenticationProtocol",
        "status",
        "deviceDetail",
        "location",
        "riskLevelDuringSignIn",
        "riskState",
        "authenticationDetails",
    ];
    let mut tokens = BTreeSet::new();
    for signin in &s.signins {
        for field in SIGNIN {
            assert!(signin.get(*field).is_some(), "{field}: {signin}");
        }
        assert!(signin["status"]["errorCode"].is_u64());
        assert!(signin["deviceDetail"].get("deviceId").is_some());
        assert!(signin["deviceDetail"].get("isCompliant").is_some());
        tokens.insert((
            str_of(signin, "sessionId").to_string(),
            str_of(signin, "uniqueTokenIdentifier").to_string(),
            str_of(signin, "appId").to_string(),
        ));
    }
    const AUDIT: &[&str] = &[
        "id",
        "category",
        "correlationId",
        "result",
        "activityDisplayName",
        "activityDateTime",
        "loggedByService",
        "operationType",
        "initiatedBy",
        "targetResources",
        "additionalDetails",
    ];
    for audit in &s.directory_audits {
        for field in AUDIT {
            assert!(audit.get(*field).is_some(), "{field}: {audit}");
        }
    }
    let mut operations = BTreeSet::new();
    for record in &s.audit_records {
        operations.insert(str_of(record, "Operation"));
        for field in [
            "Id",
            "RecordType",
            "CreationTime",
            "Operation",
            "OrganizationId",
            "UserId",
            "Workload",
        ] {
            assert!(record.get(field).is_some(), "{field}: {record}");
        }
        let context = &record["AppAccessContext"];
        if record["RecordType"] == 2 {
            assert_eq!(record["SessionId"], context["AADSessionId"]);
            assert!(record["ClientIPAddress"].is_string() && record["MailboxOwnerUPN"].is_string());
        }
        if context.is_object() {
            for field in [
                "AADSessionId",
                "UniqueTokenId",
                "IssuedAtTime",
                "ClientAppId",
            ] {
                assert!(context[field].is_string(), "{field}: {record}");
            }
            // The record's token is one a sign-in issued, in that session, to that app.
            let key = (
                str_of(context, "AADSessionId").to_string(),
                str_of(context, "UniqueTokenId").to_string(),
                str_of(context, "ClientAppId").to_string(),
            );
            assert!(tokens.contains(&key), "{record}");
            // And no record comes before the sign-in that issued its token.
            assert!(str_of(record, "CreationTime") >= str_of(context, "IssuedAtTime"));
        }
    }
    for operation in [
        "MailboxLogin",
        "MailItemsAccessed",
        "Send",
        "Move",
        "SoftDelete",
        "SearchQueryInitiatedExchange",
    ] {
        assert!(operations.contains(operation), "{operation}");
    }
}

#[test]
fn a_seed_writes_the_same_tenant_every_time() {
    let (a, b) = (generate(11), generate(11));
    assert_eq!(a.truth, b.truth);
    assert_eq!(a.signins, b.signins);
    assert_eq!(a.audit_records, b.audit_records);
    assert_ne!(generate(12).signins, a.signins);
}
