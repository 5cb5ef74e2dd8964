//! Session triage quality: a program that prints figures (`cargo bench --bench
//! identity_quality`), never a timed test.
//!
//! For every identity family (`IdentityFamily::value_variants()`, so a family added later is
//! measured too) and several seeds, it builds the scenario, writes it as the tool's evidence
//! files (audit log records, sign-ins, directory audits as JSON Lines), triages them through
//! the library as `triage` does, and prints per seed: attacker sessions found high, replay
//! addresses high, persistence records high, attacker-read messages listed, legitimate
//! multi-address sessions flagged high or medium, spraying sources flagged high (targets 100 %,
//! 100 %, 100 %, 100 %, 0, 0), and any other session flagged high or medium (target 0: the
//! confounders, device-code sign-ins of an admin among them). `IDENTITY_SEEDS` sets the seeds
//! per family (default 5).

use clap::ValueEnum;
use o365_activities::mock::generate::identity_scenario::{identity_scenario, IdentityFamily};
use o365_activities::triage::analyze::DEFAULT_KEYWORDS;
use o365_activities::triage::evaluate_identity::{evaluate_identity, triage_files, write_evidence};
use o365_activities::triage::geo::GeoLookup;
use o365_activities::triage::Settings;

fn share(found: usize, of: usize) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{found}/{of} ({:.0} %)", 100.0 * found as f64 / of as f64)
    }
}

fn main() {
    let seeds: u64 = std::env::var("IDENTITY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let settings = Settings {
        home_countries: Vec::new(),
        keywords: DEFAULT_KEYWORDS.iter().map(|s| s.to_string()).collect(),
        geo: GeoLookup::default(),
    };
    for family in IdentityFamily::value_variants() {
        let name = family
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        println!("identity family {name} ({seeds} seeds; no GeoIP or ASN database)");
        println!(
            "{:>5}  {:<14} {:<14} {:<14} {:<16} {:>12} {:>11} {:>11}  targets",
            "seed",
            "sessions high",
            "replay high",
            "persist. high",
            "read listed",
            "legit flag",
            "spray high",
            "other flag"
        );
        let mut met = 0;
        for seed in 1..=seeds {
            let scenario = identity_scenario(*family, seed);
            let dir = tempfile::tempdir().expect("a temporary folder");
            let files = write_evidence(&scenario, dir.path()).expect("evidence written");
            let reports = triage_files(&files, &settings).expect("triage");
            let e = evaluate_identity(&reports, &scenario.truth);
            met += usize::from(e.meets_targets());
            println!(
                "{seed:>5}  {:<14} {:<14} {:<14} {:<16} {:>12} {:>11} {:>11}  {}",
                share(e.attacker_sessions_high, e.attacker_sessions),
                share(e.replay_addresses_high, e.replay_addresses),
                share(e.persistence_high, e.persistence),
                share(e.read_messages_listed, e.read_messages),
                format!("{} of {}", e.legit_sessions_flagged, e.legit_sessions),
                format!("{} of {}", e.spray_high, e.spray_addresses),
                e.other_sessions_flagged,
                if e.meets_targets() { "met" } else { "MISSED" }
            );
        }
        println!("{name}: targets met on {met} of {seeds} seeds\n");
    }
}
