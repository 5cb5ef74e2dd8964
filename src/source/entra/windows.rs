//! The windows of an Entra ID log walk: cut from the range (six hours wide at first, then as
//! wide as holds about `DENSE` records, from a minute to a day), fetched several at once (`--window-concurrency`) and handed back in time order.
//!
//! Unlike the Activities API's keyset windows (`source::paging::windows`), whose pages are
//! handed over as they come and spooled ahead, a window here is sorted whole before it is
//! handed over (the lists answer newest first), so the windows fetched ahead of the head wait
//! in memory: at most `--window-concurrency` of them (`StreamExt::buffered` yields them in the
//! order they were cut), each held to about `DENSE` records once the log's density is known. Windows partition the range, so however they are cut, the records handed over
//! are the same, in the same (time, id) order: a resumed walk, cut from its durable point,
//! writes what an uninterrupted one writes.
//!
//! Throttling: microsoft-graph-docs-contrib `concepts/throttling-limits.md` ("Identity and
//! access reports service limits", `includes/throttling-entra-logs-reports.md`): five requests
//! per 10 seconds per app per tenant for `signIn` and `directoryAudit`. The windows' requests
//! share the client, whose 429s wait their `Retry-After`; the default of four windows at once
//! keeps a burst of first requests within the five (inferred: the document gives a rate, not a
//! number of requests in flight, and the reporting API's answers take seconds).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Ask, LogKind, MAX_TOP, QUERY_VALUE};
use crate::http::{ApiClient, ApiRequest, HttpError, ReadFailure, Refusal};
use crate::record::{read_page, Activity, PageReading};
use crate::source::paging::{LinkWalk, PagingError};

/// The widest window: one durable point a day at least.
pub(super) const WIDEST: TimeDelta = TimeDelta::days(1);

/// The width of the windows cut before any has been read: a quarter of a day, so the first
/// windows of a dense log (a large tenant's) stay small, and a sparse one's costs a few
/// windows more than a day's width would.
pub(super) const FIRST: TimeDelta = TimeDelta::hours(6);

/// The narrowest window a dense log is cut into.
const NARROWEST: TimeDelta = TimeDelta::minutes(1);

/// About how many records a window is cut to hold, once the log's density is known.
const DENSE: i64 = 5_000;

/// Windows being read, by start: each one's end and the records it has so far.
type Fetching = BTreeMap<DateTime<Utc>, (DateTime<Utc>, Vec<Activity>)>;

/// What every window asks, shared by the windows fetched at once.
pub(super) struct Asking<'a> {
    pub client: &'a ApiClient,
    pub kind: &'static LogKind,
    pub version: String,
    pub asks: Vec<Ask>,
    /// Named in a 403 for a licence (the sign-in logs need Entra ID P1).
    pub licence_hint: Option<&'static str>,
    pub pages: AtomicU64,
    /// The records of each window still being read, by its start (with its end): what a walk
    /// stopped early still has of its head window.
    fetching: Mutex<Fetching>,
}

impl<'a> Asking<'a> {
    pub fn new(
        client: &'a ApiClient,
        kind: &'static LogKind,
        version: &str,
        asks: Vec<Ask>,
        licence_hint: Option<&'static str>,
    ) -> Self {
        Asking {
            client,
            kind,
            version: version.to_string(),
            asks,
            licence_hint,
            pages: AtomicU64::new(0),
            fetching: Mutex::default(),
        }
    }

    /// The filter of `ask` over `[start, end)`.
    fn filter(&self, ask: &Ask, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        let time = crate::odata::format_timestamp_literal;
        let mut filter = format!(
            "{field} ge {} and {field} lt {}",
            time(start),
            time(end),
            field = self.kind.time_field
        );
        if let Some(more) = &ask.filter {
            filter.push_str(" and ");
            filter.push_str(more);
        }
        filter
    }

    /// The first page's URL of `ask` over `[start, end)`.
    pub fn url(&self, ask: &Ask, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        let base = self.client.options().base_url.trim_end_matches('/');
        let mut url = format!("{base}/{}/{}", self.version, self.kind.path);
        // Percent-encoded (spaces as `%20`, as Microsoft's examples write them).
        let filter = self.filter(ask, start, end);
        let filter = percent_encoding::utf8_percent_encode(&filter, QUERY_VALUE);
        url.push_str(&format!("?$filter={filter}&$top={MAX_TOP}"));
        url
    }

    /// Every page of every ask of `[start, end)`, as the service sent them.
    pub async fn read_window(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        reading: &PageReading,
    ) -> Result<Vec<Activity>, PagingError> {
        self.with_fetching(|f| {
            f.insert(start, (end, Vec::new()));
        });
        for ask in &self.asks {
            let first = self.url(ask, start, end);
            let mut walk = LinkWalk::new(&first, "@odata.nextLink");
            let mut keys = rustc_hash::FxHashSet::<Box<str>>::default();
            loop {
                let page = self
                    .client
                    .send(&ApiRequest::get(walk.current()), |answer| {
                        read_page(answer.body, reading)
                            .map_err(|e| ReadFailure::Retry(e.to_string()))
                    })
                    .await
                    .map_err(|error| self.licence(error))?;
                self.pages.fetch_add(1, Ordering::Relaxed);
                let added = page
                    .records
                    .iter()
                    .filter(|record| keys.insert(record.key().into()))
                    .count();
                let next = page.next_link;
                self.with_fetching(|f| {
                    if let Some((_, records)) = f.get_mut(&start) {
                        records.extend(page.records);
                    }
                });
                walk.page_read(added, next.as_deref())?;
                match next {
                    Some(next) => walk.follow(self.client, &next)?,
                    None => break,
                }
            }
        }
        Ok(self
            .take(start)
            .map(|(_, records)| records)
            .unwrap_or_default())
    }

    /// The window starting at `start` as far as it was read (its end, its records), taken.
    pub fn take(&self, start: DateTime<Utc>) -> Option<(DateTime<Utc>, Vec<Activity>)> {
        let mut taken = None;
        self.with_fetching(|f| taken = f.remove(&start));
        taken
    }

    fn with_fetching(&self, change: impl FnOnce(&mut Fetching)) {
        match self.fetching.lock() {
            Ok(mut fetching) => change(&mut fetching),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }

    /// A 403 that says the tenant has no premium licence, told as such.
    fn licence(&self, error: HttpError) -> PagingError {
        match (&error, self.licence_hint) {
            (HttpError::Refused(Refusal::Forbidden { message, .. }), Some(licence))
                if super::is_licence_refusal(message) =>
            {
                PagingError::LicenceMissing {
                    what: self.kind.noun,
                    licence,
                    message: message.clone(),
                }
            }
            _ => error.into(),
        }
    }
}

/// Where the windows of `[start, end)` are cut: `FIRST` wide at first; after each window, the
/// ones cut next are as wide as holds about `DENSE` records at its density (never narrower
/// than `NARROWEST`, never wider than `WIDEST`).
pub(super) struct Cuts {
    next: Mutex<DateTime<Utc>>,
    end: DateTime<Utc>,
    width_ms: AtomicI64,
}

impl Cuts {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Cuts {
            next: Mutex::new(start),
            end,
            width_ms: AtomicI64::new(FIRST.num_milliseconds()),
        }
    }

    /// The next window, `None` past the range's end.
    pub fn next_window(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let start = *next;
        if start >= self.end {
            return None;
        }
        let width = TimeDelta::milliseconds(self.width_ms.load(Ordering::Relaxed));
        let end = start
            .checked_add_signed(width)
            .map_or(self.end, |e| e.min(self.end));
        *next = end;
        Some((start, end))
    }

    /// `[start, end)` held `records`: windows cut from now on hold about `DENSE`.
    pub fn observed(&self, start: DateTime<Utc>, end: DateTime<Utc>, records: usize) {
        let span = (end - start).num_milliseconds().max(1);
        let width = if records == 0 {
            WIDEST.num_milliseconds()
        } else {
            (span as i128 * DENSE as i128 / records as i128) as i64
        };
        let width = width.clamp(NARROWEST.num_milliseconds(), WIDEST.num_milliseconds());
        self.width_ms.store(width, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn windows_are_a_day_wide_then_narrowed_where_dense_and_partition_the_range() {
        let (start, end) = (at("2018-05-01T00:00:00Z"), at("2018-05-03T12:00:00Z"));
        let cuts = Cuts::new(start, end);
        let first = cuts.next_window().unwrap();
        assert_eq!(first, (start, at("2018-05-01T06:00:00Z")));
        // Five thousand records in six hours: the next windows are as wide.
        cuts.observed(first.0, first.1, 5_000);
        let second = cuts.next_window().unwrap();
        assert_eq!(second, (first.1, at("2018-05-01T12:00:00Z")));
        // Twenty thousand: a quarter as wide.
        cuts.observed(second.0, second.1, 20_000);
        let third = cuts.next_window().unwrap();
        assert_eq!(third, (second.1, at("2018-05-01T13:30:00Z")));
        // None: a day, cut at the range's end.
        cuts.observed(third.0, third.1, 0);
        assert_eq!(
            cuts.next_window().unwrap(),
            (third.1, at("2018-05-02T13:30:00Z"))
        );
        assert_eq!(
            cuts.next_window().unwrap(),
            (at("2018-05-02T13:30:00Z"), end)
        );
        assert_eq!(cuts.next_window(), None);
        // A flood: never narrower than a minute.
        let cuts = Cuts::new(start, end);
        cuts.observed(start, start + TimeDelta::seconds(1), 1_000_000);
        let (a, b) = cuts.next_window().unwrap();
        assert_eq!(b - a, NARROWEST);
    }
}
