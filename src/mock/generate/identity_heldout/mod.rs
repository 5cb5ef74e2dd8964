//! The held-out identity family (`IdentityFamily::Heldout`): a tenant, its sign-ins, directory
//! audits and mailbox audit log written apart from the standard family (`identity.rs`) and
//! from the session-triage rules, so that the quality benchmark measures the rules on data they
//! were never tuned against. Nothing here is shared with the standard family but the output
//! shapes (Microsoft's documents, followed in `shapes` and `mailbox`).
//!
//! The tenant (`tenant`): a Lyon freight company of 10 to 15 people over 30 to 60 days ending
//! at `END`, all behind one office NAT; phones on a carrier's pool; confounders of its own
//! (`tenant`, `confounders`): a corporate VPN whose egress country changes daily in a
//! week-long session with a compliant laptop (and dismissed unlikely-travel risk), IPv6
//! privacy addresses rotating within one home /64, a contractor in a cloud VDI (a hosting
//! ASN, an interactive OfficeHome sign-in every day, two outbound addresses), a salesperson at
//! a customer's guest Wi-Fi, a conference-room device signed in by device code, a helpdesk
//! resetting and registering MFA methods, an admin consenting to a well-known app, business
//! mailbox permissions, forwarding and rules, Outlook's morning Sync of the inbox, and low and
//! slow password spraying from several addresses (50126, 50053). The seed picks the attack
//! (`playbooks::PLAYBOOKS`, in turn): device-code phishing, an AiTM kit replayed low and slow,
//! a stolen token replayed without a device, a lateral phish to a second victim.
//!
//! What the truth holds for this family (every list sorted):
//! - `victims`: the users whose sessions were stolen (two for `lateral-phish`);
//! - `attacker_sessions`: the `sessionId`s of the stolen sessions (= the `AADSessionId` and
//!   `SessionId` of the records made through them). For `stolen-token` the session began as
//!   the victim's own on their compliant laptop: its earlier sign-ins and records are the
//!   victim's, in the same session. `stolen-token` ends with the audit log's ingestion
//!   switched off: the tenant's audit log records stop there (the Entra logs go on);
//! - `replay_addresses`: the addresses of the stolen sessions' non-interactive replays; not the
//!   address the session was born at (the AiTM kit's, the device-code poller's VPS) nor, for
//!   `stolen-token`, the victim's own;
//! - `persistence_ids`: the `id`s of the attacker's directory audits (security info, device
//!   registration, service principal, delegated grant, consent) and the `Id`s of the
//!   attacker's audit log records (`UpdateInboxRules`, `New-InboxRule`, `Set-Mailbox`
//!   forwarding, `Add-MailboxPermission`, `Add-RecipientPermission`, `Set-AdminAuditLogConfig`);
//! - `read_message_ids`: the `InternetMessageId`s of the attacker's Binds. A Sync in an
//!   attacker session (a whole folder) names no message and adds none; the `IsThrottled`
//!   record names none either; the victim's own Binds earlier in a `stolen-token` session are
//!   not listed;
//! - `legit_multi_address_sessions`: every session whose successful sign-ins came from more
//!   than one address and is not the attacker's (the VPN week, the IPv6 home, the VDI, the
//!   customer site, the phones on the carrier's pool), recorded as the sign-ins are written;
//! - `spray_addresses`: the spraying addresses (never a successful sign-in from them).

mod attack;
mod confounders;
mod log;
mod mailbox;
mod network;
mod playbooks;
mod shapes;
mod tenant;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

pub use playbooks::{playbook_of, PLAYBOOKS};

/// The last moment of the evidence (a Friday evening in Lyon).
pub fn end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 13, 18, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The held-out family's logs and truth (the fields of `IdentityScenario`/`IdentityTruth`).
#[derive(Debug, Clone)]
pub struct HeldoutIdentity {
    pub audit_records: Vec<Value>,
    pub signins: Vec<Value>,
    pub directory_audits: Vec<Value>,
    pub truth: HeldoutTruth,
}

/// What was planted, every list sorted (see the module header for what each holds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldoutTruth {
    pub playbook: &'static str,
    pub victims: Vec<String>,
    pub attacker_sessions: Vec<String>,
    pub replay_addresses: Vec<String>,
    pub persistence_ids: Vec<String>,
    pub read_message_ids: Vec<String>,
    pub legit_multi_address_sessions: Vec<String>,
    pub spray_addresses: Vec<String>,
}

/// The held-out scenario of `seed`.
pub fn generate(seed: u64) -> HeldoutIdentity {
    let mut log = log::Log::new(seed);
    let end = end();
    let span = log.rng.i64(30..=60);
    let start = (end - Duration::days(span))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(end);
    let mut people = tenant::people(&mut log.rng, start);
    let days = tenant::working_days(&mut log, &mut people, start, end);
    let spray_addresses =
        confounders::confounders(&mut log, &people, &days.laptop_tokens, start, end);
    let playbook = playbook_of(seed);
    let plant = playbooks::plant(&mut log, &people, &days, playbook, end);
    if let Some(off) = plant.audit_off {
        // Ingestion switched off: the audit log holds nothing after (the Entra logs go on).
        let last = shapes::ual_time(off);
        log.records.retain(|r| {
            r["CreationTime"]
                .as_str()
                .is_some_and(|t| t <= last.as_str())
        });
    }
    log.sort();
    let legit_multi_address_sessions = log
        .addresses
        .iter()
        .filter(|(session, ips)| ips.len() > 1 && !plant.sessions.contains(*session))
        .map(|(session, _)| session.clone())
        .collect();
    let truth = HeldoutTruth {
        playbook,
        victims: plant.victims.into_iter().collect(),
        attacker_sessions: plant.sessions.into_iter().collect(),
        replay_addresses: plant.replay_addresses.into_iter().collect(),
        persistence_ids: plant.persistence_ids.into_iter().collect(),
        read_message_ids: plant.read_message_ids.into_iter().collect(),
        legit_multi_address_sessions,
        spray_addresses,
    };
    HeldoutIdentity {
        audit_records: log.records,
        signins: log.signins,
        directory_audits: log.directory_audits,
        truth,
    }
}
