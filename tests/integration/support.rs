//! Shared helpers: the mock tenant a test serves (`Tenant::builder`), building pull
//! configurations the way the CLI does, records, and the child-process helpers (`wait_until`,
//! `signal_once_records_are_written`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use o365_activities::cli::Command;
use o365_activities::commands::pull::{self, PullSummary};
use o365_activities::config::PullConfig;
use o365_activities::error::AppError;
use o365_activities::http::RecordingSleeper;
use o365_activities::mock::audit_log::audit_records;
use o365_activities::mock::generate::identity::{identity_logs, IdentityLogs};
use o365_activities::mock::store::StoredActivity;
use o365_activities::mock::{
    generate, start_with_audit_log, AuditSettings, Corpus, CorpusSpec, EntraSettings,
    FaultSettings, RunningServer, Scenario, ServerSettings, TokenSpec, Truth,
};
use serde_json::{json, Value};

pub const USER: &str = "victim@contoso.com";
pub const USER_PATH: &str = "/api/v2.0/Users('victim@contoso.com')/Activities";
pub const TOKEN: &str = "test-token";

/// The instant every test pull treats as "now" (the frozen end).
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2018, 6, 1, 0, 0, 0).unwrap()
}

/// The end every test pull sends without `--end`: the frozen "now", exclusive.
pub const END_LITERAL: &str = "2018-06-01T00:00:00Z";

/// A generated tenant served by the mock tenant, as a test asked for it; what it serves.
pub struct Tenant {
    pub server: RunningServer,
    /// The server's base URL.
    pub url: String,
    /// The mailboxes served, in the generator's order (under the names `mailbox_names` gave).
    pub users: Vec<String>,
    /// Each mailbox served (lower-cased, as the server keys them) and its activities.
    pub mailboxes: BTreeMap<String, Vec<StoredActivity>>,
    /// What the scenario planted (its `mailbox` the generator's name for the victim).
    pub truth: Option<Truth>,
    /// The audit log records served (empty unless `audit_log`).
    pub records: Vec<Value>,
    /// The Entra ID logs served (empty unless `identity_logs`).
    pub logs: IdentityLogs,
    /// The settings the server was started with (its Entra logs shared with the server).
    pub settings: ServerSettings,
    /// The corpus's end.
    pub end: DateTime<Utc>,
}

impl Tenant {
    /// A tenant of one mailbox of 300 activities over 30 days up to `now()`, seed 1, no
    /// scenario, accepting `TOKEN`: each test states what differs.
    pub fn builder<'a>() -> TenantBuilder<'a> {
        TenantBuilder {
            spec: CorpusSpec {
                users: 1,
                per_user: 300,
                days: 30,
                end: now(),
                seed: 1,
                scenario: Scenario::None,
            },
            settings: ServerSettings {
                tokens: vec![TokenSpec::parse(TOKEN).unwrap()],
                ..ServerSettings::default()
            },
            audit_log: false,
            static_token: true,
            identity_logs: None,
            names: None,
            edit: None,
        }
    }

    /// The planted victim's mailbox (the scenario's truth).
    pub fn victim(&self) -> String {
        self.truth.as_ref().expect("a scenario").mailbox.clone()
    }
}

type Names<'a> = Box<dyn Fn(usize, &str) -> String + 'a>;
type Edit<'a> = Box<dyn FnOnce(&mut Vec<Value>, &Corpus) + 'a>;

/// What `Tenant::builder` generates and serves.
pub struct TenantBuilder<'a> {
    spec: CorpusSpec,
    settings: ServerSettings,
    audit_log: bool,
    static_token: bool,
    identity_logs: Option<u64>,
    names: Option<Names<'a>>,
    edit: Option<Edit<'a>>,
}

impl<'a> TenantBuilder<'a> {
    pub fn users(mut self, users: usize) -> Self {
        self.spec.users = users;
        self
    }

    pub fn per_user(mut self, per_user: usize) -> Self {
        self.spec.per_user = per_user;
        self
    }

    pub fn days(mut self, days: u32) -> Self {
        self.spec.days = days;
        self
    }

    pub fn end(mut self, end: DateTime<Utc>) -> Self {
        self.spec.end = end;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.spec.seed = seed;
        self
    }

    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.spec.scenario = scenario;
        self
    }

    /// The server's settings, whole (its tokens too): `tokens`, `faults` and `audit` called
    /// after it change them.
    pub fn settings(mut self, settings: ServerSettings) -> Self {
        self.settings = settings;
        self
    }

    pub fn faults(mut self, faults: FaultSettings) -> Self {
        self.settings.faults = faults;
        self
    }

    /// The tokens the Activities API accepts, as `--mock-token` spells them.
    pub fn tokens(mut self, tokens: &[&str]) -> Self {
        self.settings.tokens = tokens
            .iter()
            .map(|t| TokenSpec::parse(t).unwrap())
            .collect();
        self
    }

    /// The audit log and identity platform settings (their static tokens made `TOKEN` where an
    /// audit or Entra ID log is served, unless `without_static_token`).
    pub fn audit(mut self, audit: AuditSettings) -> Self {
        self.settings.audit = audit;
        self
    }

    /// Serves the corpus's audit log (the records `mock::audit_log` renders of it).
    pub fn audit_log(mut self) -> Self {
        self.audit_log = true;
        self
    }

    /// The audit log APIs accept only the tokens their identity platform issued (without it,
    /// `TOKEN` too where an audit or Entra ID log is served).
    pub fn without_static_token(mut self) -> Self {
        self.static_token = false;
        self
    }

    /// Edits the audit log records before they are served (the corpus they were made of beside).
    pub fn edit_records(mut self, edit: impl FnOnce(&mut Vec<Value>, &Corpus) + 'a) -> Self {
        self.edit = Some(Box::new(edit));
        self
    }

    /// Serves the corpus's Entra ID logs (sign-ins, directory audits) from `seed`, put in the
    /// Entra settings `audit` gave (or the defaults).
    pub fn identity_logs(mut self, seed: u64) -> Self {
        self.identity_logs = Some(seed);
        self
    }

    /// Serves the mailbox the generator made `i`th under `name(i, upn)`.
    pub fn mailbox_names(mut self, name: impl Fn(usize, &str) -> String + 'a) -> Self {
        self.names = Some(Box::new(name));
        self
    }

    /// Serves the generator's first mailbox as `name`.
    pub fn first_mailbox_as(self, name: &str) -> Self {
        let name = name.to_string();
        self.mailbox_names(move |i, upn| if i == 0 { name.clone() } else { upn.into() })
    }

    /// The corpus alone, not served.
    pub fn corpus(&self) -> Corpus {
        generate(&self.spec)
    }

    /// Generates the corpus and starts the server.
    pub async fn start(self) -> Tenant {
        let mut corpus = self.corpus();
        let (mut records, logs) = (Vec::new(), IdentityLogs::default());
        if self.audit_log {
            records = audit_records(&corpus).0;
        }
        if let Some(edit) = self.edit {
            edit(&mut records, &corpus);
        }
        let mut settings = self.settings;
        let logs = match self.identity_logs {
            Some(seed) => {
                let logs = identity_logs(&corpus, self.spec.end, self.spec.days, seed);
                settings.audit.entra = EntraSettings {
                    signins: Arc::new(Mutex::new(logs.signins.clone())),
                    directory_audits: Arc::new(Mutex::new(logs.directory_audits.clone())),
                    ..settings.audit.entra
                };
                logs
            }
            None => logs,
        };
        if self.static_token && (self.audit_log || self.identity_logs.is_some()) {
            settings.audit.static_tokens = vec![TOKEN.into()];
        }
        if let Some(name) = &self.names {
            for (i, (upn, _)) in corpus.mailboxes.iter_mut().enumerate() {
                *upn = name(i, upn);
            }
        }
        let users: Vec<String> = corpus.mailboxes.iter().map(|(u, _)| u.clone()).collect();
        let truth = corpus.truth.take();
        let mailboxes = o365_activities::mock::corpus_by_mailbox(corpus);
        let server = start_with_audit_log(mailboxes.clone(), records.clone(), settings.clone())
            .await
            .unwrap();
        Tenant {
            url: server.url.clone(),
            server,
            users,
            mailboxes,
            truth,
            records,
            logs,
            settings,
            end: self.spec.end,
        }
    }
}

/// Writes each mailbox of `corpus` as a pulled JSON Lines file in `dir`; their paths.
pub fn write_pulled(corpus: &Corpus, dir: &Path) -> Vec<std::path::PathBuf> {
    let mut paths = Vec::new();
    for (upn, activities) in &corpus.mailboxes {
        let path = dir.join(format!("{upn}.jsonl"));
        let lines: Vec<&str> = activities.iter().map(|a| a.json.as_str()).collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        paths.push(path);
    }
    paths
}

/// A pull configuration from command-line words, as `main` builds it.
pub fn config(base_url: &str, output: &Path, extra: &[&str]) -> PullConfig {
    let output = output.to_string_lossy().into_owned();
    let mut words = vec![
        "o365-activities",
        "pull",
        "--user",
        USER,
        "--output",
        &output,
        "--token",
        TOKEN,
        "--base-url",
        base_url,
    ];
    words.extend_from_slice(extra);
    // These tests script a sequential keyset walk; windowed pulls have tests of their own.
    if !extra.contains(&"--mailbox-concurrency") {
        words.extend_from_slice(&["--mailbox-concurrency", "1"]);
    }
    parse_pull(&words).expect("valid configuration")
}

/// Parses `o365-activities pull ...` words into a configuration, as `main` does.
pub fn parse_pull(words: &[&str]) -> Result<PullConfig, AppError> {
    let cli = o365_activities::cli::parse_from(words).expect("valid arguments");
    let Command::Pull(args) = cli.command else {
        panic!("not a pull")
    };
    PullConfig::from_args(&args, now(), true)
}

/// Runs a pull with waits recorded instead of slept, on virtual time starting at the
/// system's time now.
pub async fn run(config: &PullConfig) -> (Result<PullSummary, AppError>, RecordingSleeper) {
    let sleeper = RecordingSleeper::default();
    let result = run_on(config, &sleeper).await;
    (result, sleeper)
}

/// Runs a pull on `sleeper`'s virtual time: its waits recorded, its clock the pull's.
pub async fn run_on(
    config: &PullConfig,
    sleeper: &RecordingSleeper,
) -> Result<PullSummary, AppError> {
    pull::run(config, Arc::new(sleeper.clone()), std::future::pending()).await
}

/// A record in the reference's shape.
pub fn record(id: &str, timestamp: &str) -> Value {
    json!({
        "Id": id,
        "ActivityCreationTime": timestamp,
        "ActivityIdType": "MarkAsRead",
        "AppIdType": "Web",
        "ClientVersion": "15.00.1497.010",
        "ClientSessionId": "1c6c6a80-b98b-45ef-8a4e-b874f3fe375f",
        "ActivityItemId": format!("item-{id}"),
        "TimeStamp": timestamp,
        "TenantId": "679126f3-02de-3513-e336-0eac1294b120",
        "CustomProperties": [{"Name": "SourceFolder", "Value": "Inbox"}]
    })
}

pub fn page(records: &[Value]) -> Value {
    json!({ "value": records })
}

/// Ids of a JSON Lines file, in order.
pub fn ids_in(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["Id"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// Runs `o365-activities triage ARGS...`, which must succeed; its standard output.
pub fn triage_output<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    use assert_cmd::cargo::CommandCargoExt;
    let output = std::process::Command::cargo_bin("o365-activities")
        .unwrap()
        .arg("triage")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "triage {:?}: {}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `command` (a pull with `--progress-interval`), sends it `signal` (`TERM`, `INT`, ...)
/// once its progress line reports records written (under way, with something to keep), and
/// waits for it: its exit code and all it wrote to stderr.
pub fn signal_once_records_are_written(
    mut command: std::process::Command,
    signal: &str,
) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        let records = line
            .strip_prefix("progress: ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok());
        if records.is_some_and(|n| n > 0) {
            break;
        }
    }
    send_signal(child.id(), signal);
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    (child.wait().unwrap().code(), seen)
}

/// Sends `signal` (a name for `kill`, e.g. `TERM`) to process `pid`, which must take it.
pub fn send_signal(pid: u32, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} {pid}");
}

/// Waits (up to 30 s) until `ready` holds, polling: for what a child process does on disk.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// As `parse_pull`, with `now` as the instant the pull starts (a stand-in whose clock is ahead
/// of `now()`: an `--end` after the pull's start is clamped to it).
pub fn parse_pull_at(words: &[&str], now: DateTime<Utc>) -> Result<PullConfig, AppError> {
    let cli = o365_activities::cli::parse_from(words).expect("valid arguments");
    let Command::Pull(args) = cli.command else {
        panic!("not a pull")
    };
    PullConfig::from_args(&args, now, true)
}

/// The peak resident memory of a running process in MiB (`VmHWM`), if it still runs. Linux
/// only: the memory tests are compiled only where `/proc` can measure.
#[cfg(target_os = "linux")]
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Waits (up to `limit`) for `child`, spawned with its stderr piped, sampling its peak resident
/// memory from `/proc` while it runs (the kernel's account at exit, `wait4`, would include the
/// memory of this test process it was spawned from); its exit status, all it wrote to stderr
/// and the peak in MiB. Fails if no sample was taken, so a peak of 0 never passes for a
/// measurement. `what` names it in the failures ("the pull").
#[cfg(target_os = "linux")]
pub fn wait_measured(
    mut child: std::process::Child,
    what: &str,
    limit: std::time::Duration,
) -> (std::process::ExitStatus, String, f64) {
    let stderr = child.stderr.take().unwrap();
    let reading = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let started = std::time::Instant::now();
    let mut peak: f64 = 0.0;
    let mut samples = 0u32;
    let status = loop {
        // Sampled before the exit check, so even a quick run is measured at least once.
        if let Some(now) = peak_rss_mib(child.id()) {
            peak = peak.max(now);
            samples += 1;
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < limit, "{what} did not stop");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(samples > 0, "{what}'s memory was never sampled");
    (status, reading.join().unwrap(), peak)
}

/// The paging error behind `error` (a partial result's cause, or the error itself).
pub fn paging_error(error: &AppError) -> Option<&o365_activities::source::PagingError> {
    match error {
        AppError::Paging(paging) => Some(paging),
        AppError::Partial { error, .. } => paging_error(error),
        _ => None,
    }
}
