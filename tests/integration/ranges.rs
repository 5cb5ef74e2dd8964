//! Time bounds over HTTP: what the analyst types covers all of it, to the millisecond, and two
//! back-to-back ranges together hold every record exactly once.

use chrono::{DateTime, SubsecRound, Utc};
use o365_activities::output::Manifest;

use crate::support::*;

#[tokio::test]
async fn back_to_back_ranges_lose_no_record_at_a_fraction_of_a_second() {
    let tenant = Tenant::builder()
        .per_user(400)
        .seed(4)
        .first_mailbox_as(USER)
        .start()
        .await;
    let activities = &tenant.mailboxes[USER];
    // A record in the middle whose TimeStamp has milliseconds: the range ends at its second.
    let middle = activities
        .iter()
        .skip(activities.len() / 2)
        .find(|a| a.time_nanos % 1_000_000_000 != 0)
        .expect("a record with milliseconds")
        .clone();
    let second = DateTime::from_timestamp_nanos(middle.time_nanos).trunc_subsecs(0);
    let next_second = second + chrono::Duration::seconds(1);
    let all: Vec<String> = activities.iter().map(|a| a.id.clone()).collect();
    let server = &tenant.server;
    let text = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let dir = tempfile::tempdir().unwrap();
    let (first, rest) = (
        dir.path().join("first.jsonl"),
        dir.path().join("rest.jsonl"),
    );
    let (result, _) = run(&config(&server.url, &first, &["--end", &text(second)])).await;
    result.unwrap();
    let (result, _) = run(&config(
        &server.url,
        &rest,
        &["--start", &text(next_second)],
    ))
    .await;
    result.unwrap();
    let (first_ids, rest_ids) = (ids_in(&first), ids_in(&rest));
    assert!(
        first_ids.contains(&middle.id),
        "--end {} covers that whole second, {} included",
        text(second),
        middle.id
    );
    let together: Vec<String> = first_ids.iter().chain(&rest_ids).cloned().collect();
    assert_eq!(together, all, "every record once, in order");
    // The manifest states the exact bounds sent.
    let manifest = Manifest::read(&dir.path().join("first.jsonl.manifest.json")).unwrap();
    assert!(
        manifest
            .query
            .filter
            .contains(&format!("(TimeStamp lt {})", text(next_second))),
        "{}",
        manifest.query.filter
    );
}

#[tokio::test]
async fn a_fraction_given_is_kept_to_the_millisecond() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::query_param(
        "$filter",
        "(TimeStamp ge 2018-04-01T00:19:10.250Z) and (TimeStamp lt 2018-04-01T00:19:10.281Z)",
    ))
    .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(page(&[])))
    .expect(1)
    .mount(&server)
    .await;
    let dir = tempfile::tempdir().unwrap();
    let words = [
        "--start",
        "2018-04-01T00:19:10.250Z",
        "--end",
        "2018-04-01T00:19:10.280Z",
    ];
    let (result, _) = run(&config(&server.uri(), &dir.path().join("o.jsonl"), &words)).await;
    result.unwrap();
}
