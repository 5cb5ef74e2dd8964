//! One run at a time writes an output: locks, and outputs that are not files.

use std::process::Stdio;

use o365_activities::mock::FaultSettings;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::binary_support::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_pull_to_an_output_in_use_is_refused_at_once() {
    let server = tenant(FaultSettings {
        latency: std::time::Duration::from_millis(150),
        ..FaultSettings::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let slow = ["--page-size", "20", "--mailbox-concurrency", "1"];
    let first_args = pull_args(&server.url, ONLY_MAILBOX, &output, &slow);
    let mut second_args = pull_args(&server.url, ONLY_MAILBOX, &output, &slow);
    second_args.push("--force".into());
    let lock = dir.path().join(".o.jsonl.lock");
    let (first, second, pid) = tokio::task::spawn_blocking(move || {
        let first = binary()
            .args(&first_args)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = first.id();
        wait_until("the first pull's lock", || {
            std::fs::read_to_string(&lock).is_ok_and(|t| t.trim() == pid.to_string())
        });
        let second = binary().args(&second_args).output().unwrap();
        (first.wait_with_output().unwrap(), second, pid)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("process {pid}")), "{stderr}");
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let manifest =
        o365_activities::output::Manifest::read(&dir.path().join("o.jsonl.manifest.json")).unwrap();
    assert_eq!(
        manifest.status,
        o365_activities::output::PullStatus::Complete
    );
    assert_eq!(
        ids_in(&output).len() as u64,
        manifest.counters.records,
        "the first pull's output is whole"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_that_is_not_a_file_is_refused_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[])))
        .expect(0)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("a-folder.jsonl");
    std::fs::create_dir(&folder).unwrap();
    let cases = [
        (folder.clone(), "is not a regular file"),
        (dir.path().join("missing/o.jsonl"), "does not exist"),
    ];
    for (output, hint) in cases {
        let args = pull_args(&server.uri(), USER, &output, &["--force"]);
        let (code, stderr) = run_binary(args).await;
        assert_eq!(code, 2, "{}: {stderr}", output.display());
        assert!(stderr.contains(hint), "{}: {stderr}", output.display());
    }
    // A character device: not even --force replaces it.
    let device = std::path::Path::new("/dev/null");
    let args = pull_args(
        &server.uri(),
        USER,
        device,
        &["--force", "--format", "jsonl"],
    );
    let (code, stderr) = run_binary(args).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not a regular file"), "{stderr}");
    assert!(device.exists());
}

#[test]
fn a_csv_and_a_jsonl_output_that_share_their_evidence_share_their_lock() {
    let dir = tempfile::tempdir().unwrap();
    let plan = |name: &str| {
        o365_activities::output::OutputPlan::new(&dir.path().join(name), None, false).unwrap()
    };
    assert_eq!(plan("x.csv").lock_path(), plan("x.jsonl").lock_path());
    assert_eq!(
        plan("x.jsonl").lock_path(),
        dir.path().join(".x.jsonl.lock")
    );
}
