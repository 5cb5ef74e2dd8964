//! Turning parsed arguments into validated configurations, before any work starts.

mod batch;
mod demo;
mod mock_tenant;
mod source;
mod triage;

pub use batch::BatchConfig;
pub use demo::DemoConfig;
pub use mock_tenant::{GenerateConfig, ServeConfig};
pub use triage::TriageConfig;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use crate::cli::{ApiVersion, ConnectionArgs, PullArgs, QueryArgs};
use crate::error::AppError;
use crate::http::{Backoff, ClientOptions, Credentials, RateBudget, RetryPolicy};
use crate::odata::{known_types, ActivityFilter};
use crate::output::{OutputFormat, OutputPlan};
pub use crate::pipeline::{Destination, PullConfig};
use crate::progress::ProgressMode;
use crate::secret::SecretString;
pub use crate::source::QueryConfig;
use crate::timespec::{parse_time, parse_time_argument, RangeEnd};

pub const DEFAULT_BASE_URL: &str = "https://outlook.office.com";
pub const DEFAULT_BASIC_BASE_URL: &str = "https://outlook.office365.com";

impl PullConfig {
    pub fn from_args(args: &PullArgs, now: DateTime<Utc>, quiet: bool) -> Result<Self, AppError> {
        let mut query = QueryConfig::from_args(&args.query, &args.connection, now)?;
        let (kind, client) =
            source::source_and_client(&args.source, &args.connection, &args.user, args.dry_run)?;
        query.source = kind;
        // A dry run writes nothing, so it neither plans files nor refuses existing ones.
        let destination = if args.output.as_os_str() == "-" || args.dry_run {
            Destination::Stdout(args.format.unwrap_or(OutputFormat::Jsonl))
        } else {
            Destination::Files(OutputPlan::new(&args.output, args.format, args.force)?)
        };
        let custody = custody_for_pull(args, &destination)?;
        Ok(PullConfig {
            client,
            query,
            destination,
            sanitize: !args.no_sanitize,
            csv_bom: args.connection.csv_bom,
            dry_run: args.dry_run,
            notes: time_notes(&args.query, now),
            progress: ProgressMode::for_stderr(
                quiet,
                Duration::from_secs(args.connection.progress_interval),
            ),
            custody,
        })
    }
}

/// The chain of custody of a pull: a signature needs a manifest to sign.
fn custody_for_pull(
    args: &PullArgs,
    destination: &Destination,
) -> Result<crate::custody::Custody, AppError> {
    if args.custody.sign.is_some() && matches!(destination, Destination::Stdout(_)) && !args.dry_run
    {
        return Err(AppError::Usage(
            "--sign signs the manifest, and a pull to standard output writes none: give              --output a file"
                .into(),
        ));
    }
    crate::custody::Custody::from_args(&args.custody)
}

impl QueryConfig {
    pub fn from_args(
        query: &QueryArgs,
        connection: &ConnectionArgs,
        now: DateTime<Utc>,
    ) -> Result<Self, AppError> {
        let start = query
            .start
            .as_deref()
            .map(|t| {
                parse_time(t, now, RangeEnd::Start)
                    .map_err(|e| AppError::Usage(format!("--start: {e}")))
            })
            .transpose()?;
        // The end is exclusive (`TimeStamp lt`): without --end, everything before the instant
        // the pull starts, to the millisecond, so nothing created during the pull gets in.
        let end = match query.end.as_deref() {
            Some(t) => parse_time(t, now, RangeEnd::End)
                .map_err(|e| AppError::Usage(format!("--end: {e}")))?,
            None => now.trunc_subsecs(3),
        };
        if let Some(start) = start {
            if start >= end {
                return Err(AppError::Usage(format!(
                    "--start {} is not before --end {}: swap them or widen the range",
                    query.start.as_deref().unwrap_or_default(),
                    query.end.as_deref().unwrap_or("(now)")
                )));
            }
        }
        let kinds = [
            ("--types", &query.types, known_types::ACTIVITY_TYPES),
            ("--app-types", &query.app_types, known_types::APP_TYPES),
        ];
        for (flag, values, known) in kinds {
            if values.iter().any(|v| v.trim().is_empty()) {
                return Err(AppError::Usage(format!("{flag} has an empty value")));
            }
            // A misspelt type matches nothing, and an empty result looks like a clean mailbox.
            for value in values.iter().filter(|_| !query.allow_unknown_types) {
                if let Some(hint) = known_types::unknown_type(value, known) {
                    return Err(AppError::Usage(format!(
                        "{flag} {value:?} is not a documented type: {hint} (pass \
                         --allow-unknown-types to send it anyway)"
                    )));
                }
            }
        }
        let select = if query.select.is_empty() {
            None
        } else {
            let mut select: Vec<String> =
                ["Id", "TimeStamp"].iter().map(|s| s.to_string()).collect();
            for property in &query.select {
                let property = property.trim();
                if property.is_empty()
                    || !property
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(AppError::Usage(format!(
                        "--select {property:?} is not a property name (letters, digits and _ only)"
                    )));
                }
                if !select.iter().any(|s| s == property) {
                    select.push(property.to_string());
                }
            }
            Some(select)
        };
        Ok(QueryConfig {
            filter: ActivityFilter {
                start,
                end,
                before: None,
                types: query.types.clone(),
                app_types: query.app_types.clone(),
            },
            select,
            page_size: connection.page_size,
            paging: connection.paging,
            mailbox_concurrency: connection.mailbox_concurrency as usize,
            source: crate::source::SourceKind::Activities,
        })
    }
}

/// What to tell the analyst about the time arguments before a pull: a time without a zone or
/// offset was taken as UTC.
pub fn time_notes(query: &QueryArgs, now: DateTime<Utc>) -> Vec<String> {
    [
        ("--start", &query.start, RangeEnd::Start),
        ("--end", &query.end, RangeEnd::End),
    ]
    .into_iter()
    .filter_map(|(flag, text, which)| {
        let text = text.as_deref()?;
        let parsed = parse_time_argument(text, now, which).ok()?;
        parsed.assumed_utc.then(|| {
            format!("{flag} {text} has no UTC offset: taken as UTC (add Z or +HH:MM to say so)")
        })
    })
    .collect()
}

/// Credentials and endpoint for one mailbox. Without credentials only a dry run may go on.
pub fn client_options(
    user: &str,
    connection: &ConnectionArgs,
    dry_run: bool,
) -> Result<ClientOptions, AppError> {
    let user = user.trim();
    if user.is_empty() {
        return Err(AppError::Usage(
            "--user is empty: give a UPN such as victim@contoso.com, or me".into(),
        ));
    }
    // Caught here, before a request whose 404 would read as a missing permission.
    let upn_shaped = user.split_once('@').is_some_and(|(name, domain)| {
        !name.is_empty() && domain.contains('.') && !domain.ends_with('.')
    });
    if !user.eq_ignore_ascii_case("me") && !upn_shaped {
        return Err(AppError::Usage(format!(
            "--user {user:?} is not a user principal name: give the mailbox's UPN, such as \
             {user}@contoso.com, or me for the token's own mailbox"
        )));
    }
    let credentials =
        match (&connection.username, &connection.token) {
            (Some(_), Some(_)) => return Err(AppError::Usage(
                "both --username (Basic) and a token (--token or OAUTH_TOKEN) were given: use one"
                    .into(),
            )),
            (Some(username), None) => {
                if connection.api_version != ApiVersion::V1 {
                    return Err(AppError::Usage(
                        "Basic authentication (--username) works only with --api-version v1.0"
                            .into(),
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
            _ => return Err(AppError::Usage(
                "no credentials: pass --token or set OAUTH_TOKEN (an OAuth 2.0 access token), or \
                 use --username with --api-version v1.0"
                    .into(),
            )),
        };
    let default_base = if connection.username.is_some() {
        DEFAULT_BASIC_BASE_URL
    } else {
        DEFAULT_BASE_URL
    };
    let base_url = connection
        .base_url
        .clone()
        .unwrap_or_else(|| default_base.to_string());
    let parsed = reqwest::Url::parse(&base_url)
        .map_err(|e| AppError::Usage(format!("--base-url {base_url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        return Err(AppError::Usage(format!(
            "--base-url {base_url:?} must be an http(s) URL without a query, e.g. https://outlook.office.com"
        )));
    }
    Ok(connection_options(
        base_url,
        connection.api_version.as_str(),
        user,
        credentials,
        connection,
    ))
}

/// The connection to `base_url` as `connection`'s flags set it (timeouts, retries, body cap).
pub fn connection_options(
    base_url: String,
    api_version: &str,
    user: &str,
    credentials: Credentials,
    connection: &ConnectionArgs,
) -> ClientOptions {
    ClientOptions {
        base_url,
        api_version: api_version.to_string(),
        user: user.to_string(),
        credentials,
        timeout: Duration::from_secs(connection.timeout),
        retry: RetryPolicy {
            max_retries: connection.max_retries,
            max_server_wait: Duration::from_secs(connection.max_wait),
            backoff: Backoff {
                base: Duration::from_millis(500),
                cap: Duration::from_secs(60),
            },
        },
        budget: RateBudget::default(),
        max_page_bytes: connection.max_page_bytes,
    }
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
