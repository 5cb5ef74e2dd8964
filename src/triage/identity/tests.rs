//! Each session signal and each confounder, on hand-built sign-ins.

use chrono::{Duration, TimeZone, Utc};

use super::joins::Join;
use super::records::SignIn;
use super::sessions::{group, score, Baseline, SessionVerdict, OFFICE_HOME};
use crate::triage::analyze::Severity;
use crate::triage::events::Event;

const OWNER_UA: &str = "Mozilla/5.0 (Windows NT 10.0) Edg/124";

/// An owner's non-interactive sign-in `minutes` into the day, from the office, with the
/// compliant laptop.
fn owner(session: &str, minutes: i64) -> SignIn {
    SignIn {
        id: format!("{session}-{minutes}"),
        time: Some(Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap() + Duration::minutes(minutes)),
        user: "ann@contoso.com".into(),
        session: session.into(),
        token: format!("tok-{session}-{minutes}"),
        ip: "203.0.113.10".into(),
        asn: Some(3320),
        country: "DE".into(),
        app_id: "00000002-0000-0ff1-ce00-000000000000".into(),
        app: "Office 365 Exchange Online".into(),
        user_agent: OWNER_UA.into(),
        device_id: "laptop".into(),
        compliant: true,
        ..SignIn::default()
    }
}

fn verdict_of(signins: &[SignIn], baseline_from: &[SignIn]) -> SessionVerdict {
    verdict_with(signins, baseline_from, &[])
}

fn verdict_with(
    signins: &[SignIn],
    baseline_from: &[SignIn],
    joined: &[(&Event, Join)],
) -> SessionVerdict {
    let baseline = Baseline::new(baseline_from);
    let refs: Vec<&SignIn> = signins.iter().collect();
    score(
        &signins[0].session,
        &refs,
        joined,
        &baseline,
        &|ip: &str| super::records::prefix(ip),
    )
}

/// The owner's usual day: a session from the office with the laptop.
fn usual_day() -> Vec<SignIn> {
    (0..4).map(|n| owner("usual", n * 60)).collect()
}

fn with_history(session: &[SignIn]) -> Vec<SignIn> {
    usual_day()
        .into_iter()
        .chain(session.iter().cloned())
        .collect()
}

#[test]
fn office_wifi_to_mobile_carrier_with_one_device_and_agent_stays_low() {
    let mut session: Vec<SignIn> = (0..4).map(|n| owner("move", n * 60)).collect();
    for s in &mut session[2..] {
        s.ip = "100.64.3.7".into();
        s.asn = Some(3209);
    }
    let verdict = verdict_of(&session, &with_history(&session));
    assert_eq!(verdict.severity, Severity::Low, "{verdict:?}");
    assert_eq!(verdict.points, 0);
    assert!(verdict.explained[0].contains("one registered device and user agent"));
}

#[test]
fn a_dual_stack_home_stays_low() {
    let mut session: Vec<SignIn> = (0..4).map(|n| owner("home", n * 60)).collect();
    for (n, s) in session.iter_mut().enumerate() {
        s.asn = None; // no ASN: the prefixes differ, v4 and v6
        s.ip = if n % 2 == 0 {
            "198.51.100.20".into()
        } else {
            "2001:db8:100::1".into()
        };
    }
    let verdict = verdict_of(&session, &with_history(&session));
    assert_eq!(verdict.networks.len(), 2);
    assert_eq!(verdict.severity, Severity::Low, "{verdict:?}");
}

#[test]
fn travel_with_the_owners_device_stays_low() {
    let mut session: Vec<SignIn> = (0..4).map(|n| owner("trip", n * 60)).collect();
    for s in &mut session {
        s.ip = "81.2.69.160".into();
        s.asn = Some(3215);
        s.country = "GB".into();
    }
    // On the way: one sign-in at home before the flight, in the same session.
    session[0].country = "DE".into();
    session[0].asn = Some(6805);
    let verdict = verdict_of(&session, &with_history(&session));
    assert_eq!(verdict.severity, Severity::Low, "{verdict:?}");
}

/// The AiTM kit's sign-in: interactive, OfficeHome, a hosting provider, no device; then the
/// session replayed from the attacker's network with another user agent.
fn stolen() -> Vec<SignIn> {
    let mut proxy = owner("stolen", 0);
    proxy.interactive = true;
    proxy.app_id = OFFICE_HOME.into();
    proxy.app = "OfficeHome".into();
    proxy.ip = "64.227.44.21".into();
    proxy.asn = Some(14061);
    proxy.country = "US".into();
    proxy.device_id = String::new();
    proxy.compliant = false;
    let mut replay = proxy.clone();
    replay.id = "stolen-replay".into();
    replay.time = proxy.time.map(|t| t + Duration::minutes(20));
    replay.interactive = false;
    replay.ip = "105.112.96.14".into();
    replay.asn = Some(36873);
    replay.country = "NG".into();
    replay.user_agent = "Mozilla/5.0 (X11; Linux x86_64) Chrome/66".into();
    vec![proxy, replay]
}

#[test]
fn an_aitm_sign_in_replayed_elsewhere_is_high_with_its_points() {
    let session = stolen();
    let verdict = verdict_of(&session, &with_history(&session));
    assert_eq!(verdict.severity, Severity::High, "{verdict:?}");
    assert!(verdict.aitm);
    let reasons = verdict.reasons.join("\n");
    assert!(reasons.contains("+3 interactive sign-in to OfficeHome from a hosting provider"));
    assert!(reasons.contains("+2 no device id"));
    assert!(reasons.contains("+3 used from 2 networks"));
    assert!(verdict.replay_addresses.contains("105.112.96.14"));
    assert!(
        !verdict.replay_addresses.contains("64.227.44.21"),
        "the proxy is not the replay"
    );
}

#[test]
fn the_same_sign_in_from_a_home_isp_is_not_aitm() {
    let mut session = stolen();
    session.truncate(1);
    session[0].asn = Some(6805);
    let verdict = verdict_of(&session, &with_history(&session));
    assert!(!verdict.aitm);
    assert_eq!(verdict.severity, Severity::Low, "{verdict:?}");
}

#[test]
fn a_device_that_disappears_inside_the_session_scores() {
    let mut session: Vec<SignIn> = (0..3).map(|n| owner("lost", n * 60)).collect();
    session[2].device_id = String::new();
    session[2].ip = "105.112.96.14".into();
    session[2].asn = Some(36873);
    let verdict = verdict_of(&session, &with_history(&session));
    assert!(verdict.reasons[0].starts_with("+3 its device changed or disappeared"));
    assert_eq!(verdict.severity, Severity::High, "{verdict:?}");
}

#[test]
fn device_code_to_an_app_never_used_scores_and_to_a_known_app_does_not() {
    let mut code = owner("code", 0);
    code.device_code = true;
    code.device_id = String::new();
    code.app_id = "d3590ed6-52b3-4102-aeff-aad2292ab01c".into();
    code.app = "Microsoft Office".into();
    let verdict = verdict_of(
        std::slice::from_ref(&code),
        &with_history(std::slice::from_ref(&code)),
    );
    assert!(verdict.device_code, "{verdict:?}");
    assert_eq!(verdict.severity, Severity::High);
    // An admin who signs in to that app by device code every week (Azure CLI, say).
    let mut known = code.clone();
    known.id = "known".into();
    known.session = "last-week".into();
    let mut history = with_history(std::slice::from_ref(&code));
    history.push(known);
    let verdict = verdict_of(std::slice::from_ref(&code), &history);
    assert!(!verdict.device_code);
    assert_ne!(verdict.severity, Severity::High, "{verdict:?}");
}

#[test]
fn risk_fields_score_when_the_tenant_has_them() {
    let mut session = vec![owner("risky", 0)];
    session[0].risk = "high".into();
    let verdict = verdict_of(&session, &with_history(&session));
    assert!(verdict
        .reasons
        .iter()
        .any(|r| r == "+3 Identity Protection risk high"));
    session[0].risk = "low".into();
    assert_eq!(verdict_of(&session, &with_history(&session)).points, 0);
}

#[test]
fn via_proxy_records_and_a_token_moved_to_another_network_score() {
    let session = vec![owner("proxied", 0)];
    let proxied = Event {
        id: "r1".into(),
        ..Event::default()
    }
    .with_properties([
        ("ClientInfoString", "Client=OWA;Action=ViaProxy"),
        ("UniqueTokenId", "tok-proxied-0"),
        ("ClientIP", "105.112.96.14"),
    ]);
    let joined = [(&proxied, Join::UniqueTokenId)];
    let verdict = verdict_with(&session, &with_history(&session), &joined);
    let reasons = verdict.reasons.join("\n");
    assert!(reasons.contains("+2 1 mailbox records with Client=OWA;Action=ViaProxy"));
    assert!(reasons.contains("+1 1 tokens used from a network other than their sign-in's"));
    assert!(verdict.replay_addresses.contains("105.112.96.14"));
}

#[test]
fn failures_are_no_session_and_sign_ins_without_a_session_id_stand_alone() {
    let mut failed = owner("s", 0);
    failed.error = 50126;
    let mut bare = owner("", 5);
    bare.id = "bare".into();
    let signins = [failed, bare, owner("s", 10)];
    let groups = group(&signins);
    let keys: Vec<&str> = groups.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["sign-in bare", "s"]);
    assert_eq!(groups[1].1.len(), 1);
}

mod whole_mailbox {
    use super::*;
    use crate::triage::analyze::{analyze_mailbox, Settings};
    use crate::triage::category::Category;
    use crate::triage::events::MailboxEvents;
    use crate::triage::geo::GeoLookup;
    use crate::triage::identity::evidence::{IdentityEvidence, PersonEvidence, SpraySource};
    use crate::triage::identity::records::DirectoryAudit;

    fn event(id: &str, kind: &str, minutes: i64, pairs: &[(&str, &str)]) -> Event {
        Event {
            id: id.into(),
            kind: kind.into(),
            app: "Web".into(),
            time: Some(
                Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap() + Duration::minutes(minutes),
            ),
            ..Event::default()
        }
        .with_properties(pairs.iter().copied())
    }

    fn analysed(
        events: Vec<Event>,
        person: &PersonEvidence,
        tenant: &IdentityEvidence,
    ) -> crate::triage::analyze::MailboxReport {
        let mailbox = MailboxEvents {
            mailbox: "Ann@contoso.com".into(),
            events,
        };
        let settings = Settings {
            home_countries: Vec::new(),
            keywords: Vec::new(),
            geo: GeoLookup::default(),
        };
        let mut report = analyze_mailbox(&mailbox, &settings);
        super::super::analyze_identity(&mut report, &mailbox, person, tenant);
        report
    }

    fn stolen_mailbox() -> (Vec<Event>, PersonEvidence) {
        let replay = "105.112.96.14";
        let mut bind = event(
            "bind",
            "MailItemsAccessed",
            25,
            &[
                ("AADSessionId", "stolen"),
                ("ClientIP", replay),
                ("FolderPath", "\\Inbox"),
            ],
        );
        bind.item = "<m1@contoso.com>".into();
        let events = vec![
            bind,
            event(
                "sync",
                "MailItemsSync",
                26,
                &[
                    ("AADSessionId", "stolen"),
                    ("ClientIP", replay),
                    ("TargetFolder", "\\Inbox"),
                ],
            ),
            event(
                "throttled",
                "MailItemsThrottled",
                27,
                &[("AADSessionId", "stolen"), ("ClientIP", replay)],
            ),
            // A rule record without Entra ids (admin records often have none).
            event(
                "rule",
                "InboxRule",
                30,
                &[
                    ("ClientIP", replay),
                    ("Subject", "."),
                    ("RuleActions", "MoveToFolder=RSS Feeds"),
                ],
            ),
            // The owner's own read, in their own session.
            event(
                "own",
                "MailItemsAccessed",
                40,
                &[("AADSessionId", "usual"), ("ClientIP", "203.0.113.10")],
            ),
        ];
        let mfa = DirectoryAudit {
            id: "mfa".into(),
            time: Some(Utc.with_ymd_and_hms(2024, 5, 1, 8, 28, 0).unwrap()),
            activity: "User registered security info".into(),
            result: "success".into(),
            initiator: "ann@contoso.com".into(),
            ip: replay.into(),
            target_users: vec!["ann@contoso.com".into()],
            ..DirectoryAudit::default()
        };
        let mut phone = mfa.clone();
        phone.id = "phone".into();
        phone.ip = "203.0.113.10".into();
        phone.time = phone.time.map(|t| t + Duration::hours(3));
        let person = PersonEvidence {
            signins: with_history(&stolen()),
            audits: vec![mfa, phone],
        };
        (events, person)
    }

    #[test]
    fn the_session_owns_its_reads_and_what_it_left_and_is_still_live() {
        let (events, person) = stolen_mailbox();
        let report = analysed(events, &person, &IdentityEvidence::default());
        let session = &report.sessions[0];
        assert_eq!(session.session, "stolen");
        assert!(
            session.live,
            "the evidence ends within a day of its last use"
        );
        assert_eq!(session.joins.get("aad-session-id"), Some(&3));
        assert_eq!(session.joins.get("address-and-time"), Some(&1));
        let incident = &report.incidents[0];
        assert_eq!(incident.session.as_deref(), Some("stolen"));
        let members: Vec<&crate::triage::analyze::Finding> = incident
            .findings
            .iter()
            .map(|&i| &report.findings[i])
            .collect();
        let high = |category: Category| {
            members
                .iter()
                .any(|f| f.category == category && f.severity == Severity::High)
        };
        assert!(high(Category::Aitm) && high(Category::MfaMethod) && high(Category::Rule));
        assert!(high(Category::Exposure));
        // The owner's later phone is not the attacker's.
        let phone = report
            .findings
            .iter()
            .find(|f| f.activity_ids == ["phone"])
            .unwrap();
        assert_eq!(phone.severity, Severity::Low);
        let table = |name: &str| report.tables.iter().find(|t| t.name == name).unwrap();
        let exposure: Vec<(&str, &str, &str)> = table("exposure")
            .rows
            .iter()
            .map(|r| (&*r[0], &*r[6], &*r[7]))
            .collect();
        assert_eq!(
            exposure,
            [
                ("<m1@contoso.com>", "bind", "bind"),
                ("(every message in the folder)", "sync", "sync"),
                (
                    "(reads unaudited for up to 24 hours from here)",
                    "throttled",
                    "throttled"
                )
            ]
        );
        let steps: Vec<String> = table("remediation")
            .rows
            .iter()
            .map(|r| r[3].to_string())
            .collect();
        assert!(steps[0].starts_with("Revoke-MgUserSignInSession -UserId ann@contoso.com"));
        assert!(steps[1].starts_with("Get-MgUserAuthenticationMethod -UserId ann@contoso.com"));
        assert_eq!(
            steps[2],
            "Remove-InboxRule -Mailbox ann@contoso.com -Identity \".\""
        );
        assert!(steps
            .last()
            .unwrap()
            .starts_with("reset the password of ann@contoso.com"));
        let timeline = table("incident_timeline");
        assert_eq!(&*timeline.rows[0][1], "sign-in");
        assert!(timeline.rows.iter().any(|r| &*r[5] == "mfa"));
        assert!(!timeline.rows.iter().any(|r| &*r[5] == "own"));
    }

    #[test]
    fn a_session_last_seen_over_a_day_before_the_evidence_ends_is_not_live() {
        let (events, person) = stolen_mailbox();
        let mut tenant = IdentityEvidence::default();
        tenant.newest = Some(Utc.with_ymd_and_hms(2024, 5, 3, 9, 0, 0).unwrap());
        let report = analysed(events, &person, &tenant);
        assert!(!report.sessions[0].live);
    }

    fn spray(successes: Vec<(&str, &str)>) -> IdentityEvidence {
        let source = SpraySource {
            failures: 6,
            users: ["ann", "bob", "cy", "dee", "eve", "fay"]
                .iter()
                .map(|u| format!("{u}@contoso.com"))
                .collect(),
            ids: vec!["fail-1".into()],
            successes: successes
                .into_iter()
                .map(|(u, id)| (u.to_string(), id.to_string()))
                .collect(),
            ..SpraySource::default()
        };
        let mut tenant = IdentityEvidence::default();
        tenant.spray.insert("185.220.101.33".to_string(), source);
        tenant
    }

    #[test]
    fn spraying_is_medium_unless_the_person_then_signed_in_from_it() {
        let person = PersonEvidence::default();
        let sprayed = |tenant: &IdentityEvidence| {
            analysed(Vec::new(), &person, tenant)
                .findings
                .into_iter()
                .find(|f| f.category == Category::Spraying)
                .map(|f| (f.severity, f.activity_ids))
        };
        assert_eq!(sprayed(&spray(Vec::new())).unwrap().0, Severity::Medium);
        let other = spray(vec![("bob@contoso.com", "ok-bob")]);
        assert_eq!(
            sprayed(&other).unwrap().0,
            Severity::Medium,
            "another user's success"
        );
        let own = spray(vec![("ann@contoso.com", "ok-ann")]);
        assert_eq!(
            sprayed(&own).unwrap(),
            (
                Severity::High,
                vec!["fail-1".to_string(), "ok-ann".to_string()]
            )
        );
        // Three users is not spraying in a tenant of twenty.
        let mut few = spray(Vec::new());
        let source = few.spray.get_mut("185.220.101.33").unwrap();
        source.users = ["ann", "bob", "cy"]
            .iter()
            .map(|u| format!("{u}@contoso.com"))
            .collect();
        few.users_seen = (0..20).map(|n| format!("u{n}@contoso.com")).collect();
        assert_eq!(sprayed(&few), None);
    }
}
