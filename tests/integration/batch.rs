//! `batch` and `verify`, through the built binary against the in-process mock tenant.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use o365_activities::case::CaseManifest;
use o365_activities::mock::{FaultSettings, RunningServer, ServerSettings};

use crate::support::{send_signal, wait_until, Tenant};

const TOKEN: &str = "batch-token";

/// Three mailboxes of 700 activities over 60 days, served with `settings` and both tokens; the
/// mailboxes in order.
async fn tenant(settings: ServerSettings) -> (RunningServer, Vec<String>) {
    let t = Tenant::builder()
        .users(3)
        .per_user(700)
        .days(60)
        .seed(21)
        .settings(settings)
        .tokens(&[TOKEN, "fresh-token"])
        .start()
        .await;
    (t.server, t.mailboxes.into_keys().collect())
}

fn settings(faults: FaultSettings) -> ServerSettings {
    ServerSettings {
        faults,
        ..ServerSettings::default()
    }
}

/// Runs `batch` (off the async runtime); returns the exit code (None when it aborted) and stderr.
async fn batch(url: &str, users_file: &Path, case: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args: Vec<String> = [
        "batch",
        "--users",
        users_file.to_str().unwrap(),
        "--out-dir",
        case.to_str().unwrap(),
        "--base-url",
        url,
        "--page-size",
        "150",
        "--end",
        "2018-06-01T00:00:00Z",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let output = Command::cargo_bin("o365-activities")
            .unwrap()
            .args(&args)
            .env("OAUTH_TOKEN", TOKEN)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn users_file(dir: &Path, users: &[String]) -> PathBuf {
    let path = dir.join("users.txt");
    std::fs::write(&path, users.join("\n")).unwrap();
    path
}

/// The case's content files (evidence, CSVs, timeline), which must not depend on how the run went.
fn content(case: &Path) -> BTreeMap<String, Vec<u8>> {
    let manifest = CaseManifest::read(&case.join("manifest.json")).unwrap();
    manifest
        .all_files()
        .filter(|f| f.path != "summary.csv")
        .map(|f| (f.path.clone(), std::fs::read(case.join(&f.path)).unwrap()))
        .collect()
}

async fn verify(case: &Path) -> (Option<i32>, String) {
    let case = case.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let output = Command::cargo_bin("o365-activities")
            .unwrap()
            .arg("verify")
            .arg(&case)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_list_ends_with_the_right_statuses_and_exit_code() {
    let faults = FaultSettings {
        fail_rate: 0.1,
        truncate_rate: 0.05,
        seed: 3,
        ..Default::default()
    };
    let (server, mut users) = tenant(ServerSettings {
        throttle: Some((4, Duration::from_secs(1))),
        ..settings(faults)
    })
    .await;
    users.insert(1, "nobody@contoso.com".into());
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let (code, stderr) = batch(
        &server.url,
        &users_file(dir.path(), &users),
        &case,
        &["--concurrency", "4", "--max-retries", "20"],
    )
    .await;
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("failed")
            && stderr.contains("nobody@contoso.com")
            && stderr.contains("FullAccess"),
        "{stderr}"
    );
    let manifest = CaseManifest::read(&case.join("manifest.json")).unwrap();
    let statuses: Vec<(&str, &str)> = manifest
        .mailboxes
        .iter()
        .map(|m| (m.mailbox.as_str(), m.status.as_str()))
        .collect();
    assert_eq!(
        statuses.iter().filter(|(_, s)| *s == "complete").count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(statuses[1], ("nobody@contoso.com", "failed"));
    assert!(
        manifest
            .mailboxes
            .iter()
            .map(|m| m.counters.throttle_waits)
            .sum::<u64>()
            > 0,
        "the throttle was hit"
    );
    assert!(
        !serde_json::to_string(&manifest).unwrap().contains(TOKEN),
        "no secret in the manifest"
    );
    let summary = std::fs::read_to_string(case.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 5);
    let timeline = std::fs::read_to_string(case.join("timeline.csv")).unwrap();
    let records: u64 = manifest.mailboxes.iter().map(|m| m.counters.records).sum();
    let mut reader = csv::Reader::from_reader(timeline.as_bytes());
    assert_eq!(&reader.headers().unwrap()[0], "Mailbox");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u64, records);
    assert!(
        rows.windows(2).all(|w| w[0][1] <= w[1][1]),
        "the timeline is ordered by TimeStamp"
    );
    let (code, report) = verify(&case).await;
    assert_eq!(code, Some(4), "intact, but a mailbox failed: {report}");
    assert!(
        report.contains("INCOMPLETE  nobody@contoso.com is failed"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_crashed_anywhere_then_resumed_equals_an_uninterrupted_run() {
    let (server, users) = tenant(settings(FaultSettings::default())).await;
    let dir = tempfile::tempdir().unwrap();
    let users_path = users_file(dir.path(), &users);
    let reference = dir.path().join("reference");
    let (code, stderr) = batch(&server.url, &users_path, &reference, &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let expected = content(&reference);
    // Three crash points per page (or window): half written, on disk, checkpoint written.
    // Windowed and sequential walks must both resume to the same bytes as the reference.
    for mode in [&[][..], &["--mailbox-concurrency", "1"][..]] {
        for crash_at in [1u64, 2, 3, 4, 8, 12, 17] {
            let case = dir.path().join(format!("case-{}-{crash_at}", mode.len()));
            let crash = crash_at.to_string();
            let mut first = mode.to_vec();
            first.extend(["--crash-at", crash.as_str()]);
            let (code, stderr) = batch(&server.url, &users_path, &case, &first).await;
            assert_eq!(
                code, None,
                "{mode:?}: crash point {crash_at} was not reached: {stderr}"
            );
            let mut resume = mode.to_vec();
            resume.push("--resume");
            let (code, stderr) = batch(&server.url, &users_path, &case, &resume).await;
            assert_eq!(
                code,
                Some(0),
                "{mode:?}: resume after crash point {crash_at}: {stderr}"
            );
            assert!(
                content(&case) == expected,
                "{mode:?}: crash point {crash_at}: the resumed case differs from the reference"
            );
            let (code, report) = verify(&case).await;
            assert_eq!(code, Some(0), "{mode:?}: crash point {crash_at}: {report}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_refuses_changed_parameters_and_skips_complete_mailboxes() {
    let (server, users) = tenant(settings(FaultSettings::default())).await;
    let dir = tempfile::tempdir().unwrap();
    let users_path = users_file(dir.path(), &users);
    let case = dir.path().join("case");
    assert_eq!(batch(&server.url, &users_path, &case, &[]).await.0, Some(0));
    let (code, stderr) = batch(&server.url, &users_path, &case, &[]).await;
    assert_eq!(code, Some(2), "an existing case needs --resume: {stderr}");
    let (code, stderr) = batch(
        &server.url,
        &users_path,
        &case,
        &["--resume", "--types", "Move"],
    )
    .await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--types"), "{stderr}");

    // The same list with comments, blank lines and spacing: the same case.
    std::fs::write(
        &users_path,
        format!(
            "# the case\n\n{}\n",
            users
                .iter()
                .map(|u| format!("  {u}  "))
                .collect::<Vec<_>>()
                .join("\n# next\n")
        ),
    )
    .unwrap();
    let requests_before = server.requests();
    let (code, stderr) = batch(&server.url, &users_path, &case, &["--resume"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        server.requests(),
        requests_before,
        "complete mailboxes are not pulled again"
    );

    let manifest = CaseManifest::read(&case.join("manifest.json")).unwrap();
    let evidence = case.join(&manifest.mailboxes[0].files[0].path);
    let mut altered = std::fs::read(&evidence).unwrap();
    altered[10] ^= 1;
    std::fs::write(&evidence, &altered).unwrap();
    let (code, stderr) = batch(&server.url, &users_path, &case, &["--resume"]).await;
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("no longer matches"), "{stderr}");
    assert_eq!(
        std::fs::read(&evidence).unwrap(),
        altered,
        "the altered evidence was not pulled over"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_leaves_mailboxes_incomplete_until_resumed_with_a_fresh_one() {
    let faults = FaultSettings {
        token_ttl: Some(Duration::ZERO),
        ..Default::default()
    };
    let (server, users) = tenant(settings(faults)).await;
    let dir = tempfile::tempdir().unwrap();
    let users_path = users_file(dir.path(), &users[..1]);
    let case = dir.path().join("case");
    // Tokens here die after one request: walk sequentially, so that request brings a page.
    let sequential = ["--mailbox-concurrency", "1"];
    let (code, stderr) = batch(&server.url, &users_path, &case, &sequential).await;
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("token expired"), "{stderr}");
    let manifest = CaseManifest::read(&case.join("manifest.json")).unwrap();
    assert_eq!(manifest.mailboxes[0].status.as_str(), "incomplete");
    assert!(
        manifest.mailboxes[0].counters.records > 0,
        "the first page was kept"
    );
    let (code, stderr) = batch(
        &server.url,
        &users_path,
        &case,
        &[
            "--resume",
            "--token",
            "fresh-token",
            "--max-retries",
            "0",
            "--mailbox-concurrency",
            "1",
        ],
    )
    .await;
    // The fresh token expires after its own first use too, so each resume gains one page.
    assert!(matches!(code, Some(0) | Some(4)), "{stderr}");
    let resumed = CaseManifest::read(&case.join("manifest.json")).unwrap();
    assert!(
        resumed.mailboxes[0].counters.records > manifest.mailboxes[0].counters.records,
        "the resume continued the pull"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_users_lines_are_reported_with_numbers_and_verify_catches_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(
        dir.path(),
        &[
            "ok@contoso.com".into(),
            "not an upn".into(),
            "# fine".into(),
            "nodomain@".into(),
        ],
    );
    let (code, stderr) = batch("http://127.0.0.1:9", &users, &dir.path().join("case"), &[]).await;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("line 2:") && stderr.contains("line 4:") && !stderr.contains("line 1:"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("case").exists(),
        "nothing is created before the input is valid"
    );

    let (server, users) = tenant(settings(FaultSettings::default())).await;
    let case = dir.path().join("case");
    assert_eq!(
        batch(
            &server.url,
            &users_file(dir.path(), &users[..2]),
            &case,
            &["--format", "jsonl"]
        )
        .await
        .0,
        Some(0)
    );
    let manifest = CaseManifest::read(&case.join("manifest.json")).unwrap();
    std::fs::write(case.join(&manifest.mailboxes[0].files[0].path), "tampered").unwrap();
    std::fs::remove_file(case.join("timeline.csv")).unwrap();
    std::fs::write(case.join("mailboxes").join("planted.txt"), "x").unwrap();
    let (code, stdout) = verify(&case).await;
    assert_eq!(code, Some(5));
    assert!(stdout.contains("ALTERED  mailboxes/"), "{stdout}");
    assert!(stdout.contains("MISSING  timeline.csv"), "{stdout}");
    assert!(stdout.contains("EXTRA  mailboxes/planted.txt"), "{stdout}");
}

/// Starts `batch` as its own process (stderr kept), for tests that signal it or race it.
fn spawn_batch(url: &str, users_file: &Path, case: &Path, extra: &[&str]) -> std::process::Child {
    Command::cargo_bin("o365-activities")
        .unwrap()
        .args(["batch", "--users"])
        .arg(users_file)
        .arg("--out-dir")
        .arg(case)
        .args(["--base-url", url, "--page-size", "150"])
        .args(["--end", "2018-06-01T00:00:00Z"])
        .args(extra)
        .env("OAUTH_TOKEN", TOKEN)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_checkpoints_exits_128_plus_its_number_and_resume_completes_the_same_case() {
    let slow = FaultSettings {
        latency: Duration::from_millis(120),
        ..Default::default()
    };
    let (server, users) = tenant(settings(slow)).await;
    let dir = tempfile::tempdir().unwrap();
    let users_path = users_file(dir.path(), &users);
    let reference = dir.path().join("reference");
    let one = ["--concurrency", "1"];
    assert_eq!(
        batch(&server.url, &users_path, &reference, &one).await.0,
        Some(0)
    );
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let case = dir.path().join(format!("case-{signal}"));
        let (url, users, folder) = (server.url.clone(), users_path.clone(), case.clone());
        let (exit, stderr) = tokio::task::spawn_blocking(move || {
            let child = spawn_batch(&url, &users, &folder, &one);
            // Some records on disk first: the first checkpoint.
            wait_until("a first checkpoint", || {
                walk_names(&folder)
                    .iter()
                    .any(|n| n.ends_with("checkpoint.json"))
            });
            send_signal(child.id(), signal);
            let output = child.wait_with_output().unwrap();
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        })
        .await
        .unwrap();
        assert_eq!(exit, Some(code), "SIG{signal}: {stderr}");
        let manifest = CaseManifest::read(&case.join("manifest.json")).unwrap();
        assert!(
            manifest
                .mailboxes
                .iter()
                .any(|m| m.status.as_str() != "complete"),
            "SIG{signal}: interrupted before the end"
        );
        let mut resume = one.to_vec();
        resume.push("--resume");
        let (exit, stderr) = batch(&server.url, &users_path, &case, &resume).await;
        assert_eq!(exit, Some(0), "SIG{signal}: {stderr}");
        assert!(
            content(&case) == content(&reference),
            "SIG{signal}: the resumed case differs from an uninterrupted run"
        );
        assert_eq!(verify(&case).await.0, Some(0));
    }
}

/// Every file's path under `folder`, relative, `/`-separated.
fn walk_names(folder: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                names.push(o365_activities::case::relative(folder, &path));
            }
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_partial_is_kept_aside_and_its_mailbox_pulled_again() {
    let (server, users) = tenant(settings(FaultSettings::default())).await;
    let dir = tempfile::tempdir().unwrap();
    let users_path = users_file(dir.path(), &users[..1]);
    let reference = dir.path().join("reference");
    let sequential = ["--mailbox-concurrency", "1"];
    assert_eq!(
        batch(&server.url, &users_path, &reference, &sequential)
            .await
            .0,
        Some(0)
    );
    let expected = content(&reference);
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 2] = [
        ("cut below its checkpoint", |bytes| {
            bytes.truncate(bytes.len() / 3)
        }),
        ("edited inside its checkpointed part", |bytes| {
            bytes[5] ^= 0x20
        }),
    ];
    for (label, damage) in damages {
        let case = dir.path().join(label.replace(' ', "-"));
        // Crash after the third page's checkpoint: a partial and its checkpoint remain.
        let mut crashing = sequential.to_vec();
        crashing.extend(["--crash-at", "9"]);
        let (code, stderr) = batch(&server.url, &users_path, &case, &crashing).await;
        assert_eq!(
            code, None,
            "{label}: the crash point was not reached: {stderr}"
        );
        let folder = case.join(
            CaseManifest::read(&case.join("manifest.json"))
                .unwrap()
                .mailboxes[0]
                .folder
                .clone(),
        );
        let partial = folder.join("activities.jsonl.partial");
        let mut bytes = std::fs::read(&partial).unwrap();
        damage(&mut bytes);
        std::fs::write(&partial, &bytes).unwrap();
        let mut resume = sequential.to_vec();
        resume.push("--resume");
        let (code, stderr) = batch(&server.url, &users_path, &case, &resume).await;
        assert_eq!(code, Some(0), "{label}: {stderr}");
        assert!(stderr.contains("kept aside as"), "{label}: {stderr}");
        assert!(
            content(&case) == expected,
            "{label}: the mailbox pulled again equals an uninterrupted run"
        );
        let manifest = CaseManifest::read(&case.join("manifest.json")).unwrap();
        let aside = &manifest.mailboxes[0].set_aside;
        assert_eq!(aside.len(), 1, "{label}: named in the manifest");
        assert_eq!(
            std::fs::read(case.join(&aside[0])).unwrap(),
            bytes,
            "{label}: the damaged file is kept as it was"
        );
        let (code, report) = verify(&case).await;
        assert_eq!(code, Some(0), "{label}: {report}");
        assert!(report.contains("SET ASIDE"), "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_a_case_in_use_is_refused_at_once() {
    let slow = FaultSettings {
        latency: Duration::from_millis(100),
        ..Default::default()
    };
    let (server, users) = tenant(settings(slow)).await;
    let dir = tempfile::tempdir().unwrap();
    let users_path = users_file(dir.path(), &users);
    let case = dir.path().join("case");
    let (url, users, folder) = (server.url.clone(), users_path.clone(), case.clone());
    let (first, second) = tokio::task::spawn_blocking(move || {
        let first = spawn_batch(&url, &users, &folder, &["--concurrency", "1"]);
        wait_until("the first run's manifest", || {
            folder.join("manifest.json").exists()
        });
        let pid = first.id();
        let second = spawn_batch(&url, &users, &folder, &["--concurrency", "1", "--resume"])
            .wait_with_output()
            .unwrap();
        let first = first.wait_with_output().unwrap();
        (first, (second, pid))
    })
    .await
    .unwrap();
    let (second, pid) = second;
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("process {pid}")) && stderr.contains(&case.display().to_string()),
        "{stderr}"
    );
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        verify(&case).await.0,
        Some(0),
        "the first run's case is intact"
    );
}
