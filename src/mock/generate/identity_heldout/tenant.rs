//! The held-out tenant's people and their ordinary working days: who they are, where each one
//! works each day, the sign-ins their laptops and phones make and what they do in their
//! mailboxes through them.
//!
//! Every employee of the Lyon office comes from the office's one NAT address. Working days run
//! 07:00 to about 17:00 UTC (08:00 to 18:00 in Lyon), Monday to Friday: a sign-in to OfficeHome
//! in the morning (Windows Hello for Business on the compliant laptop, the primary refresh
//! token), then Outlook's token refreshes every one to two hours in the same session, with the
//! mailbox work each token authorised; phones (Outlook for iOS) have their own session a day,
//! each refresh from another address of the carrier's pool. Roles that are confounders: the
//! employee on the corporate VPN whose egress (and country) changes every day in a session that
//! lasts the week, the one at home whose IPv6 privacy addresses rotate within one /64, the
//! contractor who works in a cloud VDI (a hosting provider's ASN, two outbound addresses, an
//! interactive OfficeHome sign-in every day), and the salesperson whose afternoons are at a
//! customer's guest Wi-Fi.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use fastrand::Rng;

use super::log::Log;
use super::mailbox::{self, Access, Message};
use super::network::*;
use super::shapes::{guid, Auth, Device, Net, Risk, Token, NO_RISK};

pub const DOMAIN: &str = "tailspin-freight.example";

/// What a person's days look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Finance,
    Office,
    Vpn,
    Ipv6Home,
    Vdi,
    Sales,
    Helpdesk,
    Admin,
}

const PEOPLE: &[(&str, Role)] = &[
    ("claire.dubois", Role::Finance),
    ("julien.garnier", Role::Finance),
    ("mehdi.benali", Role::Vpn),
    ("sophie.laurent", Role::Ipv6Home),
    ("thomas.nguyen", Role::Vdi),
    ("lea.fontaine", Role::Sales),
    ("antoine.roux", Role::Helpdesk),
    ("nadia.haddad", Role::Admin),
    ("pierre.lefevre", Role::Office),
    ("camille.petit", Role::Office),
    ("hugo.bernard", Role::Office),
    ("emma.girard", Role::Office),
    ("lucas.faure", Role::Office),
    ("manon.chevalier", Role::Office),
    ("yanis.mercier", Role::Office),
];

#[derive(Debug, Clone)]
pub struct User {
    pub upn: String,
    pub role: Role,
    pub laptop: Device,
    pub phone: Option<Device>,
    pub isp: (u32, (u8, u8), &'static str),
    pub home: Net,
    /// The home's IPv6 /64 (first four groups), for the one who works over IPv6.
    pub prefix: String,
    pub messages: Vec<Message>,
}

impl User {
    /// The last `n` messages that had arrived by `before` whose subject contains one of
    /// `words`.
    pub fn find(&self, words: &[&str], before: DateTime<Utc>, n: usize) -> Vec<Message> {
        let mut found: Vec<Message> = self
            .messages
            .iter()
            .rev()
            .filter(|m| m.arrived <= before)
            .filter(|m| {
                let subject = m.subject.to_lowercase();
                words.iter().any(|w| subject.contains(w))
            })
            .take(n)
            .cloned()
            .collect();
        found.reverse();
        found
    }
}

const SUBJECTS: &[&str] = &[
    "Planning tournées semaine {}",
    "Réunion d'équipe lundi",
    "Re: Livraison entrepôt Corbas",
    "Compte rendu comité {}",
    "Demande de congés",
    "Re: Devis transport frigorifique",
    "Tarifs 2026 - mise à jour",
    "Facture {} - Transports Rhône Alpes",
    "Relevé bancaire février",
    "RIB fournisseur mis à jour",
    "Virement fournisseurs - validation",
    "Payment run {} approval",
    "Invoice {} overdue",
    "Fwd: Note de frais",
    "Incident quai 4",
];

pub const FINANCE_WORDS: &[&str] = &[
    "facture", "invoice", "rib", "virement", "payment", "bancaire",
];

/// A message id as Exchange Online writes it.
pub fn message_id(rng: &mut Rng) -> String {
    let server = format!(
        "PR{}P{}MB{:04}",
        rng.u8(1..4),
        rng.u16(190..196),
        rng.u16(1000..9999)
    );
    format!(
        "<{server}{:016X}{:08X}@{server}.eurprd0{}.prod.outlook.com>",
        rng.u64(..),
        rng.u32(..),
        rng.u8(1..6)
    )
}

pub fn new_message(rng: &mut Rng, arrived: DateTime<Utc>) -> Message {
    let template = SUBJECTS[rng.usize(..SUBJECTS.len())];
    Message {
        id: message_id(rng),
        subject: template.replace("{}", &format!("{}", rng.u16(100..9999))),
        folder: "Inbox",
        arrived,
    }
}

fn device(rng: &mut Rng, name: String, os: &'static str, browser: &'static str) -> Device {
    Device {
        id: guid(rng),
        name,
        os,
        browser,
        compliant: true,
        trust: "Azure AD joined",
    }
}

/// The tenant's people (10 to 15, the seed decides), with their devices and homes.
pub fn people(rng: &mut Rng, start: DateTime<Utc>) -> Vec<User> {
    let count = rng.usize(10..=PEOPLE.len());
    PEOPLE[..count]
        .iter()
        .enumerate()
        .map(|(n, (name, role))| {
            let isp = HOME_ISPS[rng.usize(..HOME_ISPS.len())];
            let laptop = if *role == Role::Vdi {
                device(rng, "AVD-POOL-03-7".into(), "Windows 10", "Edge 131.0.0")
            } else {
                device(
                    rng,
                    format!("TSF-LT-{:04}", 1200 + n * 7),
                    "Windows 11",
                    "Edge 131.0.0",
                )
            };
            let phone = (n % 3 != 2 && *role != Role::Vdi).then(|| {
                let mut phone = device(
                    rng,
                    format!("iPhone de {name}"),
                    "Ios 18.2",
                    "Outlook 4.2450.0",
                );
                phone.trust = "Azure AD registered";
                phone
            });
            let mut messages = Vec::new();
            for _ in 0..30 {
                messages.push(new_message(rng, start));
            }
            User {
                upn: format!("{name}@{DOMAIN}"),
                role: *role,
                laptop,
                phone,
                isp,
                home: home(rng, isp),
                prefix: format!("2a01:e0a:{:x}:{:x}", rng.u16(0x100..0xfff), rng.u16(..)),
                messages,
            }
        })
        .collect()
}

pub fn weekday(day: DateTime<Utc>) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The laptop tokens of the working days, per user, oldest first (the stolen-token playbook
/// takes one).
#[derive(Debug, Default)]
pub struct Days {
    pub laptop_tokens: Vec<Token>,
}

/// Where `user`'s laptop is at `at`: the salesperson at a customer's on Tuesday and Thursday
/// afternoons, most people at home on Wednesdays.
fn laptop_net(rng: &mut Rng, user: &User, at: DateTime<Utc>, vpn: &Net) -> Net {
    let day = at.weekday();
    let hour = at.hour();
    match user.role {
        Role::Vpn => vpn.clone(),
        Role::Ipv6Home => privacy_address(rng, &user.prefix),
        Role::Vdi => vdi_egress(hour as usize / 2),
        Role::Sales if matches!(day, Weekday::Tue | Weekday::Thu) && hour >= 12 => {
            customer_site(rng)
        }
        _ if day == Weekday::Wed && user.role != Role::Finance => user.home.clone(),
        _ => office_nat(),
    }
}

/// The ordinary working days of `people` from `start` to `end`.
pub fn working_days(
    log: &mut Log,
    people: &mut [User],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Days {
    let mut days = Days::default();
    let total = (end - start).num_days().max(1) as usize;
    for user in people.iter_mut() {
        let mut week_session = (usize::MAX, String::new());
        let mut vpn = vpn_egress(&mut log.rng, 0);
        for day in 0..total {
            let midnight = start + Duration::days(day as i64);
            if !weekday(midnight) {
                continue;
            }
            // New mail arrives every working day.
            for _ in 0..log.rng.usize(2..6) {
                let arrived = midnight + Duration::hours(log.rng.i64(6..16));
                let message = new_message(&mut log.rng, arrived);
                user.messages.push(message);
            }
            // Leases change now and then.
            if log.rng.u8(..20) == 0 {
                user.home = home(&mut log.rng, user.isp);
            }
            let week = midnight.iso_week().week() as usize;
            if user.role == Role::Vpn {
                vpn = vpn_egress(&mut log.rng, day);
            }
            let session = if user.role == Role::Vpn {
                if week_session.0 != week {
                    week_session = (week, guid(&mut log.rng));
                }
                week_session.1.clone()
            } else {
                guid(&mut log.rng)
            };
            let begin = midnight + Duration::hours(7) + Duration::minutes(log.rng.i64(0..50));
            if begin + Duration::hours(10) > end {
                break;
            }
            let tokens = laptop_day(log, user, begin, &session, &vpn);
            days.laptop_tokens.extend(tokens);
            if user.phone.is_some() {
                let session = guid(&mut log.rng);
                phone_day(log, user, begin, &session);
            }
        }
    }
    days
}

/// A laptop's day: the morning sign-in, then refreshes in the same session with the mailbox
/// work each token authorised; the tokens, oldest first.
fn laptop_day(
    log: &mut Log,
    user: &User,
    begin: DateTime<Utc>,
    session: &str,
    vpn: &Net,
) -> Vec<Token> {
    let vdi = user.role == Role::Vdi;
    let mut at = begin;
    let mut tokens = Vec::new();
    while at < begin + Duration::hours(10) {
        let net = laptop_net(&mut log.rng, user, at, vpn);
        let first = tokens.is_empty();
        // The VPN employee's risk detections: a new country every day looks like travel; an
        // admin dismissed them.
        let risk = if user.role == Role::Vpn && first && begin.weekday() == Weekday::Wed {
            Risk {
                level: "medium",
                state: "dismissed",
                detail: "adminDismissedRiskForSignIn",
                events: &["unlikelyTravel"],
            }
        } else {
            NO_RISK
        };
        let app = match (first, vdi) {
            (true, _) => OFFICE_HOME,
            (false, true) => ONE_OUTLOOK_WEB,
            (false, false) => MICROSOFT_OFFICE,
        };
        let browser = first || vdi;
        let issued = log.sign_in(&Auth {
            upn: &user.upn,
            at,
            net: &net,
            app,
            client: if browser {
                "Browser"
            } else {
                "Mobile Apps and Desktop clients"
            },
            session,
            interactive: first,
            incoming: if first {
                "primaryRefreshToken"
            } else {
                "refreshToken"
            },
            transfer: "none",
            protocol: "none",
            device: Some(&user.laptop),
            agent: ("Edge 131.0.0", "Windows 11"),
            user_agent: if browser { EDGE_UA } else { OUTLOOK_UA },
            error: 0,
            mfa: first.then_some("Windows Hello for Business"),
            risk,
        });
        if !first || vdi {
            let access = Access::new(&issued, if vdi { OWA_CLIENT } else { OUTLOOK_CLIENT });
            let from = issued.issued + Duration::seconds(5);
            mailbox_work(log, user, &access, from, tokens.len() == 1);
        }
        tokens.push(issued);
        at += Duration::minutes(log.rng.i64(55..115));
    }
    tokens
}

/// What a person does in their mailbox through one token, over the next hour.
fn mailbox_work(log: &mut Log, user: &User, access: &Access, at: DateTime<Utc>, morning: bool) {
    let rng = &mut log.rng;
    let minute = |rng: &mut Rng| Duration::minutes(rng.i64(1..55));
    let recent: Vec<Message> = user
        .messages
        .iter()
        .rev()
        .filter(|m| m.arrived <= at)
        .take(12)
        .cloned()
        .collect();
    let mut when = vec![];
    for _ in 0..rng.usize(1..4) {
        when.push(at + minute(rng));
    }
    let picks: Vec<usize> = (0..when.len())
        .map(|_| rng.usize(..recent.len().max(1)))
        .collect();
    let send_at = (rng.u8(..3) == 0).then(|| at + minute(rng));
    let file_at = (rng.u8(..4) == 0).then(|| at + minute(rng));
    let delete_at = (rng.u8(..5) == 0).then(|| at + minute(rng));
    let search_at = (rng.u8(..8) == 0).then(|| at + minute(rng));
    if morning {
        mailbox::login(log, access, at);
        // Outlook in cached mode synchronises the inbox once in the morning.
        mailbox::sync(log, access, at + Duration::seconds(40), "Inbox");
    }
    for (t, n) in when.into_iter().zip(picks) {
        if let Some(m) = recent.get(n) {
            mailbox::bind(log, access, t, &[m]);
        }
    }
    if let Some(t) = send_at {
        let message = new_message(&mut log.rng, t);
        mailbox::send(
            log,
            access,
            t,
            &message,
            &["transport@rhone-alpes-logistique.example"],
        );
    }
    if let (Some(t), Some(m)) = (file_at, recent.get(2)) {
        mailbox::move_to(log, access, t, "Archive", &[m]);
    }
    if let (Some(t), Some(m)) = (delete_at, recent.get(5)) {
        mailbox::soft_delete(log, access, t, &[m]);
    }
    if let Some(t) = search_at {
        let query = if user.role == Role::Finance {
            "facture"
        } else {
            "planning"
        };
        mailbox::search(log, access, t, query);
    }
}

/// A phone's day: Outlook for iOS refreshes three times, each from another carrier address.
fn phone_day(log: &mut Log, user: &User, begin: DateTime<Utc>, session: &str) {
    let Some(phone) = &user.phone else { return };
    for n in 0..3 {
        let at = begin + Duration::minutes(20 + 190 * n + log.rng.i64(0..60));
        let net = carrier(&mut log.rng);
        let issued = log.sign_in(&Auth {
            upn: &user.upn,
            at,
            net: &net,
            app: OUTLOOK_MOBILE,
            client: "Mobile Apps and Desktop clients",
            session,
            interactive: false,
            incoming: "refreshToken",
            transfer: "none",
            protocol: "none",
            device: Some(phone),
            agent: ("Outlook 4.2450.0", "Ios 18.2"),
            user_agent: OUTLOOK_IOS_UA,
            error: 0,
            mfa: None,
            risk: NO_RISK,
        });
        let access = Access::new(&issued, MOBILE_CLIENT);
        if let Some(m) = user.messages.iter().rev().find(|m| m.arrived <= at) {
            mailbox::bind(log, &access, at + Duration::minutes(2), &[m]);
        }
    }
}
