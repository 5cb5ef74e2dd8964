//! Golden outputs: pulls and batches of one fixed generated corpus, through faults, must write
//! the very bytes recorded from the code before the pipeline was unified. Any change to what a
//! pull writes shows here as a changed SHA-256.
//!
//! To record new values after an intended change of output, run
//! `GOLDEN_PRINT=1 cargo test --test integration golden -- --nocapture` and paste what it prints.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use o365_activities::mock::{FaultSettings, RunningServer, Scenario};
use sha2::{Digest, Sha256};

use crate::support::{config, run, Tenant};

const TOKEN: &str = "test-token";
const VICTIM: &str = "victim@contoso.com";

/// The tenant, and its mailboxes (the victim's first).
async fn tenant() -> (RunningServer, Vec<String>) {
    // The support helpers pull `victim@contoso.com`: serve the scenario's mailbox under it.
    let t = Tenant::builder()
        .users(3)
        .per_user(900)
        .days(90)
        .seed(77)
        .scenario(Scenario::BecSimple)
        .first_mailbox_as(VICTIM)
        .tokens(&[TOKEN])
        .faults(FaultSettings {
            fail_rate: 0.08,
            truncate_rate: 0.05,
            seed: 5,
            ..Default::default()
        })
        .start()
        .await;
    let mut users: Vec<String> = t.mailboxes.into_keys().filter(|u| u != VICTIM).collect();
    users.insert(0, VICTIM.into());
    (t.server, users)
}

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The pulls and batches every golden value comes from: (name, file) -> SHA-256.
async fn outputs() -> BTreeMap<String, String> {
    let (server, mailboxes) = tenant().await;
    let dir = tempfile::tempdir().unwrap();
    let mut hashes = BTreeMap::new();
    let pulls: [(&str, &str, &[&str]); 5] = [
        ("sequential-csv", "out.csv", &["--page-size", "50"]),
        ("sequential-jsonl", "out.jsonl", &["--page-size", "50"]),
        (
            "windowed-csv",
            "out.csv",
            &["--page-size", "50", "--mailbox-concurrency", "4"],
        ),
        (
            "windowed-jsonl",
            "out.jsonl",
            &["--page-size", "50", "--mailbox-concurrency", "4"],
        ),
        (
            "skip-csv",
            "out.csv",
            &["--page-size", "50", "--paging", "skip"],
        ),
    ];
    for (name, file, extra) in pulls {
        let folder = dir.path().join(name);
        std::fs::create_dir(&folder).unwrap();
        let mut words = extra.to_vec();
        words.extend_from_slice(&["--max-retries", "30"]);
        let (result, _) = run(&config(&server.url, &folder.join(file), &words)).await;
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        for written in ["out.csv", "out.jsonl"] {
            let path = folder.join(written);
            if path.exists() {
                hashes.insert(format!("pull {name}: {written}"), sha256_of(&path));
            }
        }
    }
    let users = dir.path().join("users.txt");
    std::fs::write(&users, format!("# the case\n{}\n", mailboxes.join("\n"))).unwrap();
    for (name, extra) in [
        ("batch-sequential", &["--mailbox-concurrency", "1"][..]),
        ("batch-windowed", &["--mailbox-concurrency", "4"][..]),
        ("batch-jsonl", &["--format", "jsonl"][..]),
    ] {
        let case = dir.path().join(name);
        let (url, users, case_arg) = (server.url.clone(), users.clone(), case.clone());
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let output = tokio::task::spawn_blocking(move || {
            Command::cargo_bin("o365-activities")
                .unwrap()
                .args(["batch", "--users"])
                .arg(&users)
                .arg("--out-dir")
                .arg(&case_arg)
                .args(["--base-url", &url, "--page-size", "60"])
                .args(["--end", "2018-06-01T00:00:00Z", "--max-retries", "30"])
                .args(&extra)
                .env("OAUTH_TOKEN", TOKEN)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let manifest = o365_activities::case::CaseManifest::read(&case.join("manifest.json"))
            .expect("a case manifest");
        for file in manifest.all_files().filter(|f| f.path != "summary.csv") {
            hashes.insert(
                format!("{name}: {}", file.path),
                sha256_of(&case.join(&file.path)),
            );
        }
    }
    hashes
}

/// Recorded from the code before the pipeline was unified (see the module's doc).
const GOLDEN: &[(&str, &str)] = &[
    (
        "batch-jsonl: mailboxes/bruno.okafor@contoso.com/activities.jsonl",
        "7d41e4f6b5d4a1a0cbf3e89a1b942d3223f47719da7431aa18d9da8e3c46fd00",
    ),
    (
        "batch-jsonl: mailboxes/chen.li@contoso.com/activities.jsonl",
        "7f075b954a0a4c2f95873e9465fedfbf13c019d2c5af8241071e56e39d320196",
    ),
    (
        "batch-jsonl: mailboxes/victim@contoso.com/activities.jsonl",
        "3428c1991c3d030f5219d8b364d78a6ffccef26b963447ce6623f068a96b6db8",
    ),
    (
        "batch-jsonl: timeline.csv",
        "d18d5aedc36d9c49bf1bde54a7cf480cb6396addf9ecce11076351a8e059fcd6",
    ),
    (
        "batch-sequential: mailboxes/bruno.okafor@contoso.com/activities.csv",
        "b1b463bc21f59eef1354ecff7974dfc59952d3f56139cc871539f5440b97be25",
    ),
    (
        "batch-sequential: mailboxes/bruno.okafor@contoso.com/activities.jsonl",
        "7d41e4f6b5d4a1a0cbf3e89a1b942d3223f47719da7431aa18d9da8e3c46fd00",
    ),
    (
        "batch-sequential: mailboxes/chen.li@contoso.com/activities.csv",
        "b83aeb5ba28f5b55a4761016342f1e3aa174fb1fd2d243a7332f46ba0f63b837",
    ),
    (
        "batch-sequential: mailboxes/chen.li@contoso.com/activities.jsonl",
        "7f075b954a0a4c2f95873e9465fedfbf13c019d2c5af8241071e56e39d320196",
    ),
    (
        "batch-sequential: mailboxes/victim@contoso.com/activities.csv",
        "89930b6dce1bbb0a8dcba0555b6b4b7c21b9b12100d528f8d2471b97e0d9a626",
    ),
    (
        "batch-sequential: mailboxes/victim@contoso.com/activities.jsonl",
        "3428c1991c3d030f5219d8b364d78a6ffccef26b963447ce6623f068a96b6db8",
    ),
    (
        "batch-sequential: timeline.csv",
        "d18d5aedc36d9c49bf1bde54a7cf480cb6396addf9ecce11076351a8e059fcd6",
    ),
    (
        "batch-windowed: mailboxes/bruno.okafor@contoso.com/activities.csv",
        "b1b463bc21f59eef1354ecff7974dfc59952d3f56139cc871539f5440b97be25",
    ),
    (
        "batch-windowed: mailboxes/bruno.okafor@contoso.com/activities.jsonl",
        "7d41e4f6b5d4a1a0cbf3e89a1b942d3223f47719da7431aa18d9da8e3c46fd00",
    ),
    (
        "batch-windowed: mailboxes/chen.li@contoso.com/activities.csv",
        "b83aeb5ba28f5b55a4761016342f1e3aa174fb1fd2d243a7332f46ba0f63b837",
    ),
    (
        "batch-windowed: mailboxes/chen.li@contoso.com/activities.jsonl",
        "7f075b954a0a4c2f95873e9465fedfbf13c019d2c5af8241071e56e39d320196",
    ),
    (
        "batch-windowed: mailboxes/victim@contoso.com/activities.csv",
        "89930b6dce1bbb0a8dcba0555b6b4b7c21b9b12100d528f8d2471b97e0d9a626",
    ),
    (
        "batch-windowed: mailboxes/victim@contoso.com/activities.jsonl",
        "3428c1991c3d030f5219d8b364d78a6ffccef26b963447ce6623f068a96b6db8",
    ),
    (
        "batch-windowed: timeline.csv",
        "d18d5aedc36d9c49bf1bde54a7cf480cb6396addf9ecce11076351a8e059fcd6",
    ),
    (
        "pull sequential-csv: out.csv",
        "89930b6dce1bbb0a8dcba0555b6b4b7c21b9b12100d528f8d2471b97e0d9a626",
    ),
    (
        "pull sequential-csv: out.jsonl",
        "3428c1991c3d030f5219d8b364d78a6ffccef26b963447ce6623f068a96b6db8",
    ),
    (
        "pull sequential-jsonl: out.jsonl",
        "3428c1991c3d030f5219d8b364d78a6ffccef26b963447ce6623f068a96b6db8",
    ),
    (
        "pull skip-csv: out.csv",
        "89930b6dce1bbb0a8dcba0555b6b4b7c21b9b12100d528f8d2471b97e0d9a626",
    ),
    (
        "pull skip-csv: out.jsonl",
        "3428c1991c3d030f5219d8b364d78a6ffccef26b963447ce6623f068a96b6db8",
    ),
    (
        "pull windowed-csv: out.csv",
        "89930b6dce1bbb0a8dcba0555b6b4b7c21b9b12100d528f8d2471b97e0d9a626",
    ),
    (
        "pull windowed-csv: out.jsonl",
        "3428c1991c3d030f5219d8b364d78a6ffccef26b963447ce6623f068a96b6db8",
    ),
    (
        "pull windowed-jsonl: out.jsonl",
        "3428c1991c3d030f5219d8b364d78a6ffccef26b963447ce6623f068a96b6db8",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_and_batches_write_the_recorded_bytes() {
    let hashes = outputs().await;
    if std::env::var_os("GOLDEN_PRINT").is_some() {
        for (name, sha) in &hashes {
            println!("    ({name:?}, {sha:?}),");
        }
    }
    let expected: BTreeMap<String, String> = GOLDEN
        .iter()
        .map(|(name, sha)| (name.to_string(), sha.to_string()))
        .collect();
    assert_eq!(hashes, expected);
}
