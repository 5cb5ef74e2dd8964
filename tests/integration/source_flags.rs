//! Every flag a source group declares, given with every source: read by the sources whose
//! descriptor lists its group, refused (exit 2, naming a source that reads it) by the others.
//! The flags and the groups come from the declaration (`source::args`), so a flag added there is
//! walked here without a word of this file changing.

use o365_activities::cli::{parse_from, Command};
use o365_activities::config::{BatchConfig, PullConfig};
use o365_activities::error::AppError;
use o365_activities::source::args::group_flags;
use o365_activities::source::{registry, FlagGroup};

use crate::support::now;

/// A value clap accepts for `arg` (its first possible value or default; else a small number,
/// which every free-form flag takes), or none for a switch.
fn sample_value(arg: &clap::Arg) -> Option<String> {
    if !arg.get_action().takes_values() {
        return None;
    }
    if let Some(value) = arg.get_possible_values().first() {
        return Some(value.get_name().to_string());
    }
    if let Some(value) = arg.get_default_values().first() {
        return Some(value.to_string_lossy().into_owned());
    }
    Some("2".into())
}

fn refusal_of(result: Result<(), AppError>, flag: &str) -> Option<String> {
    match result {
        Err(error @ AppError::Usage(_))
            if error
                .to_string()
                .starts_with(&format!("{flag} is for --source")) =>
        {
            assert_eq!(error.exit_code(), 2);
            Some(error.to_string())
        }
        _ => None,
    }
}

/// Runs `words` through the CLI and the command's configuration, as `main` does.
fn configure(words: &[String]) -> Result<(), AppError> {
    let cli = parse_from(words).unwrap_or_else(|e| panic!("{words:?} does not parse: {e}"));
    match cli.command {
        Command::Pull(args) => PullConfig::from_args(&args, now(), true).map(|_| ()),
        Command::Batch(args) => BatchConfig::from_args(&args, now(), true).map(|_| ()),
        _ => unreachable!("pull and batch only"),
    }
}

#[test]
fn every_flag_of_every_group_is_read_or_refused_with_every_source() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.txt");
    std::fs::write(&users, "victim@contoso.com\n").unwrap();
    let mut walked = 0;
    for command in ["pull", "batch"] {
        for source in registry::SOURCES {
            for group in FlagGroup::ALL {
                for arg in group_flags(group) {
                    let flag = format!("--{}", arg.get_long().expect("every source flag is long"));
                    let mut words: Vec<String> =
                        ["o365-activities", command, "--source", source.name]
                            .map(String::from)
                            .to_vec();
                    match command {
                        "pull" => words
                            .extend(["--user", "victim@contoso.com", "--output"].map(String::from)),
                        _ => words.extend([
                            "--users".to_string(),
                            users.display().to_string(),
                            "--out-dir".into(),
                        ]),
                    }
                    words.push(
                        dir.path()
                            .join(format!("out-{walked}"))
                            .display()
                            .to_string(),
                    );
                    words.extend(["--token", "t"].map(String::from));
                    words.push(flag.clone());
                    words.extend(sample_value(&arg));
                    let refused = refusal_of(configure(&words), &flag);
                    if source.reads(group) {
                        assert!(
                            refused.is_none(),
                            "{flag} refused with --source {}: {refused:?}",
                            source.name
                        );
                    } else {
                        let message = refused.unwrap_or_else(|| {
                            panic!("{command} --source {} {flag} was not refused", source.name)
                        });
                        let readers: Vec<&str> = registry::SOURCES
                            .iter()
                            .filter(|other| other.reads(group))
                            .map(|other| other.name)
                            .collect();
                        assert!(
                            readers.iter().any(|reader| message.contains(reader)),
                            "{message} names none of {readers:?}"
                        );
                    }
                    walked += 1;
                }
            }
        }
    }
    // Every group declares flags, and every source was walked with each of them.
    let flags: usize = FlagGroup::ALL.iter().map(|g| group_flags(*g).len()).sum();
    assert!(flags >= 20, "only {flags} source flags declared");
    assert_eq!(walked, 2 * registry::SOURCES.len() * flags);
}

#[test]
fn a_flag_set_in_the_environment_is_not_refused() {
    // A session exports O365_GRAPH_URL and O365_MANAGEMENT_URL for every command; only a flag
    // typed on the command line with another source is refused.
    let output = assert_cmd::Command::cargo_bin("o365-activities")
        .unwrap()
        .env("O365_GRAPH_URL", "http://127.0.0.1:9")
        .env("O365_MANAGEMENT_URL", "http://127.0.0.1:9")
        .env("O365_AUTHORITY_URL", "http://127.0.0.1:9")
        .args([
            "pull",
            "--dry-run",
            "--user",
            "victim@contoso.com",
            "--output",
            "-",
        ])
        .args(["--token", "t", "--base-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    // The same URL typed on the command line is refused.
    let output = assert_cmd::Command::cargo_bin("o365-activities")
        .unwrap()
        .args([
            "pull",
            "--dry-run",
            "--user",
            "victim@contoso.com",
            "--output",
            "-",
        ])
        .args(["--token", "t", "--graph-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "--graph-url is for --source audit or signins or directory-audits: it would change \
             nothing with --source activities"
        ),
        "{stderr}"
    );
}

#[test]
fn pull_help_has_a_heading_per_group_and_lists_every_source() {
    let help = o365_activities::cli::command()
        .find_subcommand_mut("pull")
        .unwrap()
        .render_long_help()
        .to_string();
    for heading in [
        "Time range:",
        "Activities API (--source activities):",
        "Audit log queries (--source audit):",
        "Management Activity API (--source feed):",
        "Microsoft Graph (--source audit, signins, directory-audits):",
        "Entra ID sign-in logs (--source signins):",
        "Entra ID logs (--source signins, directory-audits):",
        "Sign-in (--source audit, feed, signins, directory-audits):",
        "Connection:",
    ] {
        assert!(
            help.contains(heading),
            "no {heading:?} in pull --help:\n{help}"
        );
    }
    for source in registry::SOURCES {
        assert!(
            help.contains(&format!("{}: {}", source.name, source.summary)),
            "{}",
            source.name
        );
    }
}
