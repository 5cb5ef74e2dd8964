//! Sign-in to the audit log sources through the binary: a token renewed before it lapses or
//! after a 401, a wrong secret, a certificate, the device-code flow, a refused refresh.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use o365_activities::http::{Clock, RecordingSleeper};
use o365_activities::mock::{AppSpec, AuditSettings};

use crate::audit_support::*;
use crate::support::{parse_pull, run_on};

#[tokio::test]
async fn a_token_that_expires_mid_run_is_renewed_before_it_lapses() {
    // Tokens say they live an hour (and the mock keeps accepting them, so only the client's
    // clock can renew them); the query is polled 10 times, every --poll-interval of virtual
    // time: 10 minutes apart, the token is due during the run; 1 s apart, never.
    let (server, victim, records) = tenant(
        10,
        AuditSettings {
            query_polls: 10,
            ..AuditSettings::default()
        },
    )
    .await;
    let issued = || {
        server
            .audit_counters()
            .tokens_issued
            .load(Ordering::Relaxed)
    };
    for (poll_interval, tokens) in [("1", 1), ("600", 2)] {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("victim.jsonl");
        let shown = output.display().to_string();
        let mut words = audit_words(&server.url, &victim, &shown);
        words.extend(["--poll-interval", poll_interval, "--query-concurrency", "1"]);
        words.extend([
            "--start",
            "2018-01-01T00:00:00Z",
            "--query-timeout",
            "86400",
        ]);
        let config = signed_in(
            parse_pull(&words).unwrap(),
            &server.url,
            "https://graph.microsoft.com",
        );
        let (before, sleeper) = (issued(), RecordingSleeper::default());
        let started = sleeper.now();
        run_on(&config, &sleeper).await.unwrap();
        assert_eq!(evidence_ids(&output), ids_of(&records, &victim));
        let elapsed = (sleeper.now() - started).num_seconds();
        assert_eq!(
            issued() - before,
            tokens,
            "--poll-interval {poll_interval}: {elapsed} s of virtual time"
        );
    }
    let rejected = server.audit_counters().rejected.load(Ordering::Relaxed);
    assert_eq!(rejected, 0, "renewed before the service refused one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_rejected_mid_run_is_replaced_once_and_the_request_retried() {
    // Tokens say they live an hour but die after 1 s, as a revoked session's do.
    let (server, victim, records) = tenant(
        10,
        AuditSettings {
            token_ttl: Duration::from_secs(1),
            announced_ttl: Some(Duration::from_secs(3600)),
            query_polls: 8,
            ..AuditSettings::default()
        },
    )
    .await;
    let pulled = SignedIn::pull(&server.url, &victim, &[], SECRET).await;
    pulled.assert_complete(&records, &victim);
    assert!(
        pulled.stderr.contains("signing in again"),
        "{}",
        pulled.stderr
    );
    let counters = server.audit_counters();
    assert!(counters.rejected.load(Ordering::Relaxed) >= 1);
    assert!(counters.tokens_issued.load(Ordering::Relaxed) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_with_the_identity_platforms_reason() {
    let (server, victim, _) = tenant(5, AuditSettings::default()).await;
    let refused = SignedIn::pull(&server.url, &victim, &[], "wrong").await;
    let stderr = &refused.stderr;
    assert_eq!(refused.code, 3, "{stderr}");
    assert!(stderr.contains("AADSTS7000215"), "{stderr}");
    assert!(stderr.contains("--client-id"), "{stderr}");
    assert!(
        !stderr.contains("wrong"),
        "the secret is never shown: {stderr}"
    );
    assert!(!refused.output.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_signs_in_and_another_key_is_refused() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/signin");
    let public_key = std::fs::read_to_string(fixtures.join("test-app.public.pem")).unwrap();
    let (server, victim, records) = tenant(
        5,
        AuditSettings {
            apps: vec![AppSpec {
                public_key: Some(public_key),
                ..AppSpec::default()
            }],
            query_polls: 0,
            ..AuditSettings::default()
        },
    )
    .await;
    let good = fixtures.join("test-app.pem").display().to_string();
    SignedIn::pull(&server.url, &victim, &["--certificate", &good], "")
        .await
        .assert_complete(&records, &victim);

    let other = fixtures.join("other-app.pem").display().to_string();
    let refused = SignedIn::pull(&server.url, &victim, &["--certificate", &other], "").await;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("signature is not valid"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_code_flow_prints_the_code_polls_while_pending_and_renews_unattended() {
    // Tokens live 2 s; the query takes about 3 s of polls: the refresh token renews them.
    let (server, victim, records) = tenant(
        5,
        AuditSettings {
            device_pending_polls: 2,
            token_ttl: Duration::from_secs(2),
            query_polls: 10,
            ..AuditSettings::default()
        },
    )
    .await;
    let pulled = SignedIn::pull(&server.url, &victim, &["--device-code"], "").await;
    pulled.assert_complete(&records, &victim);
    let prompt = "/devicelogin and enter the code M";
    assert_eq!(
        pulled.stderr.matches(prompt).count(),
        1,
        "{}",
        pulled.stderr
    );
    let counters = server.audit_counters();
    assert!(
        counters.tokens_issued.load(Ordering::Relaxed) >= 2,
        "renewed"
    );
    assert_eq!(counters.rejected.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_asks_the_analyst_to_sign_in_again() {
    let (server, victim, records) = tenant(
        5,
        AuditSettings {
            device_pending_polls: 1,
            token_ttl: Duration::from_secs(2),
            query_polls: 10,
            refuse_refresh: true,
            ..AuditSettings::default()
        },
    )
    .await;
    let pulled = SignedIn::pull(&server.url, &victim, &["--device-code"], "").await;
    pulled.assert_complete(&records, &victim);
    let prompt = "/devicelogin and enter the code M";
    assert!(
        pulled.stderr.matches(prompt).count() >= 2,
        "{}",
        pulled.stderr
    );
    assert!(pulled.stderr.contains("AADSTS70000"), "{}", pulled.stderr);
}
