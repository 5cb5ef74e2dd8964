//! What the binary's tests share: the binary, its pull's words, a mock tenant of one mailbox.

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use o365_activities::mock::FaultSettings;

use crate::support::*;

pub(crate) fn binary() -> Command {
    Command::cargo_bin("o365-activities").unwrap()
}

/// Runs the binary off the async runtime; returns (exit code, stderr).
pub(crate) async fn run_binary(args: Vec<String>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let output = binary()
            .args(&args)
            .env_remove("OAUTH_TOKEN")
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

pub(crate) fn pull_args(
    base_url: &str,
    user: &str,
    output: &std::path::Path,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = [
        "pull",
        "--user",
        user,
        "--output",
        output.to_str().unwrap(),
        "--token",
        TOKEN,
        "--base-url",
        base_url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A tenant of one mailbox (`ONLY_MAILBOX`) of 300 activities over 30 days, seed 4.
pub(crate) async fn tenant(faults: FaultSettings) -> o365_activities::mock::RunningServer {
    Tenant::builder()
        .seed(4)
        .faults(faults)
        .start()
        .await
        .server
}

/// The one mailbox of `tenant`.
pub(crate) const ONLY_MAILBOX: &str = "alice.johnson@contoso.com";

/// Runs `verify` on `path`; its exit code and stdout.
pub(crate) async fn verify_binary(path: &std::path::Path) -> (i32, String) {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let output = binary().arg("verify").arg(&path).output().unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    })
    .await
    .unwrap()
}
