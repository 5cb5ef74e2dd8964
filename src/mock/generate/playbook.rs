//! The moves both scenarios' attackers share: the phishing lure they open with (a message with a
//! risky attachment, which the owner opens on the web), and the fraudulent reply they send and
//! hide.

use chrono::{DateTime, Duration, Utc};

use super::super::store::StoredActivity;
use super::builder::{Builder, Owner, Session};
use super::ordinary::{deliver, logon_records};
use super::vocabulary::OWNER_BROWSER_UA;
use super::{CorpusSpec, HiddenItem, PlantedMessage, Truth};

/// The day, `days_back` days before the corpus ends (at its midnight, UTC).
pub(super) fn day_before_end(spec: &CorpusSpec, days_back: i64) -> DateTime<Utc> {
    (spec.end - Duration::days(days_back))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(spec.end)
}

/// What a lure is and how the owner opens it.
pub(super) struct Lure<'a> {
    pub time: DateTime<Utc>,
    pub subject: &'a str,
    pub sender: &'a str,
    /// The attachment's file name, and its type as AttachmentDetail names it.
    pub attachment: &'a str,
    pub attachment_type: &'a str,
    /// Where the owner opens it from, and how long after it arrived they log on to.
    pub opened_from: String,
    pub logon_after: Duration,
    /// Whether the owner reads it in the reading pane before opening the attachment.
    pub read_first: bool,
}

/// Delivers the lure and has the owner open its attachment; `truth` records it (its delivery
/// is the attack's first activity).
pub(super) fn plant_lure(
    b: &mut Builder,
    owner: &Owner,
    activities: &mut Vec<StoredActivity>,
    lure: &Lure<'_>,
    truth: &mut Truth,
) {
    let message = deliver(
        b,
        lure.time,
        owner,
        &[],
        activities,
        Some((
            lure.subject,
            lure.sender,
            &format!("{} ({}, ByValue)", lure.attachment, lure.attachment_type),
        )),
    );
    let planted = PlantedMessage {
        activity_id: activities.last().map(|a| a.id.clone()).unwrap_or_default(),
        item_id: message.item_id.clone(),
        subject: message.subject.clone(),
        sender: message.sender.clone(),
        attachment: lure.attachment.into(),
    };
    let mut victim = Session {
        app: "Web",
        session_id: b.uuid(),
        ip: lure.opened_from.clone(),
        user_agent: OWNER_BROWSER_UA,
        sequence: 0,
    };
    let logon = lure.time + lure.logon_after;
    activities.extend(logon_records(b, logon, owner, &victim));
    let mut at = logon + Duration::minutes(1);
    if lure.read_first {
        activities.push(b.record(
            at,
            "ReadingPaneDisplayStart",
            "Web",
            Some(&mut victim),
            &message.item_id,
            vec![("IsConversation", "False".into())],
        ));
        at += Duration::minutes(1);
    }
    activities.push(b.record(
        at,
        "OpenedAnAttachment",
        "Web",
        Some(&mut victim),
        &message.item_id,
        vec![("AttachmentAction", "Open".into())],
    ));
    truth
        .attacker_activity_ids
        .push(planted.activity_id.clone());
    truth.phishing = planted;
}

/// The fraud: a reply sent from the attacker's session, moved `after` it into `folder` where
/// the owner will not see it. What the truth records, and the two activities.
pub(super) fn hide_sent_reply(
    b: &mut Builder,
    session: &mut Session,
    time: DateTime<Utc>,
    after: Duration,
    folder: &str,
) -> (HiddenItem, [StoredActivity; 2]) {
    let sent_item = b.id("AAMkAGI2");
    let sent = b.record(
        time,
        "MessageSent",
        "Web",
        Some(session),
        &sent_item,
        Vec::new(),
    );
    let moved = b.record(
        time + after,
        "Move",
        "Web",
        Some(session),
        &sent_item,
        vec![
            ("MoveType", "Move".into()),
            ("SourceFolder", "Sent Items".into()),
            ("TargetFolder", folder.into()),
        ],
    );
    let hidden = HiddenItem {
        item_id: sent_item,
        sent_activity_id: sent.id.clone(),
        move_activity_id: moved.id.clone(),
        target_folder: folder.into(),
    };
    (hidden, [sent, moved])
}
