//! What the audit log sources' tests share: the mock tenant with its audit log, the words of
//! a pull, a case and a sign-in, and the records they should hold.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use o365_activities::mock::{AuditSettings, RunningServer, Scenario, MOCK_TENANT_ID};
use serde_json::Value;

use crate::support::*;

pub(crate) const APP: &str = "mock-client-id";

pub(crate) const SECRET: &str = "mock-client-secret";

/// A compromised tenant of a few mailboxes over `days`, served with its audit log; the victim
/// and every audit log record.
pub(crate) async fn tenant(days: u32, audit: AuditSettings) -> (RunningServer, String, Vec<Value>) {
    let t = Tenant::builder()
        .users(3)
        .per_user(400)
        .days(days)
        .seed(5)
        .scenario(Scenario::Bec)
        .audit(audit)
        .audit_log()
        .start()
        .await;
    let victim = t.victim();
    (t.server, victim, t.records)
}

/// The audit log queries a pull's manifest lists, as their type.
pub(crate) fn queries_of(
    manifest: &o365_activities::output::Manifest,
) -> Vec<o365_activities::source::QueryLogEntry> {
    manifest
        .source_log_as::<o365_activities::source::AuditQueryLog>()
        .expect("a source log")
        .expect("an audit log query log")
        .queries
}

/// Ids of the records of `user` (by `UserId` or `MailboxOwnerUPN`), sorted.
pub(crate) fn ids_of(records: &[Value], user: &str) -> Vec<String> {
    let mut ids: Vec<String> = records
        .iter()
        .filter(|r| {
            [&r["UserId"], &r["MailboxOwnerUPN"]]
                .iter()
                .any(|v| v.as_str().is_some_and(|u| u.eq_ignore_ascii_case(user)))
        })
        .map(|r| r["Id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Every user that acted in `records`, sorted.
pub(crate) fn users_of(records: &[Value]) -> Vec<String> {
    let mut users: Vec<String> = records
        .iter()
        .filter_map(|r| r["UserId"].as_str())
        .map(str::to_string)
        .collect();
    users.sort();
    users.dedup();
    users
}

/// A users file of `users` in `dir`.
pub(crate) fn users_file(dir: &Path, users: &[String]) -> std::path::PathBuf {
    let list = dir.join("users.txt");
    std::fs::write(&list, users.join("\n")).unwrap();
    list
}

/// Ids of an evidence file: Graph records' `id`, Management API records' `Id`, sorted.
pub(crate) fn evidence_ids(path: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            record["id"]
                .as_str()
                .or(record["Id"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    ids
}

pub(crate) fn audit_words<'a>(url: &'a str, user: &'a str, output: &'a str) -> Vec<&'a str> {
    vec![
        "o365-activities",
        "pull",
        "--source",
        "audit",
        "--user",
        user,
        "--output",
        output,
        "--graph-url",
        url,
        "--token",
        TOKEN,
    ]
}

/// `config` signed in as the mock's app at `authority` with its client secret for `resource`
/// (in place of its `--token`), as the binary does with `O365_CLIENT_SECRET`: for a signed-in
/// pull run in the test's process, on virtual time.
pub(crate) fn signed_in(
    mut config: o365_activities::config::PullConfig,
    authority: &str,
    resource: &str,
) -> o365_activities::config::PullConfig {
    use o365_activities::signin::{Flow, SignIn};
    let sign_in = SignIn::new(
        authority,
        MOCK_TENANT_ID,
        APP,
        resource,
        Flow::Secret(o365_activities::secret::SecretString::new(SECRET)),
    )
    .unwrap();
    config.client.credentials =
        o365_activities::http::Credentials::SignIn(std::sync::Arc::new(sign_in));
    config
}

/// A signed-in audit log pull of `user` by the binary, into a folder of its own.
pub(crate) struct SignedIn {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) output: std::path::PathBuf,
    pub(crate) code: i32,
    pub(crate) stderr: String,
}

impl SignedIn {
    /// Signs in as the mock's app (`O365_CLIENT_SECRET` set to `secret` for this run alone,
    /// unless empty) with `extra` flags, and pulls the whole corpus range.
    pub(crate) async fn pull(url: &str, user: &str, extra: &[&str], secret: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("victim.jsonl");
        let mut args: Vec<String> = vec!["pull".into(), "--output".into()];
        args.push(output.display().to_string());
        for word in [
            "--source",
            "audit",
            "--user",
            user,
            "--graph-url",
            url,
            "--authority-url",
            url,
            "--tenant",
            MOCK_TENANT_ID,
            "--client-id",
            APP,
            "--poll-interval",
            "0.3",
            "--start",
            "2018-01-01T00:00:00Z",
            "--end",
            "2018-06-02T00:00:00Z",
        ]
        .iter()
        .chain(extra)
        {
            args.push(word.to_string());
        }
        let env: &[(&str, &str)] = if secret.is_empty() {
            &[]
        } else {
            &[("O365_CLIENT_SECRET", secret)]
        };
        let (code, _, stderr) = binary(args, env).await;
        SignedIn {
            _dir: dir,
            output,
            code,
            stderr,
        }
    }

    /// It completed with every record of `user`, once.
    pub(crate) fn assert_complete(&self, records: &[Value], user: &str) {
        assert_eq!(self.code, 0, "{}", self.stderr);
        let (pulled, expected) = (evidence_ids(&self.output), ids_of(records, user));
        assert_eq!(pulled.len(), expected.len(), "{}", self.stderr);
        assert_eq!(pulled, expected);
    }
}

/// Runs the binary with `args` and `env` (and no `OAUTH_TOKEN`); (exit code, stdout, stderr).
pub(crate) async fn binary(args: Vec<String>, env: &[(&str, &str)]) -> (i32, String, String) {
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
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// The feed's window: the last 7 days before the mock's present, less a minute.
pub(crate) fn feed_words<'a>(url: &'a str, output: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut words = vec![
        "o365-activities",
        "pull",
        "--source",
        "feed",
        "--output",
        output,
        "--management-url",
        url,
        "--tenant",
        MOCK_TENANT_ID,
        "--token",
        TOKEN,
        "--content-types",
        "Audit.Exchange",
    ];
    words.extend_from_slice(extra);
    words
}

/// A Graph stand-in whose every audit log query has succeeded at once and whose records are
/// `page`.
pub(crate) async fn graph_answering(page: Value) -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let graph = MockServer::start().await;
    let query =
        serde_json::json!({"id": "q1", "status": "succeeded", "isRecordCountLimitExceeded": false});
    Mock::given(method("POST"))
        .and(path("/v1.0/security/auditLog/queries"))
        .respond_with(ResponseTemplate::new(201).set_body_json(&query))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/security/auditLog/queries/q1/records"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page))
        .mount(&graph)
        .await;
    graph
}

/// `batch --source audit` of the users in `list` into `case`, from `start` to the corpus's end.
pub(crate) fn batch_words(
    list: &Path,
    case: &Path,
    url: &str,
    start: &str,
    extra: &[&str],
) -> Vec<String> {
    let (list, case) = (list.display().to_string(), case.display().to_string());
    [
        "batch",
        "--source",
        "audit",
        "--users",
        &list,
        "--out-dir",
        &case,
        "--graph-url",
        url,
        "--token",
        TOKEN,
        "--start",
        start,
        "--end",
        "2018-06-01T00:00:00Z",
        "--format",
        "jsonl",
        "--poll-interval",
        "0",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}

/// Each mailbox's evidence in `case`, in the order of `users`.
pub(crate) fn evidence_of(case: &Path, users: &[String]) -> Vec<Vec<u8>> {
    users
        .iter()
        .map(|u| std::fs::read(o365_activities::case::MailboxPaths::new(case, u).evidence).unwrap())
        .collect()
}

/// A case of `users` in `dir` run by `run_batch` (its folder, extra words) stopped at each of
/// `crash_points` and resumed is complete, verified and byte-identical to an uninterrupted one.
pub(crate) async fn assert_resumed_cases_equal_an_uninterrupted_one<F, Fut>(
    dir: &Path,
    users: &[String],
    crash_points: &[&str],
    run_batch: F,
) where
    F: Fn(&Path, &[&str]) -> Fut,
    Fut: std::future::Future<Output = (i32, String, String)>,
{
    let reference = dir.join("reference");
    let (code, _, stderr) = run_batch(&reference, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let expected = evidence_of(&reference, users);
    for crash_at in crash_points {
        let case = dir.join(format!("case-{crash_at}"));
        let (code, _, stderr) = run_batch(&case, &["--crash-at", crash_at]).await;
        assert_ne!(code, 0, "crash point {crash_at} was not reached: {stderr}");
        let (code, _, stderr) = run_batch(&case, &["--resume"]).await;
        assert_eq!(code, 0, "resume after {crash_at}: {stderr}");
        assert!(
            evidence_of(&case, users) == expected,
            "crash point {crash_at}: the resumed case differs"
        );
        let (code, stdout, _) =
            binary(vec!["verify".into(), case.display().to_string()], &[]).await;
        assert_eq!(code, 0, "{stdout}");
    }
}
