//! The files: the CSV golden file, lossless JSON Lines, hashes, never clobbering.

use o365_activities::output::{Manifest, PullStatus};
use sha2::{Digest, Sha256};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

const HOSTILE_PAGE: &str = include_str!("../../fixtures/hostile-page.json");
const HOSTILE_CSV: &str = "fixtures/hostile.csv";

async fn serve_hostile_page() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(HOSTILE_PAGE, "application/json"))
        .mount(&server)
        .await;
    server
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn hostile_values_match_the_golden_csv() {
    let server = serve_hostile_page().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("hostile.csv");
    let (result, _) = run(&config(&server.uri(), &output, &[])).await;
    result.unwrap();
    let actual = std::fs::read_to_string(&output).unwrap();
    let golden_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(HOSTILE_CSV);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden_path).unwrap();
    if actual != expected {
        let diff: Vec<String> = expected
            .split("\r\n")
            .zip(actual.split("\r\n"))
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .map(|(i, (e, a))| format!("row {i}:\n  expected {e:?}\n  actual   {a:?}"))
            .collect();
        panic!(
            "CSV differs from {HOSTILE_CSV} (set UPDATE_GOLDEN=1 to accept):\n{}",
            diff.join("\n")
        );
    }
}

#[tokio::test]
async fn csv_round_trips_and_sanitizes_while_jsonl_keeps_raw_values() {
    let server = serve_hostile_page().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("h.csv");
    let (result, _) = run(&config(&server.uri(), &output, &[])).await;
    result.unwrap();
    let mut reader = csv::Reader::from_path(&output).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        &rows[0][column("CustomProperties.Subject")],
        "'=HYPERLINK(\"http://evil.example\",\"Invoice\")"
    );
    assert_eq!(
        &rows[0][column("CustomProperties.From")],
        "\"O'Connor, Pat\" <pat@tailspin.example>"
    );
    assert_eq!(&rows[1][column("CustomProperties.App")], "Web");
    assert_eq!(&rows[1][column("CustomProperties.App#2")], "Mobile");
    assert!(rows[1][column("CustomProperties.Query")].contains("wire \"transfer\"\n\tbank"));
    assert_eq!(
        &rows[2][column("CustomProperties.Timezone")],
        "مرحبا بالعالم"
    );
    assert_eq!(&rows[2][column("CustomProperties.Tab")], "'\tleading tab");
    assert_eq!(&rows[2][column("CustomProperties.Flag")], "true");
    assert_eq!(&rows[2][column("Extra")], r#"{"nested":["x",1]}"#);
    let jsonl = std::fs::read_to_string(dir.path().join("h.jsonl")).unwrap();
    assert!(
        jsonl.contains(r#"=HYPERLINK(\"http://evil.example\""#),
        "the evidence keeps the raw value"
    );

    let raw = dir.path().join("raw.csv");
    let (result, _) = run(&config(&server.uri(), &raw, &["--no-sanitize"])).await;
    result.unwrap();
    let mut reader = csv::Reader::from_path(&raw).unwrap();
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(
        &row[column("CustomProperties.Subject")],
        "=HYPERLINK(\"http://evil.example\",\"Invoice\")"
    );
}

#[tokio::test]
async fn manifest_hashes_agree_with_the_files() {
    let server = serve_hostile_page().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("h.csv");
    let (result, _) = run(&config(
        &server.uri(),
        &output,
        &["--types", "MessageDelivered"],
    ))
    .await;
    assert_eq!(result.unwrap().records, 3);
    let manifest = Manifest::read(&dir.path().join("h.csv.manifest.json")).unwrap();
    assert_eq!(manifest.status, PullStatus::Complete);
    assert_eq!(manifest.counters.records, 3);
    assert!(manifest
        .query
        .filter
        .contains("ActivityIdType eq 'MessageDelivered'"));
    assert_eq!(manifest.files.len(), 2);
    for file in &manifest.files {
        let bytes = std::fs::read(dir.path().join(&file.name)).unwrap();
        assert_eq!(file.sha256, sha256_hex(&bytes), "{}", file.name);
        assert_eq!(file.bytes, bytes.len() as u64);
    }
    let text = std::fs::read_to_string(dir.path().join("h.csv.manifest.json")).unwrap();
    assert!(!text.contains(TOKEN), "no secret in the manifest");
}

#[tokio::test]
async fn an_existing_result_is_never_clobbered_without_force() {
    let server = serve_hostile_page().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("h.csv");
    std::fs::write(dir.path().join("h.jsonl"), "earlier evidence").unwrap();
    let error = parse_pull(&[
        "o365-activities",
        "pull",
        "--user",
        USER,
        "--output",
        output.to_str().unwrap(),
        "--token",
        TOKEN,
        "--base-url",
        &server.uri(),
    ])
    .unwrap_err();
    assert_eq!(error.exit_code(), 2);
    assert!(error.to_string().contains("--force"), "{error}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("h.jsonl")).unwrap(),
        "earlier evidence"
    );

    let (result, _) = run(&config(&server.uri(), &output, &["--force"])).await;
    result.unwrap();
    assert!(std::fs::read_to_string(dir.path().join("h.jsonl"))
        .unwrap()
        .contains("AAMkAGhostile01"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
