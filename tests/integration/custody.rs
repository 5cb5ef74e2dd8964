//! Chain of custody through the built binary against the mock tenant: signed manifests
//! (checked by `verify --allowed-signers` and, where it is installed, by `ssh-keygen -Y
//! verify`), the provenance inside them, each kind of tampering with its own exit code, and a
//! pull whose manifest cannot be written.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use base64::Engine;
use o365_activities::mock::RunningServer;
use serde_json::Value;
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};

use crate::support::Tenant;

const OID: &str = "0d5c1b2a-7f4e-4c3b-9a8d-112233445566";
const PASSPHRASE: &str = "correct horse battery staple";

/// A token shaped as the identity platform's (a JWT whose claims say who signed in); the mock
/// tenant accepts it as it is, and the tool reads its claims without verifying them.
fn jwt() -> String {
    let encode = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    format!(
        "{}.{}.c2lnbmF0dXJl",
        encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        encode(&format!(
            r#"{{"oid":"{OID}","tid":"679126f3-02de-3513-e336-0eac1294b120","appid":"app-1"}}"#
        ))
    )
}

/// Two mailboxes of 120 activities over 20 days, accepting the `jwt()`; the first mailbox.
async fn tenant() -> (RunningServer, String) {
    let t = Tenant::builder()
        .users(2)
        .per_user(120)
        .days(20)
        .seed(28)
        .tokens(&[&jwt()])
        .start()
        .await;
    let user = t.mailboxes.keys().next().unwrap().clone();
    (t.server, user)
}

/// A key made by the crate, written as `ssh-keygen -t ed25519` writes one (encrypted with
/// `PASSPHRASE` if asked); its path and the key.
fn make_key(dir: &Path, name: &str, encrypted: bool) -> (PathBuf, PrivateKey) {
    let key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
    let written = if encrypted {
        key.encrypt(&mut OsRng, PASSPHRASE).unwrap()
    } else {
        key.clone()
    };
    let path = dir.join(name);
    std::fs::write(
        &path,
        written.to_openssh(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    (path, key)
}

fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

/// An allowed signers file naming `keys` as `analyst@contoso.com`.
fn allowed_signers(dir: &Path, keys: &[&PrivateKey]) -> PathBuf {
    let path = dir.join("allowed_signers");
    let lines: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                "analyst@contoso.com namespaces=\"o365-activities\" {}",
                k.public_key().to_openssh().unwrap()
            )
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Runs the binary (off the async runtime) with the signing passphrase set; exit code,
/// stdout and stderr.
async fn binary(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let output = Command::cargo_bin("o365-activities")
            .unwrap()
            .args(&args)
            .env_remove("OAUTH_TOKEN")
            .env("O365_SIGNING_PASSPHRASE", PASSPHRASE)
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

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn pull(url: &str, user: &str, output: &Path, extra: &[&str]) -> (i32, String) {
    let token = jwt();
    let output = output.display().to_string();
    let mut args = words(&[
        "pull",
        "--user",
        user,
        "--output",
        &output,
        "--token",
        &token,
        "--base-url",
        url,
        "--end",
        "2018-06-01T00:00:00Z",
    ]);
    args.extend(words(extra));
    let (code, _, stderr) = binary(args).await;
    (code, stderr)
}

async fn verify(target: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = words(&["verify", &target.display().to_string()]);
    args.extend(words(extra));
    let (code, stdout, stderr) = binary(args).await;
    (code, format!("{stdout}{stderr}"))
}

/// `ssh-keygen`, if this machine has it; otherwise a note says the check is skipped.
fn ssh_keygen() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("ssh-keygen"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        eprintln!("note: ssh-keygen is not installed here: the check with ssh-keygen is skipped");
    }
    found
}

/// `ssh-keygen -Y verify -f ALLOWED -I analyst@contoso.com -n o365-activities -s SIG < MANIFEST`
/// (as docs/CUSTODY.md tells an analyst to run it): whether it accepted the signature.
fn ssh_keygen_accepts(program: &Path, allowed: &Path, manifest: &Path) -> bool {
    let sig = format!("{}.sig", manifest.display());
    let status = Command::new(program)
        .args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args([
            "-I",
            "analyst@contoso.com",
            "-n",
            "o365-activities",
            "-s",
            &sig,
        ])
        .stdin(std::fs::File::open(manifest).unwrap())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    status.success()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_pull_carries_its_provenance_and_verifies_with_the_tool_and_ssh_keygen() {
    let (server, user) = tenant().await;
    let dir = tempfile::tempdir().unwrap();
    // A passphrase-protected key, as analysts keep them.
    let (key_path, key) = make_key(dir.path(), "analyst_ed25519", true);
    let allowed = allowed_signers(dir.path(), &[&key]);
    let output = dir.path().join("victim.csv");
    let key_arg = key_path.display().to_string();
    let (code, stderr) = pull(&server.url, &user, &output, &["--sign", &key_arg]).await;
    assert_eq!(code, 0, "{stderr}");
    let manifest_path = dir.path().join("victim.csv.manifest.json");
    let sig_path = dir.path().join("victim.csv.manifest.json.sig");
    let armored = std::fs::read_to_string(&sig_path).unwrap();
    assert!(
        armored.starts_with("-----BEGIN SSH SIGNATURE-----"),
        "{armored}"
    );
    assert!(stderr.contains("signature: "), "{stderr}");

    let manifest = read_json(&manifest_path);
    let provenance = &manifest["provenance"];
    assert_eq!(provenance["tool"], "o365-activities");
    assert_eq!(provenance["tool_version"], env!("CARGO_PKG_VERSION"));
    let commit = provenance["git_commit"].as_str().unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    assert_eq!(provenance["source"], "activities");
    assert_eq!(provenance["endpoints"][0]["url"], server.url.as_str());
    assert_eq!(provenance["signed_in"]["object_id"], OID);
    assert_eq!(provenance["signed_in"]["verified"], false);
    assert_eq!(provenance["signer"], fingerprint(&key).as_str());
    let line: Vec<&str> = provenance["command_line"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let at = line.iter().position(|w| *w == "--token").unwrap();
    assert_eq!(line[at + 1], "<redacted>");
    assert!(
        line.contains(&"--sign") && line.contains(&user.as_str()),
        "{line:?}"
    );
    let clock = &provenance["collection"];
    assert!(clock["local_started"].as_str().unwrap() <= clock["local_finished"].as_str().unwrap());
    for end in ["first", "last"] {
        let date = clock["server_dates"][end]["server"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(date).unwrap_or_else(|e| panic!("{date}: {e}"));
    }
    // Per time window, its range and what the service returned for it, inside what is signed.
    let windows = manifest["source_log"]["windows"].as_array().unwrap();
    assert!(!windows.is_empty());
    let sum = |field: &str| {
        windows
            .iter()
            .map(|w| w[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(sum("records"), manifest["records"].as_u64().unwrap());
    assert_eq!(sum("pages"), manifest["pages"].as_u64().unwrap());
    assert!(windows.iter().all(|w| w["finished"] == true));
    // The range's exclusive end (`--end` takes in its whole second).
    assert_eq!(windows.last().unwrap()["end"], "2018-06-01T00:00:01.000Z");
    for pair in windows.windows(2) {
        assert_eq!(pair[0]["end"], pair[1]["start"], "{windows:?}");
    }
    // No secret anywhere in what is signed, nor in the passphrase's place.
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    assert!(!text.contains(&jwt()) && !text.contains(PASSPHRASE));

    let allowed_arg = allowed.display().to_string();
    let (code, report) = verify(&manifest_path, &["--allowed-signers", &allowed_arg]).await;
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains(&format!("SIGNATURE OK  by {}", fingerprint(&key))),
        "{report}"
    );
    if let Some(program) = ssh_keygen() {
        assert!(ssh_keygen_accepts(&program, &allowed, &manifest_path));
        // And a manifest changed after signing is refused by ssh-keygen too.
        std::fs::write(&manifest_path, text.replace("\"complete\"", "\"Complete\"")).unwrap();
        assert!(!ssh_keygen_accepts(&program, &allowed, &manifest_path));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_tampering_is_caught_with_its_own_exit_code() {
    let (server, user) = tenant().await;
    let dir = tempfile::tempdir().unwrap();
    let (key_path, key) = make_key(dir.path(), "key", false);
    let (other_path, other) = make_key(dir.path(), "other", false);
    let allowed = allowed_signers(dir.path(), &[&key]);
    let allowed_arg = allowed.display().to_string();
    let check = ["--allowed-signers", allowed_arg.as_str()];
    let key_arg = key_path.display().to_string();

    // Fresh signed pulls, one per kind of tampering.
    let signed = |name: &str| dir.path().join(format!("{name}.jsonl"));
    for name in [
        "intact",
        "file",
        "rehashed",
        "signature",
        "deleted",
        "garbled",
    ] {
        let (code, stderr) = pull(&server.url, &user, &signed(name), &["--sign", &key_arg]).await;
        assert_eq!(code, 0, "{stderr}");
    }
    let manifest_of = |name: &str| dir.path().join(format!("{name}.jsonl.manifest.json"));
    let sig_of = |name: &str| dir.path().join(format!("{name}.jsonl.manifest.json.sig"));

    let (code, report) = verify(&manifest_of("intact"), &check).await;
    assert_eq!(code, 0, "intact and signed: {report}");

    // A file altered after the pull: the signature holds, the hash does not (5).
    let evidence = signed("file");
    let mut bytes = std::fs::read(&evidence).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&evidence, &bytes).unwrap();
    let (code, report) = verify(&manifest_of("file"), &check).await;
    assert_eq!(code, 5, "altered file: {report}");
    assert!(report.contains("ALTERED  file.jsonl"), "{report}");

    // The same, with the manifest re-hashed to match: the hashes agree, the signature does not.
    let evidence = signed("rehashed");
    let mut bytes = std::fs::read(&evidence).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&evidence, &bytes).unwrap();
    let mut manifest = read_json(&manifest_of("rehashed"));
    manifest["files"][0]["sha256"] =
        Value::String(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
    std::fs::write(
        manifest_of("rehashed"),
        serde_json::to_string_pretty(&manifest).unwrap() + "\n",
    )
    .unwrap();
    let (code, _) = verify(&manifest_of("rehashed"), &[]).await;
    assert_eq!(
        code, 0,
        "without --allowed-signers the re-hashed manifest passes"
    );
    let (code, report) = verify(&manifest_of("rehashed"), &check).await;
    assert_eq!(code, 7, "re-hashed manifest: {report}");
    assert!(report.contains("does not match the manifest"), "{report}");

    // A signature damaged in its body.
    let armored = std::fs::read_to_string(sig_of("signature")).unwrap();
    let mut lines: Vec<String> = armored.lines().map(str::to_string).collect();
    let middle = lines.len() / 2;
    let flipped: String = lines[middle].chars().rev().collect();
    lines[middle] = flipped;
    std::fs::write(sig_of("signature"), lines.join("\n") + "\n").unwrap();
    let (code, report) = verify(&manifest_of("signature"), &check).await;
    assert_eq!(code, 7, "damaged signature: {report}");

    // The signature deleted, while the manifest says who signed it.
    std::fs::remove_file(sig_of("deleted")).unwrap();
    let (code, report) = verify(&manifest_of("deleted"), &check).await;
    assert_eq!(code, 7, "deleted signature: {report}");
    assert!(
        report.contains("is missing, though the manifest says"),
        "{report}"
    );

    // A manifest replaced by text that is not one: unreadable (5), and not what was signed (7).
    std::fs::write(manifest_of("garbled"), "not a manifest\n").unwrap();
    let (code, report) = verify(&manifest_of("garbled"), &[]).await;
    assert_eq!(code, 5, "garbled manifest: {report}");
    let (code, report) = verify(&manifest_of("garbled"), &check).await;
    assert_eq!(code, 7, "garbled manifest: {report}");

    // A valid signature by a key the allowed signers do not name: refused, naming the key.
    let other_arg = other_path.display().to_string();
    let output = signed("other");
    let (code, stderr) = pull(&server.url, &user, &output, &["--sign", &other_arg]).await;
    assert_eq!(code, 0, "{stderr}");
    let (code, report) = verify(&manifest_of("other"), &check).await;
    assert_eq!(code, 7, "another key: {report}");
    assert!(report.contains(&fingerprint(&other)), "{report}");

    // Never signed: intact but unsigned (6) with --allowed-signers, as today (0) without.
    let (code, stderr) = pull(
        &server.url,
        &user,
        &signed("unsigned"),
        &["--mailbox-concurrency", "1"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    // A sequential walk is one window, with the pull's counts.
    let manifest = read_json(&manifest_of("unsigned"));
    let windows = manifest["source_log"]["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{windows:?}");
    assert_eq!(windows[0]["records"], manifest["records"]);
    assert_eq!(windows[0]["pages"], manifest["pages"]);
    let (code, report) = verify(&manifest_of("unsigned"), &check).await;
    assert_eq!(code, 6, "unsigned: {report}");
    assert!(report.contains("UNSIGNED"), "{report}");
    let (code, report) = verify(&manifest_of("unsigned"), &[]).await;
    assert_eq!(code, 0, "unsigned, without --allowed-signers: {report}");

    if let Some(program) = ssh_keygen() {
        assert!(ssh_keygen_accepts(
            &program,
            &allowed,
            &manifest_of("intact")
        ));
        for name in ["rehashed", "signature", "other"] {
            assert!(
                !ssh_keygen_accepts(&program, &allowed, &manifest_of(name)),
                "ssh-keygen accepted {name}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_sign_signs_an_intact_unsigned_manifest_and_never_replaces_a_signature() {
    let (server, user) = tenant().await;
    let dir = tempfile::tempdir().unwrap();
    let (key_path, key) = make_key(dir.path(), "key", false);
    let (other_path, _) = make_key(dir.path(), "other", false);
    let allowed = allowed_signers(dir.path(), &[&key]);
    let allowed_arg = allowed.display().to_string();
    let output = dir.path().join("received.jsonl");
    let (code, stderr) = pull(&server.url, &user, &output, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let manifest = dir.path().join("received.jsonl.manifest.json");
    let key_arg = key_path.display().to_string();
    let (code, report) = verify(
        &manifest,
        &["--allowed-signers", &allowed_arg, "--sign", &key_arg],
    )
    .await;
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("SIGNED NOW"), "{report}");
    let first = std::fs::read(format!("{}.sig", manifest.display())).unwrap();
    // A second signer does not replace the first signature.
    let other_arg = other_path.display().to_string();
    let (code, report) = verify(&manifest, &["--sign", &other_arg]).await;
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("is kept"), "{report}");
    assert_eq!(
        std::fs::read(format!("{}.sig", manifest.display())).unwrap(),
        first
    );
    // Altered files are never signed.
    let (code, stderr) = pull(&server.url, &user, &dir.path().join("bad.jsonl"), &[]).await;
    assert_eq!(code, 0, "{stderr}");
    std::fs::write(dir.path().join("bad.jsonl"), b"{}\n").unwrap();
    let bad = dir.path().join("bad.jsonl.manifest.json");
    let (code, report) = verify(&bad, &["--sign", &key_arg]).await;
    assert_eq!(code, 5, "{report}");
    assert!(!Path::new(&format!("{}.sig", bad.display())).exists());
}

/// Runs `batch` over the tenant's mailboxes into `case`.
async fn batch(url: &str, users: &Path, case: &Path, extra: &[&str]) -> (i32, String) {
    let token = jwt();
    let mut args = words(&[
        "batch",
        "--users",
        &users.display().to_string(),
        "--out-dir",
        &case.display().to_string(),
        "--base-url",
        url,
        "--token",
        &token,
        "--end",
        "2018-06-01T00:00:00Z",
        "--concurrency",
        "2",
    ]);
    args.extend(words(extra));
    let (code, _, stderr) = binary(args).await;
    (code, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_is_signed_when_it_completes_and_signed_again_when_resumed() {
    let (server, user) = tenant().await;
    let dir = tempfile::tempdir().unwrap();
    let (key_path, key) = make_key(dir.path(), "key", false);
    let allowed = allowed_signers(dir.path(), &[&key]);
    let allowed_arg = allowed.display().to_string();
    let check = ["--allowed-signers", allowed_arg.as_str()];
    let users = dir.path().join("users.txt");
    // One mailbox the tenant has, and one it does not (404: the case ends incomplete).
    std::fs::write(&users, format!("{user}\nnobody@contoso.com\n")).unwrap();
    let case = dir.path().join("case");
    let key_arg = key_path.display().to_string();
    let (code, stderr) = batch(&server.url, &users, &case, &["--sign", &key_arg]).await;
    assert_eq!(code, 4, "{stderr}");
    let manifest = case.join("manifest.json");
    let sig = case.join("manifest.json.sig");
    assert!(sig.exists(), "{stderr}");
    let (code, report) = verify(&case, &check).await;
    assert_eq!(code, 4, "signed, intact, not complete: {report}");
    assert!(report.contains("SIGNATURE OK"), "{report}");
    if let Some(program) = ssh_keygen() {
        assert!(ssh_keygen_accepts(&program, &allowed, &manifest));
    }
    let first = std::fs::read(&sig).unwrap();
    // Each mailbox's time windows with their counts, inside what is signed.
    let entry = read_json(&manifest)["mailboxes"][0].clone();
    assert_eq!(entry["mailbox"], user.as_str());
    let windows = entry["source_log"][0]["windows"]
        .as_array()
        .unwrap()
        .clone();
    let records: u64 = windows.iter().map(|w| w["records"].as_u64().unwrap()).sum();
    assert_eq!(records, entry["records"].as_u64().unwrap(), "{entry}");

    // Resumed with the same key: the manifest changed, and is signed again.
    let (_, stderr) = batch(
        &server.url,
        &users,
        &case,
        &["--resume", "--sign", &key_arg],
    )
    .await;
    assert_ne!(std::fs::read(&sig).unwrap(), first, "{stderr}");
    let (code, report) = verify(&case, &check).await;
    assert_eq!(code, 4, "{report}");
    let runs = read_json(&manifest)["provenance"].as_array().unwrap().len();
    assert_eq!(runs, 2, "one provenance entry per run");
    if let Some(program) = ssh_keygen() {
        assert!(ssh_keygen_accepts(&program, &allowed, &manifest));
    }

    // Resumed without a key: the old signature, of other bytes, is gone, and this run's
    // provenance names no signer: intact but unsigned.
    let (_, stderr) = batch(&server.url, &users, &case, &["--resume"]).await;
    assert!(!sig.exists(), "{stderr}");
    let (code, report) = verify(&case, &check).await;
    assert_eq!(code, 6, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_that_cannot_be_written_leaves_only_the_partial_result_and_a_rerun_completes() {
    let (server, user) = tenant().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("victim.csv");
    let (code, stderr) = pull(&server.url, &user, &output, &["--fail-manifest-write"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no space left on device"), "{stderr}");
    assert!(stderr.contains("partial result kept"), "{stderr}");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".victim.jsonl.lock")
        .collect();
    names.sort();
    // No final name without its manifest, and no temporary file left behind.
    assert_eq!(
        names,
        ["victim.csv.partial.manifest.json", "victim.jsonl.partial"],
        "{stderr}"
    );
    let partial = read_json(&dir.path().join("victim.csv.partial.manifest.json"));
    assert_eq!(partial["status"], "incomplete");
    let (code, report) = verify(&dir.path().join("victim.csv.partial.manifest.json"), &[]).await;
    assert_eq!(code, 4, "{report}");

    // The same pull again, with room: complete, the partial result superseded.
    let (code, stderr) = pull(&server.url, &user, &output, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(dir.path().join("victim.csv.manifest.json").exists());
    assert!(!dir.path().join("victim.jsonl.partial").exists());
    let (code, report) = verify(&dir.path().join("victim.csv.manifest.json"), &[]).await;
    assert_eq!(code, 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_of_a_case_whose_manifest_was_deleted_exits_5() {
    let (server, user) = tenant().await;
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.txt");
    std::fs::write(&users, format!("{user}\n")).unwrap();
    let case = dir.path().join("case");
    let (code, stderr) = batch(&server.url, &users, &case, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    std::fs::remove_file(case.join("manifest.json")).unwrap();
    let (code, report) = verify(&case, &[]).await;
    assert_eq!(code, 5, "{report}");
    assert!(report.contains("manifest is missing"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_allowed_signers_files_fail_at_the_door_with_exit_2() {
    let (server, user) = tenant().await;
    let dir = tempfile::tempdir().unwrap();
    let (key_path, _) = make_key(dir.path(), "key", true);
    let output = dir.path().join("x.jsonl");
    let key_arg = key_path.display().to_string();
    // The public half given instead of the private key.
    let public = dir.path().join("key.pub");
    std::fs::write(&public, "ssh-ed25519 AAAA comment\n").unwrap();
    let (code, stderr) = pull(
        &server.url,
        &user,
        &output,
        &["--sign", &public.display().to_string()],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not an OpenSSH private key"), "{stderr}");
    // A wrong passphrase.
    let mut args = words(&[
        "pull",
        "--user",
        &user,
        "--output",
        &output.display().to_string(),
        "--token",
        "t",
        "--base-url",
        &server.url,
        "--sign",
        &key_arg,
    ]);
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        let out = Command::cargo_bin("o365-activities")
            .unwrap()
            .args(std::mem::take(&mut args))
            .env("O365_SIGNING_PASSPHRASE", "wrong")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    assert!(!output.exists() && !stderr.contains("wrong\n"));
    // A pull to standard output has no manifest to sign.
    let (code, stderr) = pull(&server.url, &user, Path::new("-"), &["--sign", &key_arg]).await;
    assert_eq!(code, 2, "{stderr}");
    // An allowed signers file with a bad line is named with its line number.
    let allowed = dir.path().join("allowed");
    std::fs::write(&allowed, "analyst@contoso.com ssh-ed25519 notakey\n").unwrap();
    let (code, report) = verify(
        dir.path(),
        &["--allowed-signers", &allowed.display().to_string()],
    )
    .await;
    assert_eq!(code, 2, "{report}");
    assert!(report.contains("line 1"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_audit_pull_records_its_tenant_app_and_endpoints_and_no_secret() {
    use o365_activities::mock::MOCK_TENANT_ID;
    let t = Tenant::builder()
        .users(2)
        .per_user(60)
        .days(10)
        .seed(29)
        .tokens(&["mock-token"])
        .audit_log()
        .without_static_token()
        .start()
        .await;
    let (server, user) = (t.server, t.users[0].clone());
    let dir = tempfile::tempdir().unwrap();
    let (key_path, key) = make_key(dir.path(), "key", false);
    let allowed = allowed_signers(dir.path(), &[&key]);
    let output = dir.path().join("ual.jsonl");
    let args = words(&[
        "pull",
        "--source",
        "audit",
        "--user",
        &user,
        "--output",
        &output.display().to_string(),
        "--graph-url",
        &server.url,
        "--authority-url",
        &server.url,
        "--tenant",
        MOCK_TENANT_ID,
        "--client-id",
        "mock-client-id",
        "--poll-interval",
        "0.1",
        "--start",
        "2018-05-01T00:00:00Z",
        "--end",
        "2018-06-01T00:00:00Z",
        "--sign",
        &key_path.display().to_string(),
    ]);
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        let out = Command::cargo_bin("o365-activities")
            .unwrap()
            .args(&args)
            .env_remove("OAUTH_TOKEN")
            .env("O365_CLIENT_SECRET", "mock-client-secret")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    let manifest_path = dir.path().join("ual.jsonl.manifest.json");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    assert!(!text.contains("mock-client-secret") && !text.contains("mock-access-"));
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let provenance = &manifest["provenance"];
    assert_eq!(provenance["source"], "audit");
    assert_eq!(provenance["tenant"], MOCK_TENANT_ID);
    assert_eq!(provenance["application_id"], "mock-client-id");
    let roles: Vec<&str> = provenance["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["api", "sign-in"]);
    assert!(provenance["endpoints"][1]["url"]
        .as_str()
        .unwrap()
        .ends_with("/oauth2/v2.0/token"));
    // The audit queries' own ids and counts, inside what is signed.
    assert!(
        manifest["source_log"]["queries"][0]["query_id"].is_string(),
        "{text}"
    );
    let (code, report) = verify(
        &manifest_path,
        &["--allowed-signers", &allowed.display().to_string()],
    )
    .await;
    assert_eq!(code, 0, "{report}");
}
