//! The attacks the held-out family plants, one per seed in turn (`PLAYBOOKS`; seed 1 is the
//! first). Each differs from the standard family's AiTM-to-OfficeHome in kit, networks, timing
//! and what it leaves behind:
//! - `device-code`: the victim enters a phisher's device code; the phisher polls from a VPS in
//!   another cloud (Hetzner, OVH or Linode) for Microsoft Authentication Broker or Microsoft
//!   Office (`originalTransferMethod` deviceCodeFlow, `authenticationProtocol` deviceCode);
//!   a day or two later the refresh token is replayed from residential proxies in France, on
//!   ISPs the victim does not use, through Graph: searches, reads, a Sync of the inbox, a
//!   throttled record; an Authenticator app registered and an `UpdateInboxRules` rule hiding
//!   the vendor's mail;
//! - `aitm-low-and-slow`: an AiTM kit on another hosting ASN (Vultr, Google Cloud or AWS) with
//!   One Outlook Web as its landing app, the victim's own browser relayed (their user agent,
//!   `Client=OWA;Action=ViaProxy`, a low sign-in risk); the cookie replayed three to six days
//!   later, a short visit every two to four days from small VPSs in France with the victim's
//!   user agent: reads, a search, mailbox forwarding (`Set-Mailbox`) and a consent to a
//!   lookalike app (service principal, delegated grant, consent);
//! - `stolen-token`: an infostealer takes the IT admin's Outlook token; the same session is
//!   replayed at night from residential proxies with Outlook's user agent (compliant-looking)
//!   but no device id: a Sync, reads of the admin's and (FullAccess) the CFO's mail, a
//!   throttled record, a new device registered, `Add-MailboxPermission`,
//!   `Add-RecipientPermission` (SendAs) and `Set-AdminAuditLogConfig` switching ingestion off;
//! - `lateral-phish`: an AiTM kit with My Signins as landing app takes an employee's session;
//!   from it the attacker sends a phish to colleagues, deletes the sent copy and hides replies
//!   by `New-InboxRule`; the CFO falls for it an hour later through the same kit, and the
//!   CFO's session is replayed the next days: reads, a Sync, an `UpdateInboxRules` rule, an
//!   MFA method and a new device.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::attack::{Kit, Plant};
use super::log::Log;
use super::mailbox::{self, Access, Message};
use super::network::*;
use super::shapes::{guid, stable_guid, user_target, Initiator, Risk, NO_RISK};
use super::tenant::{message_id, weekday, Days, Role, User, FINANCE_WORDS};

/// The playbooks, one per seed in turn (seed 1 is the first).
pub const PLAYBOOKS: &[&str] = &[
    "device-code",
    "aitm-low-and-slow",
    "stolen-token",
    "lateral-phish",
];

/// The playbook a seed plants.
pub fn playbook_of(seed: u64) -> &'static str {
    PLAYBOOKS[(seed.wrapping_sub(1) % PLAYBOOKS.len() as u64) as usize]
}

const USER_REGISTERED: (&str, &str, &str) = (
    "User registered security info",
    "UserManagement",
    "Authentication Methods",
);
const REGISTER_DEVICE: (&str, &str, &str) =
    ("Register device", "Device", "Device Registration Service");

/// Plants `playbook` in the tenant; what it planted.
pub fn plant(
    log: &mut Log,
    people: &[User],
    days: &Days,
    playbook: &str,
    end: DateTime<Utc>,
) -> Plant {
    match playbook {
        "aitm-low-and-slow" => aitm_low_and_slow(log, people, end),
        "stolen-token" => stolen_token(log, people, days, end),
        "lateral-phish" => lateral_phish(log, people, end),
        _ => device_code(log, people, end),
    }
}

/// A working day's midnight `back` days before `end` (or the working day before it).
fn working_day(end: DateTime<Utc>, back: i64) -> DateTime<Utc> {
    let mut day = (end - Duration::days(back))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(end);
    while !weekday(day) {
        day -= Duration::days(1);
    }
    day
}

/// The midnight of the first working day at or after `at`.
fn next_working_day(at: DateTime<Utc>) -> DateTime<Utc> {
    let mut day = working_day(at, 0);
    while day + Duration::days(1) <= at || !weekday(day) {
        day += Duration::days(1);
    }
    day
}

/// One of the people in `roles`, drawn from the seed.
fn pick<'p>(log: &mut Log, people: &'p [User], roles: &[Role]) -> &'p User {
    let eligible: Vec<&User> = people.iter().filter(|u| roles.contains(&u.role)).collect();
    eligible
        .get(log.rng.usize(..eligible.len().max(1)))
        .copied()
        .unwrap_or(&people[0])
}

fn minutes(log: &mut Log, range: std::ops::Range<i64>) -> Duration {
    Duration::minutes(log.rng.i64(range))
}

fn registered_security_info(log: &mut Log, at: DateTime<Utc>, upn: &str, ip: &str) -> String {
    log.audit(
        at,
        USER_REGISTERED,
        Initiator::User { upn, ip },
        user_target(upn),
        json!([{"key": "Method", "value": "Authenticator App"},
               {"key": "Device", "value": "Pixel 7"}]),
    )
}

fn registered_device(log: &mut Log, at: DateTime<Utc>, upn: &str, ip: &str) -> String {
    let device = guid(&mut log.rng);
    log.audit(
        at,
        REGISTER_DEVICE,
        Initiator::User { upn, ip },
        json!([
            {"id": device, "displayName": "iPhone", "type": "Device", "modifiedProperties": [
                {"displayName": "DeviceOSType", "oldValue": null, "newValue": "[\"IPhone\"]"},
                {"displayName": "DeviceTrustType", "oldValue": null, "newValue": "[\"Workplace\"]"},
            ]},
            {"id": stable_guid(upn), "displayName": null, "type": "User",
             "userPrincipalName": upn, "modifiedProperties": []},
        ]),
        json!([{"key": "Device OS", "value": "iOS"}]),
    )
}

fn device_code(log: &mut Log, people: &[User], end: DateTime<Utc>) -> Plant {
    let mut plant = Plant::default();
    let victim = pick(log, people, &[Role::Finance, Role::Office]);
    let back = log.rng.i64(8..15);
    let at = working_day(end, back) + Duration::hours(9) + minutes(log, 0..50);
    let vps = any_hosted(&mut log.rng, DEVICE_CODE_VPS);
    let poller = Kit {
        app: [AUTH_BROKER, MICROSOFT_OFFICE][log.rng.usize(..2)],
        client: "Mobile Apps and Desktop clients",
        transfer: "deviceCodeFlow",
        user_agent: MSAL_PYTHON_UA,
        agent: ("Python Requests 2.32", ""),
    };
    let session = guid(&mut log.rng);
    let who = (victim.upn.as_str(), session.as_str());
    plant.origin(log, who, at, &vps, &poller, NO_RISK);
    let replayer = Kit {
        user_agent: FIREFOX_LINUX_UA,
        agent: ("Firefox 133.0", "Linux"),
        ..poller
    };
    let mut t = at + Duration::hours(log.rng.i64(20..40));
    let visits = log.rng.usize(5..=7);
    for visit in 0..visits {
        if t + Duration::hours(1) >= end {
            break;
        }
        let net = residential_proxy(&mut log.rng, victim.isp.0);
        let token = plant.replay(log, who, t, &net, &replayer);
        let access = Access::new(&token, REST_CLIENT);
        let mut when = t + minutes(log, 1..4);
        match visit {
            0 => {
                mailbox::search(log, &access, when, "virement");
                mailbox::search(log, &access, when + Duration::minutes(2), "RIB");
                let finance = victim.find(FINANCE_WORDS, t, 4);
                when = plant.read(log, &access, when + Duration::minutes(4), &finance);
                let id = registered_security_info(log, when, &victim.upn, &net.ip);
                plant.persisted(id);
                let id = mailbox::update_inbox_rules(
                    log,
                    &access,
                    when + Duration::minutes(6),
                    (
                        ".",
                        "SubjectContainsWords: facture;virement;RIB",
                        "MoveToFolder: Conversation History; MarkAsRead",
                    ),
                );
                plant.persisted(id);
            }
            1 => {
                mailbox::sync(log, &access, when, "Inbox");
            }
            2 => {
                mailbox::throttled(log, &access, when);
            }
            _ => {
                let finance = victim.find(FINANCE_WORDS, t, 2);
                plant.read(log, &access, when, &finance);
            }
        }
        t += Duration::hours(log.rng.i64(18..60));
    }
    plant
}

fn aitm_low_and_slow(log: &mut Log, people: &[User], end: DateTime<Utc>) -> Plant {
    let mut plant = Plant::default();
    let victim = pick(log, people, &[Role::Finance, Role::Office]);
    let back = log.rng.i64(16..22);
    let at = working_day(end, back) + Duration::hours(8) + minutes(log, 0..90);
    let kit_net = any_hosted(&mut log.rng, AITM_KITS);
    let kit = Kit {
        app: ONE_OUTLOOK_WEB,
        client: "Browser",
        transfer: "none",
        user_agent: EDGE_UA,
        agent: ("Edge 131.0.0", "Windows 11"),
    };
    let session = guid(&mut log.rng);
    let who = (victim.upn.as_str(), session.as_str());
    let risk = Risk {
        level: "low",
        state: "atRisk",
        detail: "none",
        events: &["unfamiliarFeatures"],
    };
    let token = plant.origin(log, who, at, &kit_net, &kit, risk);
    // The victim's own look at the mailbox through the proxy: a login, nothing read.
    let relayed = Access::new(&token, "Client=OWA;Action=ViaProxy");
    mailbox::login(log, &relayed, at + Duration::minutes(1));
    let mut t = next_working_day(at + Duration::days(log.rng.i64(3..7)))
        + Duration::hours(log.rng.i64(7..16))
        + minutes(log, 0..59);
    for visit in 0..4 {
        if t + Duration::hours(1) >= end {
            break;
        }
        let net = any_hosted(&mut log.rng, REPLAY_VPS);
        let token = plant.replay(log, who, t, &net, &kit);
        let access = Access::new(&token, OWA_CLIENT);
        let when = t + minutes(log, 1..5);
        match visit {
            0 => {
                let finance = victim.find(FINANCE_WORDS, t, 2);
                let when = plant.read(log, &access, when, &finance);
                mailbox::search(log, &access, when, "IBAN");
            }
            1 => {
                let finance = victim.find(FINANCE_WORDS, t, 1);
                let when = plant.read(log, &access, when, &finance);
                let mailbox = victim.upn.clone();
                let id = log.admin(
                    (&victim.upn, 0),
                    Some(&token),
                    when,
                    "Set-Mailbox",
                    &mailbox,
                    &[
                        ("Identity", &mailbox),
                        ("ForwardingSmtpAddress", "smtp:tsf.compta@proton.example"),
                        ("DeliverToMailboxAndForward", "True"),
                    ],
                );
                plant.persisted(id);
                let ids = super::confounders::consent(
                    log,
                    when + Duration::minutes(3),
                    (&victim.upn, &net.ip),
                    "Secure PDF Viewer",
                    "Mail.ReadWrite offline_access User.Read",
                    false,
                );
                for id in ids {
                    plant.persisted(id);
                }
            }
            2 => {
                mailbox::sync(log, &access, when, "Archive");
            }
            _ => {
                let finance = victim.find(FINANCE_WORDS, t, 2);
                plant.read(log, &access, when, &finance);
            }
        }
        t = next_working_day(t + Duration::days(log.rng.i64(2..5)))
            + Duration::hours(log.rng.i64(7..16))
            + minutes(log, 0..59);
    }
    plant
}

fn stolen_token(log: &mut Log, people: &[User], days: &Days, end: DateTime<Utc>) -> Plant {
    let mut plant = Plant::default();
    let victim = pick(log, people, &[Role::Admin]);
    let cfo = people.first().unwrap_or(victim);
    let back = log.rng.i64(8..15);
    let day = working_day(end, back);
    let Some(stolen) = days
        .laptop_tokens
        .iter()
        .filter(|t| t.upn == victim.upn && t.issued < day + Duration::hours(18))
        .max_by_key(|t| t.issued)
    else {
        return plant;
    };
    let session = stolen.session.clone();
    let who = (victim.upn.as_str(), session.as_str());
    let kit = Kit {
        app: MICROSOFT_OFFICE,
        client: "Mobile Apps and Desktop clients",
        transfer: "none",
        user_agent: OUTLOOK_UA,
        agent: ("", "Windows 11"),
    };
    let mut night = stolen
        .issued
        .date_naive()
        .and_hms_opt(20, 0, 0)
        .map(|d| d.and_utc());
    let nights = log.rng.usize(2..=3);
    for n in 0..nights {
        let Some(evening) = night else { break };
        let first = evening + minutes(log, 0..120);
        let second = first + minutes(log, 40..90);
        if second + Duration::hours(1) >= end {
            break;
        }
        let net = residential_proxy(&mut log.rng, victim.isp.0);
        let token = plant.replay(log, who, first, &net, &kit);
        let own = Access::new(&token, OUTLOOK_CLIENT);
        // FullAccess to the CFO's mailbox: the same token, a delegate's logon.
        let mut delegate = own.clone();
        delegate.mailbox = cfo.upn.clone();
        delegate.client.logon_type = 2;
        let when = first + Duration::minutes(2);
        match n {
            0 => {
                mailbox::sync(log, &own, when, "Inbox");
                let mine = victim.find(&["rib", "compte rendu", "incident"], first, 3);
                plant.read(log, &own, when + Duration::minutes(3), &mine);
            }
            _ => {
                mailbox::throttled(log, &own, when);
                let theirs = cfo.find(FINANCE_WORDS, first, 3);
                plant.read(log, &delegate, when + Duration::minutes(5), &theirs);
            }
        }
        let net = residential_proxy(&mut log.rng, victim.isp.0);
        let token = plant.replay(log, who, second, &net, &kit);
        let admin = (victim.upn.as_str(), 2);
        let when = second + Duration::minutes(3);
        if n == 0 {
            let id = log.admin(
                admin,
                Some(&token),
                when,
                "Add-MailboxPermission",
                &cfo.upn,
                &[
                    ("Identity", &cfo.upn),
                    ("User", &victim.upn),
                    ("AccessRights", "FullAccess"),
                    ("AutoMapping", "False"),
                ],
            );
            plant.persisted(id);
            let id = registered_device(log, when + Duration::minutes(8), &victim.upn, &net.ip);
            plant.persisted(id);
        } else if n + 1 == nights || second + Duration::days(1) + Duration::hours(1) >= end {
            let id = log.admin(
                admin,
                Some(&token),
                when,
                "Add-RecipientPermission",
                &cfo.upn,
                &[
                    ("Identity", &cfo.upn),
                    ("Trustee", &victim.upn),
                    ("AccessRights", "SendAs"),
                    ("Confirm", "False"),
                ],
            );
            plant.persisted(id);
            let off = when + Duration::minutes(6);
            let id = log.admin(
                admin,
                Some(&token),
                off,
                "Set-AdminAuditLogConfig",
                "Admin Audit Log Settings",
                &[("UnifiedAuditLogIngestionEnabled", "False")],
            );
            plant.persisted(id);
            plant.audit_off = Some(off);
            break;
        }
        night = night.map(|t| t + Duration::days(1));
    }
    plant
}

fn lateral_phish(log: &mut Log, people: &[User], end: DateTime<Utc>) -> Plant {
    let mut plant = Plant::default();
    let first = pick(log, people, &[Role::Office]);
    let cfo = people.first().unwrap_or(first);
    let back = log.rng.i64(8..15);
    let at = working_day(end, back) + Duration::hours(8) + minutes(log, 0..60);
    let kit_net = any_hosted(&mut log.rng, AITM_KITS);
    let kit = Kit {
        app: MY_SIGNINS,
        client: "Browser",
        transfer: "none",
        user_agent: EDGE_UA,
        agent: ("Edge 131.0.0", "Windows 11"),
    };
    let session = guid(&mut log.rng);
    let who = (first.upn.as_str(), session.as_str());
    plant.origin(log, who, at, &kit_net, &kit, NO_RISK);
    let t = at + minutes(log, 25..40);
    let net = residential_proxy(&mut log.rng, first.isp.0);
    let token = plant.replay(log, who, t, &net, &kit);
    let access = Access::new(&token, OWA_CLIENT);
    mailbox::search(log, &access, t + Duration::minutes(1), "facture");
    let read = first.find(FINANCE_WORDS, t, 2);
    let when = plant.read(log, &access, t + Duration::minutes(3), &read);
    let phish = Message {
        id: message_id(&mut log.rng),
        subject: "Facture en attente de validation - document partagé".into(),
        folder: "Sent Items",
        arrived: when,
    };
    let colleagues: Vec<&str> = std::iter::once(cfo.upn.as_str())
        .chain(
            people
                .iter()
                .filter(|u| u.upn != first.upn && u.upn != cfo.upn)
                .take(3)
                .map(|u| u.upn.as_str()),
        )
        .collect();
    mailbox::send(log, &access, when, &phish, &colleagues);
    mailbox::soft_delete(log, &access, when + Duration::minutes(1), &[&phish]);
    let id = log.admin(
        (&first.upn, 0),
        Some(&token),
        when + Duration::minutes(2),
        "New-InboxRule",
        &first.upn,
        &[
            ("Mailbox", &first.upn),
            ("Name", "Sync"),
            (
                "SubjectOrBodyContainsWords",
                "hameçonnage;phishing;piratage;suspect;facture en attente",
            ),
            ("DeleteMessage", "True"),
            ("StopProcessingRules", "True"),
        ],
    );
    plant.persisted(id);
    // The CFO opens the shared "invoice" within the hour, through the same kit.
    let clicked = when + minutes(log, 40..90);
    let session2 = guid(&mut log.rng);
    let who2 = (cfo.upn.as_str(), session2.as_str());
    plant.origin(log, who2, clicked, &kit_net, &kit, NO_RISK);
    let mut t =
        next_working_day(clicked + Duration::days(1)) + Duration::hours(7) + minutes(log, 0..60);
    for visit in 0..3 {
        if t + Duration::hours(1) >= end {
            break;
        }
        let net = residential_proxy(&mut log.rng, cfo.isp.0);
        let token = plant.replay(log, who2, t, &net, &kit);
        let access = Access::new(&token, OWA_CLIENT);
        let when = t + minutes(log, 1..5);
        match visit {
            0 => {
                let finance = cfo.find(FINANCE_WORDS, t, 3);
                let when = plant.read(log, &access, when, &finance);
                let id = mailbox::update_inbox_rules(
                    log,
                    &access,
                    when,
                    (
                        "Banque",
                        "From contains 'banque'",
                        "MoveToFolder: RSS Subscriptions; MarkAsRead",
                    ),
                );
                plant.persisted(id);
                let id =
                    registered_security_info(log, when + Duration::minutes(4), &cfo.upn, &net.ip);
                plant.persisted(id);
            }
            1 => {
                mailbox::sync(log, &access, when, "Inbox");
                let id = registered_device(log, when + Duration::minutes(9), &cfo.upn, &net.ip);
                plant.persisted(id);
            }
            _ => {
                let finance = cfo.find(FINANCE_WORDS, t, 2);
                plant.read(log, &access, when, &finance);
            }
        }
        t += Duration::hours(log.rng.i64(20..30));
    }
    plant
}
