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
        })
    }
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
