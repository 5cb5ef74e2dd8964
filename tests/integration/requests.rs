//! The exact requests the client sends.

use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

#[tokio::test]
async fn sends_the_documented_headers_and_the_blogs_filter() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(USER_PATH))
        .and(header("Prefer", "exchange.behavior=\"ActivityAccess\""))
        .and(header("Authorization", "Bearer test-token"))
        .and(header("Accept", "application/json; odata.metadata=none"))
        .and(header(
            "User-Agent",
            concat!("o365-activities/", env!("CARGO_PKG_VERSION")),
        ))
        .and(query_param(
            "$filter",
            "(TimeStamp ge 2018-05-01T00:00:00Z) and (TimeStamp lt 2018-06-01T00:00:00Z) and \
             (ActivityIdType eq 'ServerLogon' or ActivityIdType eq 'SearchResult')",
        ))
        .and(query_param("$orderby", "TimeStamp asc"))
        .and(query_param("$top", "1000"))
        .and(query_param_is_missing("$skip"))
        .and(query_param_is_missing("$select"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[])))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &server.uri(),
        &dir.path().join("out.csv"),
        &[
            "--types",
            "ServerLogon",
            "SearchResult",
            "--start",
            "2018-05-01T00:00:00Z",
            "--end",
            "2018-05-31T23:59:59Z",
        ],
    );
    let (result, _) = run(&config).await;
    assert_eq!(result.unwrap().records, 0);
    let csv = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1,
        "an empty result is a header-only CSV"
    );
}

#[tokio::test]
async fn app_types_select_offsets_and_page_size() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/beta/me/Activities"))
        .and(query_param(
            "$filter",
            "(TimeStamp ge 2018-05-01T00:00:00Z) and (TimeStamp lt 2018-06-01T00:00:00Z) and (AppIdType eq 'IMAP4' or AppIdType eq 'POP3')",
        ))
        .and(query_param("$select", "Id,TimeStamp,ActivityIdType,ClientSessionId"))
        .and(query_param("$top", "50"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[])))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(
        &server.uri(),
        &dir.path().join("out.jsonl"),
        &[
            "--api-version",
            "beta",
            "--app-types",
            "IMAP4,POP3",
            "--select",
            "ActivityIdType,ClientSessionId,Id",
            "--page-size",
            "50",
            "--start",
            "2018-05-01",
        ],
    );
    config.client.user = "me".into();
    let (result, _) = run(&config).await;
    result.unwrap();
}

#[tokio::test]
async fn relative_start_counts_back_from_the_frozen_end() {
    let server = MockServer::start().await;
    Mock::given(query_param(
        "$filter",
        "(TimeStamp ge 2018-05-02T00:00:00Z) and (TimeStamp lt 2018-06-01T00:00:00Z)",
    ))
    .respond_with(ResponseTemplate::new(200).set_body_json(page(&[])))
    .expect(1)
    .mount(&server)
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(&config(
        &server.uri(),
        &dir.path().join("o.jsonl"),
        &["--start", "30d"],
    ))
    .await;
    result.unwrap();
}

#[tokio::test]
async fn basic_authentication_on_v1() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1.0/Users('victim@contoso.com')/Activities"))
        .and(header(
            "Authorization",
            "Basic YW5hbHlzdEBjb250b3NvLmNvbTpzM2NyZXQ=",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[])))
        // The first page and, beside it, the request for the newest activity.
        .expect(2)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("O365_PASSWORD", "s3cret");
    let output = dir.path().join("o.jsonl");
    let config = parse_pull(&[
        "o365-activities",
        "pull",
        "--user",
        USER,
        "--output",
        output.to_str().unwrap(),
        "--username",
        "analyst@contoso.com",
        "--api-version",
        "v1.0",
        "--base-url",
        &server.uri(),
    ])
    .unwrap();
    let (result, _) = run(&config).await;
    result.unwrap();
}

#[tokio::test]
async fn upn_is_an_escaped_percent_encoded_literal() {
    let server = MockServer::start().await;
    Mock::given(path(
        "/api/v2.0/Users('o''brien%20x@contoso.com')/Activities",
    ))
    .respond_with(ResponseTemplate::new(200).set_body_json(page(&[])))
    .expect(1)
    .mount(&server)
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&server.uri(), &dir.path().join("o.jsonl"), &[]);
    config.client.user = "o'brien x@contoso.com".into();
    let (result, _) = run(&config).await;
    result.unwrap();
}

#[tokio::test]
async fn dry_run_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(&config(
        &server.uri(),
        &dir.path().join("o.csv"),
        &["--dry-run"],
    ))
    .await;
    result.unwrap();
    assert!(!dir.path().join("o.csv").exists());
}
