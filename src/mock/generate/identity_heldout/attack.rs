//! What every playbook does the same way: the sign-in a stolen session is born in, its
//! replays, the attacker's reads and what the attacker leaves behind, each written into the
//! logs and into what was planted.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use super::log::Log;
use super::mailbox::{self, Access, Message};
use super::network::App;
use super::shapes::{Auth, Net, Risk, Token, NO_RISK};

/// What a playbook planted (the truth of `IdentityTruth`, before it is sorted into lists).
#[derive(Debug, Default)]
pub struct Plant {
    pub victims: BTreeSet<String>,
    pub sessions: BTreeSet<String>,
    pub replay_addresses: BTreeSet<String>,
    pub persistence_ids: BTreeSet<String>,
    pub read_message_ids: BTreeSet<String>,
    /// When the attacker switched the audit log's ingestion off (nothing is recorded after).
    pub audit_off: Option<DateTime<Utc>>,
}

/// How a stolen session's sign-ins look.
#[derive(Debug, Clone, Copy)]
pub struct Kit {
    pub app: App,
    /// `clientAppUsed`
    pub client: &'static str,
    pub transfer: &'static str,
    pub user_agent: &'static str,
    /// What `deviceDetail` says (browser, system) with no device.
    pub agent: (&'static str, &'static str),
}

impl Plant {
    /// The interactive sign-in the session is born in (the AiTM kit relaying the victim's
    /// login, or the phisher's poll of a device code the victim entered): MFA satisfied by
    /// the victim, no device. Not a replay: its address is the kit's.
    pub fn origin(
        &mut self,
        log: &mut Log,
        who: (&str, &str),
        at: DateTime<Utc>,
        net: &Net,
        kit: &Kit,
        risk: Risk,
    ) -> Token {
        self.stolen_sign_in(log, who, (at, net), kit, Some(risk))
    }

    /// A replay of the stolen session from `net`: a non-interactive sign-in with the
    /// session's refresh token (or cookie), no device id.
    pub fn replay(
        &mut self,
        log: &mut Log,
        who: (&str, &str),
        at: DateTime<Utc>,
        net: &Net,
        kit: &Kit,
    ) -> Token {
        self.replay_addresses.insert(net.ip.clone());
        self.stolen_sign_in(log, who, (at, net), kit, None)
    }

    /// A sign-in of the stolen session: the origin when it has a `risk`, a replay otherwise.
    fn stolen_sign_in(
        &mut self,
        log: &mut Log,
        (victim, session): (&str, &str),
        (at, net): (DateTime<Utc>, &Net),
        kit: &Kit,
        risk: Option<Risk>,
    ) -> Token {
        self.victims.insert(victim.to_string());
        self.sessions.insert(session.to_string());
        let origin = risk.is_some();
        let device_code = kit.transfer == "deviceCodeFlow";
        log.sign_in(&Auth {
            upn: victim,
            at,
            net,
            app: kit.app,
            client: kit.client,
            session,
            interactive: origin,
            incoming: if origin { "none" } else { "refreshToken" },
            transfer: kit.transfer,
            protocol: if origin && device_code {
                "deviceCode"
            } else {
                "none"
            },
            device: None,
            agent: kit.agent,
            user_agent: kit.user_agent,
            error: 0,
            mfa: Some(if origin {
                "Mobile app notification"
            } else {
                "Previously satisfied"
            }),
            risk: risk.unwrap_or(NO_RISK),
        })
    }

    /// The attacker reads `messages` (a Bind each, a little apart); the time after.
    pub fn read(
        &mut self,
        log: &mut Log,
        access: &Access,
        mut at: DateTime<Utc>,
        messages: &[Message],
    ) -> DateTime<Utc> {
        for chunk in messages.chunks(2) {
            let refs: Vec<&Message> = chunk.iter().collect();
            mailbox::bind(log, access, at, &refs);
            self.read_message_ids
                .extend(chunk.iter().map(|m| m.id.clone()));
            at += Duration::seconds(log.rng.i64(70..400));
        }
        at
    }

    /// Keeps `id` as what the attacker left behind.
    pub fn persisted(&mut self, id: String) {
        self.persistence_ids.insert(id);
    }
}
