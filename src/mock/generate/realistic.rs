//! The realistic scenario: owners whose addresses churn as real ones do, a finance colleague
//! whose routine looks like an attacker's searches, and an attacker who hides in the owner's
//! country and browser.
//!
//! Owners work from a shared office address, from home (a DHCP lease in their ISP's /16 that
//! changes every two to four weeks), and from phones that hop across their carrier's range. The
//! victim also travels abroad for a week with their own devices, and gets a new phone. Every
//! owner empties Deleted Items every week and files mail into Archive. The attacker logs on
//! mostly through cloud hosts and a proxy inside the victim's country with the victim's own
//! browser, some days in working hours; once from abroad; once through ActiveSync. They search
//! and read finance mail, forward a finance message out, move their sent reply to Conversation
//! History and delete the vendor's answer.

use chrono::{DateTime, Duration, Utc};
use fastrand::Rng;

use super::super::store::StoredActivity;
use super::builder::{Builder, Message, Owner, Session};
use super::ordinary::{deliver, logon_records, reply_props, working_time};
use super::playbook::{day_before_end, hide_sent_reply, plant_lure, Lure};
use super::vocabulary::*;
use super::{CorpusSpec, Truth};

/// The owner's own phone until the victim replaces it.
const NEW_PHONE_UA: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 11_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Outlook-iOS/2.121.0";
/// What the attacker's ActiveSync client announced.
const ACTIVESYNC_UA: &str = "Apple-iPhone9C1/1505.3";
/// The shared office address (a NAT) of every owner.
const OFFICE_IP: &str = "198.51.100.7";

/// A week abroad: from, to, and the hotel network's /16.
#[derive(Clone, Copy)]
struct Trip {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    network: (u8, u8),
}

/// Where one owner connects from, and when.
pub(super) struct OwnerNetwork {
    utc_offset_hours: i64,
    /// DHCP leases of the home connection: from when, which address (one ISP /16).
    home: Vec<(DateTime<Utc>, String)>,
    /// The mobile carrier's /16; each phone session gets an address in its first /18.
    carrier: (u8, u8),
    /// A week abroad with the owner's own devices.
    trip: Option<Trip>,
    /// From when the owner's phone is a new one (a new user agent).
    new_phone_from: Option<DateTime<Utc>>,
}

impl OwnerNetwork {
    /// `traveller`: the victim, who also travels and replaces their phone.
    pub(super) fn new(
        rng: &mut Rng,
        spec: &CorpusSpec,
        owner: &Owner,
        index: usize,
        traveller: bool,
    ) -> Self {
        let start = spec.end - Duration::days(spec.days.max(1) as i64);
        let span = spec.end - start;
        let isp = [(73u8, 41u8), (24u8, 130u8), (98u8, 207u8), (71u8, 58u8)][index % 4];
        let mut home = Vec::new();
        let mut from = start - Duration::days(30);
        while from < spec.end {
            home.push((
                from,
                format!(
                    "{}.{}.{}.{}",
                    isp.0,
                    isp.1,
                    rng.u8(0..=255),
                    rng.u8(1..=254)
                ),
            ));
            from += Duration::days(rng.i64(14..=28));
        }
        let at = |share: f64| start + Duration::seconds((span.num_seconds() as f64 * share) as i64);
        OwnerNetwork {
            utc_offset_hours: owner.utc_offset_hours,
            home,
            carrier: [(172u8, 56u8), (174u8, 205u8)][index % 2],
            trip: traveller.then(|| Trip {
                from: at(0.66),
                to: at(0.66) + Duration::days(6),
                network: (81, 2),
            }),
            new_phone_from: traveller.then(|| at(0.75)),
        }
    }

    fn home_at(&self, time: DateTime<Utc>) -> String {
        self.home
            .iter()
            .rev()
            .find(|(from, _)| *from <= time)
            .or(self.home.first())
            .map(|(_, ip)| ip.clone())
            .unwrap_or_default()
    }

    fn phone(&self, rng: &mut Rng, time: DateTime<Utc>) -> (String, &'static str) {
        let ip = format!(
            "{}.{}.{}.{}",
            self.carrier.0,
            self.carrier.1,
            rng.u8(0..64),
            rng.u8(1..=254)
        );
        let agent = match self.new_phone_from {
            Some(from) if time >= from => NEW_PHONE_UA,
            _ => OWNER_MOBILE_UA,
        };
        (ip, agent)
    }

    /// The session the owner opens at `time`: where they are decides the address, the hour
    /// and the day the client.
    pub(super) fn session(&self, b: &mut Builder, time: DateTime<Utc>) -> Session {
        let local_hour = (time + Duration::hours(self.utc_offset_hours))
            .format("%H")
            .to_string();
        let working = local_hour
            .parse::<u32>()
            .is_ok_and(|h| (8..18).contains(&h));
        let travelling = self
            .trip
            .filter(|trip| (trip.from..trip.to).contains(&time));
        let roll = b.rng.u8(0..100);
        let (app, ip, user_agent) = if roll < 18 {
            let (ip, agent) = self.phone(&mut b.rng, time);
            ("Mobile", ip, agent)
        } else {
            let ip = match travelling {
                Some(trip) => format!(
                    "{}.{}.{}.{}",
                    trip.network.0,
                    trip.network.1,
                    b.rng.u8(60..80),
                    b.rng.u8(1..=254)
                ),
                None if working && b.rng.u8(0..100) < 80 => OFFICE_IP.to_string(),
                None => self.home_at(time),
            };
            if roll < 40 {
                ("Web", ip, OWNER_BROWSER_UA)
            } else {
                ("Outlook", ip, OWNER_DESKTOP_UA)
            }
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

/// Weekly routines: emptying Deleted Items, filing into Archive, and for a finance owner the
/// searches an attacker would run ("invoice", "wire transfer", "payment").
pub(super) fn routines(
    b: &mut Builder,
    spec: &CorpusSpec,
    owner: &Owner,
    network: &OwnerNetwork,
    messages: &[Message],
    finance: bool,
    activities: &mut Vec<StoredActivity>,
) {
    let start = spec.end - Duration::days(spec.days.max(1) as i64);
    let weeks = spec.days as i64 / 7;
    for week in 0..weeks {
        let monday = start + Duration::days(week * 7 + b.rng.i64(0..5));
        let time = working_time(&mut b.rng, monday, network.utc_offset_hours);
        if time >= spec.end || messages.is_empty() {
            continue;
        }
        let mut session = network.session(b, time);
        activities.extend(logon_records(b, time, owner, &session));
        let mut t = time + Duration::minutes(2);
        for _ in 0..b.rng.usize(2..5) {
            let message = &messages[b.rng.usize(..messages.len())];
            activities.push(b.record(
                t,
                "Move",
                session.app,
                Some(&mut session),
                &message.item_id,
                vec![
                    ("MoveType", "Move".into()),
                    ("SourceFolder", "Inbox".into()),
                    ("TargetFolder", "Archive".into()),
                ],
            ));
            t += Duration::seconds(b.rng.i64(20..90));
        }
        for _ in 0..b.rng.usize(1..4) {
            let message = &messages[b.rng.usize(..messages.len())];
            activities.push(b.record(
                t,
                "Delete",
                session.app,
                Some(&mut session),
                &message.item_id,
                vec![
                    ("DeleteType", "HardDelete".into()),
                    ("SourceDefaultFolderType", "DeletedItems".into()),
                ],
            ));
            t += Duration::seconds(b.rng.i64(5..30));
        }
        if finance {
            for term in ["invoice", "wire transfer", "payment"] {
                activities.push(search(b, t, &mut session, term));
                t += Duration::seconds(b.rng.i64(30..240));
                let message = &messages[b.rng.usize(..messages.len())];
                activities.push(b.record(
                    t,
                    "ReadingPaneDisplayStart",
                    session.app,
                    Some(&mut session),
                    &message.item_id,
                    vec![("IsConversation", "False".into())],
                ));
                t += Duration::seconds(b.rng.i64(30..120));
            }
        }
    }
}

fn search(
    b: &mut Builder,
    time: DateTime<Utc>,
    session: &mut Session,
    term: &str,
) -> StoredActivity {
    let (result, sid) = (b.id("AAMk"), b.uuid());
    let app = session.app;
    b.record(
        time,
        "SearchResult",
        app,
        Some(session),
        "",
        vec![
            ("Query", query_xml(term)),
            ("ResIds", result),
            ("Sid", sid),
            ("Folders", "AllItems".into()),
            ("MaxRes", "50".into()),
            ("App", app.into()),
        ],
    )
}

/// Plants the compromise in `owner`'s mailbox; `owner_ips` are the addresses the owner used.
pub(super) fn plant(
    b: &mut Builder,
    spec: &CorpusSpec,
    owner: &Owner,
    activities: &mut Vec<StoredActivity>,
) -> Truth {
    let owner_ips = logon_addresses(activities);
    let cloud = [
        format!("52.14.{}.{}", b.rng.u8(0..=255), b.rng.u8(1..=254)),
        format!("18.224.{}.{}", b.rng.u8(0..=255), b.rng.u8(1..=254)),
        format!("104.28.{}.{}", b.rng.u8(0..=255), b.rng.u8(1..=254)),
    ];
    let foreign = "105.112.96.14".to_string();
    let activesync = format!("154.6.{}.{}", b.rng.u8(0..=255), b.rng.u8(1..=254));
    let mut truth = Truth {
        scenario: "bec".into(),
        seed: spec.seed,
        mailbox: owner.upn.clone(),
        owner_ips,
        attacker_ips: cloud
            .iter()
            .cloned()
            .chain([foreign.clone(), activesync.clone()])
            .collect(),
        attacker_user_agents: vec![
            OWNER_BROWSER_UA.into(),
            ATTACKER_UA.into(),
            ACTIVESYNC_UA.into(),
        ],
        ..Truth::default()
    };
    let phish_day = day_before_end(spec, (spec.days as i64 / 7).clamp(4, 20));

    // The lure, opened by the owner from the office.
    let phish_time = owner.local(phish_day, 9, 48);
    plant_lure(
        b,
        owner,
        activities,
        &Lure {
            time: phish_time,
            subject: "RE: Outstanding invoice 20418 - payment confirmation",
            sender: "ap-notices@northwlnd-billing.com",
            attachment: "Payment_Confirmation_20418.html",
            attachment_type: "html",
            opened_from: OFFICE_IP.into(),
            logon_after: Duration::minutes(6),
            read_first: false,
        },
        &mut truth,
    );

    // Finance mail the attacker reads and forwards, delivered before the compromise.
    let finance: Vec<Message> = FINANCE_SUBJECTS
        .iter()
        .enumerate()
        .map(|(i, subject)| {
            deliver(
                b,
                phish_time - Duration::days(2 + i as i64),
                owner,
                &[],
                activities,
                Some((
                    subject,
                    "finance@northwind.example",
                    "Invoice_5530.pdf (pdf, ByValue)",
                )),
            )
        })
        .collect();
    let terms = [
        "wire transfer",
        "bank details",
        "ACH routing",
        "invoice",
        "payment",
    ];
    truth.finance_search_terms = terms.iter().map(|s| s.to_string()).collect();
    let mut ids = Vec::new();
    // (day after the lure, local hour, the address): working hours on some days.
    let visits: [(i64, i64, &str); 6] = [
        (1, 11, &cloud[0]),
        (1, 23, &cloud[1]),
        (2, 14, &cloud[0]),
        (3, 2, &foreign),
        (4, 10, &cloud[2]),
        (6, 15, &cloud[1]),
    ];
    for (visit, (day, hour, address)) in visits.iter().enumerate() {
        let start = owner.local(
            phish_day + Duration::days(*day),
            *hour,
            5 + 3 * visit as i64,
        );
        if start >= spec.end {
            break;
        }
        let agent = if *address == foreign {
            ATTACKER_UA
        } else {
            OWNER_BROWSER_UA
        };
        let mut session = Session {
            app: "Web",
            session_id: b.uuid(),
            ip: address.to_string(),
            user_agent: agent,
            sequence: 0,
        };
        for record in logon_records(b, start, owner, &session) {
            ids.push(record.id.clone());
            activities.push(record);
        }
        let mut t = start + Duration::seconds(50);
        for term in terms.iter().skip(visit % 4).take(2) {
            let record = search(b, t, &mut session, term);
            truth.finance_search_ids.push(record.id.clone());
            ids.push(record.id.clone());
            activities.push(record);
            t += Duration::seconds(35);
        }
        let message = &finance[visit % finance.len()];
        let record = b.record(
            t,
            "ReadingPaneDisplayStart",
            "Web",
            Some(&mut session),
            &message.item_id,
            vec![("IsConversation", "False".into())],
        );
        truth.finance_read_ids.push(record.id.clone());
        ids.push(record.id.clone());
        activities.push(record);
        t += Duration::seconds(40);
        match visit {
            1 => {
                // A finance message forwarded out.
                let received = received_time_text(message.received);
                let record = b.record(
                    t,
                    "Forward",
                    "Web",
                    Some(&mut session),
                    &message.item_id,
                    reply_props(message, &received),
                );
                ids.push(record.id.clone());
                activities.push(record);
            }
            2 => {
                // The fraud: a reply with new bank details, hidden in Conversation History.
                let (hidden, records) = hide_sent_reply(
                    b,
                    &mut session,
                    t,
                    Duration::minutes(1),
                    "Conversation History",
                );
                ids.extend(records.iter().map(|r| r.id.clone()));
                truth.hidden_sent_item = hidden;
                activities.extend(records);
            }
            4 => {
                // The vendor's answer arrives, and the attacker deletes it unread by the owner.
                let reply = deliver(
                    b,
                    t,
                    owner,
                    &[],
                    activities,
                    Some((
                        "RE: Updated remittance details",
                        "finance@northwind.example",
                        "",
                    )),
                );
                ids.push(activities.last().map(|a| a.id.clone()).unwrap_or_default());
                let record = b.record(
                    t + Duration::minutes(3),
                    "Delete",
                    "Web",
                    Some(&mut session),
                    &reply.item_id,
                    vec![
                        ("DeleteType", "SoftDelete".into()),
                        ("SourceDefaultFolderType", "Inbox".into()),
                    ],
                );
                ids.push(record.id.clone());
                activities.push(record);
                // And a phone of their own, through ActiveSync, the same night.
                let logon = b.record(
                    t + Duration::hours(9),
                    "ServerLogon",
                    "Mobile",
                    None,
                    "",
                    vec![
                        ("ClientIP", activesync.clone()),
                        ("UserName", owner.upn.clone()),
                        ("Result", "Success".into()),
                        ("ExceptionInfo", String::new()),
                        ("UserAgent", ACTIVESYNC_UA.into()),
                    ],
                );
                truth.imap_logon_ids.push(logon.id.clone());
                ids.push(logon.id.clone());
                activities.push(logon);
            }
            _ => {}
        }
    }
    truth.attacker_activity_ids.extend(ids);
    truth
}

/// Every address the mailbox's logons came from so far.
fn logon_addresses(activities: &[StoredActivity]) -> Vec<String> {
    let mut addresses: Vec<String> = activities
        .iter()
        .filter(|a| a.activity_type == "ServerLogon")
        .filter_map(|a| {
            let record: serde_json::Value = serde_json::from_str(&a.json).ok()?;
            record["CustomProperties"]
                .as_array()?
                .iter()
                .find(|p| p["Name"] == "ClientIP")?["Value"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}
