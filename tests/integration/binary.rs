//! The binary end to end: exit codes and usage errors, standard output and dry runs, verify,
//! the time notes, the demo, completions.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use o365_activities::mock::FaultSettings;

use crate::binary_support::*;
use crate::support::*;

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
        (
            "http://127.0.0.1:9",
            vec!["--start", "99999999999d"],
            "too far in the past",
        ),
        (
            "http://127.0.0.1:9",
            vec!["--types", "ServerLogin"],
            "did you mean ServerLogon? (pass --allow-unknown-types to send it anyway)",
        ),
        (
            "http://127.0.0.1:9",
            vec!["--app-types", "IMAP"],
            "did you mean IMAP4?",
        ),
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
async fn verify_checks_one_pull_exit_0_4_or_5() {
    let server = tenant(FaultSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.csv");
    let (code, stderr) = run_binary(pull_args(&server.url, ONLY_MAILBOX, &output, &[])).await;
    assert_eq!(code, 0, "{stderr}");
    let manifest = dir.path().join("o.csv.manifest.json");
    assert_eq!(verify_binary(&manifest).await.0, 0);

    // Intact but incomplete: a partial result's manifest.
    let failing = tenant(FaultSettings {
        fail_rate: 1.0,
        ..FaultSettings::default()
    })
    .await;
    let partial = dir.path().join("p.csv");
    let args = pull_args(
        &failing.url,
        ONLY_MAILBOX,
        &partial,
        &["--max-retries", "0"],
    );
    assert_eq!(run_binary(args).await.0, 4);
    let (code, report) = verify_binary(&dir.path().join("p.csv.partial.manifest.json")).await;
    assert_eq!(code, 4, "{report}");
    assert!(report.contains("INCOMPLETE"), "{report}");

    // Altered evidence, then a manifest that cannot be read.
    let mut bytes = std::fs::read(dir.path().join("o.jsonl")).unwrap();
    bytes[3] ^= 1;
    std::fs::write(dir.path().join("o.jsonl"), bytes).unwrap();
    let (code, report) = verify_binary(&manifest).await;
    assert_eq!(code, 5, "{report}");
    assert!(report.contains("ALTERED  o.jsonl"), "{report}");
    std::fs::write(&manifest, "{ not json").unwrap();
    assert_eq!(verify_binary(&manifest).await.0, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_without_an_offset_is_said_to_be_taken_as_utc() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.jsonl");
    let args = pull_args(
        "http://127.0.0.1:9",
        USER,
        &out,
        &[
            "--dry-run",
            "--start",
            "2018-01-01 08:00:00",
            "--end",
            "2018-02-01T00:00:00Z",
        ],
    );
    let (code, stderr) = run_binary(args).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.matches("taken as UTC").count(),
        1,
        "once, for --start only: {stderr}"
    );
    assert!(stderr.contains("--start 2018-01-01 08:00:00"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_names_a_renamed_file_after_its_mailbox_not_its_name() {
    let server = tenant(FaultSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let (code, stderr) = run_binary(pull_args(&server.url, ONLY_MAILBOX, &output, &[])).await;
    assert_eq!(code, 0, "{stderr}");
    let renamed = dir.path().join("evidence-copy.jsonl");
    std::fs::rename(&output, &renamed).unwrap();
    let path = renamed.clone();
    let stdout = tokio::task::spawn_blocking(move || {
        let output = binary()
            .args(["triage", "--format", "json"])
            .arg(&path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    })
    .await
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["mailboxes"][0]["mailbox"], ONLY_MAILBOX);
    // Every finding carries its ATT&CK technique and next step, and times are ISO 8601 UTC.
    for finding in report["mailboxes"][0]["findings"].as_array().unwrap() {
        assert!(
            finding["technique"]
                .as_str()
                .is_some_and(|t| t.starts_with('T')),
            "{finding}"
        );
        assert!(finding["next_step"].as_str().is_some_and(|s| !s.is_empty()));
    }
    assert!(report["mailboxes"][0]["first"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_completions_and_the_man_page_are_generated() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = binary().args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(
            script.contains("o365-activities")
                && script.contains("batch")
                && script.contains("mailbox-concurrency"),
            "{shell}: {script:.200}"
        );
    }
    let output = binary().arg("man").output().unwrap();
    assert!(output.status.success());
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH o365-activities"),
        "{page:.200}"
    );
    assert!(page.contains("triage") && page.contains("verify"));
    let (code, _) = run_binary(vec!["completions".into(), "tcsh".into()]).await;
    assert_eq!(code, 2, "an unknown shell is a usage error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_that_is_not_a_upn_is_refused_before_any_request_and_unknown_types_can_pass() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.jsonl");
    for user in ["alice", "alice@", "alice@contoso"] {
        let (code, stderr) = run_binary(pull_args("http://127.0.0.1:9", user, &out, &[])).await;
        assert_eq!(code, 2, "{user}: {stderr}");
        assert!(
            stderr.contains("is not a user principal name"),
            "{user}: {stderr}"
        );
        assert!(
            !stderr.contains("FullAccess"),
            "refused before any request: {stderr}"
        );
    }
    let words = [
        "--dry-run",
        "--types",
        "BrandNewType",
        "--allow-unknown-types",
    ];
    let (code, stderr) = run_binary(pull_args("http://127.0.0.1:9", USER, &out, &words)).await;
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_bom_starts_the_csv_with_a_byte_order_mark_that_triage_still_reads() {
    let server = tenant(FaultSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.csv");
    let args = pull_args(&server.url, ONLY_MAILBOX, &output, &["--csv-bom"]);
    let (code, stderr) = run_binary(args).await;
    assert_eq!(code, 0, "{stderr}");
    let bytes = std::fs::read(&output).unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBFTimeStamp,"),
        "{:?}",
        &bytes[..20]
    );
    let evidence = std::fs::read(dir.path().join("o.jsonl")).unwrap();
    assert!(evidence.starts_with(b"{"), "the evidence is never changed");
    let (code, stderr) = run_binary(vec![
        "triage".into(),
        output.to_string_lossy().into_owned(),
        "--format".into(),
        "json".into(),
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_says_what_it_switched_on_what_happened_and_tells_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let folder = out.clone();
    let output = tokio::task::spawn_blocking(move || {
        binary()
            .arg("demo")
            .arg("--out-dir")
            .arg(&folder)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("with faults switched on: 5% of requests answered 503"),
        "{stderr}"
    );
    let happened = stderr
        .lines()
        .find(|l| l.contains("what happened:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let retries: u64 = happened
        .split(", ")
        .find_map(|part| part.strip_suffix(" retried after a fault"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{happened}"));
    assert!(
        retries > 0,
        "the faults the demo announces happen: {happened}"
    );
    assert!(stdout.contains("INCIDENT 1"), "{stdout:.500}");
    // The same mailbox pulled again from the audit log over HTTP, signed in, split at the
    // record limit, and the rule and forwarding the Activities API never showed found in it.
    let audit = stderr
        .lines()
        .find(|l| l.contains("audit log queries ("))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(!audit.contains("(0 over the record limit"), "{audit}");
    assert!(stdout.contains("ids: planted-inbox-rule"), "{stdout:.500}");
    assert!(stdout.contains("ids: planted-forwarding"), "{stdout:.500}");
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    let victim = truth["mailbox"].as_str().unwrap();
    let manifest = o365_activities::output::Manifest::read(
        &out.join(format!("{victim}.audit-log.jsonl.manifest.json")),
    )
    .unwrap();
    assert_eq!(
        manifest.status,
        o365_activities::output::PullStatus::Complete
    );
    the_demo_pulled_the_victims_entra_id_logs(&out, victim, &stderr).await;
    the_demo_follows_the_attackers_session(&out, victim, &stdout);
    // A second demo into the same folder names only its own flag.
    let (code, stderr) = run_binary(vec![
        "demo".into(),
        "--out-dir".into(),
        out.to_string_lossy().into_owned(),
    ])
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--out-dir") && !stderr.contains("--force") && !stderr.contains("--output"),
        "{stderr}"
    );
}

/// The demo's sign-in and directory audit pulls: on the tenant's clock, a line each, complete
/// and verified, and the attacker's session among the sign-ins.
async fn the_demo_pulled_the_victims_entra_id_logs(
    out: &std::path::Path,
    victim: &str,
    stderr: &str,
) {
    assert!(
        stderr.contains("on a clock set to the demo tenant's now, 2018-06-01T00:00:00.000Z"),
        "{stderr}"
    );
    let paths = o365_activities::commands::demo_identity::evidence_paths(out, victim);
    for (path, noun) in paths.iter().zip(["sign-ins", "directory audit records"]) {
        let line = format!("{noun} of {victim} into {}", path.display());
        assert_eq!(stderr.matches(&line).count(), 1, "{line}: {stderr}");
        let manifest = format!("{}.manifest.json", path.display());
        let (code, stderr) = run_binary(vec!["verify".into(), manifest]).await;
        assert_eq!(code, 0, "{}: {stderr}", path.display());
    }
    let corpus = o365_activities::mock::default_corpus(2018);
    let logs = o365_activities::mock::generate::identity::identity_logs_of(&corpus, 2018);
    let session = logs.attacker_session.unwrap();
    let signins = std::fs::read_to_string(&paths[0]).unwrap();
    assert!(
        signins.contains(&session),
        "the attacker's session {session}"
    );
    let audits = std::fs::read_to_string(&paths[1]).unwrap();
    for id in &logs.attacker_audit_ids {
        assert!(
            audits.contains(id.as_str()),
            "the attacker's directory audit {id}"
        );
    }
}

/// The demo's audit log triaged with the sign-ins and directory audits: the attacker's session
/// (joined by session id), what it read, whether it is live, and the remediation list naming it.
fn the_demo_follows_the_attackers_session(out: &std::path::Path, victim: &str, stdout: &str) {
    let corpus = o365_activities::mock::default_corpus(2018);
    let logs = o365_activities::mock::generate::identity::identity_logs_of(&corpus, 2018);
    let session = logs.attacker_session.unwrap();
    assert!(
        stdout.contains(&format!("Attacker session {session} of {victim}")),
        "{stdout}"
    );
    assert!(stdout.contains("by AADSessionId = sessionId"), "{stdout}");
    assert!(
        stdout.contains(&format!("What session {session} read")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("session {session} (high): not live")),
        "{stdout}"
    );
    let remediation = stdout
        .split("Remediation, in this order:")
        .nth(1)
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        remediation.contains(&format!("Revoke-MgUserSignInSession -UserId {victim}")),
        "{remediation}"
    );
    let html = std::fs::read_to_string(out.join("session-triage.html")).unwrap();
    assert!(
        html.contains(&session),
        "the session report names the session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_names_only_flags_of_its_own_command() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    std::fs::write(&corpus, "x").unwrap();
    let (code, stderr) = run_binary(vec![
        "mock-tenant".into(),
        "generate".into(),
        "--out".into(),
        corpus.to_string_lossy().into_owned(),
    ])
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("choose another --out, or pass --force") && !stderr.contains("--output"),
        "{stderr}"
    );
    let existing = dir.path().join("report.html");
    std::fs::write(&existing, "x").unwrap();
    let (code, stderr) = run_binary(vec![
        "triage".into(),
        corpus.to_string_lossy().into_owned(),
        "--format".into(),
        "html".into(),
        "--output".into(),
        existing.to_string_lossy().into_owned(),
    ])
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--output") && stderr.contains("--force"),
        "triage has both: {stderr}"
    );
    let users = dir.path().join("users.txt");
    std::fs::write(&users, "a@contoso.com\n").unwrap();
    let (code, stderr) = run_binary(vec![
        "batch".into(),
        "--users".into(),
        users.to_string_lossy().into_owned(),
        "--out-dir".into(),
        dir.path().to_string_lossy().into_owned(),
        "--token".into(),
        TOKEN.into(),
    ])
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--out-dir") && !stderr.contains("--output") && !stderr.contains("--force"),
        "{stderr}"
    );
}
