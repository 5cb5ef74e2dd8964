//! Ordinary mailbox activity: an owner's working days, sessions, deliveries and actions.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use fastrand::Rng;

use super::super::store::StoredActivity;
use super::builder::{Builder, Message, Owner, Session};
use super::vocabulary::*;
use super::CorpusSpec;

/// A plausible local working time for an activity on a given day.
pub(super) fn working_time(rng: &mut Rng, day: DateTime<Utc>, offset_hours: i64) -> DateTime<Utc> {
    let hour = match rng.u8(0..100) {
        0..=79 => rng.i64(8..18),
        80..=94 => rng.i64(18..23),
        _ => rng.i64(0..8),
    };
    day + Duration::hours(hour - offset_hours)
        + Duration::seconds(rng.i64(0..3600))
        + Duration::milliseconds(rng.i64(0..1000))
}

pub(super) fn pick_day(rng: &mut Rng, spec: &CorpusSpec) -> DateTime<Utc> {
    let first = (spec.end - Duration::days(spec.days.max(1) as i64))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(spec.end);
    loop {
        let day = first + Duration::days(rng.i64(0..spec.days.max(1) as i64));
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        if !weekend || rng.u8(0..4) == 0 {
            return day;
        }
    }
}

/// Opens the session an owner starts at a time (where from, with which client).
pub(super) type OpenSession<'a> = dyn FnMut(&mut Builder, DateTime<Utc>) -> Session + 'a;

pub(super) fn ordinary_mailbox(
    b: &mut Builder,
    spec: &CorpusSpec,
    owner: &Owner,
    others: &[&Owner],
    open: &mut OpenSession<'_>,
) -> (Vec<StoredActivity>, Vec<Message>) {
    let mut times: Vec<DateTime<Utc>> = (0..spec.per_user)
        .map(|_| {
            let day = pick_day(&mut b.rng, spec);
            working_time(&mut b.rng, day, owner.utc_offset_hours)
        })
        .filter(|t| *t < spec.end)
        .collect();
    times.sort();
    let mut activities = Vec::with_capacity(times.len());
    let mut messages: Vec<Message> = Vec::new();
    let mut session: Option<Session> = None;
    let mut last_user_action = DateTime::<Utc>::MIN_UTC;
    for time in times {
        if b.rng.u8(0..100) < 33 || messages.is_empty() {
            let message = deliver(b, time, owner, others, &mut activities, None);
            messages.push(message);
            continue;
        }
        if session.is_none() || time - last_user_action > Duration::hours(2) {
            let new_session = open(b, time);
            activities.extend(logon_records(b, time, owner, &new_session));
            session = Some(new_session);
            last_user_action = time;
            continue;
        }
        last_user_action = time;
        let Some(active) = session.as_mut() else {
            continue;
        };
        let recent = &messages[messages.len().saturating_sub(40)..];
        let message = recent[b.rng.usize(..recent.len())].clone();
        activities.push(user_action(b, time, active, &message));
    }
    (activities, messages)
}

pub(super) fn open_session(b: &mut Builder, owner: &Owner) -> Session {
    let (app, user_agent) = match b.rng.u8(0..100) {
        0..=64 => ("Outlook", OWNER_DESKTOP_UA),
        65..=84 => ("Web", OWNER_BROWSER_UA),
        85..=96 => ("Mobile", OWNER_MOBILE_UA),
        _ => (
            "MacOutlook",
            "MacOutlook/16.14.0.180610 (Intelx64 Mac OS X Version 10.13.5)",
        ),
    };
    Session {
        app,
        session_id: b.uuid(),
        ip: owner.ips[b.rng.usize(..owner.ips.len())].clone(),
        user_agent,
        sequence: 0,
    }
}

pub(super) fn logon_records(
    b: &mut Builder,
    time: DateTime<Utc>,
    owner: &Owner,
    session: &Session,
) -> Vec<StoredActivity> {
    let mut records = Vec::new();
    let server = vec![
        ("ClientIP", session.ip.clone()),
        ("UserName", owner.upn.clone()),
        ("Result", "Success".to_string()),
        ("ExceptionInfo", String::new()),
        ("UserAgent", session.user_agent.to_string()),
        ("NetworkPresenceLocation", "NorthAmerica".to_string()),
    ];
    records.push(b.record(time, "ServerLogon", session.app, None, "", server));
    if session.app == "Web" {
        let web = vec![
            ("Layout", "Mouse".to_string()),
            ("Timezone", "Eastern Standard Time".to_string()),
            ("IPAddress", session.ip.clone()),
            ("Browser", session.user_agent.to_string()),
            ("Flights", "WebPushNotifications,SearchRefiners".to_string()),
            ("InferenceUiReady", "True".to_string()),
        ];
        let mut sess = Session {
            sequence: 0,
            session_id: session.session_id.clone(),
            app: session.app,
            ip: session.ip.clone(),
            user_agent: session.user_agent,
        };
        records.push(b.record(
            time + Duration::milliseconds(800),
            "Logon",
            "Web",
            Some(&mut sess),
            "",
            web,
        ));
    }
    records
}

pub(super) fn deliver(
    b: &mut Builder,
    time: DateTime<Utc>,
    owner: &Owner,
    others: &[&Owner],
    activities: &mut Vec<StoredActivity>,
    planted: Option<(&str, &str, &str)>,
) -> Message {
    let item_id = b.id("AAMkAGI2");
    let (subject, sender, attachment) = match planted {
        Some((subject, sender, attachment)) => (
            subject.to_string(),
            sender.to_string(),
            attachment.to_string(),
        ),
        None => {
            let subject = SUBJECTS[b.rng.usize(..SUBJECTS.len())].to_string();
            let sender = if !others.is_empty() && b.rng.bool() {
                others[b.rng.usize(..others.len())].upn.clone()
            } else {
                [
                    "newsletter@fabrikam.com",
                    "billing@northwind.example",
                    "o'connor@tailspin.example",
                    "team@litware.example",
                ][b.rng.usize(..4)]
                .to_string()
            };
            let attachment = match b.rng.u8(0..10) {
                0 => "Report_Q2.pdf (pdf, ByValue)".to_string(),
                1 => "notes.docx (docx, ByValue); photo.jpg (jpg, Inline)".to_string(),
                _ => String::new(),
            };
            (subject, sender, attachment)
        }
    };
    let recipient_count = b.rng.usize(1..6);
    let mut recipients = vec![owner.upn.clone()];
    for i in 1..recipient_count {
        recipients.push(format!("colleague{i}@contoso.com"));
    }
    let internet_message_id = format!(
        "<{}@{}>",
        b.uuid(),
        sender.split('@').nth(1).unwrap_or("mail.example")
    );
    let sent = time - Duration::seconds(b.rng.i64(2..300));
    let custom = vec![
        ("SenderSmtpAddress", sender.clone()),
        ("From", sender.clone()),
        ("Recipients", recipients.join(";")),
        ("Subject", subject.clone()),
        ("SentTime", timestamp_text(sent)),
        ("ReceivedTime", received_time_text(time)),
        ("InternetMessageId", internet_message_id.clone()),
        ("ItemClass", "IPM.Note".to_string()),
        ("AttachmentDetail", attachment),
        ("ConversationId", b.id("AAQkAG")),
        ("DeliveredFolderType", "Inbox".to_string()),
        ("DeliveredViaBcc", "False".to_string()),
        ("IsMentioned", "False".to_string()),
        ("MessageGuid", b.uuid()),
    ];
    activities.push(b.record(time, "MessageDelivered", "Exchange", None, &item_id, custom));
    Message {
        item_id,
        subject,
        sender,
        received: time,
        internet_message_id,
    }
}

pub(super) fn user_action(
    b: &mut Builder,
    time: DateTime<Utc>,
    session: &mut Session,
    message: &Message,
) -> StoredActivity {
    let app = session.app;
    let received = received_time_text(message.received);
    let roll = b.rng.u8(0..100);
    let (kind, item, custom): (&str, &str, Vec<(&str, String)>) = match roll {
        0..=21 => (
            "ReadingPaneDisplayStart",
            &message.item_id,
            vec![
                ("IsConversation", "False".into()),
                ("ConversationId", b.id("AAQkAG")),
                ("SelectedFolderName", "Inbox".into()),
            ],
        ),
        22..=35 => (
            "ReadingPaneDisplayEnd",
            &message.item_id,
            vec![("IsConversation", "False".into())],
        ),
        36..=49 => (
            "MarkAsRead",
            &message.item_id,
            vec![
                ("ReceivedTime", received),
                ("SenderAddress", message.sender.clone()),
                ("InternetMessageId", message.internet_message_id.clone()),
                ("SourceFolder", "Inbox".into()),
                ("ItemClass", "IPM.Note".into()),
            ],
        ),
        50..=55 => {
            let target = FOLDERS[b.rng.usize(..FOLDERS.len() - 1)];
            (
                "Move",
                &message.item_id,
                vec![
                    ("MoveType", "Move".into()),
                    ("SourceFolder", "Inbox".into()),
                    ("TargetFolder", target.into()),
                ],
            )
        }
        56..=61 => {
            let delete =
                ["MoveToDeletedItems", "SoftDelete", "MoveToDeletedItems"][b.rng.usize(..3)];
            (
                "Delete",
                &message.item_id,
                vec![
                    ("DeleteType", delete.into()),
                    ("SourceDefaultFolderType", "Inbox".into()),
                ],
            )
        }
        62..=66 => ("Reply", &message.item_id, reply_props(message, &received)),
        67..=68 => (
            "ReplyAll",
            &message.item_id,
            reply_props(message, &received),
        ),
        69..=70 => ("Forward", &message.item_id, reply_props(message, &received)),
        71..=75 => ("MessageSent", "", Vec::new()),
        76..=80 => {
            let query = if b.rng.u8(0..15) == 0 {
                // A long query whose XML the service cut off at about 1 KB.
                "quarterly planning ".repeat(40)
            } else {
                SEARCHES[b.rng.usize(..SEARCHES.len())].to_string()
            };
            (
                "SearchResult",
                "",
                vec![
                    ("Query", query_xml(&query)),
                    ("ResIds", format!("{};{}", b.id("AAMk"), b.id("AAMk"))),
                    ("Sid", b.uuid()),
                    ("Folders", "Inbox;Sent Items".into()),
                    ("MaxRes", "25".into()),
                    ("App", app.into()),
                ],
            )
        }
        81..=82 => (
            "SearchSuggestionsDisplay",
            "",
            vec![("SuggestionStimulus", "b".into())],
        ),
        83..=84 => ("LinkClicked", &message.item_id, Vec::new()),
        85..=86 => (
            "OpenedAnAttachment",
            &message.item_id,
            vec![("AttachmentAction", "Preview".into())],
        ),
        87..=88 => ("MarkAsUnread", &message.item_id, Vec::new()),
        89..=90 => ("Flag", &message.item_id, Vec::new()),
        91..=93 => ("CreateAppointment", "", Vec::new()),
        94..=95 => ("AcceptCalendarEvent", "", Vec::new()),
        96..=97 => ("DraftCreated", "", Vec::new()),
        _ => ("ContactCreated", "", Vec::new()),
    };
    // LinkClicked and OpenedAnAttachment are recorded only for Outlook on the web.
    let app = if matches!(kind, "LinkClicked" | "OpenedAnAttachment") {
        "Web"
    } else {
        app
    };
    let item = item.to_string();
    b.record(time, kind, app, Some(session), &item, custom)
}

pub(super) fn reply_props(message: &Message, received: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ReceivedTime", received.to_string()),
        ("SenderAddress", message.sender.clone()),
        ("InternetMessageId", message.internet_message_id.clone()),
        ("SourceDefaultFolderType", "Inbox".into()),
    ]
}
