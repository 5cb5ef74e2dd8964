//! The audit log sources against hostile or careless stand-ins of Microsoft's APIs (wiremock):
//! records that fall short of the query's count, a query that ends `failed`, Get auditLogQuery
//! in its documented `{"value": {...}}` form and answers of no known shape, links that loop,
//! pages that add nothing, records without an id or a time, and an `--end` in the future.

use std::time::Duration;

use o365_activities::error::AppError;
use o365_activities::mock::MOCK_TENANT_ID;
use o365_activities::output::{Manifest, PullStatus};
use o365_activities::record::RecordCheckCounts;
use o365_activities::source::{AuditQueryLog, FeedLog};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::*;

const QUERIES: &str = "/v1.0/security/auditLog/queries";

fn records_path(id: &str) -> String {
    format!("{QUERIES}/{id}/records")
}

/// A query resource as the service answers it.
fn query(id: &str, status: &str, extra: Value) -> Value {
    let mut query = json!({
        "@odata.type": "#microsoft.graph.security.auditLogQuery",
        "id": id,
        "status": status,
        "isRecordCountLimitExceeded": false,
    });
    for (name, value) in extra.as_object().cloned().unwrap_or_default() {
        query[name] = value;
    }
    query
}

/// A Graph `auditLogRecord` of the range every test pulls (the 180 days before `now()`).
fn graph_record(id: &str) -> Value {
    json!({"id": id, "createdDateTime": "2018-05-10T00:00:00Z", "auditData": {"Id": id}})
}

/// Answers the creation of queries with `answers`, one each in turn, the last for every
/// query after it.
async fn answer_queries(graph: &MockServer, answers: &[Value]) {
    for (n, answer) in answers.iter().enumerate() {
        let mock = Mock::given(method("POST"))
            .and(path(QUERIES))
            .respond_with(ResponseTemplate::new(201).set_body_json(answer));
        let mock = if n + 1 < answers.len() {
            mock.up_to_n_times(1)
        } else {
            mock
        };
        mock.mount(graph).await;
    }
}

/// Answers query `id`'s records with `page`.
async fn answer_records(graph: &MockServer, id: &str, page: Value) {
    Mock::given(method("GET"))
        .and(path(records_path(id)))
        .respond_with(ResponseTemplate::new(200).set_body_json(page))
        .mount(graph)
        .await;
}

/// How many requests of `method` to `path` the stand-in received.
async fn received(server: &MockServer, verb: &str, at: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == at)
        .count()
}

/// `pull --source audit` of `USER` from `graph` into `dir/o.jsonl`, with `extra` flags; a pull
/// that has not ended in 30 s has looped.
async fn pull_audit(
    graph: &MockServer,
    dir: &std::path::Path,
    extra: &[&str],
) -> Result<(), AppError> {
    let output = dir.join("o.jsonl").display().to_string();
    let uri = graph.uri();
    let mut words = vec![
        "o365-activities",
        "pull",
        "--source",
        "audit",
        "--user",
        USER,
        "--output",
        &output,
        "--graph-url",
        &uri,
        "--token",
        TOKEN,
    ];
    words.extend_from_slice(extra);
    let config = parse_pull(&words).unwrap();
    let (result, _) = tokio::time::timeout(Duration::from_secs(30), run(&config))
        .await
        .expect("the pull loops: it has not ended in 30 s");
    result.map(|_| ())
}

/// `pull --source feed` from `feed` into `dir/feed.jsonl`, bounded as `pull_audit`.
async fn pull_feed(
    feed: &MockServer,
    dir: &std::path::Path,
    extra: &[&str],
) -> Result<(), AppError> {
    let output = dir.join("feed.jsonl").display().to_string();
    let uri = feed.uri();
    let mut words = vec![
        "o365-activities",
        "pull",
        "--source",
        "feed",
        "--output",
        &output,
        "--management-url",
        &uri,
        "--tenant",
        MOCK_TENANT_ID,
        "--token",
        TOKEN,
        "--content-types",
        "Audit.Exchange",
    ];
    words.extend_from_slice(extra);
    let config = parse_pull(&words).unwrap();
    let (result, _) = tokio::time::timeout(Duration::from_secs(30), run(&config))
        .await
        .expect("the pull loops: it has not ended in 30 s");
    result.map(|_| ())
}

fn feed_path(action: &str) -> String {
    format!("/api/v1.0/{MOCK_TENANT_ID}/activity/feed/subscriptions/{action}")
}

/// Makes `feed` a Management Activity API stand-in: subscriptions start, every listing
/// answered by `listing`.
async fn feed_answering(feed: &MockServer, listing: impl wiremock::Respond + 'static) {
    Mock::given(method("POST"))
        .and(path(feed_path("start")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(feed)
        .await;
    Mock::given(method("GET"))
        .and(path(feed_path("content")))
        .respond_with(listing)
        .mount(feed)
        .await;
}

fn partial_manifest(dir: &std::path::Path) -> Manifest {
    Manifest::read(&dir.join("o.jsonl.partial.manifest.json")).unwrap()
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn records_short_of_the_querys_count_are_asked_again_then_the_pull_is_incomplete() {
    // Three records counted; the page of two has lost its @odata.nextLink.
    let graph = MockServer::start().await;
    let counted = json!({"approximateReturnedRecordCount": 3});
    answer_queries(&graph, &[query("q1", "succeeded", counted)]).await;
    answer_records(
        &graph,
        "q1",
        json!({"value": [graph_record("a"), graph_record("b")]}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let error = pull_audit(&graph, dir.path(), &[]).await.unwrap_err();
    assert_eq!(error.exit_code(), 4, "{error}");
    let text = error.to_string();
    assert!(text.contains("returned 2 of the 3 records"), "{text}");
    assert!(
        text.contains("q1") && text.contains("2018-06-01T00:00:00.000Z"),
        "{text}"
    );
    assert_eq!(
        received(&graph, "POST", QUERIES).await,
        3,
        "three queries of the range"
    );
    assert!(
        !dir.path().join("o.jsonl").exists(),
        "never passed off as complete"
    );
    let kept = lines(&dir.path().join("o.jsonl.partial"));
    assert_eq!(kept.len(), 2, "the records returned are kept");
    let manifest = partial_manifest(dir.path());
    assert_eq!(manifest.status, PullStatus::Incomplete);
    let queries = crate::audit_support::queries_of(&manifest);
    assert_eq!(queries.len(), 3, "{queries:?}");
    for entry in &queries {
        assert_eq!(entry.expected, Some(3), "{queries:?}");
        assert_eq!(entry.retrieved, 2, "{queries:?}");
        assert!(entry.short, "{queries:?}");
    }
}

#[tokio::test]
async fn a_new_query_that_returns_what_the_first_missed_completes_the_range() {
    let graph = MockServer::start().await;
    let counted = json!({"approximateReturnedRecordCount": 3});
    answer_queries(
        &graph,
        &[
            query("q1", "succeeded", counted.clone()),
            query("q2", "succeeded", counted),
        ],
    )
    .await;
    answer_records(
        &graph,
        "q1",
        json!({"value": [graph_record("a"), graph_record("b")]}),
    )
    .await;
    let all = json!({"value": [graph_record("a"), graph_record("b"), graph_record("c")]});
    answer_records(&graph, "q2", all).await;
    let dir = tempfile::tempdir().unwrap();
    pull_audit(&graph, dir.path(), &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<Value> = lines(&dir.path().join("o.jsonl"))
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let manifest = Manifest::read(&dir.path().join("o.jsonl.manifest.json")).unwrap();
    let queries = crate::audit_support::queries_of(&manifest);
    assert!(queries[0].short, "{queries:?}");
    assert_eq!(queries[1].retrieved, 3, "{queries:?}");
    assert!(!queries[1].short, "{queries:?}");
    let written = serde_json::to_value(&manifest.source_log).unwrap();
    assert!(written["queries"][1].get("short").is_none(), "{written}");
}

#[tokio::test]
async fn a_query_that_ends_failed_is_made_again_then_fails_naming_the_query_and_its_range() {
    // Failed once, then succeeded: the pull completes.
    let graph = MockServer::start().await;
    answer_queries(
        &graph,
        &[
            query("q1", "failed", json!({})),
            query("q2", "succeeded", json!({})),
        ],
    )
    .await;
    answer_records(&graph, "q2", json!({"value": [graph_record("a")]})).await;
    let dir = tempfile::tempdir().unwrap();
    pull_audit(&graph, dir.path(), &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lines(&dir.path().join("o.jsonl")).len(), 1);

    // Failed every time: a bounded number of queries, then an error naming the last one.
    let graph = MockServer::start().await;
    answer_queries(&graph, &[query("q9", "failed", json!({}))]).await;
    let dir = tempfile::tempdir().unwrap();
    let error = pull_audit(&graph, dir.path(), &[]).await.unwrap_err();
    let text = error.to_string();
    assert!(!text.contains("paging contract"), "{text}");
    assert!(text.contains("audit log query q9"), "{text}");
    assert!(
        text.contains("2017-12-03T00:00:00.000Z..2018-06-01T00:00:00.000Z"),
        "the range is named: {text}"
    );
    assert!(
        text.contains("ended failed; none of the 3 queries"),
        "{text}"
    );
    assert_eq!(error.exit_code(), 4, "{error}");
    assert_eq!(received(&graph, "POST", QUERIES).await, 3);
}

#[tokio::test]
async fn the_documented_value_wrapped_query_and_a_count_as_a_string_are_understood() {
    let graph = MockServer::start().await;
    answer_queries(&graph, &[query("q1", "running", json!({}))]).await;
    // Microsoft's example of Get auditLogQuery wraps the query in `value`; OData writes an
    // Int64 as a string for an IEEE754Compatible client.
    let done = query(
        "q1",
        "succeeded",
        json!({"recordCountLimit": "50000", "approximateReturnedRecordCount": "1"}),
    );
    Mock::given(method("GET"))
        .and(path(format!("{QUERIES}/q1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "value": done })))
        .expect(1)
        .mount(&graph)
        .await;
    answer_records(&graph, "q1", json!({"value": [graph_record("a")]})).await;
    let dir = tempfile::tempdir().unwrap();
    pull_audit(&graph, dir.path(), &["--poll-interval", "1"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lines(&dir.path().join("o.jsonl")).len(), 1);
}

#[tokio::test]
async fn a_query_answer_of_no_known_shape_or_without_status_fails_at_once() {
    // (the answer to the creation, the answer to a poll)
    let cases = [
        (json!({"id": "q1"}), None),
        (json!({"id": "q1", "status": null}), None),
        (
            query("q1", "running", json!({})),
            Some(json!({"query": {"id": "q1", "status": "succeeded"}})),
        ),
        (
            query("q1", "running", json!({})),
            Some(query(
                "q1",
                "succeeded",
                json!({"recordCountLimit": "many"}),
            )),
        ),
    ];
    for (created, polled) in cases {
        let graph = MockServer::start().await;
        answer_queries(&graph, std::slice::from_ref(&created)).await;
        if let Some(polled) = &polled {
            Mock::given(method("GET"))
                .and(path(format!("{QUERIES}/q1")))
                .respond_with(ResponseTemplate::new(200).set_body_json(polled))
                .mount(&graph)
                .await;
        }
        let dir = tempfile::tempdir().unwrap();
        let error = pull_audit(&graph, dir.path(), &["--poll-interval", "1"])
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("is not understood"),
            "{created} {polled:?}: {text}"
        );
        assert!(!text.contains("attempts"), "not retried: {text}");
        assert_eq!(error.exit_code(), 1, "{text}");
        let requests = graph.received_requests().await.unwrap().len();
        assert_eq!(
            requests,
            1 + usize::from(polled.is_some()),
            "{created}: asked once"
        );
    }
}

#[tokio::test]
async fn a_next_link_back_to_a_page_already_fetched_stops_the_walk() {
    for back_to_itself in [true, false] {
        let graph = MockServer::start().await;
        answer_queries(&graph, &[query("q1", "succeeded", json!({}))]).await;
        let base = graph.uri();
        // To the page itself, or from page 2 back to page 1.
        Mock::given(method("GET"))
            .and(path(records_path("q1")))
            .respond_with(move |request: &Request| {
                let second = request.url.query().is_some_and(|q| q.contains("skiptoken"));
                let next = if back_to_itself || !second {
                    if back_to_itself {
                        format!(
                            "{base}{}?{}",
                            request.url.path(),
                            request.url.query().unwrap_or("")
                        )
                    } else {
                        format!("{base}{}?$skiptoken=2", records_path("q1"))
                    }
                } else {
                    format!("{base}{}", records_path("q1"))
                };
                let id = if second { "b" } else { "a" };
                ResponseTemplate::new(200)
                    .set_body_json(json!({"value": [graph_record(id)], "@odata.nextLink": next}))
            })
            .mount(&graph)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let error = pull_audit(&graph, dir.path(), &[]).await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains("already fetched in this walk"), "{text}");
        assert!(text.contains("@odata.nextLink"), "{text}");
        let pages = received(&graph, "GET", &records_path("q1")).await;
        assert_eq!(pages, if back_to_itself { 1 } else { 2 }, "{text}");
        assert_eq!(lines(&dir.path().join("o.jsonl.partial")).len(), pages);
    }
}

#[tokio::test]
async fn pages_that_add_nothing_under_ever_new_links_stop_the_walk() {
    let graph = MockServer::start().await;
    answer_queries(&graph, &[query("q1", "succeeded", json!({}))]).await;
    let base = graph.uri();
    Mock::given(method("GET"))
        .and(path(records_path("q1")))
        .respond_with(move |request: &Request| {
            let n: u64 = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "$skiptoken")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let next = format!("{base}{}?$skiptoken={}", records_path("q1"), n + 1);
            ResponseTemplate::new(200)
                .set_body_json(json!({"value": [graph_record("same")], "@odata.nextLink": next}))
        })
        .mount(&graph)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let error = pull_audit(&graph, dir.path(), &[]).await.unwrap_err();
    assert!(error.to_string().contains("added nothing new"), "{error}");
    // The first page, then three that add nothing.
    assert_eq!(received(&graph, "GET", &records_path("q1")).await, 4);
}

#[tokio::test]
async fn a_next_page_uri_back_to_a_listing_already_fetched_stops_the_walk() {
    // To the listing itself.
    let feed = MockServer::start().await;
    let base = feed.uri();
    let here = move |request: &Request| {
        format!(
            "{base}{}?{}",
            request.url.path(),
            request.url.query().unwrap_or("")
        )
    };
    let itself = here.clone();
    feed_answering(&feed, move |request: &Request| {
        ResponseTemplate::new(200)
            .set_body_json(json!([]))
            .insert_header("NextPageUri", itself(request).as_str())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let error = pull_feed(&feed, dir.path(), &[]).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("NextPageUri") && text.contains("already fetched"),
        "{text}"
    );
    assert_eq!(received(&feed, "GET", &feed_path("content")).await, 1);

    // Empty listings under ever new links.
    let feed = MockServer::start().await;
    let base = feed.uri();
    feed_answering(&feed, move |request: &Request| {
        let here = format!(
            "{base}{}?{}",
            request.url.path(),
            request.url.query().unwrap_or("")
        );
        let next = format!("{here}&page={}", request.url.as_str().len());
        ResponseTemplate::new(200)
            .set_body_json(json!([]))
            .insert_header("NextPageUri", next.as_str())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let error = pull_feed(&feed, dir.path(), &[]).await.unwrap_err();
    assert!(error.to_string().contains("added nothing new"), "{error}");
    assert_eq!(received(&feed, "GET", &feed_path("content")).await, 3);
}

/// Records without an id (missing, null, a number, empty), without a usable time (missing,
/// "yesterday", a number), and an id sent twice with different content.
fn careless_records(id: &str, time: &str) -> Vec<Value> {
    let at = "2018-05-10T00:00:00Z";
    let mut records = vec![
        json!({ time: at, "n": 1 }),
        json!({ id: null, time: at, "n": 2 }),
        json!({ id: 7, time: at, "n": 3 }),
        json!({ id: "", time: at, "n": 4 }),
        json!({ id: "t1" }),
        json!({ id: "t2", time: "yesterday" }),
        json!({ id: "t3", time: 1525910400 }),
        json!({ id: "dup", time: at, "n": 5 }),
        json!({ id: "dup", time: at, "n": 6 }),
    ];
    records.push(json!({ id: "fine", time: at }));
    records
}

fn assert_counted(checks: &RecordCheckCounts, evidence: &std::path::Path) {
    assert_eq!(checks.without_id, 4, "{checks:?}");
    assert_eq!(checks.without_time, 3, "{checks:?}");
    assert_eq!(checks.same_id_other_content, 1, "{checks:?}");
    // Kept as received: every record but the second copy of `dup`.
    assert_eq!(lines(evidence).len(), 9);
}

#[tokio::test]
async fn records_without_an_id_or_a_time_are_counted_and_warned_about() {
    let graph = MockServer::start().await;
    answer_queries(&graph, &[query("q1", "succeeded", json!({}))]).await;
    let page = json!({ "value": careless_records("id", "createdDateTime") });
    answer_records(&graph, "q1", page).await;
    let dir = tempfile::tempdir().unwrap();
    pull_audit(&graph, dir.path(), &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let manifest = Manifest::read(&dir.path().join("o.jsonl.manifest.json")).unwrap();
    let log: AuditQueryLog = manifest.source_log_as().unwrap().unwrap();
    assert_counted(&log.record_checks, &dir.path().join("o.jsonl"));

    // The Management Activity API's records, through the same check.
    let blob = "/api/v1.0/blobs/b1";
    let feed = MockServer::start().await;
    let uri = format!("{}{blob}", feed.uri());
    Mock::given(method("POST"))
        .and(path(feed_path("start")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&feed)
        .await;
    Mock::given(method("GET"))
        .and(path(feed_path("content")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "contentType": "Audit.Exchange", "contentId": "b1", "contentUri": uri,
            "contentCreated": "2018-05-31T10:00:00.000Z"
        }])))
        .mount(&feed)
        .await;
    Mock::given(method("GET"))
        .and(path(blob))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(careless_records("Id", "CreationTime")),
        )
        .mount(&feed)
        .await;
    let dir = tempfile::tempdir().unwrap();
    pull_feed(&feed, dir.path(), &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let manifest = Manifest::read(&dir.path().join("feed.jsonl.manifest.json")).unwrap();
    let log: FeedLog = manifest.source_log_as().unwrap().unwrap();
    assert_counted(&log.record_checks, &dir.path().join("feed.jsonl"));
}

#[tokio::test]
async fn an_end_in_the_future_is_clamped_to_now_and_said_so() {
    // Three days after the pull's "now" (support's frozen instant).
    let future = ["--end", "2018-06-04T00:00:00Z"];
    let said = "--end 2018-06-04T00:00:00Z was in the future";

    let graph = MockServer::start().await;
    answer_queries(&graph, &[query("q1", "succeeded", json!({}))]).await;
    answer_records(&graph, "q1", json!({"value": []})).await;
    let dir = tempfile::tempdir().unwrap();
    pull_audit(&graph, dir.path(), &future)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let posts = graph.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(body["filterEndDateTime"], "2018-06-01T00:00:00.000Z");
    let manifest = Manifest::read(&dir.path().join("o.jsonl.manifest.json")).unwrap();
    assert!(
        manifest.query.filter.contains(said),
        "{}",
        manifest.query.filter
    );

    let feed = MockServer::start().await;
    feed_answering(&feed, ResponseTemplate::new(200).set_body_json(json!([]))).await;
    let dir = tempfile::tempdir().unwrap();
    pull_feed(&feed, dir.path(), &future)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listings = feed.received_requests().await.unwrap();
    let last_end = listings
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "endTime")
                .map(|(_, v)| v.into_owned())
        })
        .max()
        .unwrap();
    assert_eq!(last_end, "2018-06-01T00:00:00Z");
    let manifest = Manifest::read(&dir.path().join("feed.jsonl.manifest.json")).unwrap();
    assert!(
        manifest.query.filter.contains(said),
        "{}",
        manifest.query.filter
    );

    // The Activities API: the same range.
    let activities = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("/Activities$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[])))
        .mount(&activities)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("a.jsonl");
    let pull = config(&activities.uri(), &output, &future);
    assert!(
        pull.notes.iter().any(|n| n.contains("is in the future")),
        "{:?}",
        pull.notes
    );
    run(&pull).await.0.unwrap_or_else(|e| panic!("{e}"));
    let asked = activities.received_requests().await.unwrap();
    let filter = asked[0]
        .url
        .query_pairs()
        .find(|(k, _)| k == "$filter")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(
        filter.contains("TimeStamp lt 2018-06-01T00:00:00"),
        "{filter}"
    );
    let manifest = Manifest::read(&dir.path().join("a.jsonl.manifest.json")).unwrap();
    assert!(
        manifest.query.filter.contains(said),
        "{}",
        manifest.query.filter
    );
}

#[tokio::test]
async fn an_activities_next_link_back_to_a_page_already_fetched_stops_the_walk() {
    // Empty pages, each linking on to the same page: nothing new, so no earlier guard fired.
    for paging in ["keyset", "skip"] {
        let activities = MockServer::start().await;
        let link = format!("{}{USER_PATH}?$skiptoken=1", activities.uri());
        Mock::given(method("GET"))
            .and(path(USER_PATH))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"value": [], "@odata.nextLink": link})),
            )
            .mount(&activities)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let pull = config(
            &activities.uri(),
            &dir.path().join("a.jsonl"),
            &["--paging", paging],
        );
        let (result, _) = tokio::time::timeout(Duration::from_secs(30), run(&pull))
            .await
            .expect("the pull loops: it has not ended in 30 s");
        let error = result.unwrap_err();
        assert!(
            error.to_string().contains("already fetched in this walk"),
            "{paging}: {error}"
        );
        assert_eq!(
            activities.received_requests().await.unwrap().len(),
            2,
            "{paging}"
        );
    }
}
