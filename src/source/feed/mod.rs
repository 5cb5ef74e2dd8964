//! The Office 365 Management Activity API as a source (the last 7 days, continuous collection).
//!
//! Shapes follow office-365-management-api "Office 365 Management Activity API reference":
//! `POST .../subscriptions/start?contentType=` (an existing subscription answers AF20024),
//! `GET .../subscriptions/content?contentType=&startTime=&endTime=` (at most 24 hours apart,
//! selecting blobs by when they became available; more through the `NextPageUri` header), and
//! each blob's `contentUri` (a JSON array of records, unordered, possibly late). The record
//! shape is the "Office 365 Management Activity API schema" (common schema: `Id`,
//! `CreationTime` without a zone, `UserId`, ...).
//!
//! Blobs are fetched once each (a blob listed in two windows or two pages is one blob), records
//! de-duplicated on `Id`, and handed over sorted by (`CreationTime`, `Id`): each window's
//! records are a sorted run on disk, merged when every window is in (a late record lands in a
//! later window). A blob is known by its `contentUri`, the address its records are read from:
//! the reference calls `contentId` unique, but a listing that gives one id to two URIs still
//! lists two blobs, and both are fetched (with a warning). With a state file the blobs fetched
//! by earlier complete runs are skipped, so a collection run daily fetches only what is new; the
//! file records the tenant, users and content types it was made for, as its blobs' records of
//! anyone else were left out, and a run that asks for another filter is refused.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::http::{ApiClient, ApiRequest, HttpError, ReadFailure, Refusal};
use crate::output::write_atomically;
use crate::record::{Activity, RecordChecks};
use crate::source::paging::{EmitWindow, Handover, LinkWalk, PagingError, PartialHandover};
use crate::source::sorted_runs::SortedRuns;
use crate::source::SpoolPlace;

mod blob_log;
pub use blob_log::{BlobLogEntry, FeedLog};

/// What a tenant id or domain must have escaped to be one path segment.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The longest window the content listing accepts.
const MAX_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// What to collect, beyond the time range.
#[derive(Debug, Clone)]
pub struct FeedOptions {
    /// The tenant (its id or domain), in every URL and as `PublisherIdentifier`.
    pub tenant: String,
    pub content_types: Vec<String>,
    /// Whose records to keep (`UserId` or `MailboxOwnerUPN`, any case).
    pub users: FeedUsers,
    /// The blobs fetched by earlier complete runs, and where this run adds its own.
    pub state: Option<PathBuf>,
    /// A folder keeping every blob fetched, so that the mailboxes of a case (and a resumed
    /// case) read each blob from the service once.
    pub blob_cache: Option<PathBuf>,
    /// The cache entries being fetched, shared by the mailboxes pulled at once.
    pub fetches: BlobFetches,
}

/// A turn per blob cache entry: a mailbox fetches a blob while the others that list it wait,
/// then read it from the cache, so a blob leaves the service once per case at any concurrency.
#[derive(Debug, Clone, Default)]
pub struct BlobFetches(Arc<std::sync::Mutex<FxHashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>>);

impl BlobFetches {
    fn turn(&self, entry: &std::path::Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(turns.entry(entry.to_path_buf()).or_default())
    }
}

/// A blob's records, each with the users it is about.
fn parse_blob(body: &[u8], content_id: &str) -> Result<Vec<(Owner, Activity)>, String> {
    let raws: Vec<&serde_json::value::RawValue> = serde_json::from_slice(body)
        .map_err(|e| format!("blob {content_id} is not a JSON array of records: {e}"))?;
    raws.into_iter()
        .map(|raw| {
            let owner: Owner = serde_json::from_str(raw.get())
                .map_err(|e| format!("a record of blob {content_id} is not an object: {e}"))?;
            let record = Activity::from_json(raw.get()).map_err(|e| e.to_string())?;
            Ok((owner, record))
        })
        .collect()
}

/// Whose records a feed pull keeps.
#[derive(Debug, Clone)]
pub enum FeedUsers {
    /// A pull's `--user`s; every user's records when there are none.
    Listed(Vec<String>),
    /// Each mailbox of a case its own.
    EachMailbox,
}

/// A blob as the content listing describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    content_type: String,
    content_id: String,
    content_uri: String,
    #[serde(default)]
    content_created: String,
}

/// The state file: the filter it was made for, and every blob fetched by a complete run with
/// that filter (by `contentUri`, with when it was first fetched).
#[derive(Debug, Default, Serialize, Deserialize)]
struct FeedState {
    /// Absent in the files of earlier versions, which are refused (see `read_state`). Boxed:
    /// the source is one variant of `AnySource`.
    #[serde(default)]
    made_for: Option<Box<StateFilter>>,
    fetched: BTreeMap<String, String>,
}

/// What the records of a state file's blobs were kept for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StateFilter {
    /// As `--tenant` gave it (compared without regard to case).
    tenant: String,
    /// Lower case, sorted; empty: every user.
    users: Vec<String>,
    /// Sorted.
    content_types: Vec<String>,
}

impl StateFilter {
    fn new(tenant: &str, users: &[String], content_types: &[String]) -> Self {
        let mut users: Vec<String> = users.iter().map(|u| u.to_lowercase()).collect();
        users.sort();
        users.dedup();
        let mut content_types = content_types.to_vec();
        content_types.sort_by_key(|t| t.to_lowercase());
        content_types.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        StateFilter {
            tenant: tenant.to_string(),
            users,
            content_types,
        }
    }

    /// How `self` (a state file's) differs from `asked` (this run's), flag by flag.
    fn differences(&self, asked: &StateFilter) -> Vec<String> {
        let same = |a: &[String], b: &[String]| {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.eq_ignore_ascii_case(b))
        };
        let users = |users: &[String]| {
            if users.is_empty() {
                "every user".to_string()
            } else {
                users.join(", ")
            }
        };
        let mut differences = Vec::new();
        if !self.tenant.eq_ignore_ascii_case(&asked.tenant) {
            differences.push(format!(
                "--tenant (the file's: {}; this run's: {})",
                self.tenant, asked.tenant
            ));
        }
        if !same(&self.users, &asked.users) {
            differences.push(format!(
                "--user (the file's: {}; this run's: {})",
                users(&self.users),
                users(&asked.users)
            ));
        }
        if !same(&self.content_types, &asked.content_types) {
            differences.push(format!(
                "--content-types (the file's: {}; this run's: {})",
                self.content_types.join(", "),
                asked.content_types.join(", ")
            ));
        }
        differences
    }
}

/// The state file at `path` (none yet: an empty one), refused unless it was made for `asked`.
/// A file of an earlier version, which does not say what it was made for, is refused too:
/// its blobs may have been fetched for other users, whose records they held were left out, and
/// taking it as this filter's would skip them for good. Moved aside, the next run fetches every
/// blob of its range again: records come twice across runs, none is lost.
fn read_state(path: &std::path::Path, asked: &StateFilter) -> Result<FeedState, PagingError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FeedState::default()),
        Err(e) => {
            return Err(PagingError::Input(format!(
                "cannot read the --state file {}: {e}",
                path.display()
            )))
        }
    };
    let state: FeedState = serde_json::from_slice(&text).map_err(|e| {
        PagingError::Input(format!(
            "the --state file {} is damaged ({e}): it is not the JSON this tool writes there. \
             Restore it from a copy, or move it aside to fetch every blob of the range again",
            path.display()
        ))
    })?;
    let Some(made_for) = &state.made_for else {
        return Err(PagingError::Input(format!(
            "the --state file {} does not say which tenant, users and content types it was made \
             for (an earlier version wrote it), so its blobs cannot be skipped safely: their \
             records of anyone outside that filter were left out. Move it aside and run again: \
             every blob of the range is fetched again, and the new file records this run's \
             filter",
            path.display()
        )));
    };
    let differences = made_for.differences(asked);
    if !differences.is_empty() {
        return Err(PagingError::Input(format!(
            "the --state file {} was made for another filter: {}. Its blobs' records outside \
             that filter were left out, so they cannot be skipped for this one: give this \
             filter its own --state file, or run with the filter the file was made for",
            path.display(),
            differences.join("; ")
        )));
    }
    Ok(state)
}

/// The user names a record is about.
#[derive(Deserialize)]
struct Owner {
    #[serde(rename = "UserId", default)]
    user_id: Option<String>,
    #[serde(rename = "MailboxOwnerUPN", default)]
    mailbox_owner: Option<String>,
}

/// The `contentId`s listed.
#[derive(Default)]
struct ListedIds {
    /// The `contentUri` each was first listed with.
    uri_of_id: FxHashMap<String, String>,
    /// Those listed with more than one `contentUri`.
    shared: FxHashSet<String>,
}

pub struct FeedSource<'a> {
    client: &'a ApiClient,
    options: &'a FeedOptions,
    /// Whose records are kept (any case); everyone's when empty.
    users: Vec<String>,
    /// Each window's new records, sorted, until they are merged in time order.
    runs: SortedRuns,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// The state file's blobs, and (checked, or for a new file) this run's filter.
    known: FeedState,
    /// Blobs fetched by this run, by `contentUri` (a blob listed again is not fetched again).
    fetched: FxHashSet<String>,
    /// The records kept, checked as every source's are (an id, a time, one content an id).
    checks: RecordChecks,
    /// The ids of the blobs listed (boxed: it is seldom more than empty).
    ids: Box<ListedIds>,
    log: Vec<BlobLogEntry>,
    /// Blobs listed that an earlier complete run fetched (each counted once).
    skipped_known: FxHashSet<String>,
    pages: u64,
}

impl<'a> FeedSource<'a> {
    pub fn new(
        client: &'a ApiClient,
        options: &'a FeedOptions,
        users: Vec<String>,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        spools: SpoolPlace,
    ) -> Result<Self, PagingError> {
        let filter = StateFilter::new(&options.tenant, &users, &options.content_types);
        let mut known = match &options.state {
            Some(path) => read_state(path, &filter)?,
            None => FeedState::default(),
        };
        // What the file is for: the same as before, or this run's for a new one.
        known.made_for = Some(Box::new(filter));
        if let Some(cache) = &options.blob_cache {
            std::fs::create_dir_all(cache).map_err(|source| PagingError::Output {
                what: format!("the blob cache {}", cache.display()),
                source,
            })?;
        }
        Ok(FeedSource {
            client,
            options,
            users,
            runs: SortedRuns::new(spools, "feed-window"),
            start,
            end,
            known,
            fetched: FxHashSet::default(),
            checks: RecordChecks::default(),
            ids: Box::default(),
            log: Vec::new(),
            skipped_known: FxHashSet::default(),
            pages: 0,
        })
    }

    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The range walked: its start, and its end (exclusive).
    pub fn range(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.start, self.end)
    }

    /// The blobs fetched and skipped, for the manifest.
    pub fn log(&self) -> FeedLog {
        FeedLog {
            blobs: self.log.clone(),
            skipped_as_fetched_before: self.skipped_known.len() as u64,
            record_checks: self.checks.counts().clone(),
            content_ids_with_several_uris: self.ids.shared.len() as u64,
            state_file: self.options.state.as_ref().map(|p| p.display().to_string()),
        }
    }

    /// `.../subscriptions/{action}?` with `pairs` and the `PublisherIdentifier` (the tenant:
    /// the reference's key to its throttling quota), each value escaped.
    fn feed_url(&self, action: &str, pairs: &[(&str, &str)]) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        query.append_pair("PublisherIdentifier", &self.options.tenant);
        format!(
            "{}/api/v1.0/{}/activity/feed/subscriptions/{action}?{}",
            self.client.options().base_url.trim_end_matches('/'),
            percent_encoding::utf8_percent_encode(&self.options.tenant, PATH_SEGMENT),
            query.finish()
        )
    }

    fn listing_url(&self, content_type: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        self.feed_url(
            "content",
            &[
                ("contentType", content_type),
                ("startTime", &time(start)),
                ("endTime", &time(end)),
            ],
        )
    }

    pub fn first_request(&self, describe: bool) -> String {
        let first = self
            .options
            .content_types
            .first()
            .map(String::as_str)
            .unwrap_or("Audit.Exchange");
        let start = format!("POST {}", self.feed_url("start", &[("contentType", first)]));
        if !describe {
            return start;
        }
        format!(
            "{start}\nAuthorization: {}\nThen GET {} and each 24-hour window after it, and \
             every blob listed.\n",
            self.client.options().credentials.redacted(),
            self.listing_url(first, self.start, (self.start + MAX_WINDOW).min(self.end))
        )
    }

    /// Collects the range as the module says, handing records over to `emit`.
    pub async fn deliver(
        &mut self,
        partial: PartialHandover,
        interrupt: impl std::future::Future<Output = ()>,
        emit: &mut EmitWindow<'_>,
    ) -> Result<(), PagingError> {
        let mut interrupt = std::pin::pin!(interrupt);
        let mut fetched = Vec::new();
        let collected = tokio::select! {
            biased;
            _ = interrupt.as_mut() => Err(PagingError::Interrupted),
            collected = self.collect(&mut fetched) => collected,
        };
        self.checks.warn_summary("audit log records");
        if let Err(error) = collected {
            if partial == PartialHandover::Everything {
                self.runs.add_run(fetched)?;
                self.runs.merge_into(emit)?;
            }
            return Err(error);
        }
        self.runs.merge_into(emit)?;
        emit(Handover::Finished(None))
    }

    /// Fetches every window's new blobs; each window's records become a sorted run, the
    /// current window's stay in `fetched` until it is done.
    async fn collect(&mut self, fetched: &mut Vec<Activity>) -> Result<(), PagingError> {
        let options = self.options;
        for content_type in &options.content_types {
            self.start_subscription(content_type).await?;
        }
        let mut window_start = self.start;
        while window_start < self.end {
            let window_end = (window_start + MAX_WINDOW).min(self.end);
            for content_type in &options.content_types {
                for blob in self.list(content_type, window_start, window_end).await? {
                    self.note_id(&blob);
                    if self.known.fetched.contains_key(&blob.content_uri) {
                        self.skipped_known.insert(blob.content_uri);
                        continue;
                    }
                    if !self.fetched.insert(blob.content_uri.clone()) {
                        continue;
                    }
                    self.fetch_blob(&blob, fetched).await?;
                }
            }
            self.runs.add_run(std::mem::take(fetched))?;
            window_start = window_end;
        }
        Ok(())
    }

    /// Warns (once an id) of a `contentId` listed with a second `contentUri`: both blobs are
    /// fetched, as the URI is what the records are read from.
    fn note_id(&mut self, blob: &Listed) {
        let ids = &mut *self.ids;
        let first = ids
            .uri_of_id
            .entry(blob.content_id.clone())
            .or_insert_with(|| blob.content_uri.clone());
        if *first != blob.content_uri && ids.shared.insert(blob.content_id.clone()) {
            tracing::warn!(
                "the content listing gives contentId {} to two blobs ({} and {}): both are \
                 fetched, each known by its contentUri",
                crate::http::printable(&blob.content_id),
                crate::http::printable(first),
                crate::http::printable(&blob.content_uri)
            );
        }
    }

    /// Starts the subscription; one that already runs is fine (AF20024).
    async fn start_subscription(&self, content_type: &str) -> Result<(), PagingError> {
        let url = self.feed_url("start", &[("contentType", content_type)]);
        let request = ApiRequest {
            method: reqwest::Method::POST,
            json: Some(""),
            ..ApiRequest::get(&url)
        };
        match self
            .client
            .send(&request, |_| Ok::<_, ReadFailure>(()))
            .await
        {
            Err(HttpError::Refused(Refusal::BadRequest { message, .. }))
                if message.contains("AF20024") =>
            {
                Ok(())
            }
            other => Ok(other?),
        }
    }

    /// Every blob listed for one window, following `NextPageUri` through the shared
    /// `LinkWalk` (on the origin, never a page twice, never for ever).
    async fn list(
        &mut self,
        content_type: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Listed>, PagingError> {
        let mut blobs = Vec::new();
        let first = self.listing_url(content_type, start, end);
        let mut walk = LinkWalk::new(&first, "NextPageUri");
        // What this walk has listed, to tell a page that adds nothing.
        let mut listed: FxHashSet<String> = FxHashSet::default();
        loop {
            let (page, following) = self
                .client
                .send(&ApiRequest::get(walk.current()), |answer| {
                    let page: Vec<Listed> = serde_json::from_slice(&answer.body).map_err(|e| {
                        ReadFailure::of_json(&e, "the content listing is not a list of blobs")
                    })?;
                    let following = answer
                        .headers
                        .get("NextPageUri")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    Ok((page, following))
                })
                .await?;
            self.pages += 1;
            let added = page
                .iter()
                .filter(|blob| listed.insert(blob.content_uri.clone()))
                .count();
            blobs.extend(page);
            walk.page_read(added, following.as_deref())?;
            match following {
                Some(next) => walk.follow(self.client, &next)?,
                None => return Ok(blobs),
            }
        }
    }

    /// Fetches one blob; its records of the users asked for, not seen before, go to `fetched`.
    async fn fetch_blob(
        &mut self,
        blob: &Listed,
        fetched: &mut Vec<Activity>,
    ) -> Result<(), PagingError> {
        let cached = self.options.blob_cache.as_ref().map(|dir| {
            dir.join(format!(
                "{}.json",
                hex::encode(Sha256::digest(blob.content_uri.as_bytes()))
            ))
        });
        let turn = cached.as_ref().map(|path| self.options.fetches.turn(path));
        let _turn = match &turn {
            Some(turn) => Some(turn.lock().await),
            None => None,
        };
        let records = match cached.as_ref().filter(|path| path.exists()) {
            Some(path) => {
                let body = std::fs::read(path).map_err(|source| PagingError::Output {
                    what: format!("the cached blob {}", path.display()),
                    source,
                })?;
                // Written whole by an earlier fetch (atomically): a damaged one is refused.
                parse_blob(&body, &blob.content_id).map_err(|detail| PagingError::DamagedCache {
                    path: path.display().to_string(),
                    detail,
                })?
            }
            None => {
                self.client
                    .check_same_origin(&blob.content_uri, "contentUri")?;
                let (body, records) = self
                    .client
                    .send(&ApiRequest::get(&blob.content_uri), |answer| {
                        let records = parse_blob(&answer.body, &blob.content_id)
                            .map_err(ReadFailure::from)?;
                        Ok((answer.body, records))
                    })
                    .await?;
                self.pages += 1;
                if let Some(path) = &cached {
                    write_atomically(path, &body).map_err(|e| PagingError::Output {
                        what: format!("the blob cache {}", path.display()),
                        source: std::io::Error::other(e.to_string()),
                    })?;
                }
                records
            }
        };
        let total = records.len() as u64;
        let mut kept = 0;
        for (owner, record) in records {
            if self.wanted(&owner) && self.checks.admit(&record, "audit log records") {
                fetched.push(record);
                kept += 1;
            }
        }
        self.log.push(BlobLogEntry {
            content_id: blob.content_id.clone(),
            content_uri: blob.content_uri.clone(),
            content_type: blob.content_type.clone(),
            content_created: blob.content_created.clone(),
            records: total,
            kept,
        });
        Ok(())
    }

    fn wanted(&self, owner: &Owner) -> bool {
        if self.users.is_empty() {
            return true;
        }
        [&owner.user_id, &owner.mailbox_owner]
            .into_iter()
            .flatten()
            .any(|name| self.users.iter().any(|u| u.eq_ignore_ascii_case(name)))
    }

    /// Whose records are kept; everyone's when empty.
    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// After a complete run: the state file gains this run's blobs, so the next run with the
    /// same filter skips them.
    pub fn remember_fetched(&mut self) -> Result<(), crate::output::OutputError> {
        let Some(path) = &self.options.state else {
            return Ok(());
        };
        // The wall clock (`crate::clock`): the state file stamps when this machine fetched.
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        for id in &self.fetched {
            self.known
                .fetched
                .entry(id.clone())
                .or_insert_with(|| now.clone());
        }
        let mut text = serde_json::to_vec_pretty(&self.known).unwrap_or_default();
        text.push(b'\n');
        write_atomically(path, &text)
    }
}

/// The Office 365 Management Activity API (`subscriptions/start`, `subscriptions/content`,
/// the blobs): MicrosoftDocs/office-365-management-api
/// `office-365-management-activity-api-reference.md`.
pub static FEED: super::SourceDescriptor = super::SourceDescriptor {
    name: "feed",
    summary: "the Office 365 Management Activity API (the last 7 days)",
    noun: "audit log records",
    record_shape: crate::output::RecordShape::AUDIT_LOG,
    // Blobs are selected by when they became available, not by the records' time: a time
    // bound says nothing of what is still to come.
    resume: super::Resume::StartsAgain,
    reads: &[super::FlagGroup::Feed, super::FlagGroup::SignIn],
    client: super::ClientKind::Api {
        resource: "https://manage.office.com",
    },
    endpoint_flag: "--management-url",
    permissions: "the app needs the ActivityFeed.Read application permission of the \
     Office 365 Management APIs, with admin consent, and auditing must be on in the tenant",
    retention_days: Some(7),
    walk: "content listings of at most 24 hours, each blob once",
    configure: configure_feed,
};

fn configure_feed(request: &super::SourceRequest<'_>) -> Result<super::Configured, String> {
    let Some(tenant) = request
        .args
        .sign_in
        .tenant
        .clone()
        .filter(|t| !t.trim().is_empty())
    else {
        return Err(
            "--source feed needs --tenant: the tenant id the Management Activity API serves (a \
             GUID)"
                .into(),
        );
    };
    let args = &request.args.feed;
    let label = if request.users.is_empty() {
        format!("every user of {tenant}")
    } else {
        request.users.join(", ")
    };
    let spec = FeedOptions {
        tenant,
        content_types: super::descriptor::non_empty("--content-types", &args.content_types)?,
        users: FeedUsers::Listed(request.users.to_vec()),
        state: args.state.clone(),
        blob_cache: None,
        fetches: Default::default(),
    };
    Ok(super::Configured {
        spec: std::sync::Arc::new(spec),
        url: super::descriptor::checked_url("--management-url", &args.management_url)?,
        api_version: "v1.0".into(),
        label,
    })
}

impl super::SourceSpec for FeedOptions {
    fn case_filter(&self, filter: &crate::odata::ActivityFilter) -> String {
        super::range_in_words("blobs made available (contentCreated)", filter)
    }

    fn descriptor(&self) -> &'static super::SourceDescriptor {
        &FEED
    }

    fn open<'a>(
        &'a self,
        walk: super::Walk<'a>,
    ) -> Result<Box<dyn super::Source + 'a>, PagingError> {
        let end = walk.query.filter.end;
        // The feed keeps 7 days; a minute less, so the oldest window is not refused.
        let earliest = end - chrono::TimeDelta::days(FEED.retention_days.unwrap_or(7))
            + chrono::TimeDelta::minutes(1);
        let users = match &self.users {
            FeedUsers::Listed(users) => users.clone(),
            FeedUsers::EachMailbox => vec![walk.user.to_string()],
        };
        let range = (walk.start(earliest), end);
        Ok(Box::new(FeedSource::new(
            walk.api_client()?,
            self,
            users,
            range,
            walk.spools,
        )?))
    }

    fn filters(&self) -> Vec<String> {
        self.content_types.clone()
    }

    fn for_case(&self, shared: &std::path::Path) -> Option<std::sync::Arc<dyn super::SourceSpec>> {
        // A case's mailboxes share one feed: each keeps its own records, and every blob is
        // fetched once for them all.
        Some(std::sync::Arc::new(FeedOptions {
            users: FeedUsers::EachMailbox,
            blob_cache: Some(shared.to_path_buf()),
            ..self.clone()
        }))
    }
}

impl super::Source for FeedSource<'_> {
    fn pages(&self) -> u64 {
        FeedSource::pages(self)
    }

    fn first_request(&self, describe: bool) -> String {
        FeedSource::first_request(self, describe)
    }

    fn filter_description(&self) -> String {
        let (start, end) = self.range();
        let mut text = format!(
            "blobs made available from {} to {} (records of any time inside them)",
            super::manifest_time(start),
            super::manifest_time(end)
        );
        text.push_str(&format!(
            "; content types {}",
            self.options.content_types.join(", ")
        ));
        if !self.users().is_empty() {
            text.push_str(&format!("; users {}", self.users().join(", ")));
        }
        text
    }

    fn walk_description(&self) -> String {
        FEED.walk.into()
    }

    fn log(&self) -> Option<serde_json::Value> {
        serde_json::to_value(FeedSource::log(self)).ok()
    }

    fn completed(&mut self) -> Result<(), crate::output::OutputError> {
        self.remember_fetched()
    }

    fn deliver<'s>(
        &'s mut self,
        _reading: crate::record::PageReading,
        partial: PartialHandover,
        interrupt: super::Interrupt<'s>,
        emit: &'s mut EmitWindow<'_>,
    ) -> futures::future::BoxFuture<'s, Result<(), PagingError>> {
        Box::pin(FeedSource::deliver(self, partial, interrupt, emit))
    }
}
