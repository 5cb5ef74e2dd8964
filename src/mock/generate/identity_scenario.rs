//! Identity scenarios for session triage: one tenant's mailbox audit log (Unified Audit Log
//! records) with its Entra ID sign-ins and directory audits, and what was planted in them.
//!
//! A family is a way of writing a tenant and its attack. The quality benchmark and the tests
//! reach every family through `identity_scenario`, so a family written apart from the rules
//! (never tuned against) is measured by the same code as the one the rules were written on.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::identity::{
    add_app_access_context, add_device_code_admin, add_session_persistence, identity_logs_of,
};

/// The families of identity scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityFamily {
    /// The planted BEC of `--scenario bec` told as an AiTM attack (`identity.rs`): the family
    /// the session rules are written on
    Standard,
    /// The held-out family (`identity_heldout/`), written apart from the standard family and
    /// from the session rules, never tuned against: a Lyon freight company of 10 to 15 people
    /// behind one office NAT, with a daily-changing corporate VPN in a week-long session, IPv6
    /// privacy addresses in one home prefix, a contractor in a cloud VDI (a hosting ASN every
    /// day), a customer's guest Wi-Fi, a conference room signed in by device code, a helpdesk
    /// resetting MFA, an admin's consent to a well-known app and low-and-slow spraying from
    /// several addresses; the seed picks the attack in turn: device-code phishing replayed
    /// from residential proxies, an AiTM kit on another hosting ASN replayed low and slow, a
    /// stolen Outlook token replayed without a device, or a lateral phish to a second victim
    Heldout,
}

/// A tenant's evidence for session triage, and its truth.
#[derive(Debug, Clone)]
pub struct IdentityScenario {
    /// Unified Audit Log records (the Management Activity API's schema), mailbox activity and
    /// admin operations, time-ordered.
    pub audit_records: Vec<Value>,
    /// Entra ID sign-ins (Graph beta `signIn`), oldest first.
    pub signins: Vec<Value>,
    /// Entra ID directory audits (Graph `directoryAudit`), oldest first.
    pub directory_audits: Vec<Value>,
    pub truth: IdentityTruth,
}

/// What a family planted, as the quality benchmark measures it. Every list is sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityTruth {
    pub family: String,
    pub seed: u64,
    /// The users whose sessions were stolen.
    pub victims: Vec<String>,
    /// The attacker's sessions (`sessionId` of the sign-ins, `AADSessionId` of the records).
    pub attacker_sessions: Vec<String>,
    /// The addresses the stolen sessions were replayed from.
    pub replay_addresses: Vec<String>,
    /// The ids of the records (directory audits and audit log records) by which the attacker
    /// stayed: MFA methods, consents, inbox rules, forwarding, permissions.
    pub persistence_ids: Vec<String>,
    /// The `InternetMessageId`s of the messages the attacker read.
    pub read_message_ids: Vec<String>,
    /// Legitimate sessions used from more than one address (confounders that must stay low).
    pub legit_multi_address_sessions: Vec<String>,
    /// The addresses password spraying came from (their own finding, never high alone).
    pub spray_addresses: Vec<String>,
}

/// The scenario of `family` from `seed`.
pub fn identity_scenario(family: IdentityFamily, seed: u64) -> IdentityScenario {
    match family {
        IdentityFamily::Standard => standard(seed),
        IdentityFamily::Heldout => {
            let heldout = super::identity_heldout::generate(seed);
            let planted = heldout.truth;
            IdentityScenario {
                audit_records: heldout.audit_records,
                signins: heldout.signins,
                directory_audits: heldout.directory_audits,
                truth: IdentityTruth {
                    family: "heldout".into(),
                    seed,
                    victims: planted.victims,
                    attacker_sessions: planted.attacker_sessions,
                    replay_addresses: planted.replay_addresses,
                    persistence_ids: planted.persistence_ids,
                    read_message_ids: planted.read_message_ids,
                    legit_multi_address_sessions: planted.legit_multi_address_sessions,
                    spray_addresses: planted.spray_addresses,
                },
            }
        }
    }
}

fn standard(seed: u64) -> IdentityScenario {
    let corpus = crate::mock::default_corpus(seed);
    let (mut audit_records, audit_truth) = crate::mock::audit_log::audit_records(&corpus);
    let mut logs = identity_logs_of(&corpus, seed);
    add_device_code_confounder(&mut logs.signins, &corpus, seed);
    add_app_access_context(&mut audit_records, &logs);
    let session_persistence =
        add_session_persistence(&mut audit_records, logs.attacker_session.as_deref(), seed);
    let planted = corpus.truth.clone().unwrap_or_default();
    let attacker_records: BTreeSet<&str> = planted
        .attacker_activity_ids
        .iter()
        .map(String::as_str)
        .collect();
    let read_message_ids = audit_records
        .iter()
        .filter(|r| r["Operation"] == "MailItemsAccessed")
        .filter(|r| {
            r["Id"]
                .as_str()
                .is_some_and(|id| attacker_records.contains(id))
        })
        .flat_map(message_ids)
        .collect::<BTreeSet<_>>();
    let mut persistence_ids: BTreeSet<String> = logs.attacker_audit_ids.iter().cloned().collect();
    persistence_ids.extend(session_persistence.persistence_ids);
    if let Some(audit_truth) = &audit_truth {
        persistence_ids.insert(audit_truth.inbox_rule_id.clone());
        persistence_ids.insert(audit_truth.forwarding_id.clone());
    }
    let truth = IdentityTruth {
        family: "standard".into(),
        seed,
        victims: corpus.truth.iter().map(|t| t.mailbox.clone()).collect(),
        attacker_sessions: logs.attacker_session.iter().cloned().collect(),
        replay_addresses: sorted(planted.attacker_ips.iter().cloned()),
        persistence_ids: persistence_ids.into_iter().collect(),
        read_message_ids: read_message_ids.into_iter().collect(),
        legit_multi_address_sessions: multi_address_sessions(&logs.signins)
            .into_iter()
            .filter(|s| Some(s) != logs.attacker_session.as_ref())
            .collect(),
        spray_addresses: logs.spray_address.iter().cloned().collect(),
    };
    IdentityScenario {
        audit_records,
        signins: logs.signins,
        directory_audits: logs.directory_audits,
        truth,
    }
}

/// The tenant's admin (its last user, who consents in `identity.rs` too) signing in to the
/// Azure CLI by device code every week from their usual address: device code that is not
/// phishing, which must stay low.
fn add_device_code_confounder(signins: &mut Vec<Value>, corpus: &super::Corpus, seed: u64) {
    let Some((admin, _)) = corpus.mailboxes.last() else {
        return;
    };
    let mut addresses: BTreeMap<&str, usize> = BTreeMap::new();
    for signin in signins
        .iter()
        .filter(|s| s["userPrincipalName"] == admin.as_str())
    {
        if let Some(ip) = signin["ipAddress"].as_str() {
            *addresses.entry(ip).or_default() += 1;
        }
    }
    let times = || signins.iter().filter_map(|s| s["createdDateTime"].as_str());
    let (Some(usual), Some(start), Some(end)) = (
        addresses
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(ip, _)| ip.to_string()),
        times().min().and_then(crate::mock::files::parse_time),
        times().max().and_then(crate::mock::files::parse_time),
    ) else {
        return;
    };
    add_device_code_admin(signins, admin, &usual, start, end, seed);
    signins.sort_by(|a, b| {
        a["createdDateTime"]
            .as_str()
            .cmp(&b["createdDateTime"].as_str())
    });
}

/// The `InternetMessageId`s a MailItemsAccessed record names (its `Folders[].FolderItems[]`).
fn message_ids(record: &Value) -> Vec<String> {
    record["Folders"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["FolderItems"].as_array().into_iter().flatten())
        .filter_map(|item| item["InternetMessageId"].as_str().map(String::from))
        .collect()
}

/// Sessions whose successful sign-ins came from more than one address.
pub fn multi_address_sessions(signins: &[Value]) -> Vec<String> {
    let mut addresses: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for signin in signins.iter().filter(|s| s["status"]["errorCode"] == 0) {
        if let (Some(session), Some(ip)) =
            (signin["sessionId"].as_str(), signin["ipAddress"].as_str())
        {
            addresses.entry(session).or_default().insert(ip);
        }
    }
    addresses
        .into_iter()
        .filter(|(_, ips)| ips.len() > 1)
        .map(|(session, _)| session.to_string())
        .collect()
}

fn sorted(items: impl IntoIterator<Item = String>) -> Vec<String> {
    items
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_truth_names_what_the_logs_hold() {
        let scenario = identity_scenario(IdentityFamily::Standard, 7);
        let truth = &scenario.truth;
        assert_eq!(truth.victims.len(), 1);
        let session = &truth.attacker_sessions[0];
        assert!(scenario
            .signins
            .iter()
            .any(|s| s["sessionId"] == session.as_str()));
        assert!(scenario
            .audit_records
            .iter()
            .any(|r| r["AppAccessContext"]["AADSessionId"] == session.as_str()));
        assert_eq!(truth.persistence_ids.len(), 6, "{truth:?}");
        let device_code = scenario
            .signins
            .iter()
            .filter(|s| s["originalTransferMethod"] == "deviceCodeFlow")
            .count();
        assert!(
            device_code >= 20,
            "an admin's weekly device-code sign-ins: {device_code}"
        );
        assert!(scenario
            .audit_records
            .iter()
            .any(|r| r["OperationProperties"].as_array().is_some_and(|p| p
                .iter()
                .any(|p| p["Name"] == "IsThrottled" && p["Value"] == "True"))));
        assert!(!truth.read_message_ids.is_empty());
        assert!(!truth.legit_multi_address_sessions.is_empty());
        assert!(!truth.legit_multi_address_sessions.contains(session));
        assert_eq!(truth.spray_addresses, ["185.220.101.33"]);
    }
}
