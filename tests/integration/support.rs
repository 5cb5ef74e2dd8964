//! Shared helpers: building pull configurations the way the CLI does, and records.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use o365_activities::cli::Command;
use o365_activities::commands::pull::{self, PullSummary};
use o365_activities::config::PullConfig;
use o365_activities::error::AppError;
use o365_activities::http::RecordingSleeper;
use serde_json::{json, Value};

pub const USER: &str = "victim@contoso.com";
pub const USER_PATH: &str = "/api/v2.0/Users('victim@contoso.com')/Activities";
pub const TOKEN: &str = "test-token";

/// The instant every test pull treats as "now" (the frozen end).
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2018, 6, 1, 0, 0, 0).unwrap()
}

/// The end every test pull sends without `--end`: the frozen "now", exclusive.
pub const END_LITERAL: &str = "2018-06-01T00:00:00Z";

/// A pull configuration from command-line words, as `main` builds it.
pub fn config(base_url: &str, output: &Path, extra: &[&str]) -> PullConfig {
    let output = output.to_string_lossy().into_owned();
    let mut words = vec![
        "o365-activities",
        "pull",
        "--user",
        USER,
        "--output",
        &output,
        "--token",
        TOKEN,
        "--base-url",
        base_url,
    ];
    words.extend_from_slice(extra);
    // These tests script a sequential keyset walk; windowed pulls have tests of their own.
    if !extra.contains(&"--mailbox-concurrency") {
        words.extend_from_slice(&["--mailbox-concurrency", "1"]);
    }
    parse_pull(&words).expect("valid configuration")
}

/// Parses `o365-activities pull ...` words into a configuration, as `main` does.
pub fn parse_pull(words: &[&str]) -> Result<PullConfig, AppError> {
    let cli = o365_activities::cli::parse_from(words).expect("valid arguments");
    let Command::Pull(args) = cli.command else {
        panic!("not a pull")
    };
    PullConfig::from_args(&args, now(), true)
}

/// Runs a pull with waits recorded instead of slept, on virtual time starting at the
/// system's time now.
pub async fn run(config: &PullConfig) -> (Result<PullSummary, AppError>, RecordingSleeper) {
    let sleeper = RecordingSleeper::default();
    let result = run_on(config, &sleeper).await;
    (result, sleeper)
}

/// Runs a pull on `sleeper`'s virtual time: its waits recorded, its clock the pull's.
pub async fn run_on(
    config: &PullConfig,
    sleeper: &RecordingSleeper,
) -> Result<PullSummary, AppError> {
    pull::run(config, Arc::new(sleeper.clone()), std::future::pending()).await
}

/// A record in the reference's shape.
pub fn record(id: &str, timestamp: &str) -> Value {
    json!({
        "Id": id,
        "ActivityCreationTime": timestamp,
        "ActivityIdType": "MarkAsRead",
        "AppIdType": "Web",
        "ClientVersion": "15.00.1497.010",
        "ClientSessionId": "1c6c6a80-b98b-45ef-8a4e-b874f3fe375f",
        "ActivityItemId": format!("item-{id}"),
        "TimeStamp": timestamp,
        "TenantId": "679126f3-02de-3513-e336-0eac1294b120",
        "CustomProperties": [{"Name": "SourceFolder", "Value": "Inbox"}]
    })
}

pub fn page(records: &[Value]) -> Value {
    json!({ "value": records })
}

/// Ids of a JSON Lines file, in order.
pub fn ids_in(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["Id"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// Runs `o365-activities triage ARGS...`, which must succeed; its standard output.
pub fn triage_output<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    use assert_cmd::cargo::CommandCargoExt;
    let output = std::process::Command::cargo_bin("o365-activities")
        .unwrap()
        .arg("triage")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "triage {:?}: {}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `command` (a pull with `--progress-interval`), sends it `signal` (`TERM`, `INT`, ...)
/// once its progress line reports records written (under way, with something to keep), and
/// waits for it: its exit code and all it wrote to stderr.
pub fn signal_once_records_are_written(
    mut command: std::process::Command,
    signal: &str,
) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        let records = line
            .strip_prefix("progress: ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok());
        if records.is_some_and(|n| n > 0) {
            break;
        }
    }
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    (child.wait().unwrap().code(), seen)
}

/// Waits (up to 30 s) until `ready` holds, polling: for what a child process does on disk.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// As `parse_pull`, with `now` as the instant the pull starts (a stand-in whose clock is ahead
/// of `now()`: an `--end` after the pull's start is clamped to it).
pub fn parse_pull_at(words: &[&str], now: DateTime<Utc>) -> Result<PullConfig, AppError> {
    let cli = o365_activities::cli::parse_from(words).expect("valid arguments");
    let Command::Pull(args) = cli.command else {
        panic!("not a pull")
    };
    PullConfig::from_args(&args, now, true)
}

/// The peak resident memory of a running process in MiB (`VmHWM`), if it still runs. Linux
/// only: the memory tests are compiled only where `/proc` can measure.
#[cfg(target_os = "linux")]
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The paging error behind `error` (a partial result's cause, or the error itself).
pub fn paging_error(error: &AppError) -> Option<&o365_activities::source::PagingError> {
    match error {
        AppError::Paging(paging) => Some(paging),
        AppError::Partial { error, .. } => paging_error(error),
        _ => None,
    }
}
