//! The logon scoring's rules, each on a small mailbox.

use chrono::TimeZone;

use super::super::super::analyze::{analyze_mailbox, DEFAULT_KEYWORDS};
use super::super::super::events::MailboxEvents;
use super::super::super::geo::GeoLookup;
use super::*;

const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0) Chrome/67.0";

/// A mailbox built event by event: logons and what follows them.
struct Mailbox {
    events: Vec<Event>,
    serial: u32,
}

impl Mailbox {
    fn new() -> Self {
        Mailbox {
            events: Vec::new(),
            serial: 0,
        }
    }

    fn push(
        &mut self,
        day: i64,
        minute: i64,
        kind: &str,
        session: &str,
        custom: &[(&str, &str)],
    ) -> String {
        self.serial += 1;
        let id = format!("id{:05}", self.serial);
        let start = Utc.with_ymd_and_hms(2018, 1, 1, 9, 0, 0).unwrap();
        self.events.push(
            Event {
                id: id.as_str().into(),
                time: Some(start + Duration::days(day) + Duration::minutes(minute)),
                kind: kind.into(),
                app: "Web".into(),
                item: "".into(),
                session: session.into(),
                ..Event::default()
            }
            .with_properties(custom.iter().copied()),
        );
        id
    }

    /// A logon from `ip` with `agent`, then `searches` in its session.
    fn visit(&mut self, day: i64, ip: &str, agent: &str, searches: &[&str]) {
        let session = format!("s{day}-{ip}");
        self.push(
            day,
            0,
            "ServerLogon",
            &session,
            &[("ClientIP", ip), ("UserAgent", agent)],
        );
        for (i, term) in searches.iter().enumerate() {
            let query = format!("<Query><RawQuery>{term}</RawQuery></Query>");
            self.push(
                day,
                1 + i as i64,
                "SearchResult",
                &session,
                &[("Query", &query)],
            );
        }
    }

    fn findings(mut self) -> Vec<Finding> {
        self.events.sort_by_key(|e| e.time);
        let settings = Settings {
            home_countries: Vec::new(),
            keywords: DEFAULT_KEYWORDS.iter().map(|s| s.to_string()).collect(),
            geo: GeoLookup::default(),
        };
        let mailbox = MailboxEvents {
            mailbox: "owner@contoso.com".into(),
            events: self.events,
        };
        analyze_mailbox(&mailbox, &settings).findings
    }
}

/// 60 days of an owner at home (73.41.x.x, their lease changing) and at the office.
fn owner(searches: &[&str]) -> Mailbox {
    let mut mailbox = Mailbox::new();
    for day in 0..60 {
        let home = format!("73.41.{}.{}", day / 20, 10 + day % 3);
        mailbox.visit(
            day,
            &home,
            BROWSER,
            if day % 7 == 0 { searches } else { &[] },
        );
        mailbox.visit(day, "198.51.100.7", BROWSER, &[]);
    }
    mailbox
}

fn serious(findings: &[Finding], ip: &str) -> Vec<Severity> {
    findings
        .iter()
        .filter(|f| f.category == Category::Logon && f.title.contains(ip))
        .filter(|f| f.severity != Severity::Low)
        .map(|f| f.severity)
        .collect()
}

#[test]
fn a_new_lease_in_the_owners_network_is_not_a_finding() {
    let mut mailbox = owner(&[]);
    mailbox.visit(80, "73.41.250.9", BROWSER, &["budget"]);
    assert!(serious(&mailbox.findings(), "73.41.250.9").is_empty());
}

#[test]
fn travel_with_the_owners_own_browser_stays_low() {
    let mut mailbox = owner(&[]);
    mailbox.visit(80, "81.2.69.36", BROWSER, &["hotel booking"]);
    mailbox.visit(81, "81.2.70.4", BROWSER, &[]);
    let findings = mailbox.findings();
    assert!(serious(&findings, "81.2.69.36").is_empty(), "{findings:#?}");
    assert!(serious(&findings, "81.2.70.4").is_empty());
}

#[test]
fn a_new_network_that_goes_to_finance_searches_is_high_and_says_why() {
    let mut mailbox = owner(&[]);
    mailbox.visit(80, "52.14.3.9", BROWSER, &["wire transfer", "bank details"]);
    let findings = mailbox.findings();
    assert_eq!(serious(&findings, "52.14.3.9"), vec![Severity::High]);
    let logon = findings
        .iter()
        .find(|f| f.category == Category::Logon && f.title.contains("52.14.3.9"))
        .unwrap();
    assert!(
        logon.detail.contains("network the owner never used")
            && logon
                .detail
                .contains("finance terms the owner never searched for (")
            && logon.detail.contains("wire"),
        "{}",
        logon.detail
    );
    assert!(
        findings
            .iter()
            .any(|f| f.category == Category::Search && f.severity == Severity::High),
        "the searches inside the session are findings too"
    );
}

impl Mailbox {
    /// A risky attachment (an HTML file) delivered and opened on `day`.
    fn lure(&mut self, day: i64) {
        let start = Utc.with_ymd_and_hms(2018, 1, 1, 9, 0, 0).unwrap();
        for (minute, kind, custom) in [
            (
                0,
                "MessageDelivered",
                vec![("AttachmentDetail", "Remittance.htm (htm, ByValue)")],
            ),
            (30, "OpenedAnAttachment", vec![("AttachmentAction", "Open")]),
        ] {
            self.serial += 1;
            self.events.push(
                Event {
                    id: format!("id{:05}", self.serial).as_str().into(),
                    time: Some(start + Duration::days(day) + Duration::minutes(minute)),
                    kind: kind.into(),
                    app: "Web".into(),
                    item: "lure-item".into(),
                    session: "lure".into(),
                    ..Event::default()
                }
                .with_properties(custom),
            );
        }
    }

    /// A logon of `app` from `ip` with `agent`, and nothing else.
    fn logon(&mut self, day: i64, ip: &str, app: &str, agent: &str) {
        let id = self.push(
            day,
            0,
            "ServerLogon",
            &format!("s{day}-{ip}"),
            &[("ClientIP", ip), ("UserAgent", agent)],
        );
        if let Some(event) = self.events.iter_mut().find(|e| *e.id == *id) {
            event.app = app.into();
        }
    }
}

fn logon_finding<'a>(findings: &'a [Finding], ip: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.category == Category::Logon && f.title.contains(ip))
        .unwrap_or_else(|| panic!("a logon finding for {ip}: {findings:#?}"))
}

#[test]
fn travel_with_the_owners_devices_is_low_with_its_reason_even_after_a_lure() {
    let mut mailbox = owner(&[]);
    mailbox.lure(70);
    mailbox.visit(72, "81.2.69.36", BROWSER, &[]);
    let findings = mailbox.findings();
    let trip = logon_finding(&findings, "81.2.69.36");
    assert_eq!(trip.severity, Severity::Low, "{}", trip.detail);
    assert!(
        trip.detail.contains("travel with the owner's devices")
            && trip.detail.starts_with("low because 1 points"),
        "{}",
        trip.detail
    );
}

#[test]
fn a_new_place_with_a_new_client_inside_the_compromise_window_is_high() {
    let mut mailbox = owner(&[]);
    mailbox.lure(70);
    // Nothing but a logon: no search, no forward, no owner active at the same time.
    mailbox.visit(
        71,
        "105.112.96.14",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/60.0",
        &[],
    );
    let findings = mailbox.findings();
    let logon = logon_finding(&findings, "105.112.96.14");
    assert_eq!(logon.severity, Severity::High, "{}", logon.detail);
    assert!(
        logon
            .detail
            .contains("a new place with a new device or client"),
        "{}",
        logon.detail
    );
}

#[test]
fn a_new_place_with_a_new_client_outside_any_compromise_window_is_not_high() {
    let mut mailbox = owner(&[]);
    mailbox.visit(
        71,
        "105.112.96.14",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/60.0",
        &[],
    );
    let findings = mailbox.findings();
    assert_ne!(
        logon_finding(&findings, "105.112.96.14").severity,
        Severity::High
    );
}

#[test]
fn a_new_activesync_device_after_a_lure_is_persistence_and_high() {
    let mut mailbox = owner(&[]);
    mailbox.lure(70);
    mailbox.logon(71, "76.105.4.20", "Mobile", "Apple-iPhone10C1/1506.79");
    mailbox.logon(72, "76.105.4.20", "Mobile", "Apple-iPhone10C1/1506.79");
    let findings = mailbox.findings();
    let device: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.category == Category::Device)
        .collect();
    assert_eq!(device.len(), 1, "{findings:#?}");
    assert_eq!(device[0].severity, Severity::High);
    assert_eq!(device[0].activity_ids.len(), 2);
    assert!(device[0].title.contains("Apple-iPhone10C1"));
    assert_eq!(
        Category::Device.technique(),
        "T1098.005 Account Manipulation: Device Registration"
    );
    assert!(Category::Device.next_step().contains("Remove-MobileDevice"));
}

#[test]
fn the_owners_own_activesync_device_after_an_os_update_is_not_new() {
    let mut mailbox = owner(&[]);
    for day in [5, 20, 40] {
        mailbox.logon(day, "172.56.9.1", "Mobile", "Apple-iPhone9C1/1505.3");
    }
    mailbox.lure(70);
    mailbox.logon(71, "172.56.9.2", "Mobile", "Apple-iPhone9C1/1506.1");
    let findings = mailbox.findings();
    assert!(
        findings.iter().all(|f| f.category != Category::Device),
        "{findings:#?}"
    );
}

#[test]
fn a_new_activesync_device_without_a_lure_is_medium_to_confirm() {
    let mut mailbox = owner(&[]);
    mailbox.logon(75, "172.56.9.2", "Mobile", "Android-Mail/7.8.2");
    let findings = mailbox.findings();
    let device = findings
        .iter()
        .find(|f| f.category == Category::Device)
        .expect("a device finding");
    assert_eq!(device.severity, Severity::Medium);
    assert!(device.detail.contains("confirm the owner added it"));
}

#[test]
fn finance_searches_the_owner_runs_every_week_are_not_a_signal() {
    let mut mailbox = owner(&["invoice", "wire transfer"]);
    mailbox.visit(80, "81.2.69.36", BROWSER, &["invoice", "wire transfer"]);
    let findings = mailbox.findings();
    assert!(serious(&findings, "81.2.69.36").is_empty(), "{findings:#?}");
    assert!(
        findings.iter().all(|f| f.category != Category::Search),
        "routine searches outside suspicious sessions are listed, not raised"
    );
}
