//! The generator's vocabulary: names, subjects, searches, folders, user agents, and how the
//! service wrote times, versions, query XML and addresses.

use chrono::{DateTime, Utc};
use fastrand::Rng;

pub(super) const TENANT_ID: &str = "679126f3-02de-3513-e336-0eac1294b120";

pub(super) const FIRST_NAMES: &[&str] = &[
    "alice", "bruno", "chen", "dana", "emeka", "fatima", "george", "hana", "ivan", "julia", "kofi",
    "lena", "miguel", "nadia", "oscar", "priya", "quinn", "rosa", "sven", "tariq",
];
pub(super) const LAST_NAMES: &[&str] = &[
    "johnson", "okafor", "li", "schmidt", "garcia", "haddad", "novak", "tanaka", "silva", "brown",
];

pub(super) const SUBJECTS: &[&str] = &[
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

pub(super) const FINANCE_SUBJECTS: &[&str] = &[
    "Invoice 4471 – due Friday",
    "Wire instructions for Q2 vendor payment",
    "Payroll changes for June",
    "ACH remittance confirmation",
];

pub(super) const SEARCHES: &[&str] = &[
    "budget",
    "kickoff agenda",
    "from:dana report",
    "travel",
    "hotel booking",
    "\"board deck\"",
    "会议",
    "training <required> & overdue",
];

pub(super) const FOLDERS: &[&str] = &[
    "Inbox",
    "Archive",
    "Projects",
    "Receipts",
    "Travel",
    "Deleted Items",
];

pub(super) const OWNER_DESKTOP_UA: &str =
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.9226; Pro)";
pub(super) const OWNER_BROWSER_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/67.0.3396.87 Safari/537.36";
pub(super) const OWNER_MOBILE_UA: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 11_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15F79";
pub(super) const ATTACKER_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/66.0.3359.139 Safari/537.36";

pub(super) fn timestamp_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(super) fn received_time_text(time: DateTime<Utc>) -> String {
    time.format("%m/%d/%Y %I:%M:%S %p").to_string()
}

pub(super) fn client_version(app: &str) -> &'static str {
    match app {
        "Outlook" => "16.0.9226.2114",
        "Web" => "15.20.0845.012",
        "Mobile" => "15.20.0845.012",
        _ => "15.20.0845.000",
    }
}

pub(super) fn query_xml(raw: &str) -> String {
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

pub(super) fn ip(rng: &mut Rng, first: u8) -> String {
    format!(
        "{first}.{}.{}.{}",
        rng.u8(0..=255),
        rng.u8(0..=255),
        rng.u8(1..=254)
    )
}
