//! The built binary: exit codes, messages, and the mock tenant's command line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use o365_activities::mock::{start, FaultSettings, ServerSettings, TokenSpec};

use crate::support::*;

fn binary() -> Command {
    Command::cargo_bin("o365-activities").unwrap()
}

/// Runs the binary off the async runtime; returns (exit code, stderr).
async fn run_binary(args: Vec<String>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let output = binary()
            .args(&args)
            .env_remove("OAUTH_TOKEN")
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn pull_args(base_url: &str, user: &str, output: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "pull",
        "--user",
        user,
        "--output",
        output.to_str().unwrap(),
        "--token",
        TOKEN,
        "--base-url",
        base_url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

async fn tenant(faults: FaultSettings) -> o365_activities::mock::RunningServer {
    let corpus = o365_activities::mock::corpus_by_mailbox(o365_activities::mock::generate(
        &o365_activities::mock::CorpusSpec {
            users: 1,
            per_user: 300,
            days: 30,
            end: now(),
            seed: 4,
            scenario: o365_activities::mock::Scenario::None,
        },
    ));
    let settings = ServerSettings {
        tokens: vec![TokenSpec::parse(TOKEN).unwrap()],
        faults,
        ..ServerSettings::default()
    };
    start(corpus, settings).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.csv");
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "http://127.0.0.1:9",
            vec!["--start", "yesterday"],
            "ISO 8601",
        ),
        (
            "http://127.0.0.1:9",
            vec!["--start", "2018-02-01", "--end", "2018-01-01"],
            "is not before --end",
        ),
        ("http://127.0.0.1:9", vec!["--page-size", "1001"], "1001"),
        (
            "http://127.0.0.1:9",
            vec!["--username", "a@b.c"],
            "both --username",
        ),
        ("ftp://x", vec![], "http(s)"),
    ];
    for (base_url, extra, hint) in cases {
        let (code, stderr) = run_binary(pull_args(base_url, USER, &out, &extra)).await;
        assert_eq!(code, 2, "{extra:?}: {stderr}");
        assert!(stderr.contains(hint), "{extra:?}: {stderr}");
    }
    let (code, stderr) = run_binary(vec![
        "pull".into(),
        "--user".into(),
        USER.into(),
        "--output".into(),
        out.display().to_string(),
    ])
    .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("OAUTH_TOKEN"), "{stderr}");
    assert!(!out.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_exits_3_and_gave_up_exits_4() {
    let server = tenant(FaultSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run_binary(pull_args(
        &server.url,
        "nobody@contoso.com",
        &dir.path().join("a.csv"),
        &[],
    ))
    .await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("FullAccess"), "{stderr}");
    assert!(
        !stderr.contains(TOKEN),
        "the token never appears in messages"
    );

    let failing = tenant(FaultSettings {
        fail_rate: 1.0,
        ..FaultSettings::default()
    })
    .await;
    let (code, stderr) = run_binary(pull_args(
        &failing.url,
        "alice.johnson@contoso.com",
        &dir.path().join("b.csv"),
        &["--max-retries", "1"],
    ))
    .await;
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("partial result kept"), "{stderr}");
    assert!(dir.path().join("b.jsonl.partial").exists());
    assert!(!dir.path().join("b.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_to_stdout_and_dry_runs_with_the_token_redacted() {
    let server = tenant(FaultSettings::default()).await;
    let args = pull_args(
        &server.url,
        "alice.johnson@contoso.com",
        std::path::Path::new("-"),
        &["--types", "ServerLogon"],
    );
    let output = tokio::task::spawn_blocking(move || binary().args(&args).output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.lines().count() > 5);
    assert!(stdout
        .lines()
        .all(|l| l.contains("\"ActivityIdType\":\"ServerLogon\"")));

    let requests_before = server.requests();
    let args = pull_args(
        &server.url,
        "alice.johnson@contoso.com",
        std::path::Path::new("x.csv"),
        &["--dry-run"],
    );
    let output = tokio::task::spawn_blocking(move || binary().args(&args).output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("GET http://"), "{stdout}");
    assert!(
        stdout.contains("$orderby=TimeStamp%20desc&$top=1"),
        "the newest-activity request of the windows is shown too: {stdout}"
    );
    assert!(stdout.contains("Authorization: Bearer <redacted>"));
    assert!(!stdout.contains(TOKEN));
    assert_eq!(
        server.requests(),
        requests_before,
        "the dry run sent nothing"
    );
}

#[test]
fn mock_tenant_serve_prints_its_url_first_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("url");
    let mut child = binary()
        .args([
            "mock-tenant",
            "serve",
            "--url-file",
            url_file.to_str().unwrap(),
            "--tokens",
            "t1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let url = first_line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(std::fs::read_to_string(&url_file).unwrap().trim(), url);
    let status = reqwest::blocking_get_status(&format!("{url}/api/v2.0/me/Activities"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 403, "no credentials: 403");
}

mod reqwest {
    /// A minimal blocking GET (the test runs outside an async runtime).
    pub fn blocking_get_status(url: &str) -> u16 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async { ::reqwest::get(url).await.unwrap().status().as_u16() })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_a_marked_partial_result_and_exits_130() {
    let server = tenant(FaultSettings {
        latency: std::time::Duration::from_millis(150),
        ..FaultSettings::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("slow.csv");
    let args = pull_args(
        &server.url,
        "alice.johnson@contoso.com",
        &output,
        &["--page-size", "10"],
    );
    let (code, partial_records) = tokio::task::spawn_blocking(move || {
        let child = binary().args(&args).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1200));
        let sent = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = child.wait_with_output().unwrap().status;
        let partial =
            std::fs::read_to_string(output.with_extension("jsonl.partial")).unwrap_or_default();
        (status.code(), partial.lines().count())
    })
    .await
    .unwrap();
    assert_eq!(code, Some(130));
    assert!(partial_records > 0, "what was fetched is kept");
    assert!(!dir.path().join("slow.csv").exists());
    let manifest =
        std::fs::read_to_string(dir.path().join("slow.csv.partial.manifest.json")).unwrap();
    assert!(
        manifest.contains("\"incomplete\"") && manifest.contains("interrupted"),
        "{manifest}"
    );
}
