//! The source a pull or a batch reads (`--source`), and the sign-in of the audit log sources.

use std::time::Duration;

use super::{client_options, connection_options};
use crate::cli::{ConnectionArgs, GraphVersion, SourceArgs, SourceName};
use crate::error::AppError;
use crate::http::{ClientOptions, Credentials};
use crate::secret::SecretString;
use crate::signin::{CertificateKey, Flow, SignIn};
use crate::source::{AuditQueryOptions, FeedOptions, FeedUsers, SourceKind};

/// The resource each audit log API checks a token's audience against, whatever URL it is
/// reached at (the mock tenant, a national cloud's own host).
const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
const MANAGEMENT_RESOURCE: &str = "https://manage.office.com";

/// The source and its connection. `users`: the `--user`s given: one mailbox for the Activities
/// API and the Graph queries (a batch passes its first), any number for the feed.
pub fn source_and_client(
    source: &SourceArgs,
    connection: &ConnectionArgs,
    users: &[String],
    dry_run: bool,
) -> Result<(SourceKind, ClientOptions), AppError> {
    let one_user = || -> Result<&str, AppError> {
        match users {
            [user] => Ok(user.as_str()),
            [] => Err(AppError::Usage(format!(
                "--user is required with --source {}: give the mailbox's UPN",
                source_name(source.source)
            ))),
            _ => Err(AppError::Usage(format!(
                "--source {} pulls one mailbox: give one --user (batch takes a list)",
                source_name(source.source)
            ))),
        }
    };
    refuse_flags_of_other_sources(source)?;
    match source.source {
        SourceName::Activities => {
            let client = client_options(one_user()?, connection, dry_run)?;
            Ok((SourceKind::Activities, client))
        }
        SourceName::Audit => {
            let user = one_user()?;
            if user.eq_ignore_ascii_case("me") || !user.contains('@') {
                return Err(AppError::Usage(format!(
                    "--user {user:?}: the audit log is queried by user principal name; give the \
                     mailbox's UPN, such as victim@contoso.com"
                )));
            }
            if source.poll_interval.is_nan() || !(0.0..=3600.0).contains(&source.poll_interval) {
                return Err(AppError::Usage(
                    "--poll-interval must be between 0 and 3600 seconds".into(),
                ));
            }
            let version = match source.graph_version {
                GraphVersion::V1 => "v1.0",
                GraphVersion::Beta => "beta",
            };
            let credentials = audit_credentials(source, connection, GRAPH_RESOURCE, dry_run)?;
            let url = checked_url("--graph-url", &source.graph_url)?;
            let client = connection_options(url, version, user, credentials, connection);
            let kind = SourceKind::AuditQuery(AuditQueryOptions {
                api_version: version.to_string(),
                operations: non_empty("--operations", &source.operations)?,
                record_types: non_empty("--record-types", &source.record_types)?,
                poll_interval: Duration::from_secs_f64(source.poll_interval),
                query_timeout: Duration::from_secs(source.query_timeout),
                min_split: Duration::from_secs(source.min_split),
            });
            Ok((kind, client))
        }
        SourceName::Feed => {
            let Some(tenant) = source.tenant.clone().filter(|t| !t.trim().is_empty()) else {
                return Err(AppError::Usage(
                    "--source feed needs --tenant: the tenant id the Management Activity API \
                     serves (a GUID)"
                        .into(),
                ));
            };
            let credentials = audit_credentials(source, connection, MANAGEMENT_RESOURCE, dry_run)?;
            let url = checked_url("--management-url", &source.management_url)?;
            let label = if users.is_empty() {
                format!("every user of {tenant}")
            } else {
                users.join(", ")
            };
            let client = connection_options(url, "v1.0", &label, credentials, connection);
            let kind = SourceKind::Feed(FeedOptions {
                tenant,
                content_types: non_empty("--content-types", &source.content_types)?,
                users: FeedUsers::Listed(users.to_vec()),
                state: source.state.clone(),
                blob_cache: None,
                fetches: Default::default(),
            });
            Ok((kind, client))
        }
    }
}

/// A flag that only another source reads would be ignored, and an analyst would believe the
/// records filtered or the sign-in used: it is refused instead.
fn refuse_flags_of_other_sources(source: &SourceArgs) -> Result<(), AppError> {
    let given = [
        (
            "--operations",
            !source.operations.is_empty(),
            SourceName::Audit,
        ),
        (
            "--record-types",
            !source.record_types.is_empty(),
            SourceName::Audit,
        ),
        ("--state", source.state.is_some(), SourceName::Feed),
    ];
    for (flag, present, reader) in given {
        if present && source.source != reader {
            return Err(AppError::Usage(format!(
                "{flag} is for --source {}: it would change nothing with --source {}",
                source_name(reader),
                source_name(source.source)
            )));
        }
    }
    let signs_in = source.client_id.is_some() || source.certificate.is_some() || source.device_code;
    if signs_in && source.source == SourceName::Activities {
        return Err(AppError::Usage(
            "--client-id, --certificate and --device-code sign in to the audit log sources \
             (--source audit or feed); the Activities API takes --token or --username"
                .into(),
        ));
    }
    Ok(())
}

fn source_name(name: SourceName) -> &'static str {
    match name {
        SourceName::Activities => "activities",
        SourceName::Audit => "audit",
        SourceName::Feed => "feed",
    }
}

fn non_empty(flag: &str, values: &[String]) -> Result<Vec<String>, AppError> {
    if values.iter().any(|v| v.trim().is_empty()) {
        return Err(AppError::Usage(format!("{flag} has an empty value")));
    }
    Ok(values.iter().map(|v| v.trim().to_string()).collect())
}

fn checked_url(flag: &str, url: &str) -> Result<String, AppError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| AppError::Usage(format!("{flag} {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        return Err(AppError::Usage(format!(
            "{flag} {url:?} must be an http(s) URL without a query"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// A given token (`--token`, `OAUTH_TOKEN`), or a sign-in of `--client-id` in `--tenant` for
/// `resource`.
fn audit_credentials(
    source: &SourceArgs,
    connection: &ConnectionArgs,
    resource: &str,
    dry_run: bool,
) -> Result<Credentials, AppError> {
    if connection.username.is_some() {
        return Err(AppError::Usage(
            "--username (Basic) is for the Activities API: the audit log APIs take --client-id \
             and --tenant, or a token"
                .into(),
        ));
    }
    if let Some(token) = connection
        .token
        .as_ref()
        .filter(|t| !t.expose().trim().is_empty())
    {
        if source.client_id.is_some() {
            return Err(AppError::Usage(
                "both a token (--token or OAUTH_TOKEN) and --client-id were given: use one".into(),
            ));
        }
        return Ok(Credentials::Bearer(SecretString::new(
            token.expose().trim(),
        )));
    }
    let Some(client_id) = source.client_id.as_deref() else {
        if dry_run {
            return Ok(Credentials::Bearer(SecretString::new("")));
        }
        return Err(AppError::Usage(
            "no credentials: give --tenant and --client-id (the secret from O365_CLIENT_SECRET \
             or a prompt, or --certificate, or --device-code), or a token with --token or \
             OAUTH_TOKEN"
                .into(),
        ));
    };
    let Some(tenant) = source.tenant.as_deref() else {
        return Err(AppError::Usage(
            "--client-id needs --tenant (the tenant id or a verified domain)".into(),
        ));
    };
    checked_url("--authority-url", &source.authority_url)?;
    let flow = if source.device_code {
        Flow::DeviceCode
    } else if let Some(path) = &source.certificate {
        let text = std::fs::read_to_string(path).map_err(|e| {
            AppError::Usage(format!("cannot read --certificate {}: {e}", path.display()))
        })?;
        Flow::Certificate(
            CertificateKey::from_pem(&text)
                .map_err(|e| AppError::Usage(format!("--certificate {}: {e}", path.display())))?,
        )
    } else {
        Flow::Secret(client_secret(client_id, dry_run)?)
    };
    let sign_in = SignIn::new(&source.authority_url, tenant, client_id, resource, flow)
        .map_err(AppError::Other)?;
    Ok(Credentials::SignIn(std::sync::Arc::new(sign_in)))
}

/// The client secret: from `O365_CLIENT_SECRET`, or typed at a prompt; never a flag, which
/// would show in the process list and the shell's history.
fn client_secret(client_id: &str, dry_run: bool) -> Result<SecretString, AppError> {
    if let Ok(secret) = std::env::var("O365_CLIENT_SECRET") {
        if !secret.trim().is_empty() {
            return Ok(SecretString::new(secret.trim()));
        }
    }
    if dry_run {
        return Ok(SecretString::new(""));
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(AppError::Usage(format!(
            "no client secret for --client-id {client_id}: set O365_CLIENT_SECRET, or use \
             --certificate or --device-code"
        )));
    }
    rpassword::prompt_password(format!("Client secret of app {client_id}: "))
        .map(SecretString::new)
        .map_err(|e| AppError::Usage(format!("cannot read the client secret: {e}")))
}
