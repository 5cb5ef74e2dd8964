//! Provenance: what produced the evidence, recorded inside the manifest (so inside what is
//! signed). Never a secret: the command line is recorded with every secret's value removed,
//! and the identity comes from the token's claims, not the token.

use serde::{Deserialize, Serialize};

use crate::http::{ClientOptions, Credentials, ServerDates};

/// The git commit the binary was built from (`build.rs`), or `unknown`.
pub const GIT_COMMIT: &str = env!("O365_ACTIVITIES_GIT_COMMIT");

/// What the evidence of one run came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub tool: String,
    pub tool_version: String,
    /// The git commit of the build, `unknown` when it was not built from a git checkout.
    pub git_commit: String,
    /// The command line as typed, every secret's value replaced by `<redacted>`.
    pub command_line: Vec<String>,
    /// `activities`, `audit` or `feed`.
    pub source: String,
    /// Every service the run spoke to.
    pub endpoints: Vec<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub application_id: Option<String>,
    /// Who the access token says signed in (its `oid`, `tid` and `appid`/`azp` claims), read
    /// from the token WITHOUT verifying its signature (the services verify it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub signed_in: Option<SignedIn>,
    pub collection: CollectionClock,
    /// The SHA-256 fingerprint of the key that signs this manifest (`--sign`), so a deleted
    /// signature is told from a manifest never signed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub signer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// What the endpoint is for: `api` or `sign-in`.
    pub role: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub object_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub application_id: Option<String>,
    pub verified: bool,
}

/// When the collection ran, by the local clock and by the servers' `Date` headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionClock {
    pub local_started: String,
    pub local_finished: String,
    /// The first and last `Date` the servers sent, each with the local time it arrived.
    #[serde(default)]
    pub server_dates: ServerDates,
}

impl Provenance {
    /// The provenance of a run over `client`, reading from `source` (its name), that started
    /// and finished at these local times.
    pub fn of_run(
        command_line: &[String],
        source: &str,
        client: &ClientOptions,
        server_dates: ServerDates,
        local_started: String,
        local_finished: String,
        signer: Option<String>,
    ) -> Self {
        let mut endpoints = vec![Endpoint {
            role: "api".into(),
            url: redact_url(&client.base_url),
        }];
        let (tenant, application_id) = match &client.credentials {
            Credentials::SignIn(sign_in) => {
                endpoints.push(Endpoint {
                    role: "sign-in".into(),
                    url: redact_url(&sign_in.token_endpoint()),
                });
                (
                    Some(sign_in.tenant().to_string()),
                    Some(sign_in.client_id().to_string()),
                )
            }
            Credentials::Bearer(_) | Credentials::Basic { .. } => (None, None),
        };
        let signed_in = client.credentials.claims().map(|claims| SignedIn {
            object_id: claims.object_id,
            tenant_id: claims.tenant_id,
            application_id: claims.application_id,
            verified: false,
        });
        Provenance {
            tool: "o365-activities".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            git_commit: GIT_COMMIT.into(),
            command_line: command_line.to_vec(),
            source: source.to_string(),
            endpoints,
            tenant,
            application_id,
            signed_in,
            collection: CollectionClock {
                local_started,
                local_finished,
                server_dates,
            },
            signer,
        }
    }
}

/// Whether a flag's value is a secret: by its name, so a flag added later is covered too
/// (`--token`, mock-tenant's `--tokens` and `--client-secret`, any password or passphrase).
fn is_secret_flag(name: &str) -> bool {
    let name = name.trim_start_matches('-').to_ascii_lowercase();
    ["token", "secret", "password", "passphrase", "passwd"]
        .iter()
        .any(|word| name.contains(word))
}

/// The command line with every secret's value replaced by `<redacted>`: the value of a
/// secret flag (`--token T` or `--token=T`), and a URL's password and query values.
pub fn redact_command_line(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut secret_next = false;
    for arg in args {
        if secret_next {
            out.push("<redacted>".into());
            secret_next = false;
            continue;
        }
        if arg.starts_with("--") {
            if let Some((name, _)) = arg.split_once('=') {
                if is_secret_flag(name) {
                    out.push(format!("{name}=<redacted>"));
                    continue;
                }
            } else if is_secret_flag(&arg) {
                secret_next = true;
                out.push(arg);
                continue;
            }
        }
        out.push(redact_url(&arg));
    }
    out
}

/// A URL's password and query values replaced (they can carry keys: `?code=`, `?sig=`); any
/// other text as it is. `name=URL` (a flag's value given with `=`) is handled too.
pub fn redact_url(text: &str) -> String {
    if let Some((name, value)) = text.split_once('=') {
        if name.starts_with("--") {
            return format!("{name}={}", redact_url(value));
        }
    }
    let Ok(mut url) = url::Url::parse(text) else {
        return text.to_string();
    };
    if !url.has_host() {
        return text.to_string();
    }
    let mut changed = false;
    if url.password().is_some() {
        let _ = url.set_password(Some("redacted"));
        changed = true;
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, _)| (k.into_owned(), "redacted".to_string()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if changed {
        url.to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(args: &[&str]) -> Vec<String> {
        redact_command_line(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn removes_every_secret_from_the_command_line() {
        let line = redact(&[
            "o365-activities",
            "pull",
            "--token",
            "eyJhbGciOi.secret",
            "--user",
            "victim@contoso.com",
            "--token=eyJ2",
            "--client-secret",
            "s3cr3t",
            "--tokens=a,b",
            "--base-url",
            "https://user:hunter2@outlook.example/?code=abc&x=1",
            "--graph-url=https://graph.example/?sig=xyz",
            "--output",
            "out.csv",
        ]);
        let joined = line.join(" ");
        for secret in [
            "eyJhbGciOi",
            "eyJ2",
            "s3cr3t",
            "a,b",
            "hunter2",
            "abc",
            "xyz",
        ] {
            assert!(!joined.contains(secret), "{secret} in {joined}");
        }
        assert_eq!(line[2..4], ["--token", "<redacted>"]);
        assert_eq!(line[6], "--token=<redacted>");
        assert!(joined.contains("--user victim@contoso.com"), "{joined}");
        assert!(joined.contains("--output out.csv"), "{joined}");
        assert!(joined.contains("outlook.example"), "{joined}");
    }

    #[test]
    fn leaves_ordinary_values_alone() {
        assert_eq!(
            redact(&[
                "x",
                "--sign",
                "key",
                "--start",
                "30d",
                "https://graph.example"
            ]),
            [
                "x",
                "--sign",
                "key",
                "--start",
                "30d",
                "https://graph.example"
            ]
        );
    }
}
