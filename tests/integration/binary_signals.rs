//! Signals: Ctrl-C and SIGTERM keep a marked partial result and exit 128 + the signal.

use o365_activities::mock::FaultSettings;

use crate::binary_support::*;
use crate::support::*;

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
        &["--page-size", "10", "--progress-interval", "1"],
    );
    let (code, partial_records) = tokio::task::spawn_blocking(move || {
        // Ctrl-C once records are written (the progress line says so), not after a fixed wait.
        let mut command = binary();
        command.args(&args);
        let (code, _) = signal_once_records_are_written(command, "INT");
        let partial =
            std::fs::read_to_string(output.with_extension("jsonl.partial")).unwrap_or_default();
        (code, partial.lines().count())
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

/// Waits (up to 30 s) until `ready` holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_the_partial_result_with_its_manifest_and_exits_143() {
    let server = tenant(FaultSettings {
        latency: std::time::Duration::from_millis(150),
        ..FaultSettings::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.csv");
    let args = pull_args(
        &server.url,
        ONLY_MAILBOX,
        &output,
        &[
            "--page-size",
            "20",
            "--mailbox-concurrency",
            "1",
            "--progress-interval",
            "1",
        ],
    );
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        let mut command = binary();
        command.args(&args);
        signal_once_records_are_written(command, "TERM")
    })
    .await
    .unwrap();
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("partial result kept"), "{stderr}");
    let partial = dir.path().join("o.jsonl.partial");
    assert!(!ids_in(&partial).is_empty(), "the fetched records are kept");
    let manifest =
        o365_activities::output::Manifest::read(&dir.path().join("o.csv.partial.manifest.json"))
            .unwrap();
    assert_eq!(
        manifest.status,
        o365_activities::output::PullStatus::Incomplete
    );
    let hidden: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".cells"))
        .collect();
    assert!(
        hidden.is_empty(),
        "no temporary file is left behind: {hidden:?}"
    );

    // Run again to completion: the superseded partial result goes, and the pull says so.
    let args = pull_args(&server.url, ONLY_MAILBOX, &output, &["--force"]);
    let (code, stderr) = run_binary(args).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("superseded"), "{stderr}");
    assert!(!partial.exists());
    assert!(!dir.path().join("o.csv.partial.manifest.json").exists());
}
