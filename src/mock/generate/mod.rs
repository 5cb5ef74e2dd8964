//! A deterministic, realistic corpus of mailbox activities, optionally with a planted BEC.
//!
//! Shapes follow `shared/reference/activities-api.md`: the documented types and apps in plausible
//! proportions and daily rhythms, their custom properties, ActivityItemIds that join reads,
//! moves and replies to a MessageDelivered record, and hostile values (quotes, commas, line
//! breaks, tabs, RTL and CJK text, emoji, formula-like subjects, Query XML cut at about 1 KB).

mod bec;
mod builder;
pub mod heldout;
pub mod identity;
pub mod identity_heldout;
pub mod identity_scenario;
mod ordinary;
mod playbook;
mod realistic;
mod vocabulary;

use chrono::{DateTime, TimeZone, Utc};
use fastrand::Rng;
use serde::{Deserialize, Serialize};

use super::store::StoredActivity;
use bec::plant_bec;
use builder::{Builder, Owner};
use ordinary::{open_session, ordinary_mailbox};
use vocabulary::{ip, FIRST_NAMES, LAST_NAMES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Ordinary mailboxes only
    None,
    /// A business email compromise in a realistic tenant: owners whose home addresses change
    /// (DHCP), phones that hop across a carrier's range, a trip abroad, a new phone, a finance
    /// colleague who searches "invoice" every week; an attacker behind in-country cloud hosts
    /// and proxies with the owner's browser, one foreign logon, an ActiveSync logon, a
    /// forward, a hidden sent item and a deleted reply
    Bec,
    /// The first scenario: a compromise planted in the first mailbox of owners with a few fixed
    /// addresses (foreign attacker, another browser, an IMAP4 sync)
    BecSimple,
    /// The held-out family, written apart from `bec` to measure triage on data it was not
    /// tuned on: the seed picks the playbook (low-and-slow city proxies, read-only, a new
    /// ActiveSync device, an address in the owner's ISP) among delegates, a daily-changing VPN,
    /// a shared office NAT, DHCP and carrier churn and a week abroad
    Heldout,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    pub users: usize,
    pub per_user: usize,
    pub days: u32,
    pub end: DateTime<Utc>,
    pub seed: u64,
    pub scenario: Scenario,
}

/// What `--scenario bec` planted, for tests and rehearsal (`--truth`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Truth {
    pub scenario: String,
    pub seed: u64,
    pub mailbox: String,
    pub owner_ips: Vec<String>,
    pub attacker_ips: Vec<String>,
    pub attacker_user_agents: Vec<String>,
    /// Every activity the attacker caused, plus the phishing delivery.
    pub attacker_activity_ids: Vec<String>,
    pub imap_logon_ids: Vec<String>,
    pub finance_search_ids: Vec<String>,
    pub finance_search_terms: Vec<String>,
    pub finance_read_ids: Vec<String>,
    pub phishing: PlantedMessage,
    pub hidden_sent_item: HiddenItem,
    /// The realistic scenario's finance colleague, whose routine searches are not the attack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finance_colleague: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlantedMessage {
    pub activity_id: String,
    pub item_id: String,
    pub subject: String,
    pub sender: String,
    pub attachment: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HiddenItem {
    pub item_id: String,
    pub sent_activity_id: String,
    pub move_activity_id: String,
    pub target_folder: String,
}

/// A generated tenant: mailboxes in a fixed order, each with its activities.
pub struct Corpus {
    pub mailboxes: Vec<(String, Vec<StoredActivity>)>,
    pub truth: Option<Truth>,
}

pub fn generate(spec: &CorpusSpec) -> Corpus {
    let mut mailboxes = Vec::new();
    let truth = generate_each(spec, |upn, activities| mailboxes.push((upn, activities)));
    Corpus { mailboxes, truth }
}

/// The same tenant as `generate`, handed over a mailbox at a time (in the same order), so a
/// tenant of any size is written with one mailbox in memory; what was planted.
pub fn generate_each(
    spec: &CorpusSpec,
    mut each: impl FnMut(String, Vec<StoredActivity>),
) -> Option<Truth> {
    if spec.scenario == Scenario::Heldout {
        // The held-out family makes its tenant whole (written apart from this generator).
        let corpus = heldout::generate(spec);
        for (upn, activities) in corpus.mailboxes {
            each(upn, activities);
        }
        return corpus.truth;
    }
    let mut builder = Builder {
        rng: Rng::with_seed(spec.seed),
        serial: 0,
    };
    let owners = owners(&mut builder.rng, spec.users);
    let mut truth = None;
    for (index, owner) in owners.iter().enumerate() {
        let others: Vec<&Owner> = owners.iter().filter(|o| o.upn != owner.upn).collect();
        if spec.scenario == Scenario::Bec {
            // The victim travels; the second owner works in finance.
            let network =
                realistic::OwnerNetwork::new(&mut builder.rng, spec, owner, index, index == 0);
            let (mut activities, messages) =
                ordinary_mailbox(&mut builder, spec, owner, &others, &mut |b, time| {
                    network.session(b, time)
                });
            realistic::routines(
                &mut builder,
                spec,
                owner,
                &network,
                &messages,
                index == 1,
                &mut activities,
            );
            if index == 0 {
                let mut planted = realistic::plant(&mut builder, spec, owner, &mut activities);
                planted.finance_colleague = owners.get(1).map(|o| o.upn.clone());
                truth = Some(planted);
            }
            activities.sort_by(|a, b| (a.time_nanos, &a.id).cmp(&(b.time_nanos, &b.id)));
            each(owner.upn.clone(), activities);
            continue;
        }
        let (mut activities, messages) =
            ordinary_mailbox(&mut builder, spec, owner, &others, &mut |b, _| {
                open_session(b, owner)
            });
        if index == 0 && spec.scenario == Scenario::BecSimple {
            truth = Some(plant_bec(
                &mut builder,
                spec,
                owner,
                &messages,
                &mut activities,
            ));
        }
        activities.sort_by(|a, b| (a.time_nanos, &a.id).cmp(&(b.time_nanos, &b.id)));
        each(owner.upn.clone(), activities);
    }
    truth
}

fn owners(rng: &mut Rng, count: usize) -> Vec<Owner> {
    (0..count)
        .map(|i| {
            let first = FIRST_NAMES[i % FIRST_NAMES.len()];
            let last = LAST_NAMES[(i / FIRST_NAMES.len() + i) % LAST_NAMES.len()];
            let suffix = if i >= FIRST_NAMES.len() {
                format!("{}", i / FIRST_NAMES.len())
            } else {
                String::new()
            };
            let home = [73u8, 24, 98, 71][i % 4];
            Owner {
                upn: format!("{first}.{last}{suffix}@contoso.com"),
                ips: vec![
                    ip(rng, home),
                    ip(rng, home),
                    format!("198.51.100.{}", 10 + i % 200),
                ],
                utc_offset_hours: [-5i64, -6, -8, 1][i % 4],
            }
        })
        .collect()
}

/// The corpus end used when none is given: the last day the live API answered.
pub fn default_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2018, 6, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}
