//! The planted business email compromise: the blog's playbook in one owner's mailbox.

use chrono::Duration;

use super::super::store::StoredActivity;
use super::builder::{Builder, Message, Owner, Session};
use super::ordinary::*;
use super::playbook::{day_before_end, hide_sent_reply, plant_lure, Lure};
use super::vocabulary::*;
use super::{CorpusSpec, Truth};

/// Plants the blog's playbook in `owner`'s mailbox and returns what was planted.
pub(super) fn plant_bec(
    b: &mut Builder,
    spec: &CorpusSpec,
    owner: &Owner,
    messages: &[Message],
    activities: &mut Vec<StoredActivity>,
) -> Truth {
    let mut truth = Truth {
        scenario: "bec-simple".into(),
        seed: spec.seed,
        mailbox: owner.upn.clone(),
        owner_ips: owner.ips.clone(),
        attacker_ips: vec![
            "105.112.96.14".into(),
            "197.210.54.77".into(),
            "41.190.3.120".into(),
        ],
        attacker_user_agents: vec![ATTACKER_UA.into()],
        ..Truth::default()
    };
    let phish_day = day_before_end(spec, (spec.days as i64 / 6).clamp(3, 20));

    // The lure: a remittance notice with an HTML attachment, opened on the web (where the
    // victim "logs in" to the fake page).
    let phish_time = owner.local(phish_day, 10, 12);
    plant_lure(
        b,
        owner,
        activities,
        &Lure {
            time: phish_time,
            subject: "Remittance Advice - Payment #88213",
            sender: "accounts.payable@paym3nts-remit.com",
            attachment: "Remittance_Advice_88213.htm",
            attachment_type: "htm",
            opened_from: owner.ips[0].clone(),
            logon_after: Duration::minutes(20),
            read_first: true,
        },
        &mut truth,
    );

    // Finance mail the attacker will read, delivered before the compromise.
    let mut finance: Vec<Message> = FINANCE_SUBJECTS
        .iter()
        .enumerate()
        .map(|(i, subject)| {
            deliver(
                b,
                phish_time - Duration::days(3 + i as i64),
                owner,
                &[],
                activities,
                Some((
                    subject,
                    "finance@northwind.example",
                    "Invoice_4471.pdf (pdf, ByValue)",
                )),
            )
        })
        .collect();
    finance.extend(messages.iter().rev().take(2).cloned());

    let searches = [
        "wire transfer",
        "invoice",
        "payment",
        "bank details",
        "ACH routing",
    ];
    truth.finance_search_terms = searches.iter().map(|s| s.to_string()).collect();
    let mut attacker_ids = Vec::new();
    for (visit, day_offset) in [1i64, 2, 4, 6, 9].into_iter().enumerate() {
        // Attacker hours: the middle of the owner's night.
        let start = phish_day
            + Duration::days(day_offset)
            + Duration::hours(2 - owner.utc_offset_hours)
            + Duration::minutes(7 * visit as i64);
        if start >= spec.end {
            break;
        }
        let attacker_ip = truth.attacker_ips[visit % 2].clone();
        let client_ip = if visit == 1 {
            format!("{attacker_ip},52.96.40.13")
        } else {
            attacker_ip.clone()
        };
        let mut session = Session {
            app: "Web",
            session_id: b.uuid(),
            ip: client_ip,
            user_agent: ATTACKER_UA,
            sequence: 0,
        };
        for record in logon_records(b, start, owner, &session) {
            attacker_ids.push(record.id.clone());
            activities.push(record);
        }
        let mut t = start + Duration::minutes(1);
        for term in searches.iter().skip(visit % 3).take(2) {
            let (result_id, search_id) = (b.id("AAMk"), b.uuid());
            let record = b.record(
                t,
                "SearchResult",
                "Web",
                Some(&mut session),
                "",
                vec![
                    ("Query", query_xml(term)),
                    ("ResIds", result_id),
                    ("Sid", search_id),
                    ("Folders", "AllItems".into()),
                    ("MaxRes", "50".into()),
                    ("App", "Web".into()),
                ],
            );
            truth.finance_search_ids.push(record.id.clone());
            attacker_ids.push(record.id.clone());
            activities.push(record);
            t += Duration::seconds(40);
        }
        for message in finance.iter().skip(visit % finance.len()).take(2) {
            for kind in ["ReadingPaneDisplayStart", "ReadingPaneDisplayEnd"] {
                let record = b.record(
                    t,
                    kind,
                    "Web",
                    Some(&mut session),
                    &message.item_id,
                    vec![("IsConversation", "False".into())],
                );
                if kind == "ReadingPaneDisplayStart" {
                    truth.finance_read_ids.push(record.id.clone());
                }
                attacker_ids.push(record.id.clone());
                activities.push(record);
                t += Duration::seconds(25);
            }
        }
        if visit == 2 {
            // The fraud: a reply with new bank details, then hidden in RSS Feeds.
            let (hidden, records) =
                hide_sent_reply(b, &mut session, t, Duration::minutes(2), "RSS Feeds");
            attacker_ids.extend(records.iter().map(|r| r.id.clone()));
            truth.hidden_sent_item = hidden;
            activities.extend(records);
        }
        if visit == 3 {
            // A full-mailbox sync over IMAP4: no read events follow.
            let imap_ip = truth.attacker_ips[2].clone();
            let imap = b.record(
                t + Duration::minutes(30),
                "ServerLogon",
                "IMAP4",
                None,
                "",
                vec![
                    ("ClientIP", imap_ip),
                    ("UserName", owner.upn.clone()),
                    ("Result", "Success".into()),
                    ("ExceptionInfo", String::new()),
                    ("UserAgent", String::new()),
                ],
            );
            truth.imap_logon_ids.push(imap.id.clone());
            attacker_ids.push(imap.id.clone());
            activities.push(imap);
        }
    }
    truth.attacker_activity_ids.extend(attacker_ids);
    truth
}
