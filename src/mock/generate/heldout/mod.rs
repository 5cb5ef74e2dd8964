//! The held-out family (`--scenario heldout`): a second tenant written apart from the `bec`
//! scenario, so triage can be measured on data its rules were not tuned on.
//!
//! Its networks and confounders are its own. Owners' home leases move inside their ISP every
//! one to three weeks, and now and then to another of the ISP's blocks (a /16 the owner never
//! used); phones take an address anywhere in their carrier's pool; everyone shares one office
//! NAT. The victim has an assistant with delegated access who reads and files the victim's
//! invoices every week, and spends a week abroad with their own laptop and phone (hotel Wi-Fi,
//! a local carrier). A second owner works through a consumer VPN whose exit (and country)
//! changes every day.
//!
//! The attack opens with an HTML remittance advice the victim opens on the web; the seed picks
//! what follows (`PLAYBOOKS`, in turn):
//! - `low-and-slow`: rotating residential proxies in the victim's own city, with the victim's
//!   browser, a short visit every few working days in working hours; it reads finance mail,
//!   searches twice, replies to a vendor with new bank details and deletes the vendor's answer;
//! - `read-only`: a rented server with its own browser reads mail at night, and nothing else
//!   (no search, no send, no move);
//! - `mobile-device`: an iPhone with iOS Mail (Exchange ActiveSync) is added behind a
//!   residential proxy and syncs every few hours, marking a few finance messages read;
//! - `same-isp`: an address in the victim's own ISP block with another browser, evenings; it
//!   searches for bank details, forwards a finance message out and moves the sent copy to
//!   RSS Feeds.
//!
//! Shapes are the Activities API's (`shared/reference/activities-api.md`), through the same
//! record builder as the other scenarios.

mod playbooks;

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use fastrand::Rng;

use super::super::store::StoredActivity;
use super::builder::{Builder, Message, Owner, Session};
use super::ordinary::{deliver, logon_records, ordinary_mailbox, reply_props};
use super::vocabulary::*;
use super::{Corpus, CorpusSpec, HiddenItem, PlantedMessage, Truth};

/// The playbooks, one per seed in turn (seed 1 is the first).
pub const PLAYBOOKS: &[&str] = &["low-and-slow", "read-only", "mobile-device", "same-isp"];

/// The playbook a seed plants.
pub fn playbook_of(seed: u64) -> &'static str {
    PLAYBOOKS[(seed.wrapping_sub(1) % PLAYBOOKS.len() as u64) as usize]
}

/// The office's one public address, shared by every owner (a NAT).
const OFFICE_NAT: &str = "203.0.113.40";
/// ISPs as their blocks (/16s): a lease is in any of them.
const ISPS: &[&[(u8, u8)]] = &[
    &[(71, 190), (71, 191), (99, 12)],
    &[(24, 130), (24, 131), (66, 87)],
    &[(98, 204), (98, 205), (69, 140)],
];
/// Mobile carriers' pools.
const CARRIERS: &[&[(u8, u8)]] = &[
    &[(172, 56), (172, 58), (172, 32)],
    &[(174, 192), (174, 205), (166, 170)],
];
/// Residential proxy exits in the victim's city, on ISPs the victim does not use.
const CITY_PROXIES: &[(u8, u8)] = &[(76, 105), (67, 180), (108, 28), (47, 150), (75, 61)];
/// A consumer VPN's exits, one country a day.
const VPN_EXITS: &[(u8, u8)] = &[
    (185, 220),
    (89, 187),
    (45, 83),
    (194, 5),
    (37, 120),
    (146, 70),
    (91, 207),
    (212, 102),
];
/// The trip: a hotel's Wi-Fi and a local carrier abroad.
const HOTEL_WIFI: (u8, u8) = (81, 2);
const FOREIGN_CARRIER: (u8, u8) = (31, 94);

const OWNER_PHONE_UA: &str = OWNER_MOBILE_UA;
const ASSISTANT_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/17.17134";
const SERVER_UA: &str =
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:60.0) Gecko/20100101 Firefox/60.0";
const FIREFOX_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:61.0) Gecko/20100101 Firefox/61.0";
/// iOS Mail over Exchange ActiveSync announces the device model and the build.
const IOS_MAIL_EAS_UA: &str = "Apple-iPhone10C1/1506.79";

const VENDOR: &str = "ar@cohovineyard.example";
const LURE_SENDER: &str = "remittance@cohovineyard-payments.example";

fn address(rng: &mut Rng, (a, b): (u8, u8)) -> String {
    format!("{a}.{b}.{}.{}", rng.u8(0..=255), rng.u8(1..=254))
}

fn midnight(spec: &CorpusSpec, days_back: i64) -> DateTime<Utc> {
    (spec.end - Duration::days(days_back))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(spec.end)
}

fn weekday(day: DateTime<Utc>) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Where and with what an owner works: leases that change, a carrier pool, the office.
struct Network {
    isp: &'static [(u8, u8)],
    carrier: &'static [(u8, u8)],
    /// Home leases: from when, which address.
    leases: Vec<(DateTime<Utc>, String)>,
    /// The consumer VPN's exit of each day, for the owner who uses one.
    vpn: bool,
    /// The week abroad (start, end), for the victim.
    trip: Option<(DateTime<Utc>, DateTime<Utc>)>,
    offset_hours: i64,
}

impl Network {
    fn new(rng: &mut Rng, spec: &CorpusSpec, index: usize, offset_hours: i64) -> Self {
        let isp = ISPS[index % ISPS.len()];
        let carrier = CARRIERS[index % CARRIERS.len()];
        let mut leases = Vec::new();
        let mut at = midnight(spec, spec.days as i64 + 1);
        // Mostly the ISP's first block; one lease in five lands in another of its blocks.
        while at < spec.end {
            let block = if rng.u8(0..5) == 0 {
                isp[rng.usize(1..isp.len())]
            } else {
                isp[0]
            };
            leases.push((at, address(rng, block)));
            at += Duration::days(rng.i64(7..22));
        }
        Network {
            isp,
            carrier,
            leases,
            vpn: false,
            trip: None,
            offset_hours,
        }
    }

    fn home(&self, time: DateTime<Utc>) -> String {
        self.leases
            .iter()
            .rev()
            .find(|(from, _)| *from <= time)
            .or(self.leases.first())
            .map(|(_, ip)| ip.clone())
            .unwrap_or_default()
    }

    fn session(&self, b: &mut Builder, time: DateTime<Utc>) -> Session {
        let (app, user_agent) = match b.rng.u8(0..100) {
            0..=54 => ("Outlook", OWNER_DESKTOP_UA),
            55..=79 => ("Web", OWNER_BROWSER_UA),
            _ => ("Mobile", OWNER_PHONE_UA),
        };
        let local_hour = (time + Duration::hours(self.offset_hours)).hour_of_day();
        let abroad = self
            .trip
            .is_some_and(|(from, to)| time >= from && time < to);
        let ip = if abroad {
            if app == "Mobile" {
                // A local SIM, or roaming back through the home carrier.
                if b.rng.bool() {
                    address(&mut b.rng, FOREIGN_CARRIER)
                } else {
                    address(&mut b.rng, self.carrier[0])
                }
            } else {
                address(&mut b.rng, HOTEL_WIFI)
            }
        } else if app == "Mobile" {
            let block = self.carrier[b.rng.usize(..self.carrier.len())];
            address(&mut b.rng, block)
        } else if self.vpn {
            // The VPN's exit of the day: its country changes daily.
            let day = time.num_days_from_ce() as u64;
            let mut daily = Rng::with_seed(day);
            let exit = VPN_EXITS[daily.usize(..VPN_EXITS.len())];
            format!(
                "{}.{}.{}.{}",
                exit.0,
                exit.1,
                daily.u8(0..=255),
                daily.u8(1..=254)
            )
        } else if weekday(time) && (8..18).contains(&local_hour) && b.rng.u8(0..100) < 60 {
            OFFICE_NAT.to_string()
        } else {
            self.home(time)
        };
        Session {
            app,
            session_id: b.uuid(),
            ip,
            user_agent,
            sequence: 0,
        }
    }
}

trait HourOfDay {
    fn hour_of_day(&self) -> i64;
}

impl HourOfDay for DateTime<Utc> {
    fn hour_of_day(&self) -> i64 {
        chrono::Timelike::hour(self) as i64
    }
}

fn owners(rng: &mut Rng, count: usize) -> Vec<Owner> {
    (0..count)
        .map(|i| {
            let first = FIRST_NAMES[(i * 7 + 3) % FIRST_NAMES.len()];
            let last = LAST_NAMES[(i * 3 + 1) % LAST_NAMES.len()];
            let suffix = if i >= FIRST_NAMES.len() {
                format!("{i}")
            } else {
                String::new()
            };
            let block = ISPS[i % ISPS.len()][0];
            Owner {
                upn: format!("{first}.{last}{suffix}@contoso.com"),
                ips: vec![address(rng, block), OFFICE_NAT.to_string()],
                utc_offset_hours: [-6i64, -5, -6, -8][i % 4],
            }
        })
        .collect()
}

pub(super) fn generate(spec: &CorpusSpec) -> Corpus {
    let mut b = Builder {
        rng: Rng::with_seed(spec.seed ^ 0x4845_4c44_4f55_5400),
        serial: 0,
    };
    let owners = owners(&mut b.rng, spec.users.max(1));
    let mut mailboxes = Vec::new();
    let mut truth = None;
    for (index, owner) in owners.iter().enumerate() {
        let others: Vec<&Owner> = owners.iter().filter(|o| o.upn != owner.upn).collect();
        let mut network = Network::new(&mut b.rng, spec, index, owner.utc_offset_hours);
        if index == 0 {
            let start = midnight(spec, 44);
            network.trip = Some((start, start + Duration::days(7)));
        }
        network.vpn = index == 1;
        let (mut activities, mut messages) =
            ordinary_mailbox(&mut b, spec, owner, &others, &mut |b, time| {
                network.session(b, time)
            });
        if index == 0 {
            let assistant = owners.get(2).map(|o| o.upn.clone());
            finance_mail(&mut b, spec, owner, &others, &mut activities, &mut messages);
            if let Some(assistant) = &assistant {
                delegate(&mut b, spec, owner, assistant, &messages, &mut activities);
            }
            let mut planted = plant(&mut b, spec, owner, &network, &messages, &mut activities);
            planted.finance_colleague = assistant;
            truth = Some(planted);
        }
        activities.sort_by(|a, b| (a.time_nanos, &a.id).cmp(&(b.time_nanos, &b.id)));
        mailboxes.push((owner.upn.clone(), activities));
    }
    Corpus { mailboxes, truth }
}

/// A vendor's invoices and remittances to the victim, a few a week.
fn finance_mail(
    b: &mut Builder,
    spec: &CorpusSpec,
    owner: &Owner,
    others: &[&Owner],
    activities: &mut Vec<StoredActivity>,
    messages: &mut Vec<Message>,
) {
    for days_back in (1..spec.days as i64).rev().step_by(3) {
        let day = midnight(spec, days_back);
        if !weekday(day) {
            continue;
        }
        let time = owner.local(day, b.rng.i64(8..17), b.rng.i64(0..60));
        let subject = FINANCE_SUBJECTS[b.rng.usize(..FINANCE_SUBJECTS.len())];
        let attachment = "Invoice.pdf (pdf, ByValue)";
        messages.push(deliver(
            b,
            time,
            owner,
            others,
            activities,
            Some((subject, VENDOR, attachment)),
        ));
    }
    messages.sort_by_key(|m| m.received);
}

fn is_finance(message: &Message) -> bool {
    FINANCE_SUBJECTS.contains(&message.subject.as_str())
}

fn logon(
    b: &mut Builder,
    time: DateTime<Utc>,
    user: &str,
    session: &Session,
    activities: &mut Vec<StoredActivity>,
) -> Vec<String> {
    let owner = Owner {
        upn: user.to_string(),
        ips: Vec::new(),
        utc_offset_hours: 0,
    };
    let records = logon_records(b, time, &owner, session);
    let ids = records.iter().map(|r| r.id.clone()).collect();
    activities.extend(records);
    ids
}

fn search(
    b: &mut Builder,
    time: DateTime<Utc>,
    session: &mut Session,
    term: &str,
) -> StoredActivity {
    let app = session.app;
    let results = format!("{};{}", b.id("AAMk"), b.id("AAMk"));
    let sid = b.uuid();
    b.record(
        time,
        "SearchResult",
        app,
        Some(session),
        "",
        vec![
            ("Query", query_xml(term)),
            ("ResIds", results),
            ("Sid", sid),
            ("Folders", "Inbox;Sent Items;Archive".into()),
            ("MaxRes", "25".into()),
            ("App", app.into()),
        ],
    )
}

fn read(
    b: &mut Builder,
    time: DateTime<Utc>,
    session: &mut Session,
    m: &Message,
) -> StoredActivity {
    let conversation = b.id("AAQkAG");
    b.record(
        time,
        "ReadingPaneDisplayStart",
        session.app,
        Some(session),
        &m.item_id,
        vec![
            ("IsConversation", "False".into()),
            ("ConversationId", conversation),
            ("SelectedFolderName", "Inbox".into()),
        ],
    )
}

fn mark_read(
    b: &mut Builder,
    time: DateTime<Utc>,
    session: &mut Session,
    m: &Message,
) -> StoredActivity {
    b.record(
        time,
        "MarkAsRead",
        session.app,
        Some(session),
        &m.item_id,
        vec![
            ("ReceivedTime", received_time_text(m.received)),
            ("SenderAddress", m.sender.clone()),
            ("InternetMessageId", m.internet_message_id.clone()),
            ("SourceFolder", "Inbox".into()),
            ("ItemClass", "IPM.Note".into()),
        ],
    )
}

/// The assistant's delegated access: every week they read the victim's invoices, search for
/// them, mark them read and file them in Receipts, from the office or their home.
fn delegate(
    b: &mut Builder,
    spec: &CorpusSpec,
    owner: &Owner,
    assistant: &str,
    messages: &[Message],
    activities: &mut Vec<StoredActivity>,
) {
    let isp = ISPS[2];
    let mut home = address(&mut b.rng, isp[0]);
    for days_back in (1..spec.days as i64).rev() {
        let day = midnight(spec, days_back);
        if !weekday(day) || b.rng.u8(0..100) < 55 {
            continue;
        }
        if b.rng.u8(0..12) == 0 {
            // A new lease; sometimes in another of the ISP's blocks.
            let block = isp[b.rng.usize(..isp.len())];
            home = address(&mut b.rng, block);
        }
        let time = owner.local(day, b.rng.i64(8..17), b.rng.i64(0..60));
        let ip = if b.rng.u8(0..3) == 0 {
            home.clone()
        } else {
            OFFICE_NAT.to_string()
        };
        let mut session = Session {
            app: "Web",
            session_id: b.uuid(),
            ip,
            user_agent: ASSISTANT_UA,
            sequence: 0,
        };
        logon(b, time, assistant, &session, activities);
        let mut t = time + Duration::minutes(1);
        if day.weekday() == Weekday::Mon {
            let term = ["invoice", "payment", "remittance"][b.rng.usize(..3)];
            activities.push(search(b, t, &mut session, term));
        }
        let recent: Vec<&Message> = messages
            .iter()
            .filter(|m| is_finance(m) && m.received < t && t - m.received < Duration::days(7))
            .collect();
        for m in recent.into_iter().take(3) {
            t += Duration::seconds(b.rng.i64(20..200));
            activities.push(read(b, t, &mut session, m));
            t += Duration::seconds(b.rng.i64(20..120));
            activities.push(mark_read(b, t, &mut session, m));
            if b.rng.bool() {
                t += Duration::seconds(b.rng.i64(5..60));
                activities.push(b.record(
                    t,
                    "Move",
                    "Web",
                    Some(&mut session),
                    &m.item_id,
                    vec![
                        ("MoveType", "Move".into()),
                        ("SourceFolder", "Inbox".into()),
                        ("TargetFolder", "Receipts".into()),
                    ],
                ));
            }
        }
    }
}

/// What the attacker did, as the truth file records it.
struct Trace {
    truth: Truth,
}

impl Trace {
    fn caused(&mut self, activity: &StoredActivity) {
        self.truth.attacker_activity_ids.push(activity.id.clone());
    }

    fn address(&mut self, ip: &str, agent: &str) {
        if !self.truth.attacker_ips.iter().any(|i| i == ip) {
            self.truth.attacker_ips.push(ip.to_string());
        }
        if !self.truth.attacker_user_agents.iter().any(|a| a == agent) {
            self.truth.attacker_user_agents.push(agent.to_string());
        }
    }
}

/// The lure, the owner opening it, and the playbook the seed picks.
fn plant(
    b: &mut Builder,
    spec: &CorpusSpec,
    owner: &Owner,
    network: &Network,
    messages: &[Message],
    activities: &mut Vec<StoredActivity>,
) -> Truth {
    let playbook = playbook_of(spec.seed);
    let lure_day = midnight(spec, 21);
    let lure_time = owner.local(lure_day, 10, b.rng.i64(0..50));
    let attachment = "Remittance_Advice_0613.htm (htm, ByValue)";
    let subject = "Remittance advice 0613 – payment released";
    let mut lure_records = Vec::new();
    let lure = deliver(
        b,
        lure_time,
        owner,
        &[],
        &mut lure_records,
        Some((subject, LURE_SENDER, attachment)),
    );
    let delivery_id = lure_records
        .first()
        .map(|r| r.id.clone())
        .unwrap_or_default();
    activities.extend(lure_records);
    // The owner opens it on the web from home, twenty minutes to an hour later.
    let opened = lure_time + Duration::minutes(b.rng.i64(20..60));
    let mut own = Session {
        app: "Web",
        session_id: b.uuid(),
        ip: network.home(opened),
        user_agent: OWNER_BROWSER_UA,
        sequence: 0,
    };
    activities.extend(logon_records(b, opened, owner, &own));
    activities.push(b.record(
        opened + Duration::minutes(1),
        "OpenedAnAttachment",
        "Web",
        Some(&mut own),
        &lure.item_id,
        vec![("AttachmentAction", "Open".into())],
    ));
    let mut trace = Trace {
        truth: Truth {
            scenario: format!("heldout/{playbook}"),
            seed: spec.seed,
            mailbox: owner.upn.clone(),
            owner_ips: network.leases.iter().map(|(_, ip)| ip.clone()).collect(),
            phishing: PlantedMessage {
                activity_id: delivery_id.clone(),
                item_id: lure.item_id.clone(),
                subject: subject.to_string(),
                sender: LURE_SENDER.to_string(),
                attachment: attachment.to_string(),
            },
            ..Truth::default()
        },
    };
    trace.truth.owner_ips.push(OFFICE_NAT.to_string());
    trace.truth.attacker_activity_ids.push(delivery_id);
    let finance: Vec<&Message> = messages.iter().filter(|m| is_finance(m)).collect();
    let start = opened + Duration::hours(b.rng.i64(3..30));
    let ctx = Attack {
        spec,
        owner,
        network,
        finance: &finance,
        start,
    };
    match playbook {
        "low-and-slow" => playbooks::low_and_slow(b, &ctx, &mut trace, activities),
        "read-only" => playbooks::read_only(b, &ctx, &mut trace, activities),
        "mobile-device" => playbooks::mobile_device(b, &ctx, &mut trace, activities),
        _ => playbooks::same_isp(b, &ctx, &mut trace, activities),
    }
    trace.truth
}

struct Attack<'a> {
    spec: &'a CorpusSpec,
    owner: &'a Owner,
    network: &'a Network,
    finance: &'a [&'a Message],
    start: DateTime<Utc>,
}

impl Attack<'_> {
    /// Finance messages the victim had received by `time`, newest first.
    fn finance_before(&self, time: DateTime<Utc>) -> Vec<&Message> {
        let mut found: Vec<&Message> = self
            .finance
            .iter()
            .copied()
            .filter(|m| m.received < time)
            .collect();
        found.reverse();
        found
    }

    /// Working days from the attack's start to the corpus end.
    fn days(&self) -> Vec<DateTime<Utc>> {
        let first = self
            .start
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc())
            .unwrap_or(self.start);
        (0..)
            .map(|n| first + Duration::days(n))
            .take_while(|d| *d < self.spec.end - Duration::hours(12))
            .collect()
    }
}

#[allow(clippy::too_many_arguments)]
fn open(
    b: &mut Builder,
    trace: &mut Trace,
    time: DateTime<Utc>,
    user: &str,
    app: &'static str,
    ip: String,
    user_agent: &'static str,
    activities: &mut Vec<StoredActivity>,
) -> Session {
    let session = Session {
        app,
        session_id: b.uuid(),
        ip,
        user_agent,
        sequence: 0,
    };
    for id in logon(b, time, user, &session, activities) {
        trace.truth.attacker_activity_ids.push(id);
    }
    trace.address(&session.ip, user_agent);
    session
}
