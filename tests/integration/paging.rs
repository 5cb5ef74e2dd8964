//! Keyset and skip paging: boundaries, equal TimeStamps, order, loops.

use serde_json::json;
use wiremock::matchers::{query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;
use o365_activities::source::{PagingError, ProtocolViolation};

const T1: &str = "2018-05-01T10:00:00.000Z";
const T2: &str = "2018-05-01T10:00:00.250Z";
const T3: &str = "2018-05-02T08:30:00.000Z";

fn filter_from(bound: Option<&str>) -> String {
    match bound {
        Some(bound) => format!("(TimeStamp ge {bound}) and (TimeStamp lt {END_LITERAL})"),
        None => format!("(TimeStamp lt {END_LITERAL})"),
    }
}

async fn expect_page(
    server: &MockServer,
    bound: Option<&str>,
    skip: Option<&str>,
    records: &[serde_json::Value],
) {
    let mock = Mock::given(query_param("$filter", filter_from(bound).as_str()))
        .and(query_param("$top", "3"));
    let mock = match skip {
        Some(skip) => mock.and(query_param("$skip", skip)),
        None => mock.and(query_param_is_missing("$skip")),
    };
    mock.respond_with(ResponseTemplate::new(200).set_body_json(page(records)))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn keyset_raises_the_bound_and_pages_within_a_crowded_timestamp() {
    let server = MockServer::start().await;
    let (a, b, c, d, e, f) = (
        record("A", T1),
        record("B", T2),
        record("C", T2),
        record("D", T2),
        record("E", T2),
        record("F", T3),
    );
    // Server tie order differs from Id order on purpose: C before B.
    expect_page(&server, None, None, &[a, c.clone(), b.clone()]).await;
    expect_page(&server, Some("2018-05-01T10:00:00.250Z"), None, &[c, b, d]).await;
    expect_page(
        &server,
        Some("2018-05-01T10:00:00.250Z"),
        Some("3"),
        &[e, f.clone()],
    )
    .await;
    // A short page is not the end: the walk asks again from the bound it reached, and ends on
    // a page that brings nothing new.
    expect_page(&server, Some("2018-05-02T08:30:00Z"), None, &[f]).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let (result, _) = run(&config(&server.uri(), &output, &["--page-size", "3"])).await;
    assert_eq!(result.unwrap().records, 6);
    assert_eq!(ids_in(&output), vec!["A", "B", "C", "D", "E", "F"]);
}

#[tokio::test]
async fn a_first_page_of_one_timestamp_pages_with_skip_instead_of_looping() {
    let server = MockServer::start().await;
    let same: Vec<_> = (1..=7).map(|i| record(&format!("X{i}"), T1)).collect();
    expect_page(&server, None, None, &same[0..3]).await;
    expect_page(
        &server,
        Some("2018-05-01T10:00:00Z"),
        Some("3"),
        &same[3..6],
    )
    .await;
    expect_page(
        &server,
        Some("2018-05-01T10:00:00Z"),
        Some("6"),
        &same[6..7],
    )
    .await;
    expect_page(&server, Some("2018-05-01T10:00:00Z"), Some("7"), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let (result, _) = run(&config(&server.uri(), &output, &["--page-size", "3"])).await;
    assert_eq!(result.unwrap().records, 7);
    assert_eq!(
        ids_in(&output),
        vec!["X1", "X2", "X3", "X4", "X5", "X6", "X7"]
    );
}

#[tokio::test]
async fn a_server_that_ignores_skip_is_caught_not_looped() {
    let server = MockServer::start().await;
    let same: Vec<_> = (1..=3).map(|i| record(&format!("X{i}"), T1)).collect();
    Mock::given(query_param("$top", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&same)))
        .expect(2)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(&config(
        &server.uri(),
        &dir.path().join("o.jsonl"),
        &["--page-size", "3"],
    ))
    .await;
    let error = result.unwrap_err();
    assert!(
        matches!(
            paging_error(&error),
            Some(PagingError::Protocol(ProtocolViolation::SkipIgnored { .. }))
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_page_out_of_order_is_refused() {
    let server = MockServer::start().await;
    Mock::given(query_param("$top", "3"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(page(&[record("B", T3), record("A", T1)])),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(&config(
        &server.uri(),
        &dir.path().join("o.jsonl"),
        &["--page-size", "3"],
    ))
    .await;
    let error = result.unwrap_err();
    assert!(
        matches!(
            paging_error(&error),
            Some(PagingError::Protocol(ProtocolViolation::OutOfOrder {
                asked: "TimeStamp asc",
                ..
            }))
        ),
        "{error}"
    );
}

#[tokio::test]
async fn records_with_missing_null_and_extra_properties_and_odata_annotations_survive() {
    let server = MockServer::start().await;
    let body = json!({
        "@odata.context": "https://outlook.office.com/api/v2.0/$metadata#Users('victim%40contoso.com')/Activities",
        "value": [
            {"@odata.id": "x", "@odata.etag": "W/\"1\"", "Id": "a", "TimeStamp": T1, "Unexpected": {"nested": [1, null]}},
            {"Id": null, "TimeStamp": T2, "ActivityIdType": null, "CustomProperties": null},
            {"TimeStamp": T3}
        ]
    });
    // Asked again from the bound reached, the same page brings nothing new: the end.
    Mock::given(query_param("$top", "1000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(2)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.csv");
    let (result, _) = run(&config(&server.uri(), &output, &[])).await;
    assert_eq!(result.unwrap().records, 3);
    let jsonl = std::fs::read_to_string(dir.path().join("o.jsonl")).unwrap();
    assert!(
        jsonl.starts_with(r#"{"@odata.id":"x","@odata.etag":"W/\"1\"","Id":"a""#),
        "lossless: {jsonl}"
    );
    let mut reader = csv::Reader::from_path(&output).unwrap();
    let headers = reader.headers().unwrap().clone();
    // A header cell is neutralised as a value is: `@` starts a formula in a spreadsheet.
    assert!(headers.iter().any(|h| h == "'@odata.etag"), "{headers:?}");
    let unexpected = headers.iter().position(|h| h == "Unexpected").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(&rows[0][unexpected], r#"{"nested":[1,null]}"#);
    assert_eq!(rows.len(), 3);
}

#[tokio::test]
async fn skip_paging_reads_newest_first_and_writes_oldest_first() {
    let server = MockServer::start().await;
    let newest_first = [
        record("D", T3),
        record("C", T2),
        record("B", T2),
        record("A", T1),
    ];
    Mock::given(query_param("$orderby", "TimeStamp desc"))
        .and(query_param_is_missing("$skip"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&newest_first[0..2])))
        .expect(1)
        .mount(&server)
        .await;
    // An activity arrived inside the range between the requests: C repeats at the next page's head.
    Mock::given(query_param("$orderby", "TimeStamp desc"))
        .and(query_param("$skip", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&newest_first[1..3])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(query_param("$skip", "4"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&newest_first[3..4])))
        .expect(1)
        .mount(&server)
        .await;
    // A short page is not the end: skip paging ends on an empty page.
    Mock::given(query_param("$skip", "5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[])))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let (result, _) = run(&config(
        &server.uri(),
        &output,
        &["--paging", "skip", "--page-size", "2"],
    ))
    .await;
    assert_eq!(result.unwrap().records, 4);
    assert_eq!(ids_in(&output), vec!["A", "B", "C", "D"]);
}

/// The TimeStamps at which the windows of a pull over `server` started (`ge` in `$filter`),
/// the first page's excepted.
async fn window_starts(server: &MockServer) -> Vec<String> {
    let mut starts: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|request| {
            let (_, filter) = request.url.query_pairs().find(|(k, _)| k == "$filter")?;
            let start = filter.strip_prefix("(TimeStamp ge ")?.split(')').next()?;
            Some(start.to_string())
        })
        .collect();
    starts.sort();
    starts
}

/// A mailbox whose activities span 1–4 January in a range that runs to 1 June; the newest
/// activity's request answers `newest`.
async fn mailbox_of_four_days(newest: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(query_param("$orderby", "TimeStamp desc"))
        .and(query_param("$top", "1"))
        .respond_with(newest)
        .expect(1..)
        .mount(&server)
        .await;
    let first_page = [
        record("A", "2018-01-01T00:00:00.000Z"),
        record("B", "2018-01-01T06:00:00.000Z"),
    ];
    Mock::given(query_param("$filter", filter_from(None).as_str()))
        .and(query_param("$orderby", "TimeStamp asc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&first_page)))
        .expect(1)
        .mount(&server)
        .await;
    // Every later page is empty: this test is about where the windows are cut.
    Mock::given(query_param("$orderby", "TimeStamp asc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[])))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn windows_are_cut_within_the_time_that_holds_activities() {
    let newest = [record("Z", "2018-01-04T23:59:59.999Z")];
    let server =
        mailbox_of_four_days(ResponseTemplate::new(200).set_body_json(page(&newest))).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let words = ["--page-size", "2", "--mailbox-concurrency", "4"];
    let (result, _) = run(&config(&server.uri(), &output, &words)).await;
    assert_eq!(result.unwrap().records, 2);
    let starts = window_starts(&server).await;
    // The first window keeps [B, first cut); three more cut the rest of the four days.
    assert_eq!(starts.len(), 4, "{starts:?}");
    assert!(
        starts.iter().all(|s| s.as_str() < "2018-01-05"),
        "cut within 1–4 January: {starts:?}"
    );
}

#[tokio::test]
async fn without_the_newest_activity_windows_are_cut_blind_and_the_pull_still_completes() {
    let server = mailbox_of_four_days(ResponseTemplate::new(400).set_body_json(json!({
        "error": {"code": "ErrorInvalidParameter", "message": "no"}
    })))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let words = ["--page-size", "2", "--mailbox-concurrency", "4"];
    let (result, _) = run(&config(&server.uri(), &output, &words)).await;
    assert_eq!(result.unwrap().records, 2);
    assert_eq!(ids_in(&output), vec!["A", "B"]);
    let starts = window_starts(&server).await;
    assert!(
        starts.iter().any(|s| s.as_str() > "2018-04"),
        "the cuts share out the whole range: {starts:?}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_planted_symlink_at_a_spool_path_is_removed_not_followed() {
    let server = MockServer::start().await;
    Mock::given(query_param_is_missing("$skip"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[record("A", T1)])))
        .mount(&server)
        .await;
    Mock::given(query_param("$skip", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[])))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    // This process's own spool name for the pull below, planted in advance.
    let spool = dir
        .path()
        .join(format!(".o.jsonl.{}.tmp.skip.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &spool).unwrap();
    let output = dir.path().join("o.jsonl");
    let words = ["--paging", "skip"];
    let (result, _) = run(&config(&server.uri(), &output, &words)).await;
    assert_eq!(result.unwrap().records, 1);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!spool.exists(), "the spool is gone after the pull");
}
