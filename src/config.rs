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

use crate::cli::{ConnectionArgs, PullArgs, QueryArgs};
use crate::error::AppError;
use crate::http::{Backoff, ClientOptions, Credentials, RateBudget, RetryPolicy};
use crate::odata::{known_types, ActivityFilter};
use crate::output::{OutputFormat, OutputPlan};
pub use crate::pipeline::{Destination, PullConfig};
use crate::progress::ProgressMode;
use crate::source::args::ActivitiesArgs;
pub use crate::source::QueryConfig;
use crate::timespec::{parse_time, parse_time_argument, RangeEnd};

impl PullConfig {
    pub fn from_args(args: &PullArgs, now: DateTime<Utc>, quiet: bool) -> Result<Self, AppError> {
        // The source first: a flag it does not read is refused before any is checked.
        let (kind, client) =
            source::source_and_client(&args.source, &args.connection, &args.user, args.dry_run)?;
        let mut query = QueryConfig::from_args(&args.query, &args.source.activities, now)?;
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
        activities: &ActivitiesArgs,
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
        // An end in the future is clamped to now, not refused: an end given as a day or an
        // hour covers all of it (`--end 2024-05-01` is the end of that day), so "through today"
        // is naturally in the future, and no record exists after now. Left as asked, every
        // source would report a range reaching into the future as complete, while records of
        // it are still to come. The note (stderr) and the manifest's filter say so; a case
        // freezes the clamped end, so a resume walks the same range.
        let (end, end_clamped_from) = match future_end(end, now) {
            Some(_) => (now.trunc_subsecs(3), query.end.clone()),
            None => (end, None),
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
            ("--types", &activities.types, known_types::ACTIVITY_TYPES),
            ("--app-types", &activities.app_types, known_types::APP_TYPES),
        ];
        for (flag, values, known) in kinds {
            if values.iter().any(|v| v.trim().is_empty()) {
                return Err(AppError::Usage(format!("{flag} has an empty value")));
            }
            // A misspelt type matches nothing, and an empty result looks like a clean mailbox.
            for value in values.iter().filter(|_| !activities.allow_unknown_types) {
                if let Some(hint) = known_types::unknown_type(value, known) {
                    return Err(AppError::Usage(format!(
                        "{flag} {value:?} is not a documented type: {hint} (pass \
                         --allow-unknown-types to send it anyway)"
                    )));
                }
            }
        }
        let select = if activities.select.is_empty() {
            None
        } else {
            let mut select: Vec<String> =
                ["Id", "TimeStamp"].iter().map(|s| s.to_string()).collect();
            for property in &activities.select {
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
                types: activities.types.clone(),
                app_types: activities.app_types.clone(),
            },
            select,
            page_size: activities.page_size,
            paging: activities.paging,
            mailbox_concurrency: activities.mailbox_concurrency as usize,
            // The source is chosen with its flags (`source::source_and_client`).
            source: std::sync::Arc::new(crate::source::ActivitiesSpec),
            end_clamped_from,
        })
    }
}

/// `end` when it lies after `now` (to the millisecond the range is cut at).
fn future_end(end: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (end > now.trunc_subsecs(3)).then_some(end)
}

/// What to tell the analyst about the time arguments before a pull: a time without a zone or
/// offset was taken as UTC; an end in the future was clamped to now.
pub fn time_notes(query: &QueryArgs, now: DateTime<Utc>) -> Vec<String> {
    let clamped = query
        .end
        .as_deref()
        .and_then(|text| Some((text, parse_time(text, now, RangeEnd::End).ok()?)))
        .and_then(|(text, end)| Some((text, future_end(end, now)?)))
        .map(|(text, end)| {
            format!(
                "--end {text} ({}) is in the future: the range ends now ({}) instead, as no \
                 record exists after now; the manifest says so",
                end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                now.trunc_subsecs(3)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            )
        });
    let zones = [
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
    });
    zones.chain(clamped).collect()
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
