//! Triage against the planted truth of the mock tenant's `bec` scenario, over several seeds.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use o365_activities::mock::{Scenario, Truth};
use o365_activities::triage::analyze::DEFAULT_KEYWORDS;
use o365_activities::triage::category::Category;
use o365_activities::triage::geo::GeoLookup;
use o365_activities::triage::{analyze_mailbox, load_inputs, MailboxReport, Settings, Severity};

use crate::support::{triage_output, write_pulled, Tenant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Writes each mailbox of a generated tenant as a pulled JSON Lines file; returns paths and truth.
fn pulled_tenant(seed: u64, dir: &Path) -> (Vec<PathBuf>, Truth) {
    let corpus = Tenant::builder()
        .users(4)
        .per_user(1500)
        .days(120)
        .seed(seed)
        .scenario(Scenario::BecSimple)
        .corpus();
    (write_pulled(&corpus, dir), corpus.truth.unwrap())
}

fn settings(with_geo: bool) -> Settings {
    Settings {
        home_countries: if with_geo { vec!["US".into()] } else { vec![] },
        keywords: DEFAULT_KEYWORDS.iter().map(|s| s.to_string()).collect(),
        geo: if with_geo {
            GeoLookup::open(
                Some(&fixture("test-country.mmdb")),
                Some(&fixture("test-asn.mmdb")),
            )
            .unwrap()
        } else {
            GeoLookup::default()
        },
    }
}

fn high_ids(report: &MailboxReport, category: Category) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::High && f.category == category)
        .flat_map(|f| f.activity_ids.clone())
        .collect()
}

#[test]
fn the_report_names_every_planted_element_and_nothing_of_the_owners() {
    for seed in [1u64, 7, 2018] {
        for with_geo in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (paths, truth) = pulled_tenant(seed, dir.path());
            let mailboxes = load_inputs(&paths).unwrap();
            let settings = settings(with_geo);
            for mailbox in &mailboxes {
                let report = analyze_mailbox(mailbox, &settings);
                let context = format!("seed {seed}, geo {with_geo}, {}", report.mailbox);
                if report.mailbox != truth.mailbox {
                    let high: Vec<&str> = report
                        .findings
                        .iter()
                        .filter(|f| f.severity == Severity::High)
                        .map(|f| f.title.as_str())
                        .collect();
                    assert!(
                        high.is_empty(),
                        "{context}: an ordinary mailbox has high findings {high:?}"
                    );
                    continue;
                }
                for ip in &truth.attacker_ips {
                    assert!(
                        report.findings.iter().any(|f| f.severity == Severity::High
                            && f.category == Category::Logon
                            && f.title.contains(ip.as_str())),
                        "{context}: attacker IP {ip} not named"
                    );
                }
                for ip in &truth.owner_ips {
                    let flagged: Vec<&str> = report
                        .findings
                        .iter()
                        .filter(|f| f.title.contains(ip.as_str()))
                        .map(|f| f.title.as_str())
                        .collect();
                    assert!(
                        flagged.is_empty(),
                        "{context}: the owner's IP {ip} is flagged: {flagged:?}"
                    );
                }
                let client = high_ids(&report, Category::Client);
                assert!(
                    truth.imap_logon_ids.iter().all(|id| client.contains(id)),
                    "{context}: IMAP4 logon"
                );
                let searches = high_ids(&report, Category::Search);
                assert!(
                    truth
                        .finance_search_ids
                        .iter()
                        .all(|id| searches.contains(id)),
                    "{context}: finance searches"
                );
                assert!(
                    high_ids(&report, Category::Attachment).contains(&truth.phishing.activity_id),
                    "{context}: phishing attachment"
                );
                assert!(
                    high_ids(&report, Category::Hiding)
                        .contains(&truth.hidden_sent_item.move_activity_id),
                    "{context}: hidden item"
                );
                let sessions = high_ids(&report, Category::Session);
                assert!(
                    truth
                        .finance_read_ids
                        .iter()
                        .all(|id| sessions.contains(id)),
                    "{context}: reads in the attacker's sessions"
                );
            }
        }
    }
}

#[test]
fn renders_json_csv_html_and_reads_pulled_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, truth) = pulled_tenant(5, dir.path());
    let victim = paths
        .iter()
        .find(|p| p.to_string_lossy().contains(&truth.mailbox))
        .unwrap()
        .clone();
    let run = |args: &[&str]| triage_output(args);
    let victim_arg = victim.to_str().unwrap();
    let text = run(&[victim_arg]);
    assert!(
        text.lines().nth(1).unwrap().starts_with("HIGH"),
        "most important first:\n{text}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&run(&[victim_arg, "--format", "json"])).unwrap();
    let findings = json["mailboxes"][0]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .all(|f| !f["activity_ids"].as_array().unwrap().is_empty()),
        "every finding names its activities"
    );

    let html_path = dir.path().join("report.html");
    run(&[
        victim_arg,
        "--format",
        "html",
        "--output",
        html_path.to_str().unwrap(),
        "--geoip",
        fixture("test-country.mmdb").to_str().unwrap(),
        "--home-country",
        "US",
    ]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.contains("<svg")
            && html.contains("Logons by country")
            && html.contains("105.112.96.14")
    );
    // Links stay inside the page (the overview's contents): nothing to fetch.
    let outside_links = html.matches("href=").count() - html.matches("href=\"#").count();
    assert!(
        !html.contains("src=") && outside_links == 0 && !html.contains("<script"),
        "self-contained: nothing to fetch"
    );
    assert!(html.find("Overview").unwrap() < html.find("Logons by country").unwrap());

    let csv_dir = dir.path().join("tables");
    run(&[
        victim_arg,
        "--format",
        "csv",
        "--output",
        csv_dir.to_str().unwrap(),
    ]);
    let findings_csv = std::fs::read_to_string(csv_dir.join("findings.csv")).unwrap();
    assert!(findings_csv.contains(&truth.phishing.activity_id));
    assert!(
        csv_dir.join("reads_by_message.csv").exists()
            && csv_dir.join("suspicious_sessions.csv").exists()
    );
    let by_day = std::fs::read_to_string(csv_dir.join("client_types_by_day.csv")).unwrap();
    assert!(
        by_day.starts_with("Day,AppIdType,Activities") && by_day.contains(",IMAP4,1"),
        "{by_day:.200}"
    );

    // A CSV written by pull gives the same findings as its JSON Lines.
    let csv_path = dir.path().join("victim.csv");
    let mut csv = o365_activities::output::CsvBuilder::create(dir.path().join("cells")).unwrap();
    for line in std::fs::read_to_string(&victim).unwrap().lines() {
        csv.add(line).unwrap();
    }
    let options = o365_activities::output::CsvOptions {
        sanitize: true,
        ..Default::default()
    };
    csv.write_csv_file(&csv_path, options).unwrap();
    let from_csv: serde_json::Value =
        serde_json::from_str(&run(&[csv_path.to_str().unwrap(), "--format", "json"])).unwrap();
    let titles = |v: &serde_json::Value| -> Vec<String> {
        v["mailboxes"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["title"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(titles(&from_csv), titles(&json));
}

/// The realistic scenario holds the quality targets (the benchmark `triage_quality` measures
/// more seeds and a larger clean mailbox): every attacker address and activity found, few
/// legitimate addresses high, high findings about the attack, a quiet finance colleague and a
/// quiet mailbox that holds no attack.
#[test]
fn the_realistic_scenario_meets_the_quality_targets() {
    use o365_activities::triage::evaluate::{evaluate, flagged};
    use o365_activities::triage::MailboxEvents;
    for seed in [2, 7] {
        let corpus = Tenant::builder()
            .users(3)
            .per_user(2500)
            .days(120)
            .seed(seed)
            .scenario(Scenario::Bec)
            .corpus();
        let truth = corpus.truth.clone().unwrap();
        let events = |upn: &str, skip: &[String]| {
            let (_, records) = corpus.mailboxes.iter().find(|(m, _)| m == upn).unwrap();
            MailboxEvents::from_json(
                upn,
                records
                    .iter()
                    .filter(|r| !skip.contains(&r.id))
                    .map(|r| r.json.as_str()),
            )
            .unwrap()
        };
        let victim = events(&truth.mailbox, &[]);
        let report = analyze_mailbox(&victim, &settings(false));
        let e = evaluate(
            &report,
            &victim,
            &truth.attacker_ips,
            &truth.attacker_activity_ids,
        );
        assert_eq!(
            e.attacker_addresses_found, e.attacker_addresses,
            "seed {seed}: {e:?}"
        );
        assert_eq!(
            e.attacker_activities_found, e.attacker_activities,
            "seed {seed}: {e:?}"
        );
        assert!(e.legitimate_addresses_high <= 3, "seed {seed}: {e:?}");
        assert!(e.high_precision() >= 0.7, "seed {seed}: {e:?}");
        let colleague = events(truth.finance_colleague.as_deref().unwrap(), &[]);
        assert!(
            flagged(&analyze_mailbox(&colleague, &settings(false))) <= 2,
            "seed {seed}"
        );
        // The same mailbox without the attack: travel, a new phone, DHCP, a lure opened.
        let clean = events(&truth.mailbox, &truth.attacker_activity_ids);
        let clean_report = analyze_mailbox(&clean, &settings(false));
        assert!(
            flagged(&clean_report) <= 10,
            "seed {seed}: {:#?}",
            clean_report.findings
        );
        // One incident per attacker address, holding what its sessions did.
        let sources: Vec<&str> = report.incidents.iter().map(|i| i.source.as_str()).collect();
        for ip in &truth.attacker_ips {
            assert!(
                sources.contains(&ip.as_str()),
                "seed {seed}: no incident for {ip}"
            );
        }
        let grouped: std::collections::HashSet<usize> = report
            .incidents
            .iter()
            .flat_map(|i| i.findings.clone())
            .collect();
        assert!(
            report
                .findings
                .iter()
                .enumerate()
                .filter(|(_, f)| matches!(f.category, Category::Search | Category::Session))
                .all(|(index, _)| grouped.contains(&index)),
            "seed {seed}: searches and sessions are told inside their incident"
        );
        // Every finding of a source says why it got its severity.
        assert!(report
            .findings
            .iter()
            .filter(|f| f.category == Category::Logon)
            .all(|f| f.detail.contains(" because ") && f.detail.contains(" points: ")));
    }
}

/// The exports analysts import: a Timesketch timeline (CSV and JSON Lines, with the fields its
/// import requires in every row), findings as JSON Lines, and the indicators of compromise.
#[test]
fn exports_a_timesketch_timeline_siem_findings_and_indicators() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = Tenant::builder()
        .users(2)
        .per_user(1500)
        .days(120)
        .seed(3)
        .scenario(Scenario::Bec)
        .corpus();
    let truth = corpus.truth.clone().unwrap();
    let (_, records) = corpus
        .mailboxes
        .iter()
        .find(|(m, _)| *m == truth.mailbox)
        .unwrap();
    let victim = dir.path().join("victim.jsonl");
    let lines: Vec<&str> = records.iter().map(|r| r.json.as_str()).collect();
    std::fs::write(&victim, lines.join("\n")).unwrap();
    let (timeline_csv, timeline_jsonl, iocs) = (
        dir.path().join("timeline.csv"),
        dir.path().join("timeline.jsonl"),
        dir.path().join("iocs.csv"),
    );
    let triage =
        |extra: &[&std::ffi::OsStr]| triage_output(&[&[victim.as_os_str()], extra].concat());
    let findings = triage(&[
        "--format".as_ref(),
        "jsonl".as_ref(),
        "--timesketch".as_ref(),
        timeline_csv.as_os_str(),
        "--iocs".as_ref(),
        iocs.as_os_str(),
    ]);
    triage(&[
        "--format".as_ref(),
        "json".as_ref(),
        "--timesketch".as_ref(),
        timeline_jsonl.as_os_str(),
    ]);

    // Findings for a SIEM: one JSON object a line, each with its technique and span.
    let findings: Vec<serde_json::Value> = findings
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(findings.iter().any(|f| f["severity"] == "high"));
    // No manifest lists the file: its mailbox is named after it.
    assert!(findings
        .iter()
        .all(|f| f["mailbox"] == "victim" && f["first_seen"].is_string()));

    // Timesketch: the mandatory fields in every row of both forms, one row per activity and
    // per finding.
    let mut csv = csv::Reader::from_path(&timeline_csv).unwrap();
    let header = csv.headers().unwrap().clone();
    assert_eq!(
        header.iter().take(4).collect::<Vec<_>>(),
        ["message", "datetime", "timestamp", "timestamp_desc"]
    );
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), records.len() + findings.len());
    assert!(rows
        .iter()
        .all(|r| !r[0].is_empty() && r[1].ends_with("+00:00") && !r[3].is_empty()));
    let jsonl = std::fs::read_to_string(&timeline_jsonl).unwrap();
    assert_eq!(jsonl.lines().count(), rows.len());
    for line in jsonl.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            row["message"].is_string()
                && row["datetime"].is_string()
                && row["timestamp_desc"].is_string()
        );
    }

    // Indicators: every attacker address, the lure's sender, its domain and attachment.
    let iocs = std::fs::read_to_string(&iocs).unwrap();
    assert!(iocs.starts_with("Type,Indicator,Context,FirstSeen,LastSeen,Mailboxes,Findings"));
    for ip in &truth.attacker_ips {
        assert!(iocs.contains(&format!("ip,{ip},")), "{ip} missing:\n{iocs}");
    }
    assert!(
        iocs.contains(&format!("sender,{},", truth.phishing.sender)),
        "{iocs}"
    );
    let domain = truth.phishing.sender.split('@').nth(1).unwrap();
    assert!(iocs.contains(&format!("sender-domain,{domain},")), "{iocs}");
    assert!(
        iocs.contains(&format!("attachment,{},", truth.phishing.attachment)),
        "{iocs}"
    );
    for owner_ip in truth.owner_ips.iter().take(5) {
        assert!(
            !iocs.contains(&format!("ip,{owner_ip},")),
            "the owner's {owner_ip} is no indicator"
        );
    }
}

/// A case: the overview ranks what several mailboxes share, flagged values (a campaign's reach)
/// before what every owner shares (the office address).
#[test]
fn the_case_overview_ranks_shared_flagged_values_first() {
    use o365_activities::triage::case_view::overview;
    use o365_activities::triage::MailboxEvents;
    let corpus = Tenant::builder()
        .users(2)
        .per_user(1200)
        .days(120)
        .seed(5)
        .scenario(Scenario::Bec)
        .corpus();
    let truth = corpus.truth.clone().unwrap();
    let events = |upn: &str, name: &str| {
        let (_, records) = corpus.mailboxes.iter().find(|(m, _)| m == upn).unwrap();
        MailboxEvents::from_json(name, records.iter().map(|r| r.json.as_str())).unwrap()
    };
    let colleague = truth.finance_colleague.clone().unwrap();
    // The same attack in two mailboxes (the victim's twice), and one clean colleague.
    let mailboxes = [
        events(&truth.mailbox, "first victim"),
        events(&truth.mailbox, "second victim"),
        events(&colleague, "colleague"),
    ];
    let reports: Vec<_> = mailboxes
        .iter()
        .map(|m| analyze_mailbox(m, &settings(false)))
        .collect();
    let case = overview(&reports);
    assert_eq!(case.mailboxes.len(), 3);
    assert!(case.mailboxes[0].high > 0 && case.mailboxes[2].high == 0);
    let first = &case.shared[0];
    assert_eq!(first.flagged_in.len(), 2, "{:?}", case.shared);
    let attacker = case
        .shared
        .iter()
        .position(|s| s.kind == "address" && truth.attacker_ips.contains(&s.value))
        .expect("an attacker address shared by the two victims");
    let office = case
        .shared
        .iter()
        .position(|s| s.value == "198.51.100.7")
        .expect("the office address every owner shares");
    assert!(attacker < office, "{:?}", case.shared);
    assert!(case.shared.iter().any(|s| s.kind == "sender"
        && s.value == truth.phishing.sender
        && s.flagged_in.len() == 2));
    use o365_activities::triage::report::{render, Text};
    let text = render(Text { colour: false }, &reports, &mailboxes).unwrap();
    assert!(text.starts_with("== case: 3 mailboxes"), "{text:.300}");
}

/// `triage` writes a case a mailbox at a time; its JSON report is still the one document the
/// whole case serializes to (the overview first), and the HTML nests each incident's findings.
#[test]
fn a_case_written_a_mailbox_at_a_time_is_the_whole_document() {
    use o365_activities::triage::case_view::overview;
    let dir = tempfile::tempdir().unwrap();
    let (paths, truth) = pulled_tenant(11, dir.path());
    let json = dir.path().join("report.json");
    let html = dir.path().join("report.html");
    for (format, output) in [("json", &json), ("html", &html)] {
        let mut args: Vec<&std::ffi::OsStr> = paths.iter().map(|p| p.as_os_str()).collect();
        for word in ["--quiet", "--format", format, "--output"] {
            args.push(word.as_ref());
        }
        args.push(output.as_os_str());
        triage_output(&args);
    }

    let mailboxes = load_inputs(&paths).unwrap();
    let reports: Vec<MailboxReport> = mailboxes
        .iter()
        .map(|m| analyze_mailbox(m, &settings(false)))
        .collect();
    #[derive(serde::Serialize)]
    struct Whole<'a> {
        tool: &'static str,
        version: &'static str,
        case: o365_activities::triage::case_view::CaseOverview,
        mailboxes: &'a [MailboxReport],
    }
    let whole = serde_json::to_string_pretty(&Whole {
        tool: "o365-activities",
        version: env!("CARGO_PKG_VERSION"),
        case: overview(&reports),
        mailboxes: &reports,
    })
    .unwrap();
    assert_eq!(std::fs::read_to_string(&json).unwrap(), whole);

    let page = std::fs::read_to_string(&html).unwrap();
    let victim = reports.iter().find(|r| r.mailbox == truth.mailbox).unwrap();
    assert!(!victim.incidents.is_empty());
    for (number, incident) in victim.incidents.iter().enumerate() {
        assert!(
            page.contains(&format!(
                "Incident {} — source {}",
                number + 1,
                incident.source
            )),
            "incident {} missing from the page",
            incident.source
        );
    }
    // The overview comes before the first mailbox's section.
    assert!(page.find("id=\"overview\"").unwrap() < page.find("id=\"mailbox0\"").unwrap());
}

/// Every input is checked before any mailbox is analysed: a missing second file leaves no report.
#[test]
fn a_missing_input_is_named_before_any_report_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = pulled_tenant(3, dir.path());
    let output = dir.path().join("report.json");
    let result = Command::cargo_bin("o365-activities")
        .unwrap()
        .arg("triage")
        .arg(&paths[0])
        .arg(dir.path().join("missing.jsonl"))
        .args(["--quiet", "--format", "json", "--output"])
        .arg(&output)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("missing.jsonl"), "{stderr}");
    assert!(!output.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
