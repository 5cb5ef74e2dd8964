//! The source a pull or a batch reads (`--source`), and the sign-in of the audit log sources.

use std::sync::Arc;

use super::connection_options;
use crate::cli::ConnectionArgs;
use crate::error::AppError;
use crate::http::{ClientOptions, Credentials};
use crate::secret::SecretString;
use crate::signin::{CertificateKey, Flow, SignIn};
use crate::source::args::{ActivitiesArgs, ApiVersion, SignInArgs, SourceArgs};
use crate::source::{
    checked_url, registry, ClientKind, SourceDescriptor, SourceRequest, SourceSpec,
};

/// The source and its connection. `users`: the `--user`s given: one mailbox for the Activities
/// API and the Graph queries (a batch passes its first), any number for the feed.
pub fn source_and_client(
    source: &SourceArgs,
    connection: &ConnectionArgs,
    users: &[String],
    dry_run: bool,
) -> Result<(Arc<dyn SourceSpec>, ClientOptions), AppError> {
    let descriptor = registry::find(&source.source).ok_or_else(|| {
        AppError::Usage(format!(
            "--source {:?} is not a source: use one of {}",
            source.source,
            registry::names().collect::<Vec<_>>().join(", ")
        ))
    })?;
    refuse_flags_of_other_sources(source, descriptor)?;
    let configured = (descriptor.configure)(&SourceRequest {
        args: source,
        users,
    })
    .map_err(AppError::Usage)?;
    let credentials = match descriptor.client {
        ClientKind::Api { resource } => {
            audit_credentials(&source.sign_in, connection, resource, dry_run)?
        }
        ClientKind::Activities => activities_credentials(&source.activities, connection, dry_run)?,
    };
    let client = connection_options(
        configured.url,
        &configured.api_version,
        &configured.label,
        credentials,
        connection,
    );
    Ok((configured.spec, client))
}

/// A flag that only another source reads would be ignored, and an analyst would believe the
/// records filtered or the sign-in used: it is refused instead. Which flags a source reads is
/// its descriptor's `reads`; the flags of each group are `source::args`'s declaration.
fn refuse_flags_of_other_sources(
    source: &SourceArgs,
    descriptor: &SourceDescriptor,
) -> Result<(), AppError> {
    let Some((flag, group)) = crate::source::args::refused_flag(&source.given, descriptor) else {
        return Ok(());
    };
    let readers: Vec<&str> = registry::SOURCES
        .iter()
        .filter(|other| other.reads(group))
        .map(|other| other.name)
        .collect();
    Err(AppError::Usage(format!(
        "{flag} is for --source {}: it would change nothing with --source {}",
        readers.join(" or "),
        descriptor.name
    )))
}

/// The Activities API's own sign-in: a token, or Basic (`--username`, API v1.0 only).
fn activities_credentials(
    args: &ActivitiesArgs,
    connection: &ConnectionArgs,
    dry_run: bool,
) -> Result<Credentials, AppError> {
    Ok(match (&args.username, &connection.token) {
        (Some(_), Some(_)) => {
            return Err(AppError::Usage(
                "both --username (Basic) and a token (--token or OAUTH_TOKEN) were given: use one"
                    .into(),
            ))
        }
        (Some(username), None) => {
            if args.api_version != ApiVersion::V1 {
                return Err(AppError::Usage(
                    "Basic authentication (--username) works only with --api-version v1.0".into(),
                ));
            }
            Credentials::Basic {
                username: username.clone(),
                password: basic_password(username, dry_run)?,
            }
        }
        (None, Some(token)) if !token.expose().trim().is_empty() => {
            Credentials::Bearer(SecretString::new(token.expose().trim()))
        }
        _ if dry_run => Credentials::Bearer(SecretString::new("")),
        _ => {
            return Err(AppError::Usage(
                "no credentials: pass --token or set OAUTH_TOKEN (an OAuth 2.0 access token), or \
                 use --username with --api-version v1.0"
                    .into(),
            ))
        }
    })
}

fn basic_password(username: &str, dry_run: bool) -> Result<SecretString, AppError> {
    if let Ok(password) = std::env::var("O365_PASSWORD") {
        return Ok(SecretString::new(password));
    }
    if dry_run {
        return Ok(SecretString::new(""));
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(AppError::Usage(
            "no password for --username: set O365_PASSWORD (an app password if MFA is on)".into(),
        ));
    }
    rpassword::prompt_password(format!("Password (or app password) for {username}: "))
        .map(SecretString::new)
        .map_err(|e| AppError::Usage(format!("cannot read the password: {e}")))
}

/// A given token (`--token`, `OAUTH_TOKEN`), or a sign-in of `--client-id` in `--tenant` for
/// `resource`.
fn audit_credentials(
    source: &SignInArgs,
    connection: &ConnectionArgs,
    resource: &str,
    dry_run: bool,
) -> Result<Credentials, AppError> {
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
    checked_url("--authority-url", &source.authority_url).map_err(AppError::Usage)?;
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
