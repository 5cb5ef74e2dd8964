//! The terminal: colour, progress, a closed pipe.

use std::process::{Command, Stdio};

use o365_activities::mock::FaultSettings;

use crate::binary_support::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_into_a_closed_pipe_ends_quietly() {
    let server = tenant(FaultSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let (code, stderr) = run_binary(pull_args(&server.url, ONLY_MAILBOX, &output, &[])).await;
    assert_eq!(code, 0, "{stderr}");
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = binary()
            .args(["triage", "--format", "json"])
            .arg(&output)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader takes one byte and goes away, as `| head -c 1` does.
        let mut first = [0u8; 1];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        (
            output.status,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");

    // And an --output that is one of its inputs is refused before anything is read.
    let evidence = dir.path().join("o.jsonl");
    let (code, stderr) = run_binary(vec![
        "triage".into(),
        evidence.to_string_lossy().into_owned(),
        "--output".into(),
        evidence.to_string_lossy().into_owned(),
        "--force".into(),
    ])
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is one of the inputs"), "{stderr}");
}

/// Runs triage's text report under a pseudo-terminal (util-linux `script`), with `env` set;
/// returns what the terminal showed.
fn triage_on_a_terminal(input: &std::path::Path, env: &[(&str, &str)], extra: &str) -> String {
    let command = format!(
        "{} triage {} {extra}",
        env!("CARGO_BIN_EXE_o365-activities"),
        input.display()
    );
    let mut script = Command::new("script");
    script
        .args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR");
    for (name, value) in env {
        script.env(name, value);
    }
    let output = script.output().expect("util-linux script");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colour_follows_the_terminal_no_color_and_the_color_flag() {
    let server = tenant(FaultSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let (code, stderr) = run_binary(pull_args(&server.url, ONLY_MAILBOX, &output, &[])).await;
    assert_eq!(code, 0, "{stderr}");
    // A new source the triage flags, so the report has a coloured severity to show.
    let mut lines = std::fs::read_to_string(&output).unwrap();
    lines.push_str(&format!(
        "{}\n",
        serde_json::json!({"Id": "zz-late", "TimeStamp": "2018-05-31T23:00:00Z", "ActivityIdType": "ServerLogon",
            "AppIdType": "IMAP4", "CustomProperties": [{"Name": "ClientIP", "Value": "203.0.113.9"}]})
    ));
    std::fs::write(&output, lines).unwrap();
    let escape = '\u{1b}';
    assert!(
        triage_on_a_terminal(&output, &[], "").contains(escape),
        "a terminal gets colour"
    );
    assert!(
        !triage_on_a_terminal(&output, &[("NO_COLOR", "1")], "").contains(escape),
        "NO_COLOR turns it off"
    );
    assert!(!triage_on_a_terminal(&output, &[], "--color never").contains(escape));
    assert!(triage_on_a_terminal(&output, &[("NO_COLOR", "1")], "--color always").contains(escape));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_a_plain_line_without_a_terminal_a_live_one_on_it_and_none_when_quiet() {
    let server = tenant(FaultSettings {
        latency: std::time::Duration::from_millis(150),
        ..FaultSettings::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let slow = ["--page-size", "20", "--progress-interval", "1"];
    // Without a terminal (stderr captured): plain lines, with records, rate and requests.
    let plain = pull_args(
        &server.url,
        ONLY_MAILBOX,
        &dir.path().join("a.jsonl"),
        &slow,
    );
    let (code, stderr) = run_binary(plain).await;
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(!lines.is_empty(), "{stderr}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains(" records (") && l.contains("/s), ") && l.contains(" requests")),
        "{lines:?}"
    );
    // Quiet: nothing at all on stderr.
    let mut quiet = pull_args(
        &server.url,
        ONLY_MAILBOX,
        &dir.path().join("b.jsonl"),
        &slow,
    );
    quiet.push("-q".into());
    let (code, stderr) = run_binary(quiet).await;
    assert_eq!(code, 0);
    assert!(stderr.is_empty(), "{stderr}");
    // On a terminal: the live line, not plain ones.
    let output = dir.path().join("c.jsonl");
    let command = format!(
        "{} pull --user {ONLY_MAILBOX} --token {TOKEN} --base-url {} --output {} --page-size 20",
        env!("CARGO_BIN_EXE_o365-activities"),
        server.url,
        output.display()
    );
    let shown = tokio::task::spawn_blocking(move || {
        Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let screen = String::from_utf8_lossy(&shown.stdout);
    assert!(
        screen.contains(" records (") && !screen.contains("progress: "),
        "{screen:.400}"
    );
}
