//! The Entra ID sources end to end over HTTP against the mock tenant: `--source signins` and
//! `--source directory-audits` (newest-first lists walked into (time, id) order, `@odata.nextLink`,
//! 429s, a token that expires mid-walk, the licence 403, the retention edge, late arrivals,
//! a case crashed and resumed, the flags of other sources).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;

use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use o365_activities::mock::generate::identity::identity_logs;
use o365_activities::mock::{AuditSettings, EntraSettings, Scenario};
use o365_activities::output::Manifest;
use serde_json::Value;

use o365_activities::http::{Clock, RecordingSleeper};

use crate::audit_support::signed_in;
use crate::support::{parse_pull_at, run_on, Tenant, TenantBuilder, TOKEN};

const DAYS: u32 = 6;

/// The compromised tenant of these tests, its logs ending at `end`.
fn compromised<'a>(end: DateTime<Utc>) -> TenantBuilder<'a> {
    Tenant::builder()
        .users(4)
        .per_user(200)
        .days(DAYS)
        .end(end)
        .seed(25)
        .scenario(Scenario::Bec)
}

/// A compromised tenant whose logs end now, served with `entra` and `audit`'s settings (its
/// logs put in).
async fn tenant(entra: EntraSettings, audit: AuditSettings) -> Tenant {
    compromised(Utc::now())
        .audit(AuditSettings { entra, ..audit })
        .identity_logs(25)
        .start()
        .await
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Runs the binary with `args` (no `OAUTH_TOKEN` from outside); (exit code, stderr).
async fn binary(args: Vec<String>, env: &[(&str, &str)]) -> (i32, String) {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::cargo_bin("o365-activities")
            .unwrap()
            .args(&args)
            .env_remove("OAUTH_TOKEN")
            .env_remove("O365_CLIENT_SECRET")
            .envs(env)
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// `pull --source SOURCE` of the tenant's last `DAYS` days into `output`, with `extra`.
fn pull_words(t: &Tenant, source: &str, output: &Path, extra: &[&str]) -> Vec<String> {
    let start = time(t.end - TimeDelta::days(DAYS as i64 + 1));
    let mut words: Vec<String> = [
        "pull",
        "--source",
        source,
        "--output",
        &output.display().to_string(),
        "--graph-url",
        &t.url,
        "--token",
        TOKEN,
        "--start",
        &start,
    ]
    .map(String::from)
    .to_vec();
    words.extend(extra.iter().map(|s| s.to_string()));
    words
}

/// (time, id) of each line of a JSON Lines file.
fn keys_in(path: &Path, time_field: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            (
                v[time_field].as_str().unwrap().to_string(),
                v["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The (time, id) of `records` kept by `keep`, in the order evidence is written.
fn expected(
    records: &[Value],
    time_field: &str,
    keep: impl Fn(&Value) -> bool,
) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = records
        .iter()
        .filter(|r| keep(r))
        .map(|r| {
            (
                r[time_field].as_str().unwrap().to_string(),
                r["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

fn of_user(r: &Value, user: &str) -> bool {
    r["userPrincipalName"].as_str() == Some(user)
}

fn manifest_of(output: &Path) -> Manifest {
    let name = format!(
        "{}.manifest.json",
        output.file_name().unwrap().to_string_lossy()
    );
    Manifest::read(&output.with_file_name(name)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_sign_ins_come_in_time_order_over_next_links_and_429s_each_once() {
    let t = tenant(
        EntraSettings {
            page_size: 7,
            ..EntraSettings::default()
        },
        AuditSettings {
            throttle_every: Some(6),
            ..AuditSettings::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("signins.jsonl");
    let (code, stderr) = binary(
        pull_words(&t, "signins", &output, &["--user", &t.victim()]),
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let pulled = keys_in(&output, "createdDateTime");
    let want = expected(&t.logs.signins, "createdDateTime", |r| {
        of_user(r, &t.victim())
    });
    assert!(want.len() > 20, "{} sign-ins", want.len());
    assert_eq!(pulled, want, "every sign-in once, in (time, id) order");
    // Both kinds came: the stolen session's non-interactive replays with it.
    let text = std::fs::read_to_string(&output).unwrap();
    let session = t.logs.attacker_session.as_deref().unwrap();
    assert!(text.contains("nonInteractiveUser") && text.contains(session));
    assert!(t.server.audit_counters().throttled.load(Ordering::Relaxed) > 0);
    let manifest = manifest_of(&output);
    let log = entra_log(&manifest);
    assert!(log.notes.possibly_still_growing, "{log:?}");
    assert_eq!(log.walk.requests_per_window, 4, "one per event type");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_v1_sees_interactive_sign_ins_only_and_the_manifest_names_the_missing_fields() {
    let t = tenant(EntraSettings::default(), AuditSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("signins.jsonl");
    let words = pull_words(
        &t,
        "signins",
        &output,
        &["--user", &t.victim(), "--graph-version", "v1.0"],
    );
    let (code, stderr) = binary(words, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let want = expected(&t.logs.signins, "createdDateTime", |r| {
        of_user(r, &t.victim()) && r["isInteractive"] == true
    });
    assert_eq!(keys_in(&output, "createdDateTime"), want);
    let log = entra_log(&manifest_of(&output));
    assert!(
        log.notes.missing_fields.iter().any(|f| f == "sessionId"),
        "{log:?}"
    );
    assert!(log.notes.not_seen.as_deref().unwrap().contains("beta"));
    // A range that ended two days ago is not marked as still growing.
    let older = dir.path().join("older.jsonl");
    let mut words = pull_words(&t, "signins", &older, &["--user", &t.victim()]);
    words.extend(["--end".to_string(), time(t.end - TimeDelta::days(2))]);
    let (code, stderr) = binary(words, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let log = entra_log(&manifest_of(&older));
    assert!(!log.notes.possibly_still_growing, "{log:?}");
}

/// The typed log an Entra ID pull's manifest holds.
fn entra_log(manifest: &o365_activities::output::Manifest) -> o365_activities::source::EntraLog {
    manifest
        .source_log_as::<o365_activities::source::EntraLog>()
        .expect("a source log")
        .expect("an Entra ID log")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_without_p1_is_refused_with_the_licence_named_and_exit_8() {
    let t = tenant(
        EntraSettings {
            premium: false,
            ..EntraSettings::default()
        },
        AuditSettings::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("signins.jsonl");
    let (code, stderr) = binary(pull_words(&t, "signins", &output, &[]), &[]).await;
    assert_eq!(code, 8, "{stderr}");
    assert!(stderr.contains("Entra ID P1 or P2"), "{stderr}");
    assert!(!output.exists(), "nothing passed off as complete");
    // Directory audits are served without P1 (7 days of them).
    let output = dir.path().join("audits.jsonl");
    let (code, stderr) = binary(pull_words(&t, "directory-audits", &output, &[]), &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("7 days"), "warned: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_beyond_retention_is_refused_with_the_earliest_date() {
    let t = tenant(EntraSettings::default(), AuditSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("signins.jsonl");
    for source in ["signins", "directory-audits"] {
        let mut words = pull_words(&t, source, &output, &[]);
        let at = words.iter().position(|w| w == "--start").unwrap();
        words[at + 1] = time(t.end - TimeDelta::days(31));
        let (code, stderr) = binary(words.clone(), &[]).await;
        assert_eq!(code, 2, "{source}: {stderr}");
        assert!(stderr.contains("earliest available"), "{stderr}");
        // A day inside the edge is served.
        words[at + 1] = time(t.end - TimeDelta::days(29));
        let (code, stderr) = binary(words, &[]).await;
        assert_eq!(code, 0, "{source}: {stderr}");
        std::fs::remove_dir_all(dir.path()).unwrap();
        std::fs::create_dir(dir.path()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_audits_of_a_user_are_those_they_initiated_or_that_target_them() {
    let t = tenant(
        EntraSettings {
            page_size: 2,
            ..EntraSettings::default()
        },
        AuditSettings::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    for user in &t.users {
        let output = dir.path().join(format!("{user}.jsonl"));
        let (code, stderr) = binary(
            pull_words(&t, "directory-audits", &output, &["--user", user]),
            &[],
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
        let want = expected(&t.logs.directory_audits, "activityDateTime", |r| {
            r["initiatedBy"]["user"]["userPrincipalName"].as_str() == Some(user)
                || r["targetResources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["userPrincipalName"].as_str() == Some(user))
        });
        assert_eq!(keys_in(&output, "activityDateTime"), want, "{user}");
        if *user == t.victim() {
            let text = std::fs::read_to_string(&output).unwrap();
            assert!(text.contains("User registered security info"));
            assert!(text.contains(t.logs.lookalike_app.as_deref().unwrap()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_run_picks_up_late_sign_ins_once() {
    let t = tenant(EntraSettings::default(), AuditSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.jsonl");
    let (code, stderr) = binary(pull_words(&t, "signins", &first, &[]), &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let before = keys_in(&first, "createdDateTime");
    // A sign-in of an hour ago arrives late.
    let mut late = t.logs.signins[0].clone();
    late["id"] = "late-arrival-0001".into();
    late["createdDateTime"] = time(t.end - TimeDelta::hours(1)).into();
    late["signInEventTypes"] = serde_json::json!(["interactiveUser"]);
    t.settings.audit.entra.signins.lock().unwrap().push(late);
    let second = dir.path().join("second.jsonl");
    let mut words = pull_words(&t, "signins", &second, &[]);
    words.extend(["--end".to_string(), time(t.end + TimeDelta::seconds(1))]);
    let (code, stderr) = binary(words, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let after = keys_in(&second, "createdDateTime");
    let ids: Vec<&str> = after.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        ids.iter().filter(|id| **id == "late-arrival-0001").count(),
        1
    );
    assert_eq!(after.len(), before.len() + 1);
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no record twice");
}

#[tokio::test]
async fn a_token_that_expires_mid_walk_is_renewed() {
    // Tokens say they live 4 s (the mock accepts them for an hour, so only the client's clock
    // can renew them), and every third request waits a 1 s `Retry-After` of virtual time: the
    // walk outlives a token several times, and renews it once every 3 to 4 s of that time.
    let t = tenant(
        EntraSettings {
            page_size: 50,
            ..EntraSettings::default()
        },
        AuditSettings {
            announced_ttl: Some(Duration::from_secs(4)),
            throttle_every: Some(3),
            ..AuditSettings::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("signins.jsonl");
    let mut words = vec!["o365-activities".to_string()];
    words.extend(pull_words(&t, "signins", &output, &["--user", &t.victim()]));
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let sleeper = RecordingSleeper::default();
    let started = sleeper.now();
    let config = signed_in(
        parse_pull_at(&words, started).unwrap(),
        &t.url,
        "https://graph.microsoft.com",
    );
    run_on(&config, &sleeper).await.unwrap();
    let want = expected(&t.logs.signins, "createdDateTime", |r| {
        of_user(r, &t.victim())
    });
    assert_eq!(keys_in(&output, "createdDateTime"), want);
    let counters = t.server.audit_counters();
    let (issued, elapsed) = (
        counters.tokens_issued.load(Ordering::Relaxed) as i64,
        (sleeper.now() - started).num_seconds(),
    );
    assert!(elapsed >= 8, "the walk outlived two tokens: {elapsed} s");
    assert!(
        (1 + elapsed / 4..=1 + elapsed / 3).contains(&issued),
        "{issued} tokens in {elapsed} s of virtual time"
    );
    assert_eq!(counters.rejected.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_case_killed_and_resumed_equals_an_uninterrupted_one() {
    let t = tenant(
        EntraSettings {
            page_size: 9,
            ..EntraSettings::default()
        },
        AuditSettings::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("users.txt");
    std::fs::write(&list, t.users.join("\n") + "\n").unwrap();
    let end = time(t.end - TimeDelta::hours(1));
    let start = time(t.end - TimeDelta::days(DAYS as i64 + 1));
    let words = |case: &Path, extra: &[&str]| -> Vec<String> {
        let case = case.display().to_string();
        let list = list.display().to_string();
        [
            "batch",
            "--source",
            "signins",
            "--users",
            &list,
            "--out-dir",
            &case,
            "--graph-url",
            &t.url,
            "--token",
            TOKEN,
            "--start",
            &start,
            "--end",
            &end,
            "--format",
            "jsonl",
            "--concurrency",
            "1",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    };
    let evidence = |case: &Path| -> Vec<Vec<u8>> {
        t.users
            .iter()
            .map(|u| {
                std::fs::read(o365_activities::case::MailboxPaths::new(case, u).evidence).unwrap()
            })
            .collect()
    };
    let reference = dir.path().join("reference");
    let (code, stderr) = binary(words(&reference, &[]), &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let expected = evidence(&reference);
    assert!(expected.iter().all(|e| !e.is_empty()));
    for crash_at in ["3", "8", "13"] {
        let case = dir.path().join(format!("case-{crash_at}"));
        let (code, stderr) = binary(words(&case, &["--crash-at", crash_at]), &[]).await;
        assert_ne!(code, 0, "crash point {crash_at} was not reached: {stderr}");
        let (code, stderr) = binary(words(&case, &["--resume"]), &[]).await;
        assert_eq!(code, 0, "resume after {crash_at}: {stderr}");
        assert!(
            evidence(&case) == expected,
            "crash point {crash_at}: differs"
        );
        let (code, stdout) = binary(vec!["verify".into(), case.display().to_string()], &[]).await;
        assert_eq!(code, 0, "{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_of_another_source_is_refused() {
    let t = tenant(EntraSettings::default(), AuditSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("x.jsonl");
    for (source, flag, value, reader) in [
        ("signins", "--operations", "MailItemsAccessed", "audit"),
        ("signins", "--types", "ServerLogon", "activities"),
        (
            "directory-audits",
            "--sign-in-event-types",
            "interactiveUser",
            "signins",
        ),
    ] {
        let (code, stderr) = binary(pull_words(&t, source, &output, &[flag, value]), &[]).await;
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("{flag} is for --source {reader}")),
            "{stderr}"
        );
    }
}

#[test]
fn the_attackers_mailbox_records_carry_the_stolen_sessions_app_access_context() {
    let end = Utc::now();
    let corpus = compromised(end).corpus();
    let truth = corpus.truth.clone().unwrap();
    let logs = identity_logs(&corpus, end, DAYS, 25);
    let (mut records, _) = o365_activities::mock::audit_log::audit_records(&corpus);
    let untouched = records.clone();
    o365_activities::mock::generate::identity::add_app_access_context(&mut records, &logs);
    let session = logs.attacker_session.clone().unwrap();
    let from_attacker = |r: &Value| {
        truth.attacker_ips.iter().any(|ip| {
            r["ClientIPAddress"]
                .as_str()
                .unwrap_or("")
                .starts_with(ip.as_str())
        })
    };
    let (mut attacker, mut owner) = (0, 0);
    for record in &records {
        let Some(context) = record.get("AppAccessContext") else {
            continue;
        };
        if from_attacker(record) {
            assert_eq!(context["AADSessionId"], session.as_str(), "{record}");
            attacker += 1;
        } else {
            assert_ne!(context["AADSessionId"], session.as_str(), "{record}");
            owner += 1;
        }
        for key in ["UniqueTokenId", "IssuedAtTime", "ClientAppId"] {
            assert!(context[key].is_string(), "{key}: {record}");
        }
    }
    assert!(
        attacker > 0 && owner > 0,
        "attacker {attacker}, owner {owner}"
    );
    // Without the call, the records are as before (what the golden outputs are built on).
    assert!(untouched
        .iter()
        .all(|r| r.get("AppAccessContext").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_directory_audits_is_a_case_of_each_users_records_that_verifies() {
    let t = tenant(
        EntraSettings {
            page_size: 3,
            ..EntraSettings::default()
        },
        AuditSettings::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("users.txt");
    std::fs::write(&list, t.users.join("\n") + "\n").unwrap();
    let case = dir.path().join("case");
    let (code, stderr) = binary(batch_words(&t, "directory-audits", &list, &case), &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let mut total = 0;
    for user in &t.users {
        let evidence = o365_activities::case::MailboxPaths::new(&case, user).evidence;
        let want = expected(&t.logs.directory_audits, "activityDateTime", |r| {
            r["initiatedBy"]["user"]["userPrincipalName"].as_str() == Some(user)
                || r["targetResources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["userPrincipalName"].as_str() == Some(user))
        });
        total += want.len();
        assert_eq!(keys_in(&evidence, "activityDateTime"), want, "{user}");
    }
    assert!(total >= 3, "{total} records in the case");
    let (code, stdout) = binary(vec!["verify".into(), case.display().to_string()], &[]).await;
    assert_eq!(code, 0, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_of_sign_ins_and_a_case_of_directory_audits_are_triaged_together() {
    let t = tenant(EntraSettings::default(), AuditSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("users.txt");
    std::fs::write(&list, t.users.join("\n") + "\n").unwrap();
    let mut cases = Vec::new();
    for source in ["signins", "directory-audits"] {
        let case = dir.path().join(source);
        let (code, stderr) = binary(batch_words(&t, source, &list, &case), &[]).await;
        assert_eq!(code, 0, "{stderr}");
        // The case records its range in its source's terms, not the Activities API's filter.
        let manifest =
            o365_activities::case::CaseManifest::read(&case.join("manifest.json")).unwrap();
        let field = if source == "signins" {
            "createdDateTime from "
        } else {
            "activityDateTime from "
        };
        assert!(
            manifest.parameters.resolved_filter.starts_with(field),
            "{}",
            manifest.parameters.resolved_filter
        );
        cases.push(case.display().to_string());
    }
    // The folder holding both cases is a case of sources: verify checks each, triage reads both.
    let (code, stdout, stderr) =
        crate::audit_support::binary(vec!["verify".into(), dir.path().display().to_string()], &[])
            .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ALL 2 CASES"), "{stdout}");
    let report = dir.path().join("report.json");
    let mut words = vec!["triage".to_string(), dir.path().display().to_string()];
    words.extend(["--format", "json", "--output"].map(String::from));
    words.push(report.display().to_string());
    let (code, stderr) = binary(words, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let people = report["mailboxes"].as_array().unwrap();
    assert_eq!(people.len(), t.users.len());
    let victim = people
        .iter()
        .find(|m| m["mailbox"] == t.victim().as_str())
        .unwrap();
    assert_eq!(victim["sessions"][0]["severity"], "high", "{victim}");
    let persistence = victim["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["category"] == "mfa-method" || f["category"] == "consent")
        .filter(|f| f["severity"] == "high")
        .count();
    assert_eq!(
        persistence, 2,
        "the MFA method and the consent, tied to the session: {:#}",
        victim["findings"]
    );
    // One case altered: the folder fails as that case does (exit 5), naming it.
    let evidence = std::fs::read_dir(std::path::Path::new(&cases[1]).join("mailboxes"))
        .unwrap()
        .map(|e| e.unwrap().path().join("activities.jsonl"))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 10))
        .unwrap();
    let mut bytes = std::fs::read(&evidence).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&evidence, bytes).unwrap();
    let (code, stderr) = binary(vec!["verify".into(), dir.path().display().to_string()], &[]).await;
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("1 of 2 cases did not verify") && stderr.contains(&cases[1]),
        "{stderr}"
    );
}

/// `batch --source SOURCE` of the users in `list` over the tenant's last `DAYS` days into
/// `case`, as JSON Lines.
fn batch_words(t: &Tenant, source: &str, list: &Path, case: &Path) -> Vec<String> {
    [
        "batch",
        "--source",
        source,
        "--users",
        &list.display().to_string(),
        "--out-dir",
        &case.display().to_string(),
        "--graph-url",
        &t.url,
        "--token",
        TOKEN,
        "--start",
        &time(t.end - TimeDelta::days(DAYS as i64 + 1)),
        "--format",
        "jsonl",
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_are_fetched_at_once_and_hand_over_what_one_at_a_time_does() {
    // Every answer of the lists takes 100 ms: windows fetched at once overlap in it.
    let t = tenant(
        EntraSettings {
            page_size: 40,
            latency: Duration::from_millis(100),
            ..EntraSettings::default()
        },
        AuditSettings::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let counters = t.server.audit_counters();
    let mut evidence = Vec::new();
    for (windows, at_once) in [("1", 1..=1), ("4", 2..=4)] {
        let output = dir.path().join(format!("signins-{windows}.jsonl"));
        let mut words = vec!["o365-activities".to_string()];
        words.extend(pull_words(
            &t,
            "signins",
            &output,
            &["--window-concurrency", windows],
        ));
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let sleeper = RecordingSleeper::default();
        let config = parse_pull_at(&words, sleeper.now()).unwrap();
        run_on(&config, &sleeper).await.unwrap();
        let most = counters.most_entra_in_flight.load(Ordering::SeqCst);
        assert!(
            at_once.contains(&most),
            "{windows} window(s) at once: {most} requests"
        );
        evidence.push(std::fs::read(&output).unwrap());
    }
    let want = expected(&t.logs.signins, "createdDateTime", |_| true);
    assert_eq!(
        keys_in(&dir.path().join("signins-4.jsonl"), "createdDateTime"),
        want
    );
    assert!(
        evidence[0] == evidence[1],
        "the same bytes, one window or four at once"
    );
}
