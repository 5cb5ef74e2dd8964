//! `batch`'s configuration: the user list read and checked, the query and the connection,
//! all before any work.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::QueryConfig;
use crate::case::{read_users, RunParameters};
use crate::cli::BatchArgs;
use crate::error::AppError;
use crate::http::ClientOptions;
use crate::output::OutputFormat;

#[derive(Debug, Clone)]
pub struct BatchConfig {
    pub case: PathBuf,
    /// The mailboxes, in the order of the users file.
    pub users: Vec<String>,
    /// What reading the users file noticed (duplicates, say), for stderr.
    pub notes: Vec<String>,
    pub query: QueryConfig,
    /// The connection; each mailbox's client sets its own user.
    pub client: ClientOptions,
    /// What the case records, and a resumed run must ask for again.
    pub parameters: RunParameters,
    pub resume: bool,
    /// Mailboxes pulled at once.
    pub concurrency: usize,
    pub format: OutputFormat,
    pub sanitize: bool,
    pub csv_bom: bool,
    /// The crash point to abort at (tests only).
    pub crash_at: Option<u64>,
    pub quiet: bool,
    /// Progress bars (a terminal, not quiet) rather than plain lines.
    pub show_bars: bool,
    /// Between plain progress lines.
    pub progress_interval: std::time::Duration,
    /// The signing key and the command line, for the case manifest's chain of custody.
    pub custody: crate::custody::Custody,
}

impl BatchConfig {
    pub fn from_args(args: &BatchArgs, now: DateTime<Utc>, quiet: bool) -> Result<Self, AppError> {
        let text = std::fs::read_to_string(&args.users).map_err(|e| {
            AppError::Usage(format!("cannot read --users {}: {e}", args.users.display()))
        })?;
        let users = read_users(&text).map_err(|errors| {
            AppError::Usage(format!(
                "{} has lines to fix:\n  {}",
                args.users.display(),
                errors.join("\n  ")
            ))
        })?;
        if args.custody.fail_manifest_write {
            return Err(AppError::Usage(
                "--fail-manifest-write is a test hook of pull; batch has --crash-at".into(),
            ));
        }
        // Each mailbox's client sets its own user; the first stands for the list here.
        let placeholder = users.users.first().cloned().unwrap_or_else(|| "me".into());
        let (kind, client) = super::source::source_and_client(
            &args.source,
            &args.connection,
            &[placeholder],
            false,
        )?;
        if args.source.feed.state.is_some() {
            return Err(AppError::Usage(
                "--state is for pull --source feed: a case keeps the blobs it fetched in its own \
                 folder until it is complete, and --resume reads them from there"
                    .into(),
            ));
        }
        let mut query = QueryConfig::from_args(&args.query, &args.source.activities, now)?;
        query.source = kind
            .for_case(&args.out_dir.join(crate::case::FEED_BLOBS))
            .unwrap_or(kind);
        let source_filters = query.source.filters();
        let parameters = RunParameters {
            source: query.source.descriptor().name.to_string(),
            source_filters,
            // Where the source signs in: the tenant is part of what the case collected.
            tenant: if query
                .source
                .descriptor()
                .reads(crate::source::FlagGroup::SignIn)
            {
                args.source.sign_in.tenant.clone()
            } else {
                None
            },
            base_url: client.base_url.clone(),
            api_version: client.api_version.clone(),
            start: args.query.start.clone(),
            end: args.query.end.clone(),
            resolved_filter: query.source.case_filter(&query.filter),
            resolved_end: query.filter.end,
            resolved_start: query.filter.start,
            types: query.filter.types.clone(),
            app_types: query.filter.app_types.clone(),
            select: query.select.clone(),
            page_size: query.page_size,
            paging: query.paging,
            format: args.format,
            sanitize: !args.no_sanitize,
            csv_bom: args.connection.csv_bom,
            // The list, not the file: comments, blank lines and spacing change nothing.
            users_sha256: hex::encode(Sha256::digest(users.users.join("\n").as_bytes())),
        };
        Ok(BatchConfig {
            case: args.out_dir.clone(),
            users: users.users,
            notes: [users.notes, super::time_notes(&args.query, now)].concat(),
            query,
            client,
            parameters,
            resume: args.resume,
            concurrency: args.concurrency as usize,
            format: args.format,
            sanitize: !args.no_sanitize,
            csv_bom: args.connection.csv_bom,
            crash_at: args.crash_at,
            quiet,
            show_bars: !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            progress_interval: std::time::Duration::from_secs(args.connection.progress_interval),
            custody: crate::custody::Custody::from_args(&args.custody)?,
        })
    }
}
