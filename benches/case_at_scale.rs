//! End to end at scale: a program that prints figures (`cargo bench --bench case_at_scale`).
//!
//! A case of `BENCH_USERS` mailboxes (default 1,000) x `BENCH_PER_USER` activities (default
//! 5,000), the realistic BEC scenario, served with `BENCH_LATENCY_MS` (default 100) per response
//! and throttling (the server's default 4 concurrent requests per mailbox and a budget of
//! 10,000 requests per 600 s per mailbox and token), every step the real binary in its own
//! process:
//!
//! 1. `mock-tenant generate` of the corpus,
//! 2. `mock-tenant serve --corpus` until it prints its URL (ready),
//! 3. `batch` of every mailbox at `--concurrency BENCH_CONCURRENCY` (default 16),
//! 4. `triage` of the case to the HTML report, then to the JSON report (the summary, the default
//!    above 20 mailboxes),
//! 5. headless Chromium rendering the HTML report to a screenshot (when `chromium` is
//!    installed).
//!
//! Each step prints its wall time and peak RSS (the server's over its whole life, the pull
//! included). `BENCH_KEEP=DIR` keeps the corpus, the case, the reports and the screenshot there.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_o365-activities");

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Waits for one child: whether it succeeded and its peak RSS in MiB.
fn reap(child: Child) -> (bool, f64) {
    let mut status = 0;
    // SAFETY: wait4 writes the child's status and usage into the values we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, usage.ru_maxrss as f64 / 1024.0)
}

struct Step {
    name: String,
    wall: Duration,
    peak_mb: f64,
    note: String,
}

/// Runs `command` to its end; the step it was.
fn step(name: &str, command: &mut Command) -> Step {
    let started = Instant::now();
    let child = command.stderr(Stdio::null()).spawn().unwrap();
    let (ok, peak_mb) = reap(child);
    assert!(ok, "{name} failed");
    Step {
        name: name.into(),
        wall: started.elapsed(),
        peak_mb,
        note: String::new(),
    }
}

fn size_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6)
}

fn main() {
    let users = env_or("BENCH_USERS", 1000);
    let per_user = env_or("BENCH_PER_USER", 5000);
    let latency = env_or("BENCH_LATENCY_MS", 100);
    let concurrency = env_or("BENCH_CONCURRENCY", 16);
    let scratch = tempfile::tempdir().unwrap();
    let dir: PathBuf = std::env::var_os("BENCH_KEEP")
        .map(PathBuf::from)
        .unwrap_or_else(|| scratch.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = dir.join("corpus.jsonl");
    let case = dir.join("case");
    let html = dir.join("report.html");
    let json = dir.join("report.json");
    for stale in [&corpus, &html, &json] {
        let _ = std::fs::remove_file(stale);
    }
    let _ = std::fs::remove_dir_all(&case);
    println!(
        "case at scale: {users} mailboxes x {per_user} activities, {latency} ms per response, \
         throttled (4 concurrent requests per mailbox, 10000/600 s), batch --concurrency {concurrency}"
    );
    let total = Instant::now();
    let mut steps = Vec::new();

    let mut generated = step(
        "generate",
        Command::new(BINARY)
            .args(["mock-tenant", "generate", "--quiet", "--scenario", "bec"])
            .args(["--seed", "27", "--users", &users.to_string()])
            .args(["--per-user", &per_user.to_string(), "--out"])
            .arg(&corpus),
    );
    generated.note = format!("{:.0} MB corpus", size_mb(&corpus));
    steps.push(generated);

    // The mailboxes, from each line's leading `{"_mailbox":"..."` (streamed: a large read here
    // would raise this process's peak RSS, which a child started by vfork reports as its own).
    let mut mailboxes = std::collections::BTreeSet::new();
    for line in BufReader::new(std::fs::File::open(&corpus).unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("{\"_mailbox\":\"") {
            if let Some(end) = rest.find('"') {
                if !mailboxes.contains(&rest[..end]) {
                    mailboxes.insert(rest[..end].to_string());
                }
            }
        }
    }
    let users_file = dir.join("users.txt");
    std::fs::write(
        &users_file,
        mailboxes.iter().cloned().collect::<Vec<_>>().join("\n"),
    )
    .unwrap();

    let started = Instant::now();
    let mut server = Command::new(BINARY)
        .args(["mock-tenant", "serve", "--tokens", "bench"])
        .args(["--latency", &latency.to_string(), "--throttle", "10000/600"])
        .arg("--corpus")
        .arg(&corpus)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_string();
    assert!(url.starts_with("http://"), "serve printed no URL");
    let ready = started.elapsed();

    let mut pulled = step(
        "batch (pull)",
        Command::new(BINARY)
            .args(["batch", "--quiet", "--token", "bench", "--base-url", &url])
            .args(["--concurrency", &concurrency.to_string(), "--users"])
            .arg(&users_file)
            .arg("--out-dir")
            .arg(&case),
    );
    let _ = server.kill();
    let (_, server_peak) = reap(server);
    steps.push(Step {
        name: "serve (ready)".into(),
        wall: ready,
        peak_mb: server_peak,
        note: "peak over its life, the pull included".into(),
    });
    pulled.note = format!("{} mailboxes", mailboxes.len());
    steps.push(pulled);

    for (format, path) in [("html", &html), ("json", &json)] {
        let mut triaged = step(
            &format!("triage --format {format}"),
            Command::new(BINARY)
                .args(["triage", "--quiet", "--format", format])
                .arg(&case)
                .arg("--output")
                .arg(path),
        );
        triaged.note = format!("{:.2} MB report", size_mb(path));
        steps.push(triaged);
    }

    let chromium = Command::new("chromium").arg("--version").output().is_ok();
    if chromium {
        let png = dir.join("report.png");
        let profile = tempfile::tempdir().unwrap();
        let mut rendered = step(
            "chromium (headless)",
            Command::new("chromium")
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                ])
                .args([
                    "--disable-background-networking",
                    "--disable-component-update",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg("--window-size=1280,2400")
                .arg(format!("--screenshot={}", png.display()))
                .arg(format!("file://{}", html.display()))
                .stdout(Stdio::null()),
        );
        rendered.note = format!("screenshot {:.2} MB", size_mb(&png));
        steps.push(rendered);
    }

    println!("{:<22} {:>10} {:>12}  note", "step", "wall s", "peak MB");
    for s in &steps {
        println!(
            "{:<22} {:>10.1} {:>12.0}  {}",
            s.name,
            s.wall.as_secs_f64(),
            s.peak_mb,
            s.note
        );
    }
    println!(
        "total wall {:.1} s (target under 300 s for 1,000 x 5,000)",
        total.elapsed().as_secs_f64()
    );
}
