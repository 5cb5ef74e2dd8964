//! Attacker sessions: each sign-in session of a person scored from its sign-ins and the
//! mailbox records joined to it, with its points, as the logon findings are scored.
//!
//! Signals (points): the session or its token used from more than one network (ASN, or the
//! prefix without one) or country while its device or user agent changed (3, country 1); a
//! device that changes or disappears inside the session (3); no device at all where the
//! person's other sessions come from one (2); an interactive sign-in to OfficeHome / Office 365
//! from a hosting provider's network, where AiTM kits proxy the login (3); `Client=OWA;
//! Action=ViaProxy` in its mailbox records (2); `originalTransferMethod` deviceCodeFlow to an
//! app the person never used otherwise (3); Identity Protection's risk, high 3, medium 2; a
//! token used from a network other than its sign-in's (1). High from 5 points, medium from 3.
//! Confounders that stay low: a session that moves from office Wi-Fi to a mobile carrier with
//! one compliant device and user agent, a dual-stack home (one ASN, or one device and user
//! agent), travel with the owner's device (one country per session, one device).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::joins::Join;
use super::records::SignIn;
use crate::triage::analyze::{logon_source, Severity};
use crate::triage::events::Event;

/// OfficeHome, the first-party app an AiTM kit's landing page signs in to.
pub const OFFICE_HOME: &str = "4765445b-32c6-49b0-83e6-1d93765276ca";

/// Hosting and cloud providers' ASNs (inferred from public registries, not a Microsoft
/// document): DigitalOcean, Amazon, Microsoft, Google, OVH, Hetzner, Linode/Akamai, Vultr,
/// Contabo, M247, Leaseweb, Alibaba, Tencent, Oracle, Scaleway, DataCamp, IONOS, Hostinger.
const HOSTING_ASNS: &[u32] = &[
    14061, 16509, 14618, 8075, 8068, 15169, 396982, 16276, 24940, 63949, 20473, 51167, 9009, 60781,
    16265, 45102, 132203, 31898, 12876, 60068, 8560, 47583, 202422, 212238,
];

pub fn is_hosting(asn: Option<u32>) -> bool {
    asn.is_some_and(|asn| HOSTING_ASNS.contains(&asn))
}

fn is_office_home(signin: &SignIn) -> bool {
    signin.app_id == OFFICE_HOME
        || matches!(
            signin.app.as_str(),
            "OfficeHome" | "Office 365" | "Microsoft 365"
        )
}

/// One scored session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionVerdict {
    /// The sign-ins' `sessionId`, or `sign-in ID` for a sign-in without one.
    pub key: String,
    pub severity: Severity,
    pub points: u32,
    /// Why it scored: `+3 ...`, one a signal.
    pub reasons: Vec<String>,
    /// What was seen and explained away (the confounders).
    pub explained: Vec<String>,
    pub first: Option<DateTime<Utc>>,
    pub last_signin: Option<DateTime<Utc>>,
    pub signin_ids: Vec<String>,
    pub addresses: BTreeSet<String>,
    /// The addresses it was used from after its first sign-in's network (the replay).
    pub replay_addresses: BTreeSet<String>,
    pub tokens: BTreeSet<String>,
    pub networks: BTreeSet<String>,
    pub countries: BTreeSet<String>,
    pub user_agents: BTreeSet<String>,
    pub apps: BTreeSet<String>,
    pub correlations: BTreeSet<String>,
    /// An AiTM or device-code signal: the kind of finding the session is.
    pub aitm: bool,
    pub device_code: bool,
}

/// What the person usually signs in with, from all their sessions.
pub struct Baseline {
    devices: BTreeSet<String>,
    /// The sessions each app was signed in to in.
    apps: BTreeMap<String, BTreeSet<String>>,
}

impl Baseline {
    pub fn new(signins: &[SignIn]) -> Self {
        let ok = || signins.iter().filter(|s| s.succeeded());
        let mut apps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for signin in ok() {
            apps.entry(signin.app_id.clone())
                .or_default()
                .insert(session_key(signin));
        }
        Baseline {
            devices: ok()
                .filter(|s| !s.device_id.is_empty())
                .map(|s| s.device_id.clone())
                .collect(),
            apps,
        }
    }

    /// Whether the person signed in to `app` in a session other than `session`.
    fn used_elsewhere(&self, app: &str, session: &str) -> bool {
        self.apps
            .get(app)
            .is_some_and(|sessions| sessions.iter().any(|s| s != session))
    }
}

/// The session a sign-in belongs to: its `sessionId`, or `sign-in ID` without one.
fn session_key(signin: &SignIn) -> String {
    if signin.session.is_empty() {
        format!("sign-in {}", signin.id)
    } else {
        signin.session.clone()
    }
}

/// The person's successful sign-ins by session, in order of each session's first sign-in.
pub fn group(signins: &[SignIn]) -> Vec<(String, Vec<&SignIn>)> {
    let mut sessions: BTreeMap<String, Vec<&SignIn>> = BTreeMap::new();
    for signin in signins.iter().filter(|s| s.succeeded()) {
        sessions
            .entry(session_key(signin))
            .or_default()
            .push(signin);
    }
    let mut sessions: Vec<_> = sessions.into_iter().collect();
    sessions.sort_by_key(|(key, s)| (s.first().and_then(|s| s.time), key.clone()));
    sessions
}

/// Scores one session from its sign-ins and the mailbox records joined to it.
pub fn score(
    key: &str,
    signins: &[&SignIn],
    joined: &[(&Event, Join)],
    baseline: &Baseline,
    network_of: &dyn Fn(&str) -> String,
) -> SessionVerdict {
    let mut verdict = SessionVerdict {
        key: key.to_string(),
        severity: Severity::Low,
        points: 0,
        reasons: Vec::new(),
        explained: Vec::new(),
        first: signins.first().and_then(|s| s.time),
        last_signin: signins.iter().filter_map(|s| s.time).max(),
        signin_ids: signins.iter().map(|s| s.id.clone()).collect(),
        addresses: signins.iter().map(|s| s.ip.clone()).collect(),
        replay_addresses: BTreeSet::new(),
        tokens: signins
            .iter()
            .map(|s| s.token.clone())
            .filter(|t| !t.is_empty())
            .collect(),
        networks: signins.iter().map(|s| s.network()).collect(),
        countries: signins
            .iter()
            .map(|s| s.country.clone())
            .filter(|c| !c.is_empty())
            .collect(),
        user_agents: signins
            .iter()
            .map(|s| s.user_agent.clone())
            .filter(|u| !u.is_empty())
            .collect(),
        apps: signins.iter().map(|s| s.app.clone()).collect(),
        correlations: signins
            .iter()
            .map(|s| s.correlation.clone())
            .filter(|c| !c.is_empty())
            .collect(),
        aitm: false,
        device_code: false,
    };
    let add = |verdict: &mut SessionVerdict, points: u32, reason: String| {
        verdict.points += points;
        verdict.reasons.push(format!("+{points} {reason}"));
    };
    let devices: BTreeSet<&str> = signins.iter().map(|s| s.device_id.as_str()).collect();
    let one_device = devices.len() == 1 && !devices.contains("");
    let no_device = devices.len() == 1 && devices.contains("");
    let one_agent = verdict.user_agents.len() <= 1;
    // A device that changes or disappears inside the session.
    let device_changed = signins
        .windows(2)
        .any(|pair| !pair[0].device_id.is_empty() && pair[1].device_id != pair[0].device_id);
    if device_changed {
        add(
            &mut verdict,
            3,
            "its device changed or disappeared inside the session".into(),
        );
    } else if no_device && !baseline.devices.is_empty() {
        add(
            &mut verdict,
            2,
            "no device id, where the person's other sessions come from a registered device".into(),
        );
    }
    let network_count = verdict.networks.len();
    if network_count > 1 {
        let networks = verdict
            .networks
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if one_device && one_agent {
            verdict.explained.push(format!(
                "{} networks ({networks}) with one registered device and user agent: the owner moving (office Wi-Fi to mobile, dual stack)",
                verdict.networks.len()
            ));
        } else if no_device && one_agent {
            add(
                &mut verdict,
                1,
                format!(
                    "used from {network_count} networks ({networks}) with no device to tell who"
                ),
            );
        } else {
            add(
                &mut verdict,
                3,
                format!(
                    "used from {network_count} networks ({networks}) while its {} changed",
                    if one_agent { "device" } else { "user agent" }
                ),
            );
        }
    }
    if verdict.countries.len() > 1 {
        let countries = verdict
            .countries
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if one_device && one_agent {
            verdict
                .explained
                .push(format!("countries {countries} with the owner's own device"));
        } else {
            add(&mut verdict, 1, format!("used from countries {countries}"));
        }
    }
    if let Some(proxy) = signins
        .iter()
        .find(|s| s.interactive && is_office_home(s) && is_hosting(s.asn))
    {
        verdict.aitm = true;
        add(
            &mut verdict,
            3,
            format!(
                "interactive sign-in to {} from a hosting provider (AS{}, {}): where AiTM kits proxy the login",
                proxy.app,
                proxy.asn.unwrap_or_default(),
                proxy.ip
            ),
        );
    }
    if let Some(code) = signins.iter().find(|s| s.device_code) {
        if baseline.used_elsewhere(&code.app_id, key) {
            verdict.explained.push(format!(
                "device-code sign-in to {}, an app the person signs in to in other sessions",
                code.app
            ));
        } else {
            verdict.device_code = true;
            add(
                &mut verdict,
                3,
                format!(
                    "device-code sign-in (originalTransferMethod deviceCodeFlow) to {}, an app the person uses in no other session",
                    code.app
                ),
            );
        }
    }
    let risk = signins
        .iter()
        .map(|s| s.risk.as_str())
        .max_by_key(|r| match *r {
            "high" | "confirmedCompromised" => 3,
            "medium" | "atRisk" => 2,
            "low" => 1,
            _ => 0,
        })
        .unwrap_or("");
    match risk {
        "high" | "confirmedCompromised" => {
            add(&mut verdict, 3, format!("Identity Protection risk {risk}"))
        }
        "medium" | "atRisk" => add(&mut verdict, 2, format!("Identity Protection risk {risk}")),
        "low" => verdict
            .explained
            .push("Identity Protection risk low".into()),
        _ => {}
    }
    let proxied = joined
        .iter()
        .filter(|(e, _)| {
            e.prop("ClientInfoString")
                .is_some_and(|c| c.to_ascii_lowercase().contains("action=viaproxy"))
        })
        .count();
    if proxied > 0 {
        add(
            &mut verdict,
            2,
            format!("{proxied} mailbox records with Client=OWA;Action=ViaProxy"),
        );
    }
    // A token redeemed from a network other than the one its sign-in came from.
    let issued: BTreeMap<&str, String> = signins
        .iter()
        .filter(|s| !s.token.is_empty())
        .map(|s| (s.token.as_str(), s.network()))
        .collect();
    let moved_tokens: BTreeSet<&str> = joined
        .iter()
        .filter(|(_, join)| *join == Join::UniqueTokenId)
        .filter_map(|(e, _)| {
            let token = e.prop("UniqueTokenId")?;
            let (address, _) = logon_source(e)?;
            (issued.get(token)? != &network_of(&address)).then_some(token)
        })
        .collect();
    if !moved_tokens.is_empty() {
        add(
            &mut verdict,
            1,
            format!(
                "{} tokens used from a network other than their sign-in's",
                moved_tokens.len()
            ),
        );
    }
    verdict.severity = match verdict.points {
        5.. => Severity::High,
        3..=4 => Severity::Medium,
        _ => Severity::Low,
    };
    // The replay: addresses outside the network of the session's first sign-in, and (joined
    // mailbox records) the addresses its records came from outside it.
    if let Some(first) = signins.first() {
        let home = first.network();
        verdict.replay_addresses = signins
            .iter()
            .filter(|s| s.network() != home)
            .map(|s| s.ip.clone())
            .chain(
                joined
                    .iter()
                    .filter_map(|(e, _)| logon_source(e).map(|(ip, _)| ip))
                    .filter(|ip| !ip.is_empty() && network_of(ip) != home),
            )
            .collect();
    }
    verdict
}
