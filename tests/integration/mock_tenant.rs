//! The mock tenant's own semantics over HTTP, its generator, and the client pulling from it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use o365_activities::mock::store::StoredActivity;
use o365_activities::mock::{
    generate, start, CorpusSpec, FaultSettings, RunningServer, Scenario, ServerSettings, TokenSpec,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

const MAILBOX: &str = "victim@contoso.com";

fn settings() -> ServerSettings {
    ServerSettings {
        tokens: vec![
            TokenSpec::parse(TOKEN).unwrap(),
            TokenSpec::parse("withdrawn:old-app").unwrap(),
        ],
        ..ServerSettings::default()
    }
}

/// Two mailboxes (the scenario's as `MAILBOX`) served with `settings`; the victim's activities.
async fn serve(settings: ServerSettings) -> (RunningServer, Vec<StoredActivity>) {
    let t = Tenant::builder()
        .users(2)
        .per_user(600)
        .seed(3)
        .scenario(Scenario::BecSimple)
        .mailbox_names(|i, _| match i {
            0 => MAILBOX.to_string(),
            i => format!("other{i}@contoso.com"),
        })
        .settings(settings)
        .start()
        .await;
    let victim = t.mailboxes[MAILBOX].clone();
    (t.server, victim)
}

async fn get(
    server: &RunningServer,
    path_and_query: &str,
    token: Option<&str>,
    prefer: bool,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut request = reqwest::Client::new()
        .get(format!("{}{path_and_query}", server.url))
        .header("Accept", "application/json; odata.metadata=none");
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if prefer {
        request = request.header("Prefer", "exchange.behavior=\"ActivityAccess\"");
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap_or_default())
}

fn ids(body: &str) -> Vec<String> {
    let page: Value = serde_json::from_str(body).unwrap();
    page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_string())
        .collect()
}

const VICTIM: &str = "/api/v2.0/Users('Victim%40Contoso.com')/Activities";

#[tokio::test]
async fn default_page_is_ten_newest_first_and_options_apply() {
    let (server, victim) = serve(settings()).await;
    let (status, _, body) = get(&server, VICTIM, Some(TOKEN), true).await;
    assert_eq!(status, StatusCode::OK);
    let newest: Vec<String> = victim.iter().rev().take(10).map(|a| a.id.clone()).collect();
    assert_eq!(ids(&body), newest);

    let query = "?$filter=ActivityIdType%20eq%20'ServerLogon'%20and%20not%20(AppIdType%20eq%20'Outlook')&$orderby=TimeStamp%20asc&$top=5&$skip=2";
    let (_, _, body) = get(&server, &format!("{VICTIM}{query}"), Some(TOKEN), true).await;
    let expected: Vec<String> = victim
        .iter()
        .filter(|a| a.activity_type == "ServerLogon" && a.app_type != "Outlook")
        .skip(2)
        .take(5)
        .map(|a| a.id.clone())
        .collect();
    assert_eq!(ids(&body), expected);

    let bound = &victim[100];
    let literal = serde_json::from_str::<Value>(&bound.json).unwrap()["TimeStamp"]
        .as_str()
        .unwrap()
        .to_string();
    let query =
        format!("?$filter=TimeStamp%20gt%20{literal}&$orderby=TimeStamp&$top=3&$select=TimeStamp");
    let (_, _, body) = get(&server, &format!("{VICTIM}{query}"), Some(TOKEN), true).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    let first = page["value"][0].as_object().unwrap();
    assert_eq!(first.keys().collect::<Vec<_>>(), vec!["Id", "TimeStamp"]);
    assert!(first["TimeStamp"].as_str().unwrap() > literal.as_str());
}

/// What CrowdStrike's unmodified retriever.py sends (activities.py, as the reference records it):
/// the `requests` library's encoding of `$filter`, `$top`, `$skip` and `$select` in that order,
/// its own headers, and for the blog's whole-history example an empty `$filter`.
async fn retriever_get(
    server: &RunningServer,
    upn: &str,
    filter: &str,
    page: u64,
) -> (StatusCode, String) {
    let select = "TimeStamp%2CAppIdType%2CActivityIdType%2CActivityItemId%2CActivityCreationTime%2CClientSessionId%2CCustomProperties";
    let url = format!(
        "{}/api/v2.0/Users('{upn}')/Activities?%24filter={filter}&%24top=1000&%24skip={}&%24select={select}",
        server.url,
        page * 1000
    );
    let response = reqwest::Client::new()
        .get(url)
        .header("Accept", "application/json; odata.metadata=none")
        .header("Prefer", "exchange.behavior=\"ActivityAccess\"")
        .header("User-Agent", "PythonOutlookService/1.0")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn serves_the_crowdstrike_retrievers_requests_unchanged() {
    let (server, victim) = serve(settings()).await;
    let upn = "victim@contoso.com";
    // The whole history (no --start, --end or --types): `$filter=` with an empty value. The
    // retriever stops at the first page shorter than 1,000 records.
    let mut seen = Vec::new();
    for page in 0.. {
        let (status, body) = retriever_get(&server, upn, "", page).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ids = ids(&body);
        let done = ids.len() < 1000;
        seen.extend(ids);
        if done {
            break;
        }
    }
    let newest_first: Vec<String> = victim.iter().rev().map(|a| a.id.clone()).collect();
    assert_eq!(seen, newest_first);

    // The blog's second example: --types ServerLogon SearchResult with --start and --end.
    let filter = "%28TimeStamp+ge+2018-05-01T00%3A00%3A00Z%29+and+%28TimeStamp+le+2018-05-31T23%3A59%3A59Z%29+and+%28ActivityIdType+eq+%27ServerLogon%27+or+ActivityIdType+eq+%27SearchResult%27%29";
    let (status, body) = retriever_get(&server, upn, filter, 0).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    let types: std::collections::BTreeSet<&str> = page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ActivityIdType"].as_str().unwrap())
        .collect();
    assert!(!types.is_empty());
    assert!(
        types
            .iter()
            .all(|t| ["ServerLogon", "SearchResult"].contains(t)),
        "{types:?}"
    );
}

#[tokio::test]
async fn a_filter_nested_thousands_deep_gets_400_not_a_crash() {
    let (server, _) = serve(settings()).await;
    let deep = format!(
        "{}TimeStamp%20ge%202018-01-01T00:00:00Z{}",
        "(".repeat(20_000),
        ")".repeat(20_000)
    );
    let (status, _, body) = get(
        &server,
        &format!("{VICTIM}?$filter={deep}"),
        Some(TOKEN),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("nested more than"), "{body}");
    // The server still answers.
    let (status, _, _) = get(&server, &format!("{VICTIM}?$top=1"), Some(TOKEN), true).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_page_cap_links_to_the_rest_of_the_request() {
    let (server, victim) = serve(ServerSettings {
        page_cap: Some(7),
        ..settings()
    })
    .await;
    let (status, _, body) = get(
        &server,
        &format!("{VICTIM}?$top=20&$orderby=TimeStamp%20asc"),
        Some(TOKEN),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&body).len(), 7);
    let mut seen = ids(&body);
    let mut link = serde_json::from_str::<Value>(&body).unwrap()["@odata.nextLink"]
        .as_str()
        .map(str::to_string);
    while let Some(next) = link {
        assert!(next.starts_with(&server.url), "{next}");
        let path = next.strip_prefix(&server.url).unwrap();
        let (status, _, body) = get(&server, path, Some(TOKEN), true).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(ids(&body));
        link = serde_json::from_str::<Value>(&body).unwrap()["@odata.nextLink"]
            .as_str()
            .map(str::to_string);
    }
    let oldest: Vec<String> = victim.iter().take(20).map(|a| a.id.clone()).collect();
    assert_eq!(
        seen, oldest,
        "the links together answer the whole $top=20, in order"
    );
}

#[tokio::test]
async fn errors_are_those_the_reference_describes() {
    let (server, _) = serve(settings()).await;
    let (status, _, _) = get(&server, VICTIM, None, true).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, headers, body) = get(&server, VICTIM, Some("wrong"), true).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.is_empty());
    assert!(headers["x-ms-diagnostics"]
        .to_str()
        .unwrap()
        .contains("reason="));

    let (status, _, body) = get(&server, VICTIM, Some("old-app"), true).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("is not allowed"));

    let (status, _, _) = get(&server, VICTIM, Some(TOKEN), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _, body) = get(
        &server,
        "/api/v2.0/Users('nobody@contoso.com')/Activities",
        Some(TOKEN),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Default folder ActivityLogs not found"));

    for bad in [
        "$top=0",
        "$top=1001",
        "$filter=TimeStamp%20ge%20'2018-01-01T00:00:00Z'",
        "$orderby=Id",
        "$skip=-1",
    ] {
        let (status, _, body) = get(&server, &format!("{VICTIM}?{bad}"), Some(TOKEN), true).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert!(error["error"]["message"].is_string(), "{bad}");
    }
}

#[tokio::test]
async fn without_metadata_none_records_carry_odata_annotations() {
    let (server, _) = serve(settings()).await;
    let response = reqwest::Client::new()
        .get(format!("{}{VICTIM}?$top=2", server.url))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("Prefer", "exchange.behavior=\"ActivityAccess\"")
        .send()
        .await
        .unwrap();
    let page: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(page["@odata.context"].is_string());
    assert!(page["value"][0]["@odata.id"].is_string());
    assert!(page["value"][0]["@odata.etag"].is_string());
}

#[tokio::test]
async fn throttles_by_window_and_by_concurrency() {
    let (server, _) = serve(ServerSettings {
        throttle: Some((3, Duration::from_secs(60))),
        ..settings()
    })
    .await;
    for _ in 0..3 {
        let (status, headers, _) = get(&server, VICTIM, Some(TOKEN), true).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.contains_key("rate-limit-remaining"));
    }
    let (status, headers, _) = get(&server, VICTIM, Some(TOKEN), true).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(headers["rate-limit-remaining"], "0");
    assert!(headers.contains_key("rate-limit-reset") && headers.contains_key("rate-limit-reason"));

    let slow = ServerSettings {
        faults: FaultSettings {
            latency: Duration::from_millis(400),
            ..FaultSettings::default()
        },
        ..settings()
    };
    let (server, _) = serve(slow).await;
    let requests = (0..5).map(|_| get(&server, VICTIM, Some(TOKEN), true));
    let statuses: Vec<StatusCode> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|(s, _, _)| s)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        1
    );
}

#[tokio::test]
async fn faults_fail_reset_truncate_and_expire_tokens() {
    let with = |faults: FaultSettings| ServerSettings {
        faults,
        ..settings()
    };
    let (server, _) = serve(with(FaultSettings {
        fail_rate: 1.0,
        ..Default::default()
    }))
    .await;
    assert_eq!(
        get(&server, VICTIM, Some(TOKEN), true).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let (server, _) = serve(with(FaultSettings {
        truncate_rate: 1.0,
        ..Default::default()
    }))
    .await;
    let (status, _, body) = get(&server, VICTIM, Some(TOKEN), true).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "a cut-off body is not JSON"
    );

    let (server, _) = serve(with(FaultSettings {
        reset_rate: 1.0,
        ..Default::default()
    }))
    .await;
    let sent = reqwest::Client::new()
        .get(format!("{}{VICTIM}", server.url))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send()
        .await;
    let failed = match sent {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(failed, "a reset connection yields no usable answer");

    let (server, _) = serve(with(FaultSettings {
        token_ttl: Some(Duration::ZERO),
        ..Default::default()
    }))
    .await;
    assert_eq!(
        get(&server, VICTIM, Some(TOKEN), true).await.0,
        StatusCode::OK
    );
    // A lifetime of zero is over by the token's second use, a round trip after its first: no
    // wait is needed to order the two.
    let (status, headers, _) = get(&server, VICTIM, Some(TOKEN), true).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers["x-ms-diagnostics"]
        .to_str()
        .unwrap()
        .contains("expired"));
}

#[tokio::test]
async fn live_mailbox_inserts_and_ages() {
    let faults = FaultSettings {
        insert_per_request: 2,
        age_per_request: 3,
        ..Default::default()
    };
    let (server, victim) = serve(ServerSettings {
        faults,
        ..settings()
    })
    .await;
    let (_, _, first) = get(
        &server,
        &format!("{VICTIM}?$orderby=TimeStamp%20asc&$top=1"),
        Some(TOKEN),
        true,
    )
    .await;
    assert_eq!(
        ids(&first),
        vec![victim[3].id.clone()],
        "three oldest purged"
    );
    let (_, _, newest) = get(&server, &format!("{VICTIM}?$top=1"), Some(TOKEN), true).await;
    assert!(
        ids(&newest)[0].starts_with("AAMkAGlive"),
        "new activities arrive at the head"
    );
}

#[test]
fn generator_is_deterministic_and_realistic() {
    let spec = CorpusSpec {
        users: 3,
        per_user: 3000,
        days: 180,
        end: now(),
        seed: 11,
        scenario: Scenario::BecSimple,
    };
    let a = generate(&spec);
    let b = generate(&spec);
    let flat = |c: &o365_activities::mock::Corpus| -> Vec<String> {
        c.mailboxes
            .iter()
            .flat_map(|(_, acts)| acts.iter().map(|x| x.json.clone()))
            .collect()
    };
    assert_eq!(flat(&a), flat(&b));
    assert_ne!(
        flat(&a),
        flat(&generate(&CorpusSpec {
            seed: 12,
            ..spec.clone()
        }))
    );

    let documented = [
        "Delete",
        "Forward",
        "LinkClicked",
        "MarkAsRead",
        "MarkAsUnread",
        "MessageDelivered",
        "MessageSent",
        "Move",
        "OpenedAnAttachment",
        "ReadingPaneDisplayEnd",
        "ReadingPaneDisplayStart",
        "Reply",
        "SearchResult",
        "ServerLogon",
    ];
    for (upn, activities) in &a.mailboxes {
        let types: HashSet<&str> = activities
            .iter()
            .map(|x| x.activity_type.as_str())
            .collect();
        for t in documented {
            assert!(types.contains(t), "{upn} has no {t}");
        }
        let delivered: HashSet<&str> = activities
            .iter()
            .filter(|x| x.activity_type == "MessageDelivered")
            .map(|x| {
                serde_json::from_str::<Value>(&x.json).unwrap()["ActivityItemId"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .map(|s| &*Box::leak(s.into_boxed_str()))
            .collect();
        for x in activities.iter().filter(|x| {
            matches!(
                x.activity_type.as_str(),
                "ReadingPaneDisplayStart" | "MarkAsRead" | "Reply" | "ReplyAll" | "Forward"
            )
        }) {
            let record: Value = serde_json::from_str(&x.json).unwrap();
            let item = record["ActivityItemId"].as_str().unwrap();
            assert!(
                delivered.contains(item),
                "{} {} does not join",
                x.activity_type,
                x.id
            );
        }
        let ids: HashSet<&str> = activities.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids.len(), activities.len(), "ids are unique");
        let apps: HashMap<&str, usize> = activities.iter().fold(HashMap::new(), |mut m, x| {
            *m.entry(x.app_type.as_str()).or_default() += 1;
            m
        });
        assert!(
            apps["Outlook"] > apps.get("Web").copied().unwrap_or(0),
            "{apps:?}"
        );
    }
    let truth = a.truth.unwrap();
    let victim = &a.mailboxes[0].1;
    let victim_ids: HashSet<&str> = victim.iter().map(|x| x.id.as_str()).collect();
    for id in &truth.attacker_activity_ids {
        assert!(victim_ids.contains(id.as_str()));
    }
    assert!(!truth.imap_logon_ids.is_empty() && !truth.finance_search_ids.is_empty());
    let hidden = victim
        .iter()
        .find(|x| x.id == truth.hidden_sent_item.move_activity_id)
        .unwrap();
    assert!(hidden.json.contains("RSS Feeds"));
    let text: String = victim.iter().map(|x| x.json.as_str()).collect();
    assert!(
        text.contains("=HYPERLINK")
            && text.contains("\\n")
            && text.contains("\\t")
            && text.contains("会议")
    );
    assert!(text.contains("<Query><RawQuery>"));
}

/// Pulls the victim with the real client through faults and throttling; returns the Ids.
async fn pull_through_faults(
    paging: &str,
    windows: &str,
    faults: FaultSettings,
) -> (Vec<String>, Vec<StoredActivity>, u64) {
    let settings = ServerSettings {
        throttle: Some((40, Duration::from_secs(1))),
        faults,
        ..settings()
    };
    let (server, victim) = serve(settings).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("victim.csv");
    let mut config = config(
        &server.url,
        &output,
        &[
            "--paging",
            paging,
            "--mailbox-concurrency",
            windows,
            "--page-size",
            "50",
            "--max-retries",
            "30",
        ],
    );
    // An end in an earlier millisecond than any live insert, as the CLI's whole-second end is:
    // an insert in the end's own millisecond would rightly be inside the range.
    config.query.filter.end = chrono::DurationRound::duration_trunc(
        chrono::Utc::now() - chrono::TimeDelta::milliseconds(1),
        chrono::TimeDelta::milliseconds(1),
    )
    .unwrap();
    let sleeper = std::sync::Arc::new(o365_activities::http::TokioSleeper);
    let summary = o365_activities::commands::pull::run(&config, sleeper, std::future::pending())
        .await
        .unwrap();
    let manifest =
        o365_activities::output::Manifest::read(&dir.path().join("victim.csv.manifest.json"))
            .unwrap();
    assert_eq!(manifest.counters.records, summary.records);
    (
        ids_in(&dir.path().join("victim.jsonl")),
        victim,
        manifest.counters.requests,
    )
}

fn assert_no_duplicates(ids: &[String]) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates in the result");
}

#[tokio::test]
async fn keyset_pull_through_faults_and_throttling_is_exact() {
    let faults = FaultSettings {
        fail_rate: 0.08,
        reset_rate: 0.04,
        truncate_rate: 0.04,
        seed: 5,
        ..Default::default()
    };
    for windows in ["1", "4"] {
        let (ids, victim, _) = pull_through_faults("keyset", windows, faults.clone()).await;
        let expected: Vec<String> = victim.iter().map(|a| a.id.clone()).collect();
        assert_eq!(ids, expected, "--mailbox-concurrency {windows}");
    }
}

#[tokio::test]
async fn a_changing_mailbox_yields_no_duplicate_and_no_gap() {
    for (paging, windows) in [("keyset", "1"), ("keyset", "4"), ("skip", "1")] {
        let faults = FaultSettings {
            insert_per_request: 4,
            age_per_request: 3,
            fail_rate: 0.05,
            seed: 9,
            ..Default::default()
        };
        let (ids, victim, requests) = pull_through_faults(paging, windows, faults).await;
        assert_no_duplicates(&ids);
        // Every activity still retained when the pull ended must be there, in order.
        let purged = (3 * requests as usize).min(victim.len());
        let survivors: Vec<String> = victim[purged..].iter().map(|a| a.id.clone()).collect();
        assert!(
            ids.iter().all(|id| !id.starts_with("AAMkAGlive")),
            "{paging}: activity after the frozen end"
        );
        let got = ids;
        assert!(
            got.ends_with(&survivors),
            "{paging}: a surviving activity is missing or out of order"
        );
        let all: HashSet<&String> = victim.iter().map(|a| &a.id).collect();
        assert!(
            got.iter().all(|id| all.contains(id)),
            "{paging}: an unknown activity appeared"
        );
    }
}

/// A mailbox crowded with equal TimeStamps, in an order unrelated to the Ids.
fn crowded_mailbox() -> Vec<StoredActivity> {
    let base = now().timestamp_millis() - 86_400_000;
    (0..1500u64)
        .map(|i| {
            let millis = base + ((i * 7919) % 60) as i64 * 997;
            let stamp = chrono::DateTime::from_timestamp_millis(millis).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let record = serde_json::json!({
                "Id": format!("id-{:05}", (i * 104729) % 1500), "TimeStamp": stamp, "ActivityIdType": "MarkAsRead",
                "AppIdType": "Web", "CustomProperties": [{"Name": "N", "Value": i.to_string()}],
            });
            StoredActivity::from_value(&record).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn windowed_pulls_are_byte_identical_to_sequential_ones() {
    let mut mailboxes = BTreeMap::new();
    mailboxes.insert(MAILBOX.to_string(), crowded_mailbox());
    let server = start(mailboxes, settings()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (windows, start) in [
        ("1", None),
        ("4", None),
        ("4", Some("2018-05-30T00:00:00Z")),
        ("3", None),
    ] {
        let output = dir
            .path()
            .join(format!("w{windows}-{}.csv", start.is_some()));
        let mut words = vec!["--mailbox-concurrency", windows, "--page-size", "37"];
        if let Some(start) = start {
            words.extend(["--start", start]);
        }
        let config = config(&server.url, &output, &words);
        let sleeper = std::sync::Arc::new(o365_activities::http::TokioSleeper);
        let summary =
            o365_activities::commands::pull::run(&config, sleeper, std::future::pending())
                .await
                .unwrap();
        assert_eq!(summary.records, 1500, "--mailbox-concurrency {windows}");
        outputs.push((
            std::fs::read(&output).unwrap(),
            std::fs::read(output.with_extension("jsonl")).unwrap(),
        ));
    }
    for other in &outputs[1..] {
        assert!(
            other.0 == outputs[0].0,
            "the CSV differs from the sequential pull"
        );
        assert!(
            other.1 == outputs[0].1,
            "the JSON Lines differ from the sequential pull"
        );
    }
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "window spools are removed: {leftovers:?}"
    );
}
