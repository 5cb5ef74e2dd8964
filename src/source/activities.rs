//! The Activities API as a source: its query, its paging strategies and its time windows.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::http::ActivitiesClient;
use crate::odata::{ActivityFilter, PageQuery};
use crate::record::PageReading;
use crate::source::paging::{
    fetch_windows, newest_activity_query, EmitWindow, Handover, KeysetPager, Pager, PagerProgress,
    PagingError, PartialHandover, SkipPager, WindowLogEntry, WindowPlan,
};

/// How to walk a mailbox's pages (`--paging`). Persisted in case manifests by these names:
/// renaming a variant breaks `--resume` of old cases (`tests/integration/old_case.rs`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PagingMode {
    /// $orderby=TimeStamp asc, each page starting at the last TimeStamp reached (safe on a live mailbox)
    Keyset,
    /// $top/$skip offsets as the blog documents them (newest first, reversed on disk)
    Skip,
}

/// What to ask the Activities API for, and how to walk it.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    pub filter: ActivityFilter,
    pub select: Option<Vec<String>>,
    pub page_size: u32,
    pub paging: PagingMode,
    /// Concurrent time windows within one mailbox (1: one sequential walk).
    pub mailbox_concurrency: usize,
    /// Which API to read; the fields above but the range are the Activities API's.
    pub source: std::sync::Arc<dyn super::SourceSpec>,
    /// The `--end` asked for (as typed), when it lay in the future and the range was ended at
    /// the pull's start instead (`filter.end`); the manifest's filter says so.
    pub end_clamped_from: Option<String>,
}

/// Where a source may keep temporary files of one pull: `<dir>/<prefix>.*.tmp`, beside the
/// pull's own output so that nothing is shared between pulls (or mailboxes of a batch).
#[derive(Debug, Clone)]
pub struct SpoolPlace {
    pub dir: PathBuf,
    pub prefix: String,
}

impl SpoolPlace {
    pub(super) fn file(&self, label: &str) -> PathBuf {
        self.dir.join(format!("{}.{label}.tmp", self.prefix))
    }
}

/// Either pager, chosen by `--paging`.
pub enum AnyPager<'a> {
    Keyset(KeysetPager<'a>),
    Skip(SkipPager<'a>),
}

impl Pager for AnyPager<'_> {
    async fn next_batch(&mut self) -> Result<Option<Vec<crate::record::Activity>>, PagingError> {
        match self {
            AnyPager::Keyset(p) => p.next_batch().await,
            AnyPager::Skip(p) => p.next_batch().await,
        }
    }

    fn progress(&self) -> PagerProgress {
        match self {
            AnyPager::Keyset(p) => p.progress(),
            AnyPager::Skip(p) => p.progress(),
        }
    }
}

impl AnyPager<'_> {
    /// A durable resume position: keyset paging has one after every batch, skip paging none.
    fn durable_bound(&self) -> Option<DateTime<Utc>> {
        match self {
            AnyPager::Keyset(p) => p.bound(),
            AnyPager::Skip(_) => None,
        }
    }
}

/// What the manifest records of an Activities API pull (`source_log`): each time window with
/// its pages and records. Written and read as this type (`Manifest::source_log_as`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActivitiesLog {
    pub windows: Vec<WindowLogEntry>,
}

/// One mailbox of the Activities API, walked by one pager or by concurrent time windows
/// (keyset paging with `--mailbox-concurrency` above 1).
pub struct ActivitiesSource<'a> {
    client: &'a ActivitiesClient,
    query: &'a QueryConfig,
    /// The range still to fetch: the query's, or what follows a checkpoint.
    filter: ActivityFilter,
    walk: Walk<'a>,
    spools: SpoolPlace,
    pages: u64,
    /// The time windows walked, with their counts (one for a sequential walk).
    log: Vec<WindowLogEntry>,
}

enum Walk<'a> {
    Sequential(Box<AnyPager<'a>>),
    Windows,
}

impl<'a> ActivitiesSource<'a> {
    /// `resume_after`: a checkpoint's bound, before which everything is already written
    /// (keyset paging only).
    pub fn new(
        client: &'a ActivitiesClient,
        query: &'a QueryConfig,
        spools: SpoolPlace,
        resume_after: Option<DateTime<Utc>>,
    ) -> Result<Self, PagingError> {
        let mut filter = query.filter.clone();
        let walk = match query.paging {
            PagingMode::Keyset if query.mailbox_concurrency > 1 => {
                if let Some(bound) = resume_after {
                    filter.start = Some(filter.start.map_or(bound, |start| start.max(bound)));
                }
                Walk::Windows
            }
            PagingMode::Keyset => Walk::Sequential(Box::new(AnyPager::Keyset(
                KeysetPager::new(
                    client,
                    &query.filter,
                    query.select.as_deref(),
                    query.page_size,
                )
                .resume_from(resume_after),
            ))),
            PagingMode::Skip => Walk::Sequential(Box::new(AnyPager::Skip(SkipPager::new(
                client,
                &query.filter,
                query.select.as_deref(),
                query.page_size,
                spools.file("skip"),
            )?))),
        };
        Ok(ActivitiesSource {
            client,
            query,
            filter,
            walk,
            spools,
            pages: 0,
            log: Vec::new(),
        })
    }

    /// Whether a stopped walk can resume from a durable point (keyset paging) or must start
    /// again (skip paging: offsets shift).
    pub fn resumable(paging: PagingMode) -> bool {
        paging == PagingMode::Keyset
    }

    /// Each time window's range, pages and records, for the manifest (the Activities API
    /// returns no server id to record beside them).
    pub fn log(&self) -> ActivitiesLog {
        ActivitiesLog {
            windows: self.log.clone(),
        }
    }

    /// Pages read so far.
    pub fn pages(&self) -> u64 {
        match &self.walk {
            Walk::Sequential(pager) => pager.progress().pages,
            Walk::Windows => self.pages,
        }
    }

    /// The first request (`describe`: as `--dry-run` prints it, headers and all; otherwise
    /// its URL, as the manifest records it).
    pub fn first_request(&self, describe: bool) -> String {
        let show = |query: &PageQuery<'_>| {
            if describe {
                self.client.describe_request(query)
            } else {
                self.client.url_for(query)
            }
        };
        match &self.walk {
            Walk::Sequential(pager) => match pager.as_ref() {
                AnyPager::Keyset(p) => show(&p.first_query()),
                AnyPager::Skip(p) => show(&p.first_query()),
            },
            Walk::Windows => {
                let first = show(
                    &KeysetPager::new(
                        self.client,
                        &self.filter,
                        self.query.select.as_deref(),
                        self.query.page_size,
                    )
                    .first_query(),
                );
                if !describe {
                    return first;
                }
                let newest = self.client.url_for(&newest_activity_query(&self.filter));
                format!(
                    "{first}Beside it, the newest activity, to place the time windows:\nGET {newest}\n"
                )
            }
        }
    }

    /// Walks the mailbox, handing every record over to `emit` in (TimeStamp, Id) order, with a
    /// durable point (`Handover::Finished`) wherever everything before an instant has been
    /// handed over, and `Finished(None)` once the whole range has. Pages are read as `reading`
    /// says. Stops early on an error or when `interrupt` resolves; what was fetched before is
    /// still handed over as `partial` says.
    pub async fn deliver(
        &mut self,
        reading: PageReading,
        partial: PartialHandover,
        interrupt: impl std::future::Future<Output = ()>,
        emit: &mut EmitWindow<'_>,
    ) -> Result<(), PagingError> {
        match &mut self.walk {
            Walk::Sequential(pager) => {
                if let AnyPager::Keyset(keyset) = pager.as_mut() {
                    keyset.read_pages_for(reading);
                }
                let mut records = 0;
                let delivered = deliver_sequential(pager, interrupt, emit, &mut records).await;
                self.log = vec![WindowLogEntry::new(
                    self.filter.start,
                    Some(self.filter.end),
                    pager.progress().pages,
                    records,
                    delivered.is_ok(),
                )];
                delivered
            }
            Walk::Windows => {
                let plan = WindowPlan {
                    filter: self.filter.clone(),
                    select: self.query.select.as_deref(),
                    page_size: self.query.page_size,
                    concurrency: self.query.mailbox_concurrency,
                    spool_dir: &self.spools.dir,
                    spool_prefix: &self.spools.prefix,
                    reading,
                    partial,
                };
                let report = fetch_windows(self.client, &plan, interrupt, emit).await;
                self.pages += report.pages;
                self.log = report.log;
                match report.error {
                    Some(error) => Err(error),
                    None => Ok(()),
                }
            }
        }
    }
}

async fn deliver_sequential(
    pager: &mut AnyPager<'_>,
    interrupt: impl std::future::Future<Output = ()>,
    emit: &mut EmitWindow<'_>,
    received: &mut u64,
) -> Result<(), PagingError> {
    let mut interrupt = std::pin::pin!(interrupt);
    loop {
        let batch = tokio::select! {
            biased;
            _ = interrupt.as_mut() => return Err(PagingError::Interrupted),
            batch = pager.next_batch() => batch?,
        };
        let Some(records) = batch else {
            return emit(Handover::Finished(None));
        };
        *received += records.len() as u64;
        if !records.is_empty() {
            emit(Handover::Records(records))?;
        }
        if let Some(bound) = pager.durable_bound() {
            emit(Handover::Finished(Some(bound)))?;
        }
    }
}

/// The Outlook REST Activities API (`GET /api/{version}/Users('upn')/Activities` with
/// `Prefer: exchange.behavior="ActivityAccess"`), as `../shared/reference/activities-api.md`
/// documents it.
pub static ACTIVITIES: super::SourceDescriptor = super::SourceDescriptor {
    name: "activities",
    summary: "the Outlook Activities API (withdrawn in 2018; the mock tenant serves it)",
    noun: "activities",
    record_shape: crate::output::RecordShape::ACTIVITIES,
    resume: super::Resume::FromDurablePointWhenKeyset,
    reads: &[super::FlagGroup::Activities],
    client: super::ClientKind::Activities,
    endpoint_flag: "--base-url",
    permissions: "the token needs the Activities API's scope for this mailbox",
    retention_days: None,
    walk: "keyset or skip paging",
    configure: configure_activities,
};

const DEFAULT_BASE_URL: &str = "https://outlook.office.com";
/// Basic authentication is served by the older host.
const DEFAULT_BASIC_BASE_URL: &str = "https://outlook.office365.com";

fn configure_activities(request: &super::SourceRequest<'_>) -> Result<super::Configured, String> {
    let user = request.one_user(ACTIVITIES.name)?.trim();
    if user.is_empty() {
        return Err("--user is empty: give a UPN such as victim@contoso.com, or me".into());
    }
    // Caught here, before a request whose 404 would read as a missing permission.
    let upn_shaped = user.split_once('@').is_some_and(|(name, domain)| {
        !name.is_empty() && domain.contains('.') && !domain.ends_with('.')
    });
    if !user.eq_ignore_ascii_case("me") && !upn_shaped {
        return Err(format!(
            "--user {user:?} is not a user principal name: give the mailbox's UPN, such as \
             {user}@contoso.com, or me for the token's own mailbox"
        ));
    }
    let args = &request.args.activities;
    let default_base = if args.username.is_some() {
        DEFAULT_BASIC_BASE_URL
    } else {
        DEFAULT_BASE_URL
    };
    let base_url = args
        .base_url
        .clone()
        .unwrap_or_else(|| default_base.to_string());
    let parsed = reqwest::Url::parse(&base_url)
        .map_err(|e| format!("--base-url {base_url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        return Err(format!(
            "--base-url {base_url:?} must be an http(s) URL without a query, e.g. https://outlook.office.com"
        ));
    }
    Ok(super::Configured {
        spec: std::sync::Arc::new(ActivitiesSpec),
        url: base_url,
        api_version: args.api_version.as_str().into(),
        label: user.to_string(),
    })
}

/// The Activities API as configured: everything it reads is in the query.
#[derive(Debug, Clone, Copy, Default)]
pub struct ActivitiesSpec;

impl super::SourceSpec for ActivitiesSpec {
    fn case_filter(&self, filter: &crate::odata::ActivityFilter) -> String {
        filter.expression(None)
    }

    fn descriptor(&self) -> &'static super::SourceDescriptor {
        &ACTIVITIES
    }

    fn open<'a>(
        &'a self,
        walk: super::Walk<'a>,
    ) -> Result<Box<dyn super::Source + 'a>, PagingError> {
        let client = walk.activities_client()?;
        Ok(Box::new(ActivitiesSource::new(
            client,
            walk.query,
            walk.spools,
            walk.resume_after,
        )?))
    }
}

impl super::Source for ActivitiesSource<'_> {
    fn pages(&self) -> u64 {
        ActivitiesSource::pages(self)
    }

    fn first_request(&self, describe: bool) -> String {
        ActivitiesSource::first_request(self, describe)
    }

    fn filter_description(&self) -> String {
        self.query.filter.expression(None)
    }

    fn log(&self) -> Option<serde_json::Value> {
        serde_json::to_value(ActivitiesSource::log(self)).ok()
    }

    fn walk_description(&self) -> String {
        match self.query.paging {
            PagingMode::Keyset => "keyset",
            PagingMode::Skip => "skip",
        }
        .into()
    }

    fn deliver<'s>(
        &'s mut self,
        reading: PageReading,
        partial: PartialHandover,
        interrupt: super::Interrupt<'s>,
        emit: &'s mut EmitWindow<'_>,
    ) -> futures::future::BoxFuture<'s, Result<(), PagingError>> {
        Box::pin(ActivitiesSource::deliver(
            self, reading, partial, interrupt, emit,
        ))
    }
}
