//! Pulled activities as triage sees them: the standard fields plus the custom properties,
//! held compactly (strings shared). `inputs.rs` loads them from pulls, cases and exports.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::output::{flatten_record, CellSink};
use crate::record::parse_timestamp;

/// One activity, as compact as triage can hold it: a mailbox's activities are all in memory
/// while it is analysed (a million of them in a large mailbox). Names and values that repeat
/// (activity types, apps, sessions, items, addresses, user agents) are shared, not copied.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub id: Shared,
    pub time: Option<DateTime<Utc>>,
    pub kind: Shared,
    pub app: Shared,
    pub item: Shared,
    pub session: Shared,
    /// The custom properties triage reads, first occurrence of each name: a bit per property
    /// of `READ_PROPERTIES` present, and their values in the order of their bits (half the
    /// memory of (name, value) pairs; the bits sit in the padding beside `time`).
    pub(crate) present: u32,
    pub(crate) values: Box<[Shared]>,
}

/// A string shared by the activities that carry it.
pub type Shared = Arc<str>;

impl Event {
    /// A custom property that is not empty.
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.property(name).filter(|v| !v.is_empty()).map(|v| &**v)
    }

    /// A custom property that is not empty, shared rather than copied.
    pub fn shared_prop(&self, name: &str) -> Option<Shared> {
        self.property(name).filter(|v| !v.is_empty()).cloned()
    }

    fn property(&self, name: &str) -> Option<&Shared> {
        let index = property_index(name)?;
        let bit = 1u32 << index;
        if self.present & bit == 0 {
            return None;
        }
        let position = (self.present & (bit - 1)).count_ones() as usize;
        self.values.get(position)
    }

    /// An activity from its parts (an audit log record's): (kind, app, item, session) and the
    /// custom properties, strings shared through `strings`.
    pub(crate) fn from_parts<'a>(
        id: &str,
        time: Option<DateTime<Utc>>,
        (kind, app, item, session): (&str, &str, &str, &str),
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
        strings: &mut Strings,
    ) -> Self {
        let mut builder = EventBuilder::new(strings);
        builder.event.id = id.into();
        builder.event.time = time;
        builder.event.kind = builder.strings.share(kind);
        builder.event.app = builder.strings.share(app);
        builder.event.item = builder.strings.share(item);
        builder.event.session = builder.strings.share(session);
        for (name, value) in properties {
            builder.custom(name, value);
        }
        builder.finish()
    }

    /// An activity made in code (tests) with these custom properties.
    pub fn with_properties<'a>(self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut strings = Strings::default();
        let mut builder = EventBuilder::new(&mut strings);
        builder.event = self;
        for (name, value) in pairs {
            builder.custom(name, value);
        }
        builder.finish()
    }
}

/// The custom properties the techniques read. The others stay in the evidence: keeping every
/// property of every record (a map of owned names and values each) took several times the
/// memory of these.
pub const READ_PROPERTIES: &[&str] = &[
    // An audit log record's `AppAccessContext.AADSessionId`: the Entra ID sign-in session.
    "AADSessionId",
    "AttachmentDetail",
    "Browser",
    "ClientIP",
    // An audit log record's `ClientInfoString` (`Client=OWA;Action=ViaProxy`).
    "ClientInfoString",
    // An audit log record's `AppAccessContext.CorrelationId`.
    "CorrelationId",
    "DeleteType",
    "FolderPath",
    "ForwardTo",
    "From",
    "IPAddress",
    // An admin operation's `Parameters` as `Name=Value; ...` (Add-MailboxPermission,
    // Add-RecipientPermission, Set-AdminAuditLogConfig).
    "Parameters",
    "Query",
    "ReceivedTime",
    "RuleActions",
    "RuleConditions",
    "SenderAddress",
    "SenderSmtpAddress",
    "Subject",
    "TargetFolder",
    // An audit log record's `AppAccessContext.UniqueTokenId`: the token it was made with.
    "UniqueTokenId",
    "UserAgent",
];

const _: () = assert!(READ_PROPERTIES.len() <= 32, "one bit per property in a u32");

/// A property's index in `READ_PROPERTIES` (kept sorted for this search).
pub(super) fn property_index(name: &str) -> Option<usize> {
    READ_PROPERTIES.binary_search(&name).ok()
}

/// The strings a mailbox's activities share, each kept once (and the custom properties of the
/// activity being read).
#[derive(Default)]
pub struct Strings {
    shared: rustc_hash::FxHashSet<Shared>,
    /// The custom properties of the activity being read, by index in `READ_PROPERTIES`.
    custom: Vec<(u8, Shared)>,
}

impl Strings {
    pub fn share(&mut self, text: &str) -> Shared {
        if let Some(shared) = self.shared.get(text) {
            return shared.clone();
        }
        let shared: Shared = text.into();
        self.shared.insert(shared.clone());
        shared
    }
}

/// Builds an activity from the cells of its record.
pub(super) struct EventBuilder<'a> {
    event: Event,
    strings: &'a mut Strings,
}

impl<'a> EventBuilder<'a> {
    pub(super) fn new(strings: &'a mut Strings) -> Self {
        strings.custom.clear();
        EventBuilder {
            event: Event::default(),
            strings,
        }
    }

    pub(super) fn finish(mut self) -> Event {
        // Allocated once at its final size: growing a vector and shrinking it left the
        // allocator fragments that a million activities added up to tens of MB.
        let custom = &mut self.strings.custom;
        custom.sort_unstable_by_key(|(index, _)| *index);
        self.event.present = custom.iter().fold(0, |bits, (index, _)| bits | 1 << index);
        self.event.values = custom.drain(..).map(|(_, value)| value).collect();
        self.event
    }
}

/// The activities of one mailbox, in time order.
#[derive(Debug, Clone)]
pub struct MailboxEvents {
    pub mailbox: String,
    pub events: Vec<Event>,
}

impl Event {
    /// An activity from its JSON text.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        Self::parse(text, &mut Strings::default())
    }

    pub(super) fn parse(text: &str, strings: &mut Strings) -> Result<Self, serde_json::Error> {
        let mut builder = EventBuilder::new(strings);
        flatten_record(text, &mut builder)?;
        Ok(builder.finish())
    }
}

impl MailboxEvents {
    /// A mailbox's activities from their JSON texts, in the order given.
    pub fn from_json<'a>(
        mailbox: &str,
        records: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, serde_json::Error> {
        let mut strings = Strings::default();
        Ok(MailboxEvents {
            mailbox: mailbox.to_string(),
            events: records
                .into_iter()
                .map(|text| Event::parse(text, &mut strings))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl CellSink for EventBuilder<'_> {
    fn top_level(&mut self, key: &str, text: &str) {
        let event = &mut self.event;
        match key {
            "Id" => event.id = text.into(),
            "ActivityIdType" => event.kind = self.strings.share(text),
            "AppIdType" => event.app = self.strings.share(text),
            "ActivityItemId" => event.item = self.strings.share(text),
            "ClientSessionId" => event.session = self.strings.share(text),
            "TimeStamp" => event.time = parse_timestamp(text),
            _ => {}
        }
    }

    /// Activities records have no `auditData` (audit log records are read by `audit_log.rs`).
    fn audit_data(&mut self, _key: &str, _text: &str) {}

    /// Keeps `text` if triage reads `name` and no earlier occurrence was kept.
    fn custom(&mut self, name: &str, text: &str) {
        let Some(index) = property_index(name) else {
            return;
        };
        let index = index as u8;
        if !self.strings.custom.iter().any(|(i, _)| *i == index) {
            let value = self.strings.share(text);
            self.strings.custom.push((index, value));
        }
    }

    fn leftovers(&mut self, _json: &str) {}
}
