//! Which sign-in session each mailbox record was made in.
//!
//! The joins, and what the documents say of them:
//! - `AppAccessContext.AADSessionId` = sign-in `sessionId`: **confirmed**. The Management
//!   Activity API schema (MicrosoftDocs/office-365-management-api,
//!   `office-365-management-activity-api-schema.md`, complex type AppAccessContext) calls it "the
//!   Microsoft Entra SessionId of the Entra sign-in"; Graph's beta `signIn.sessionId`
//!   (microsoft-graph-docs-contrib `api-reference/beta/resources/signin.md`) is that id.
//! - `AppAccessContext.UniqueTokenId` = sign-in `uniqueTokenIdentifier`: **inferred**. Both
//!   pages describe a per-token identifier (the schema: "a unique, per-token identifier that is
//!   case-sensitive"; Graph: "used to track tokens issued by Microsoft Entra ID as they're
//!   redeemed at resource providers"), but neither names the other. Compared case-sensitively.
//! - the Exchange mailbox record's `SessionId` = sign-in `sessionId`: **inferred**. The schema
//!   says only "unique identifier for the session"; some records carry the Entra session there.
//! - `AppAccessContext.CorrelationId` = sign-in `correlationId`: **inferred** (the schema: "can
//!   be used to correlate a specific user's actions across Microsoft 365 services").
//! - Without any of these ids (the Activities API, older exports): the record's address equal
//!   to an address the session signed in from, within the session's time, and its user agent
//!   where both name a browser's; findings say "joined by address and time, not by session id".

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::records::SignIn;
use crate::triage::analyze::{logon_source, user_agent};
use crate::triage::events::Event;

/// How a record was joined to its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Join {
    AadSessionId,
    UniqueTokenId,
    SessionId,
    CorrelationId,
    AddressAndTime,
}

impl Join {
    /// Its name in reports (`aad-session-id`, ..., `address-and-time`).
    pub fn name(self) -> &'static str {
        match self {
            Join::AadSessionId => "aad-session-id",
            Join::UniqueTokenId => "unique-token-id",
            Join::SessionId => "session-id",
            Join::CorrelationId => "correlation-id",
            Join::AddressAndTime => "address-and-time",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Join::AadSessionId => "by AADSessionId = sessionId (documented)",
            Join::UniqueTokenId => "by UniqueTokenId = uniqueTokenIdentifier (inferred)",
            Join::SessionId => "by SessionId = sessionId (inferred)",
            Join::CorrelationId => "by CorrelationId = correlationId (inferred)",
            Join::AddressAndTime => "joined by address and time, not by session id",
        }
    }
}

/// How long after its last sign-in a session's address still joins records by time alone
/// (an access token lives about an hour).
const TOKEN_LIFETIME: i64 = 75;

/// A session's use of an address with a user agent (the browser's, if known): its first time.
/// One entry per session, address and agent, so that a mailbox of a million records looks
/// through the few sessions that used an address, not through every record.
type Uses<'a> = HashMap<(&'a str, Option<&'a str>), DateTime<Utc>>;

/// The ids the person's sign-ins carry, for the joins.
pub struct SessionIndex<'a> {
    by_session: HashMap<&'a str, &'a str>,
    by_token: HashMap<&'a str, &'a str>,
    by_correlation: HashMap<&'a str, &'a str>,
    /// Each address's uses by a session (its sign-ins, and records joined by id), for the
    /// fallback.
    by_address: HashMap<String, Uses<'a>>,
    /// Each session's last use (sign-in or record joined by id).
    last: HashMap<&'a str, DateTime<Utc>>,
}

impl<'a> SessionIndex<'a> {
    /// `sessions`: (session key, its successful sign-ins).
    pub fn new(sessions: &[(&'a str, Vec<&'a SignIn>)]) -> Self {
        let mut index = SessionIndex {
            by_session: HashMap::new(),
            by_token: HashMap::new(),
            by_correlation: HashMap::new(),
            by_address: HashMap::new(),
            last: HashMap::new(),
        };
        for (key, signins) in sessions {
            for signin in signins {
                if !signin.session.is_empty() {
                    index.by_session.insert(&signin.session, key);
                }
                if !signin.token.is_empty() {
                    index.by_token.insert(&signin.token, key);
                }
                if !signin.correlation.is_empty() {
                    index.by_correlation.insert(&signin.correlation, key);
                }
                if let Some(time) = signin.time {
                    let agent = Some(signin.user_agent.as_str()).filter(|a| !a.is_empty());
                    index.used(key, &signin.ip, time, agent);
                }
            }
        }
        index
    }

    fn used(&mut self, key: &'a str, address: &str, time: DateTime<Utc>, agent: Option<&'a str>) {
        let uses = match self.by_address.get_mut(address) {
            Some(uses) => uses,
            None => self.by_address.entry(address.to_string()).or_default(),
        };
        let first = uses.entry((key, agent)).or_insert(time);
        *first = (*first).min(time);
        let last = self.last.entry(key).or_insert(time);
        *last = (*last).max(time);
    }

    /// The session of every record: by id first; then, for records without Entra ids, by
    /// address and time, where a session's addresses and span include those of the records
    /// joined to it by id.
    pub fn join_all(&mut self, events: &[Event]) -> Vec<Option<(&'a str, Join)>> {
        let mut joined: Vec<Option<(&'a str, Join)>> =
            events.iter().map(|e| self.by_id(e)).collect();
        for (event, join) in events.iter().zip(&joined) {
            if let (Some((key, _)), Some(time), Some((address, _))) =
                (join, event.time, logon_source(event))
            {
                self.used(key, &address, time, None);
            }
        }
        for (event, join) in events.iter().zip(joined.iter_mut()) {
            let has_ids =
                event.prop("AADSessionId").is_some() || event.prop("UniqueTokenId").is_some();
            // A record that carries Entra ids which match none of these sign-ins belongs to a
            // session the evidence does not hold: no guess by address.
            if join.is_none() && !has_ids {
                *join = self
                    .by_address_and_time(event)
                    .map(|key| (key, Join::AddressAndTime));
            }
        }
        joined
    }

    /// The session `event` names by one of its ids, and which.
    fn by_id(&self, event: &Event) -> Option<(&'a str, Join)> {
        let by_id = [
            (
                event.prop("AADSessionId"),
                &self.by_session,
                Join::AadSessionId,
            ),
            (
                event.prop("UniqueTokenId"),
                &self.by_token,
                Join::UniqueTokenId,
            ),
            (
                Some(&*event.session).filter(|s| !s.is_empty()),
                &self.by_session,
                Join::SessionId,
            ),
            (
                event.prop("CorrelationId"),
                &self.by_correlation,
                Join::CorrelationId,
            ),
        ];
        by_id
            .into_iter()
            .find_map(|(id, map, join)| id.and_then(|id| map.get(id)).map(|key| (*key, join)))
    }

    /// The session that used the record's address at or before it, while its token could
    /// still be in use after the session's last known use; a browser user agent on both sides
    /// must agree.
    fn by_address_and_time(&self, event: &Event) -> Option<&'a str> {
        let time = event.time?;
        let (address, _) = logon_source(event)?;
        let agent = user_agent(event).filter(|a| a.starts_with("Mozilla/"));
        self.by_address
            .get(address.as_str())?
            .iter()
            .filter(|(_, first)| **first <= time)
            .filter(|((key, _), _)| {
                self.last
                    .get(key)
                    .is_some_and(|last| time - *last <= Duration::minutes(TOKEN_LIFETIME))
            })
            .filter(|((_, theirs), _)| match (agent, theirs) {
                (Some(agent), Some(theirs)) if theirs.starts_with("Mozilla/") => *theirs == agent,
                _ => true,
            })
            // The session whose last use is nearest the record; ties by key, so a report does
            // not depend on the map's order.
            .max_by_key(|((key, _), _)| (self.last.get(key).copied(), *key))
            .map(|((key, _), _)| *key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn signin(session: &str, token: &str, ip: &str, minute: u32) -> SignIn {
        SignIn {
            id: format!("{session}-{minute}"),
            time: Some(
                chrono::Utc
                    .with_ymd_and_hms(2024, 5, 1, 10, minute, 0)
                    .unwrap(),
            ),
            session: session.into(),
            token: token.into(),
            correlation: format!("corr-{session}"),
            ip: ip.into(),
            user_agent: "Mozilla/5.0 owner".into(),
            ..SignIn::default()
        }
    }

    fn event(minute: u32, pairs: &[(&str, &str)]) -> Event {
        Event {
            id: "e".into(),
            time: Some(
                chrono::Utc
                    .with_ymd_and_hms(2024, 5, 1, 10, minute, 30)
                    .unwrap(),
            ),
            ..Event::default()
        }
        .with_properties(pairs.iter().copied())
    }

    #[test]
    fn each_id_joins_and_the_documented_one_wins() {
        let a = [signin("sa", "ta", "1.1.1.1", 1)];
        let b = [signin("sb", "tb", "2.2.2.2", 2)];
        let sessions = vec![("sa", a.iter().collect()), ("sb", b.iter().collect())];
        let mut index = SessionIndex::new(&sessions);
        let mut join = |e: &Event| index.join_all(std::slice::from_ref(e))[0];
        assert_eq!(
            join(&event(
                3,
                &[("AADSessionId", "sa"), ("UniqueTokenId", "tb")]
            )),
            Some(("sa", Join::AadSessionId))
        );
        assert_eq!(
            join(&event(3, &[("UniqueTokenId", "tb")])),
            Some(("sb", Join::UniqueTokenId))
        );
        assert_eq!(
            join(&event(3, &[("UniqueTokenId", "TB")])),
            None,
            "case-sensitive"
        );
        let mut by_session = event(3, &[]);
        by_session.session = "sb".into();
        assert_eq!(join(&by_session), Some(("sb", Join::SessionId)));
        assert_eq!(
            join(&event(3, &[("CorrelationId", "corr-sa")])),
            Some(("sa", Join::CorrelationId))
        );
        assert_eq!(join(&event(3, &[("AADSessionId", "unknown")])), None);
    }

    #[test]
    fn without_ids_address_time_and_user_agent_join() {
        let a = [signin("sa", "ta", "1.1.1.1", 1)];
        let sessions = vec![("sa", a.iter().collect())];
        let mut index = SessionIndex::new(&sessions);
        let mut at = |minute, ip: &str, agent: &str| {
            index.join_all(&[event(minute, &[("ClientIP", ip), ("UserAgent", agent)])])[0]
        };
        assert_eq!(
            at(5, "1.1.1.1", "Mozilla/5.0 owner"),
            Some(("sa", Join::AddressAndTime))
        );
        assert_eq!(
            at(5, "1.1.1.1", "Client=OWA"),
            Some(("sa", Join::AddressAndTime))
        );
        assert_eq!(
            at(5, "1.1.1.1", "Mozilla/5.0 other"),
            None,
            "another browser"
        );
        assert_eq!(
            at(5, "9.9.9.9", "Mozilla/5.0 owner"),
            None,
            "another address"
        );
        assert_eq!(
            at(0, "1.1.1.1", "Mozilla/5.0 owner"),
            None,
            "before the sign-in"
        );
    }

    #[test]
    fn a_record_without_ids_joins_by_an_address_its_session_used_days_later() {
        let a = [signin("sa", "ta", "1.1.1.1", 1)];
        let sessions = vec![("sa", a.iter().collect())];
        let mut index = SessionIndex::new(&sessions);
        let later = |days: i64, pairs: &[(&str, &str)]| {
            let mut e = event(2, pairs);
            e.time = e.time.map(|t| t + Duration::days(days));
            e
        };
        let events = [
            // Made with the session's token from another address, days on.
            later(3, &[("AADSessionId", "sa"), ("ClientIP", "7.7.7.7")]),
            // A rule from that address an hour later, without ids.
            later(3, &[("ClientIP", "7.7.7.7")]),
            // The same address a week on, long after the session was last seen.
            later(10, &[("ClientIP", "7.7.7.7")]),
        ];
        let joined = index.join_all(&events);
        assert_eq!(joined[0], Some(("sa", Join::AadSessionId)));
        assert_eq!(joined[1], Some(("sa", Join::AddressAndTime)));
        assert_eq!(joined[2], None);
    }
}
