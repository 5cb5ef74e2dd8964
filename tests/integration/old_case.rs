//! Cases written by an earlier version (`fixtures/old-case/`, made at commit bd4bf24, before the
//! case manifest's closed sets became enums) still verify and resume: the names they persisted
//! are the names the enums read.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use chrono::{TimeZone, Utc};

use crate::support::Tenant;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/old-case");

/// The fixture's case `name` copied into `dir` (a case is changed by resuming it).
fn copy_of(name: &str, dir: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let case = dir.join(name);
    copy(&Path::new(FIXTURES).join(name), &case);
    case
}

fn run(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::cargo_bin("o365-activities")
        .unwrap()
        .args(args)
        .env_remove("O365_ACTIVITIES_BASE_URL")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `batch --resume` of `case` with the parameters the fixture's cases were made with.
fn resume(case: &Path, base_url: &str, extra: &[&str]) -> (Option<i32>, String) {
    let users = Path::new(FIXTURES).join("users.txt");
    let mut args = vec![
        "batch",
        "--users",
        users.to_str().unwrap(),
        "--out-dir",
        case.to_str().unwrap(),
        "--resume",
        "--base-url",
        base_url,
        "--token",
        "t",
        "--start",
        "2017-12-01T00:00:00Z",
        "--end",
        "2018-06-01T00:00:00Z",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn evidence(case: &Path, mailbox: &str) -> Vec<u8> {
    std::fs::read(
        case.join("mailboxes")
            .join(mailbox)
            .join("activities.jsonl"),
    )
    .unwrap()
}

#[test]
fn a_complete_case_of_an_earlier_version_verifies_and_resumes_without_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let case = copy_of("complete", dir.path());
    let (code, stderr) = run(&["verify", case.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    // Nothing listens at the URL it was made with: a request would leave a mailbox incomplete.
    let (code, stderr) = resume(&case, "http://127.0.0.1:33349", &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = run(&["verify", case.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_case_of_an_earlier_version_resumes_to_the_same_evidence() {
    // The tenant the fixture was pulled from (`fixtures/old-case/README.md`).
    let server = Tenant::builder()
        .users(2)
        .per_user(100)
        .days(180)
        .end(Utc.with_ymd_and_hms(2018, 6, 1, 0, 0, 0).unwrap())
        .seed(5)
        .tokens(&["t"])
        .start()
        .await
        .server;
    let dir = tempfile::tempdir().unwrap();
    let case = copy_of("interrupted", dir.path());
    // The case moves to this run's server: its URL is the one parameter that changes.
    let manifest = case.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("\"paging\": \"keyset\"") && text.contains("\"format\": \"csv\""));
    std::fs::write(
        &manifest,
        text.replace("http://127.0.0.1:33349", &server.url),
    )
    .unwrap();
    let url = server.url.clone();
    let extra = [
        "--page-size",
        "20",
        "--concurrency",
        "1",
        "--mailbox-concurrency",
        "1",
    ];
    let (code, stderr) = tokio::task::spawn_blocking(move || resume(&case, &url, &extra))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    let case = dir.path().join("interrupted");
    let (code, stderr) = run(&["verify", case.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let complete = Path::new(FIXTURES).join("complete");
    for mailbox in ["alice.johnson@contoso.com", "bruno.okafor@contoso.com"] {
        assert!(
            evidence(&case, mailbox) == evidence(&complete, mailbox),
            "{mailbox}: the resumed evidence differs from the uninterrupted case's"
        );
    }
}
