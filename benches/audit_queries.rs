//! Benchmark of Graph audit log queries (issue 29): a program that prints figures
//! (`cargo bench --bench audit_queries`), never a timed test.
//!
//! Against the mock tenant with a settable query duration (`BENCH_QUERY_SECONDS`, default 3:
//! real queries take minutes; the figures scale with it) and the service's limit of 10
//! queries running at once:
//!
//! 1. One large range: about 128 records of one mailbox, a record limit of 25. Today's walk
//!    (halving, one query at a time) versus the planner (splits at the sample's quantiles,
//!    `--query-concurrency 8`). Target: at most 12 queries and under 20 s with 3 s queries,
//!    exact.
//! 2. A batch of 8 mailboxes, about 950 records, a record limit of 500, queries of
//!    `BENCH_QUERY_SECONDS`: each mailbox its own queries (before) versus several mailboxes per
//!    query. Target: at most 5 queries in all, exact per mailbox.
//! 3. A batch of `BENCH_MAILBOXES` mailboxes (default 1,000; 20 activities each, a record limit
//!    of 500, queries of `BENCH_BATCH_QUERY_SECONDS`, default 0.2): the same two ways. Target:
//!    submissions at most ceil(records / limit) x 1.5 + rounds, exact per mailbox.
//!
//! Each batch runs in this process with `--concurrency 8` and `--query-concurrency 10`;
//! "exact" compares each mailbox's evidence with the records it performed in the range.
//! `BENCH_CASES` picks the cases (default "123").

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use o365_activities::commands::pull;
use o365_activities::http::TokioSleeper;
use o365_activities::mock::audit_log::audit_records;
use o365_activities::mock::{
    corpus_by_mailbox, generate, start_with_audit_log, AuditSettings, CorpusSpec, RunningServer,
    Scenario, ServerSettings, TokenSpec,
};
use o365_activities::source::{
    AuditQueryLog, AuditQueryOptions, SourceSpec, SplitStrategy, MAILBOXES_PER_QUERY,
};
use serde_json::Value;

const TOKEN: &str = "bench-token";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2018, 6, 1, 0, 0, 0).unwrap()
}

fn env_number(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn tenant(
    users: usize,
    per_user: usize,
    audit: AuditSettings,
) -> (RunningServer, Vec<Value>, String) {
    let corpus = generate(&CorpusSpec {
        users,
        per_user,
        days: 30,
        end: now(),
        seed: 5,
        scenario: Scenario::Bec,
    });
    let victim = corpus.truth.as_ref().unwrap().mailbox.clone();
    let (records, _) = audit_records(&corpus);
    let settings = ServerSettings {
        tokens: vec![TokenSpec::parse(TOKEN).unwrap()],
        audit: AuditSettings {
            static_tokens: vec![TOKEN.into()],
            ..audit
        },
        ..ServerSettings::default()
    };
    let server = start_with_audit_log(corpus_by_mailbox(corpus), records.clone(), settings)
        .await
        .unwrap();
    (server, records, victim)
}

fn creation(record: &Value) -> DateTime<Utc> {
    let text = record["CreationTime"].as_str().unwrap_or_default();
    NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S")
        .map(|t| t.and_utc())
        .unwrap_or_default()
}

fn of_user<'a>(records: &'a [Value], user: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    records.iter().filter(move |r| {
        [&r["UserId"], &r["MailboxOwnerUPN"]]
            .iter()
            .any(|v| v.as_str().is_some_and(|u| u.eq_ignore_ascii_case(user)))
    })
}

/// The audit log source as the bench runs it: `split`, `concurrency` queries at once,
/// `per_query` mailboxes a query at most.
fn options(split: SplitStrategy, concurrency: usize, per_query: usize) -> AuditQueryOptions {
    AuditQueryOptions {
        api_version: "v1.0".into(),
        operations: vec![],
        record_types: vec![],
        poll_interval: Duration::from_millis(100),
        query_timeout: Duration::from_secs(3600),
        min_split: Duration::from_secs(1),
        query_concurrency: concurrency,
        split,
        case_slots: None,
        mailboxes_per_query: per_query,
        groups: None,
    }
}

struct Run {
    queries: u64,
    wall: Duration,
    records: u64,
    rounds: u64,
}

/// One pull of `[start, end)` of `user`, split as `split` says with `concurrency` queries.
async fn one_range(
    query: Duration,
    split: SplitStrategy,
    concurrency: usize,
    (start, end): (&str, &str),
) -> Run {
    let (server, _, victim) = tenant(
        3,
        400,
        AuditSettings {
            record_limit: 25,
            query_polls: 0,
            query_duration: query,
            max_running_queries: Some(10),
            ..AuditSettings::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("victim.jsonl").display().to_string();
    let words = [
        "o365-activities",
        "pull",
        "--source",
        "audit",
        "--user",
        &victim,
        "--output",
        &output,
        "--graph-url",
        &server.url,
        "--token",
        TOKEN,
        "--start",
        start,
        "--end",
        end,
        "--poll-interval",
        "0.1",
    ];
    let cli = o365_activities::cli::parse_from(words).unwrap();
    let o365_activities::cli::Command::Pull(args) = cli.command else {
        unreachable!()
    };
    let mut config = o365_activities::config::PullConfig::from_args(&args, now(), true).unwrap();
    config.query.source = Arc::new(options(split, concurrency, 1));
    let started = Instant::now();
    let summary = pull::run(&config, Arc::new(TokioSleeper), std::future::pending())
        .await
        .unwrap();
    let wall = started.elapsed();
    let manifest =
        o365_activities::output::Manifest::read(format!("{output}.manifest.json").as_ref())
            .unwrap();
    let rounds = manifest
        .source_log_as::<AuditQueryLog>()
        .and_then(Result::ok)
        .and_then(|log| log.queries.iter().map(|q| q.round as u64).max())
        .unwrap_or(0);
    Run {
        queries: server
            .audit_counters()
            .queries_created
            .load(Ordering::Relaxed),
        wall,
        records: summary.records,
        rounds,
    }
}

async fn large_range(query: Duration) -> Vec<(String, bool)> {
    let (server, records, victim) = tenant(3, 400, AuditSettings::default()).await;
    drop(server);
    let mut times: Vec<DateTime<Utc>> = of_user(&records, &victim).map(creation).collect();
    times.sort();
    let text = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (start, end) = (text(times[10]), text(times[138]));
    let range = (start.as_str(), end.as_str());
    println!(
        "1. one range of 128 records, record limit 25, {:.1} s queries",
        query.as_secs_f64()
    );
    let halving = one_range(query, SplitStrategy::Halve, 1, range).await;
    let planned = one_range(query, SplitStrategy::Planned, 8, range).await;
    let scale = 600.0 / query.as_secs_f64();
    for (name, run) in [
        ("halving, one at a time (before)", &halving),
        ("planner, 8 at once", &planned),
    ] {
        println!(
            "   {name:34} {:3} queries  {:2} rounds  {:6.1} s  ({:5.0} min at 10 min a query)  {} records",
            run.queries,
            run.rounds,
            run.wall.as_secs_f64(),
            run.wall.as_secs_f64() * scale / 60.0,
            run.records
        );
    }
    let target_wall = query.as_secs_f64() * 20.0 / 3.0;
    vec![
        (
            format!("1. planner: at most 12 queries ({})", planned.queries),
            planned.queries <= 12,
        ),
        (
            format!(
                "1. planner: under {target_wall:.1} s ({:.1} s)",
                planned.wall.as_secs_f64()
            ),
            planned.wall.as_secs_f64() < target_wall,
        ),
        (
            format!(
                "1. exact: the same records either way ({} / {})",
                planned.records, halving.records
            ),
            planned.records == halving.records && planned.records >= 128,
        ),
    ]
}

/// How a batch's mailboxes are asked for.
#[derive(Clone, Copy)]
enum Asking {
    /// Each mailbox its own queries (before several mailboxes per query).
    PerMailbox,
    /// Several mailboxes per query, up to `MAILBOXES_PER_QUERY`.
    Grouped,
}

struct BatchRun {
    queries: u64,
    wall: Duration,
    rounds: u64,
    /// Every mailbox's evidence holds exactly the records it performed in the range.
    exact: bool,
    complete: bool,
}

/// `batch --source audit` of every mailbox of `records`' tenant at `server` from `start`,
/// in this process, asked for as `asking` says.
async fn one_batch(
    server: &RunningServer,
    records: &[Value],
    start: &str,
    asking: Asking,
) -> BatchRun {
    let mut users: Vec<String> = records
        .iter()
        .filter(|r| r["CreationTime"].as_str().unwrap_or_default() >= start.trim_end_matches('Z'))
        .filter_map(|r| r["UserId"].as_str())
        .filter(|u| u.contains('@'))
        .map(str::to_string)
        .collect();
    users.sort();
    users.dedup();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("users.txt");
    std::fs::write(&list, users.join("\n")).unwrap();
    let case = dir.path().join("case");
    let words = [
        "o365-activities",
        "batch",
        "--source",
        "audit",
        "--users",
        list.to_str().unwrap(),
        "--out-dir",
        case.to_str().unwrap(),
        "--graph-url",
        server.url.as_str(),
        "--token",
        TOKEN,
        "--start",
        start,
        "--end",
        "2018-06-01T00:00:00Z",
        "--format",
        "jsonl",
        "--poll-interval",
        "0.1",
        "--concurrency",
        "8",
        "--quiet",
    ];
    let cli = o365_activities::cli::parse_from(words).unwrap();
    let o365_activities::cli::Command::Batch(args) = cli.command else {
        unreachable!()
    };
    let mut config = o365_activities::config::BatchConfig::from_args(&args, now(), true).unwrap();
    let per_query = match asking {
        Asking::PerMailbox => 1,
        Asking::Grouped => MAILBOXES_PER_QUERY,
    };
    config.query.source = options(SplitStrategy::Planned, 10, per_query)
        .for_case(dir.path())
        .unwrap();
    let before = server
        .audit_counters()
        .queries_created
        .load(Ordering::Relaxed);
    let started = Instant::now();
    let ran = o365_activities::commands::batch::run(
        config,
        Arc::new(TokioSleeper),
        std::future::pending(),
    )
    .await;
    let wall = started.elapsed();
    let queries = server
        .audit_counters()
        .queries_created
        .load(Ordering::Relaxed)
        - before;
    let manifest = o365_activities::case::CaseManifest::read(&case.join("manifest.json")).unwrap();
    let rounds = manifest
        .mailboxes
        .iter()
        .flat_map(|m| m.source_logs_as::<AuditQueryLog>().unwrap_or_default())
        .flat_map(|log| log.queries)
        .map(|q| q.round as u64)
        .max()
        .unwrap_or(0);
    let exact = users.iter().all(|user| {
        let evidence = o365_activities::case::MailboxPaths::new(&case, user).evidence;
        let mut pulled: Vec<String> = std::fs::read_to_string(evidence)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect();
        pulled.sort();
        let mut expected: Vec<String> = records
            .iter()
            .filter(|r| r["UserId"].as_str() == Some(user.as_str()))
            .filter(|r| {
                r["CreationTime"].as_str().unwrap_or_default() >= start.trim_end_matches('Z')
            })
            .filter_map(|r| r["Id"].as_str().map(str::to_string))
            .collect();
        expected.sort();
        pulled == expected
    });
    BatchRun {
        queries,
        wall,
        rounds,
        exact,
        complete: ran.is_ok(),
    }
}

fn print_batch(name: &str, run: &BatchRun) {
    println!(
        "   {name:34} {:4} queries  {:2} rounds  {:6.1} s  exact per mailbox: {}{}",
        run.queries,
        run.rounds,
        run.wall.as_secs_f64(),
        if run.exact { "yes" } else { "NO" },
        if run.complete {
            ""
        } else {
            "  (the case did not complete)"
        }
    );
}

/// 2. Eight mailboxes, about 950 records, a record limit of 500.
async fn eight_mailboxes(query: Duration) -> Vec<(String, bool)> {
    let (server, records, _) = tenant(
        8,
        200,
        AuditSettings {
            record_limit: 500,
            query_polls: 0,
            query_duration: query,
            max_running_queries: Some(10),
            ..AuditSettings::default()
        },
    )
    .await;
    let mut times: Vec<&str> = records
        .iter()
        .filter_map(|r| r["CreationTime"].as_str())
        .collect();
    times.sort();
    let start = format!("{}Z", times[times.len() - 950]);
    let in_range = times.iter().filter(|t| **t >= &start[..19]).count();
    println!(
        "2. batch of 8 mailboxes, {in_range} records, record limit 500, {:.1} s queries",
        query.as_secs_f64()
    );
    let per_mailbox = one_batch(&server, &records, &start, Asking::PerMailbox).await;
    print_batch("each mailbox its own queries", &per_mailbox);
    let grouped = one_batch(&server, &records, &start, Asking::Grouped).await;
    print_batch("several mailboxes per query", &grouped);
    vec![(
        format!(
            "2. grouped: at most 5 queries in all, exact per mailbox ({} queries, exact: {})",
            grouped.queries, grouped.exact
        ),
        grouped.queries <= 5 && grouped.exact && grouped.complete,
    )]
}

/// 3. A batch of `mailboxes` mailboxes of 20 activities each, a record limit of 500.
async fn batch(mailboxes: usize, query: Duration) -> Vec<(String, bool)> {
    let limit = 500;
    let (server, records, _) = tenant(
        mailboxes,
        20,
        AuditSettings {
            record_limit: limit,
            query_polls: 0,
            query_duration: query,
            max_running_queries: Some(10),
            ..AuditSettings::default()
        },
    )
    .await;
    let start = "2018-05-01T00:00:00Z";
    let in_range = records
        .iter()
        .filter(|r| creation(r) >= Utc.with_ymd_and_hms(2018, 5, 1, 0, 0, 0).unwrap())
        .count();
    println!(
        "3. batch of {mailboxes} mailboxes, {in_range} records, record limit {limit}, {:.1} s \
         queries",
        query.as_secs_f64()
    );
    let per_mailbox = one_batch(&server, &records, start, Asking::PerMailbox).await;
    print_batch("each mailbox its own queries", &per_mailbox);
    let grouped = one_batch(&server, &records, start, Asking::Grouped).await;
    print_batch("several mailboxes per query", &grouped);
    let target = (in_range as f64 / limit as f64).ceil() * 1.5 + grouped.rounds as f64;
    vec![(
        format!(
            "3. grouped: at most {target:.0} queries (ceil(records / limit) x 1.5 + rounds), \
             exact per mailbox ({} queries, exact: {})",
            grouped.queries, grouped.exact
        ),
        grouped.complete && grouped.exact && grouped.queries as f64 <= target,
    )]
}

#[tokio::main]
async fn main() {
    let query = Duration::from_secs_f64(env_number("BENCH_QUERY_SECONDS", 3.0));
    let mailboxes = env_number("BENCH_MAILBOXES", 1000.0) as usize;
    let cases = std::env::var("BENCH_CASES").unwrap_or_else(|_| "123".into());
    let mut targets = Vec::new();
    if cases.contains('1') {
        targets.extend(large_range(query).await);
    }
    if cases.contains('2') {
        targets.extend(eight_mailboxes(query).await);
    }
    if cases.contains('3') {
        let batch_query = Duration::from_secs_f64(env_number("BENCH_BATCH_QUERY_SECONDS", 0.2));
        targets.extend(batch(mailboxes, batch_query).await);
    }
    println!("\ntargets:");
    for (what, met) in &targets {
        println!("   {} {what}", if *met { "met    " } else { "NOT MET" });
    }
}
