//! A deterministic, realistic corpus of mailbox activities, optionally with a planted BEC.
//!
//! Shapes follow `shared/reference/activities-api.md`: the documented types and apps in plausible
//! proportions and daily rhythms, their custom properties, ActivityItemIds that join reads,
//! moves and replies to a MessageDelivered record, and hostile values (quotes, commas, line
//! breaks, tabs, RTL and CJK text, emoji, formula-like subjects, Query XML cut at about 1 KB).

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc, Weekday};
use fastrand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::store::StoredActivity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Ordinary mailboxes only
    None,
    /// A business email compromise planted in the first mailbox
    Bec,
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

const TENANT_ID: &str = "679126f3-02de-3513-e336-0eac1294b120";

const FIRST_NAMES: &[&str] = &[
    "alice", "bruno", "chen", "dana", "emeka", "fatima", "george", "hana", "ivan", "julia", "kofi",
    "lena", "miguel", "nadia", "oscar", "priya", "quinn", "rosa", "sven", "tariq",
];
const LAST_NAMES: &[&str] = &[
    "johnson", "okafor", "li", "schmidt", "garcia", "haddad", "novak", "tanaka", "silva", "brown",
];

const SUBJECTS: &[&str] = &[
    "Weekly status",
    "Lunch on Thursday?",
    "Quarterly report, \"final\" version",
    "Re: Budget review – Q3",
    "Project kickoff\nagenda attached",
    "Contract\tdraft v2",
    "=HYPERLINK(\"http://example.test\",\"click\")",
    "+1 555 0100 call back",
    "@channel office closed Monday",
    "-- minutes from today",
    "مرحبا بالعالم: تحديث المشروع",
    "会议纪要 / 議事録",
    "🎉 Launch party 🚀",
    "Board deck (CONFIDENTIAL)",
    "PTO request",
    "Re: Re: Fwd: travel; hotel; flights",
    "Invoice 4471 – due Friday",
    "Wire instructions for Q2 vendor payment",
    "Payroll changes for June",
    "Security awareness training",
];

const FINANCE_SUBJECTS: &[&str] = &[
    "Invoice 4471 – due Friday",
    "Wire instructions for Q2 vendor payment",
    "Payroll changes for June",
    "ACH remittance confirmation",
];

const SEARCHES: &[&str] = &[
    "budget",
    "kickoff agenda",
    "from:dana report",
    "travel",
    "hotel booking",
    "\"board deck\"",
    "会议",
    "training <required> & overdue",
];

const FOLDERS: &[&str] = &[
    "Inbox",
    "Archive",
    "Projects",
    "Receipts",
    "Travel",
    "Deleted Items",
];

const OWNER_DESKTOP_UA: &str =
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.9226; Pro)";
const OWNER_BROWSER_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/67.0.3396.87 Safari/537.36";
const OWNER_MOBILE_UA: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 11_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15F79";
const ATTACKER_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/66.0.3359.139 Safari/537.36";

/// One mailbox owner's habits.
struct Owner {
    upn: String,
    ips: Vec<String>,
    utc_offset_hours: i64,
}

/// Builds records with unique, deterministic ids.
struct Builder {
    rng: Rng,
    serial: u64,
}

/// A message delivered to a mailbox, which later activities refer to.
#[derive(Clone)]
struct Message {
    item_id: String,
    subject: String,
    sender: String,
    received: DateTime<Utc>,
    internet_message_id: String,
}

/// One client session: app, session id, source.
struct Session {
    app: &'static str,
    session_id: String,
    ip: String,
    user_agent: &'static str,
    sequence: u64,
}

impl Builder {
    fn id(&mut self, prefix: &str) -> String {
        self.serial += 1;
        let mut bytes = [0u8; 24];
        for b in bytes.iter_mut() {
            *b = self.rng.u8(..);
        }
        let body: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("{prefix}{:08}{body}", self.serial)
    }

    fn uuid(&mut self) -> String {
        let h = |rng: &mut Rng, n: usize| {
            (0..n)
                .map(|_| format!("{:x}", rng.u8(0..16)))
                .collect::<String>()
        };
        format!(
            "{}-{}-{}-{}-{}",
            h(&mut self.rng, 8),
            h(&mut self.rng, 4),
            h(&mut self.rng, 4),
            h(&mut self.rng, 4),
            h(&mut self.rng, 12)
        )
    }

    fn record(
        &mut self,
        time: DateTime<Utc>,
        activity_type: &str,
        app: &str,
        session: Option<&mut Session>,
        item_id: &str,
        custom: Vec<(&str, String)>,
    ) -> StoredActivity {
        let id = self.id("AAMkAG");
        let created = time + Duration::milliseconds(self.rng.i64(0..1500));
        let (session_id, sequence) = match session {
            Some(s) => {
                s.sequence += 1;
                (s.session_id.clone(), Some(s.sequence))
            }
            None => (self.uuid(), None),
        };
        let mut record = json!({
            "Id": id,
            "ActivityCreationTime": timestamp_text(created),
            "ActivityIdType": activity_type,
            "AppIdType": app,
            "ClientVersion": client_version(app),
            "ClientSessionId": session_id,
            "ActivityItemId": item_id,
            "TimeStamp": timestamp_text(time),
            "TenantId": TENANT_ID,
        });
        if let (Some(sequence), Some(object)) = (sequence, record.as_object_mut()) {
            object.insert("SequenceNumber".into(), json!(sequence));
        }
        if !custom.is_empty() {
            let properties: Vec<Value> = custom
                .into_iter()
                .map(|(name, value)| json!({"Name": name, "Value": value}))
                .collect();
            record["CustomProperties"] = Value::Array(properties);
        }
        StoredActivity {
            time_nanos: time.timestamp_nanos_opt().unwrap_or(0),
            id: record["Id"].as_str().unwrap_or_default().to_string(),
            activity_type: activity_type.to_string(),
            app_type: app.to_string(),
            json: record.to_string(),
        }
    }
}

fn timestamp_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn received_time_text(time: DateTime<Utc>) -> String {
    time.format("%m/%d/%Y %I:%M:%S %p").to_string()
}

fn client_version(app: &str) -> &'static str {
    match app {
        "Outlook" => "16.0.9226.2114",
        "Web" => "15.20.0845.012",
        "Mobile" => "15.20.0845.012",
        _ => "15.20.0845.000",
    }
}

fn query_xml(raw: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let tokens: String = raw
        .split_whitespace()
        .map(|t| format!("<Token>{}</Token>", escape(t)))
        .collect();
    let xml = format!(
        "<Query><RawQuery>{}</RawQuery><RankingQuery>any </RankingQuery><All>{tokens}</All></Query>",
        escape(raw)
    );
    // The service cut the serialized custom properties at about 1 KB.
    xml.chars().take(1000).collect()
}

fn ip(rng: &mut Rng, first: u8) -> String {
    format!(
        "{first}.{}.{}.{}",
        rng.u8(0..=255),
        rng.u8(0..=255),
        rng.u8(1..=254)
    )
}

pub fn generate(spec: &CorpusSpec) -> Corpus {
    let mut builder = Builder {
        rng: Rng::with_seed(spec.seed),
        serial: 0,
    };
    let owners = owners(&mut builder.rng, spec.users);
    let mut mailboxes = Vec::new();
    let mut truth = None;
    for (index, owner) in owners.iter().enumerate() {
        let others: Vec<&Owner> = owners.iter().filter(|o| o.upn != owner.upn).collect();
        let (mut activities, messages) = ordinary_mailbox(&mut builder, spec, owner, &others);
        if index == 0 && spec.scenario == Scenario::Bec {
            truth = Some(plant_bec(
                &mut builder,
                spec,
                owner,
                &messages,
                &mut activities,
            ));
        }
        activities.sort_by(|a, b| (a.time_nanos, &a.id).cmp(&(b.time_nanos, &b.id)));
        mailboxes.push((owner.upn.clone(), activities));
    }
    Corpus { mailboxes, truth }
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

/// A plausible local working time for an activity on a given day.
fn working_time(rng: &mut Rng, day: DateTime<Utc>, offset_hours: i64) -> DateTime<Utc> {
    let hour = match rng.u8(0..100) {
        0..=79 => rng.i64(8..18),
        80..=94 => rng.i64(18..23),
        _ => rng.i64(0..8),
    };
    day + Duration::hours(hour - offset_hours)
        + Duration::seconds(rng.i64(0..3600))
        + Duration::milliseconds(rng.i64(0..1000))
}

fn pick_day(rng: &mut Rng, spec: &CorpusSpec) -> DateTime<Utc> {
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

fn ordinary_mailbox(
    b: &mut Builder,
    spec: &CorpusSpec,
    owner: &Owner,
    others: &[&Owner],
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
            let new_session = open_session(b, owner);
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

fn open_session(b: &mut Builder, owner: &Owner) -> Session {
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

fn logon_records(
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

fn deliver(
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

fn user_action(
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

fn reply_props(message: &Message, received: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ReceivedTime", received.to_string()),
        ("SenderAddress", message.sender.clone()),
        ("InternetMessageId", message.internet_message_id.clone()),
        ("SourceDefaultFolderType", "Inbox".into()),
    ]
}

/// Plants the blog's playbook in `owner`'s mailbox and returns what was planted.
fn plant_bec(
    b: &mut Builder,
    spec: &CorpusSpec,
    owner: &Owner,
    messages: &[Message],
    activities: &mut Vec<StoredActivity>,
) -> Truth {
    let mut truth = Truth {
        scenario: "bec".into(),
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
    let days_back = (spec.days as i64 / 6).clamp(3, 20);
    let phish_day = (spec.end - Duration::days(days_back))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(spec.end);
    let local = |day: DateTime<Utc>, h: i64, m: i64| {
        day + Duration::hours(h - owner.utc_offset_hours) + Duration::minutes(m)
    };

    // The lure: a remittance notice with an HTML attachment.
    let phish_time = local(phish_day, 10, 12);
    let attachment = "Remittance_Advice_88213.htm";
    let phish = deliver(
        b,
        phish_time,
        owner,
        &[],
        activities,
        Some((
            "Remittance Advice - Payment #88213",
            "accounts.payable@paym3nts-remit.com",
            &format!("{attachment} (htm, ByValue)"),
        )),
    );
    let phish_record = activities.last().map(|a| a.id.clone()).unwrap_or_default();
    truth.phishing = PlantedMessage {
        activity_id: phish_record.clone(),
        item_id: phish.item_id.clone(),
        subject: phish.subject.clone(),
        sender: phish.sender.clone(),
        attachment: attachment.into(),
    };
    truth.attacker_activity_ids.push(phish_record);
    // The victim opens it on the web and "logs in" to the fake page.
    let mut victim = Session {
        app: "Web",
        session_id: b.uuid(),
        ip: owner.ips[0].clone(),
        user_agent: OWNER_BROWSER_UA,
        sequence: 0,
    };
    activities.extend(logon_records(
        b,
        phish_time + Duration::minutes(20),
        owner,
        &victim,
    ));
    activities.push(b.record(
        phish_time + Duration::minutes(21),
        "ReadingPaneDisplayStart",
        "Web",
        Some(&mut victim),
        &phish.item_id,
        vec![("IsConversation", "False".into())],
    ));
    activities.push(b.record(
        phish_time + Duration::minutes(22),
        "OpenedAnAttachment",
        "Web",
        Some(&mut victim),
        &phish.item_id,
        vec![("AttachmentAction", "Open".into())],
    ));

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
            let sent_item = b.id("AAMkAGI2");
            let sent = b.record(
                t,
                "MessageSent",
                "Web",
                Some(&mut session),
                &sent_item,
                Vec::new(),
            );
            let moved = b.record(
                t + Duration::minutes(2),
                "Move",
                "Web",
                Some(&mut session),
                &sent_item,
                vec![
                    ("MoveType", "Move".into()),
                    ("SourceFolder", "Sent Items".into()),
                    ("TargetFolder", "RSS Feeds".into()),
                ],
            );
            truth.hidden_sent_item = HiddenItem {
                item_id: sent_item,
                sent_activity_id: sent.id.clone(),
                move_activity_id: moved.id.clone(),
                target_folder: "RSS Feeds".into(),
            };
            attacker_ids.extend([sent.id.clone(), moved.id.clone()]);
            activities.extend([sent, moved]);
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

/// The corpus end used when none is given: the last day the live API answered.
pub fn default_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2018, 6, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}
