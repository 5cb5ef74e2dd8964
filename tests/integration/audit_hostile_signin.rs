//! Sign-in under hostile conditions: a token endpoint whose answer never ends, an encrypted or
//! non-RSA key, the identity platform's text on one line, a signed-in token refused twice.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use o365_activities::mock::MOCK_TENANT_ID;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::audit_hostile_support::*;
use crate::support::*;

#[cfg(target_os = "linux")]
#[test]
fn a_token_endpoint_whose_answer_never_ends_is_cut_at_its_cap() {
    let (authority, sent) = endless_token_endpoint(4);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_o365-activities"))
        .args(["pull", "--source", "audit", "--user", USER])
        .arg("--output")
        .arg(&output)
        .args([
            "--graph-url",
            "http://127.0.0.1:9",
            "--authority-url",
            &authority,
        ])
        .args(["--tenant", MOCK_TENANT_ID, "--client-id", "app"])
        .env_remove("OAUTH_TOKEN")
        .env("O365_CLIENT_SECRET", "s")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let (status, stderr, peak) = wait_measured(child, "the sign-in", Duration::from_secs(90));
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("token endpoint"), "{stderr}");
    assert!(stderr.contains("larger than"), "{stderr}");
    assert!(peak < 64.0, "peak RSS {peak:.1} MiB");
    let sent_mib = sent.load(Ordering::Relaxed) as f64 / (1 << 20) as f64;
    assert!(sent_mib < 32.0, "{sent_mib:.1} MiB read before it stopped");
    assert!(started.elapsed() < Duration::from_secs(30));
    eprintln!(
        "endless token answer: stopped after {:.2} s, {sent_mib:.1} MiB sent, peak RSS {peak:.1} MiB",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_or_non_rsa_key_says_what_it_is_and_what_to_do() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/signin");
    // (the file, what the message must say)
    let cases = [
        ("encrypted-key.pem", "encrypted"),
        ("legacy-encrypted-key.pem", "encrypted"),
        ("ec-key.pem", "not an RSA key"),
        ("ec-pkcs8-key.pem", "not an RSA key"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl").display().to_string();
    for (file, says) in cases {
        let key: PathBuf = fixtures.join(file);
        let words = strings(&[
            "pull",
            "--source",
            "audit",
            "--user",
            USER,
            "--output",
            &output,
            "--graph-url",
            "http://127.0.0.1:9",
            "--authority-url",
            "http://127.0.0.1:9",
            "--tenant",
            MOCK_TENANT_ID,
            "--client-id",
            "app",
            "--certificate",
            &key.display().to_string(),
        ]);
        let (code, _, stderr) = binary(words, &[]).await;
        assert_eq!(code, 2, "{file}: {stderr}");
        assert!(stderr.contains(says), "{file}: {stderr}");
        assert!(!stderr.contains("holds no PRIVATE KEY"), "{file}: {stderr}");
        assert!(stderr.contains("openssl"), "{file}: what to do: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_platforms_error_text_is_shown_on_one_readable_line() {
    let identity = MockServer::start().await;
    // The error of Microsoft's "OAuth 2.0 client credentials flow" document, lines and all.
    let description = "AADSTS70011: The provided value for the input parameter 'scope' is not \
        valid. The scope https://foo.microsoft.com/.default is not valid.\r\nTrace ID: \
        255d1aef-8c98-452f-ac51-23d051240864\r\nCorrelation ID: \
        fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7\r\nTimestamp: 2016-01-09 02:02:12Z\u{1b}[2J";
    Mock::given(method("POST"))
        .and(path(format!("/{MOCK_TENANT_ID}/oauth2/v2.0/token")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_scope",
            "error_description": description,
            "error_codes": [70011],
            "timestamp": "2016-01-09 02:02:12Z",
            "trace_id": "255d1aef-8c98-452f-ac51-23d051240864",
            "correlation_id": "fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7"
        })))
        .mount(&identity)
        .await;
    let (code, stderr) = signed_in_pull(&identity.uri(), "http://127.0.0.1:9").await;
    assert_eq!(code, 3, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("AADSTS70011"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        !line.contains("\\u{d}") && !line.contains("\\u{a}"),
        "{line}"
    );
    assert!(
        line.contains(
            "is not valid. Trace ID: 255d1aef-8c98-452f-ac51-23d051240864 Correlation ID:"
        ),
        "{line}"
    );
    assert!(
        line.contains("\\u{1b}[2J"),
        "other control characters escaped: {line}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_apps_token_refused_twice_names_what_to_check_not_a_new_token() {
    let identity = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/{MOCK_TENANT_ID}/oauth2/v2.0/token")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": "signed-in-token"
        })))
        .expect(2)
        .mount(&identity)
        .await;
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/auditLog/queries"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"code": "InvalidAuthenticationToken",
                      "message": "Access token validation failure. Invalid audience."}
        })))
        .expect(2)
        .mount(&graph)
        .await;
    let (code, stderr) = signed_in_pull(&identity.uri(), &graph.uri()).await;
    assert_eq!(code, 3, "{stderr}");
    let last = stderr
        .lines()
        .find(|l| l.contains("error:"))
        .unwrap_or(&stderr);
    assert!(last.contains("twice"), "{stderr}");
    assert!(
        last.contains("Invalid audience"),
        "the service's reason: {stderr}"
    );
    for check in ["permission", "consent", "--tenant"] {
        assert!(last.contains(check), "{check}: {stderr}");
    }
    assert!(!last.contains("--token"), "{stderr}");
    assert!(
        !stderr.contains("signed-in-token"),
        "never the token: {stderr}"
    );
}
