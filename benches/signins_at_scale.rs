//! Tenant-wide sign-ins at scale (issue 25, "Performance"): a program that prints figures
//! (`cargo bench --bench signins_at_scale`), never a timed test.
//!
//! For each count of `BENCH_SIGNINS` (default `100000,1000000`): a mock tenant holding that
//! many sign-ins over the last 30 days (the four event types in turn), each answer of the list
//! taking `BENCH_LATENCY_MS` (default 100). The real binary, in its own process, pulls them
//! tenant-wide (`pull --source signins`, every event type) as one sequential walk
//! (`--window-concurrency 1`) and in windows fetched at once (the default, 4). Printed: wall
//! time, requests, records and the pull's peak RSS (`wait4`'s `ru_maxrss`); the two pulls'
//! evidence must be the same bytes, holding every sign-in of the range. Targets: windows at
//! least 3.5 times as fast as the sequential walk; the peak RSS flat from 100k to 1M.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use o365_activities::mock::{
    start as serve, AuditSettings, EntraSettings, ServerSettings, TokenSpec,
};
use serde_json::{json, Value};

const BINARY: &str = env!("CARGO_BIN_EXE_o365-activities");
const TOKEN: &str = "bench-token";
const EVENT_TYPES: [&str; 4] = [
    "interactiveUser",
    "nonInteractiveUser",
    "servicePrincipal",
    "managedIdentity",
];

/// `count` sign-ins spread evenly over `[start, end)`, in the beta shape
/// (microsoft-graph-docs-contrib `api-reference/beta/resources/signin.md`; the fields a
/// tenant-wide pull carries through, not every one).
fn signins(count: usize, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Value> {
    let span = (end - start).num_milliseconds().max(1) as i128;
    (0..count)
        .map(|i| {
            let at = start + TimeDelta::milliseconds((span * i as i128 / count as i128) as i64);
            let user = i % 5_000;
            let kind = EVENT_TYPES[i % EVENT_TYPES.len()];
            json!({
                "id": format!("{i:08x}-5a1e-4c0d-9b7e-{:012x}", i * 7919),
                "createdDateTime": at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "userDisplayName": format!("User {user}"),
                "userPrincipalName": format!("user{user}@contoso.com"),
                "userId": format!("{user:08x}-0000-4000-8000-000000000000"),
                "appId": "00000002-0000-0ff1-ce00-000000000000",
                "appDisplayName": "Office 365 Exchange Online",
                "ipAddress": format!("203.0.{}.{}", (i / 256) % 256, i % 256),
                "clientAppUsed": "Browser",
                "signInEventTypes": [kind],
                "isInteractive": kind == "interactiveUser",
                "sessionId": format!("{:08x}-1111-4222-8333-444444444444", i / 8),
                "status": {"errorCode": 0, "failureReason": "Other."},
                "location": {"city": "Seattle", "state": "Washington", "countryOrRegion": "US"},
            })
        })
        .collect()
}

/// The peak resident memory of a running process in MiB (`VmHWM`), while it runs.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Waits for one child, sampling its peak RSS every 20 ms: whether it succeeded, the last
/// peak seen (MiB) and how many samples were taken. Not `wait4`'s `ru_maxrss`: the child is
/// started by `vfork`, and that counts this process's memory (the mock's sign-ins) as its own.
fn reap(mut child: std::process::Child) -> (bool, f64, u32) {
    let (mut peak, mut samples) = (0.0f64, 0u32);
    loop {
        // Sampled before the exit check, so even a quick pull is measured at least once.
        if let Some(now) = peak_rss_mib(child.id()) {
            peak = peak.max(now);
            samples += 1;
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status.success(), peak, samples);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Pull {
    wall: Duration,
    peak_mib: f64,
    requests: u64,
    evidence: Vec<u8>,
}

/// One pull of the tenant's sign-ins from `start` by the binary, `windows` at once.
fn pull(url: &str, start: DateTime<Utc>, windows: u32, dir: &Path) -> Pull {
    let output = dir.join(format!("signins-{windows}.jsonl"));
    let started = Instant::now();
    let child = Command::new(BINARY)
        .args(["--quiet", "pull", "--source", "signins", "--graph-url", url])
        .args(["--token", TOKEN, "--output"])
        .arg(&output)
        .args(["--start", &start.to_rfc3339_opts(SecondsFormat::Secs, true)])
        .args(["--window-concurrency", &windows.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    let reading = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut stderr = String::new();
            let _ = pipe.read_to_string(&mut stderr);
            stderr
        })
    });
    let (ok, peak_mib, samples) = reap(child);
    let stderr = reading.and_then(|r| r.join().ok()).unwrap_or_default();
    assert!(
        ok,
        "the pull of {windows} window(s) at once failed: {stderr}"
    );
    assert!(samples > 0, "the pull's memory was never sampled");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("signins-{windows}.jsonl.manifest.json"))).unwrap(),
    )
    .unwrap();
    let evidence = std::fs::read(&output).unwrap();
    std::fs::remove_file(&output).unwrap();
    Pull {
        wall: started.elapsed(),
        peak_mib,
        requests: manifest["requests"].as_u64().unwrap_or(0),
        evidence,
    }
}

fn counts() -> Vec<usize> {
    std::env::var("BENCH_SIGNINS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let latency = Duration::from_millis(
        std::env::var("BENCH_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
    );
    println!(
        "signins_at_scale: tenant-wide sign-ins, {} ms a list answer",
        latency.as_millis()
    );
    println!("sign-ins   walk                 wall      requests  peak RSS   speed-up");
    for count in counts() {
        // The logs keep 30 days back from now (the binary's clock is the system's).
        let end = Utc::now() - TimeDelta::hours(1);
        let start = end - TimeDelta::days(29);
        let made = Instant::now();
        let records = signins(count, start, end);
        let made = made.elapsed();
        let settings = ServerSettings {
            tokens: vec![TokenSpec::parse(TOKEN).unwrap()],
            audit: AuditSettings {
                static_tokens: vec![TOKEN.into()],
                entra: EntraSettings {
                    signins: Arc::new(Mutex::new(records)),
                    latency,
                    ..EntraSettings::default()
                },
                ..AuditSettings::default()
            },
            ..ServerSettings::default()
        };
        let server = serve(BTreeMap::new(), settings).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = server.url.clone();
        let folder = dir.path().to_path_buf();
        let (sequential, windows) = tokio::task::spawn_blocking(move || {
            (pull(&url, start, 1, &folder), pull(&url, start, 4, &folder))
        })
        .await
        .unwrap();
        let lines = windows.evidence.iter().filter(|b| **b == b'\n').count();
        assert_eq!(lines, count, "every sign-in of the range, once");
        assert!(
            sequential.evidence == windows.evidence,
            "the same bytes, one window or four at once"
        );
        let speed_up = sequential.wall.as_secs_f64() / windows.wall.as_secs_f64();
        for (walk, p, note) in [
            ("sequential (1)", &sequential, String::new()),
            ("windows (4)", &windows, format!("{speed_up:.2}x")),
        ] {
            println!(
                "{count:>9}  {walk:<18} {:>7.1} s  {:>8}  {:>6.1} MiB  {note}",
                p.wall.as_secs_f64(),
                p.requests,
                p.peak_mib
            );
        }
        println!(
            "           (generated in {:.1} s; the mock answered at most {} requests at once)",
            made.as_secs_f64(),
            server
                .audit_counters()
                .most_entra_in_flight
                .load(Ordering::Relaxed)
        );
        let _ = server.shutdown().await;
    }
}
