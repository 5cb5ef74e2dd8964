//! Throttling, transient faults and giving up.

use std::time::Duration;

use o365_activities::error::AppError;
use o365_activities::http::RecordingSleeper;
use o365_activities::output::{Manifest, PullStatus};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

async fn serve_one_record_after(server: &MockServer, failures: Vec<ResponseTemplate>) {
    for failure in failures {
        Mock::given(method("GET"))
            .respond_with(failure)
            .up_to_n_times(1)
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(&[record("a", "2018-05-01T00:00:00.000Z")])),
        )
        .mount(server)
        .await;
}

#[tokio::test]
async fn waits_as_told_by_retry_after_on_429() {
    let server = MockServer::start().await;
    serve_one_record_after(
        &server,
        vec![ResponseTemplate::new(429).insert_header("Retry-After", "7")],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (result, sleeper) = run(&config(&server.uri(), &dir.path().join("o.jsonl"), &[])).await;
    assert_eq!(result.unwrap().records, 1);
    assert_eq!(sleeper.waits(), vec![Duration::from_secs(7)]);
    let manifest = Manifest::read(&dir.path().join("o.jsonl.manifest.json")).unwrap();
    assert_eq!(
        (
            manifest.counters.retries,
            manifest.counters.throttle_waits,
            manifest.counters.requests
        ),
        (1, 1, 3)
    );
    assert_eq!(manifest.counters.throttle_wait_seconds, 7.0);
}

#[tokio::test]
async fn reads_http_dates_and_rate_limit_reset_and_caps_long_waits() {
    // The dates are read against the pull's clock: virtual time, standing at `now()` until
    // the first wait.
    let sleeper = RecordingSleeper::starting_at(now());
    let in_an_hour = httpdate::fmt_http_date((now() + chrono::Duration::seconds(3600)).into());
    // The second answer comes after the first wait (600 s, capped) moved the clock on.
    let reset = (now() + chrono::Duration::seconds(630)).to_rfc3339();
    let server = MockServer::start().await;
    serve_one_record_after(
        &server,
        vec![
            ResponseTemplate::new(429).insert_header("Retry-After", in_an_hour.as_str()),
            ResponseTemplate::new(503).insert_header("Rate-Limit-Reset", reset.as_str()),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &server.uri(),
        &dir.path().join("o.jsonl"),
        &["--max-wait", "600"],
    );
    run_on(&config, &sleeper).await.unwrap();
    assert_eq!(
        sleeper.waits(),
        vec![Duration::from_secs(600), Duration::from_secs(30)],
        "an hour is capped at --max-wait; the reset is 30 s after the clock's time then"
    );
}

#[tokio::test]
async fn backs_off_through_a_burst_of_503s_and_truncated_bodies() {
    let server = MockServer::start().await;
    serve_one_record_after(
        &server,
        vec![
            ResponseTemplate::new(503),
            ResponseTemplate::new(500),
            ResponseTemplate::new(200).set_body_string(r#"{"value":[{"Id":"a","TimeSt"#),
            ResponseTemplate::new(408),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (result, sleeper) = run(&config(&server.uri(), &dir.path().join("o.jsonl"), &[])).await;
    assert_eq!(result.unwrap().records, 1);
    let waits = sleeper.waits();
    assert_eq!(waits.len(), 4);
    for (attempt, wait) in waits.iter().enumerate() {
        let ceiling = Duration::from_millis(500) * 2u32.pow(attempt as u32);
        assert!(
            *wait <= ceiling,
            "attempt {attempt}: {wait:?} above {ceiling:?}"
        );
    }
    assert_eq!(ids_in(&dir.path().join("o.jsonl")), vec!["a"]);
}

#[tokio::test]
async fn gives_up_after_max_retries_and_keeps_a_marked_partial_result() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[
            record("a", "2018-05-01T00:00:00.000Z"),
            record("b", "2018-05-02T00:00:00.000Z"),
        ])))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.csv");
    let (result, sleeper) = run(&config(
        &server.uri(),
        &output,
        &["--page-size", "2", "--max-retries", "2"],
    ))
    .await;
    let error = result.unwrap_err();
    assert_eq!(error.exit_code(), 4, "{error}");
    // The partial result wraps the typed cause: three attempts, the last answered 503.
    let o365_activities::error::AppError::Partial { error: cause, .. } = &error else {
        panic!("not a partial result: {error}")
    };
    let o365_activities::error::AppError::GaveUp(http) = cause.as_ref() else {
        panic!("did not give up: {cause}")
    };
    assert!(
        matches!(
            http.as_ref(),
            o365_activities::http::HttpError::GaveUp {
                attempts: 3,
                last: o365_activities::http::LastFailure::Status(status),
            } if status.as_u16() == 503
        ),
        "{http:?}"
    );
    assert!(error.to_string().contains("raise --max-retries"), "{error}");
    assert_eq!(sleeper.waits().len(), 2);
    assert!(
        !output.exists(),
        "the final name must only ever hold a complete result"
    );
    assert!(!dir.path().join("o.jsonl").exists());
    let partial = dir.path().join("o.jsonl.partial");
    // Record b is held back: its TimeStamp group could still grow on the next page.
    assert_eq!(ids_in(&partial), vec!["a"]);
    let manifest = Manifest::read(&dir.path().join("o.csv.partial.manifest.json")).unwrap();
    assert_eq!(manifest.status, PullStatus::Incomplete);
    assert!(manifest.reason.unwrap().contains("503"));
    assert_eq!(manifest.counters.records, 1);
    assert!(matches!(error, AppError::Partial { .. }));
}
