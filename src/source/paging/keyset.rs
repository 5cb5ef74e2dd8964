//! Keyset paging: `$orderby=TimeStamp asc`, each request starting at the last TimeStamp reached.
//!
//! Records below the bound are already written; records at the bound are held in a `TieGroup`
//! until a later TimeStamp closes the group, so every written record is final and a checkpoint
//! is just the bound. When a whole page shares the bound's TimeStamp, `$skip` pages within it.
//! New activities (after the frozen end) and retention purges (before the bound) cannot shift
//! anything: the bound is a time, not an offset.

use chrono::{DateTime, SubsecRound, Utc};

use super::tie_order::TieGroup;
use super::{LinkWalk, Pager, PagerProgress, PagingError};
use crate::http::ActivitiesClient;
use crate::odata::{ActivityFilter, Order, PageQuery};
use crate::record::{Activity, PageReading};
use crate::source::error::ProtocolViolation;

pub struct KeysetPager<'a> {
    client: &'a ActivitiesClient,
    filter: ActivityFilter,
    select: Option<&'a [String]>,
    page_size: u32,
    /// Everything strictly before this TimeStamp has been handed out.
    bound: Option<DateTime<Utc>>,
    /// Offset within the records at `bound`, when a page did not get past it.
    skip: u64,
    group: TieGroup,
    pages: u64,
    finished: bool,
    /// The first TimeStamp seen and how many records came since: the window's density.
    first_seen: Option<DateTime<Utc>>,
    seen: u64,
    /// What the records of the next pages are read for.
    reading: PageReading,
    /// The server's link to the rest of its answer (server-driven paging), asked next.
    next_link: Option<String>,
    /// The links followed, guarded as every source's are (never a page twice, never for ever).
    links: LinkWalk,
}

impl<'a> KeysetPager<'a> {
    pub fn new(
        client: &'a ActivitiesClient,
        filter: &ActivityFilter,
        select: Option<&'a [String]>,
        page_size: u32,
    ) -> Self {
        KeysetPager {
            client,
            filter: filter.clone(),
            select,
            page_size,
            bound: None,
            skip: 0,
            group: TieGroup::default(),
            pages: 0,
            finished: false,
            first_seen: None,
            seen: 0,
            reading: PageReading::Keys,
            next_link: None,
            links: LinkWalk::between_queries("@odata.nextLink"),
        }
    }

    /// Reads the records of the pages still to come as `reading` says (with their CSV cells
    /// when a CSV is written straight from them).
    pub fn read_pages_for(&mut self, reading: PageReading) {
        self.reading = reading;
    }

    /// Resumes after a checkpoint: everything before `bound` is already written.
    pub fn resume_from(mut self, bound: Option<DateTime<Utc>>) -> Self {
        self.bound = bound;
        self.group = TieGroup::default();
        self.group.close(bound);
        self
    }

    /// The first request, as `--dry-run` shows it.
    pub fn first_query(&self) -> PageQuery<'_> {
        self.query()
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The window's start (inclusive).
    pub fn window_start(&self) -> Option<DateTime<Utc>> {
        self.filter.start
    }

    /// How many windows what is left of this range deserves, at most `max_parts`: about one per
    /// page the density seen so far predicts, so a window with a page or less to go stays whole.
    /// `data_until` is the newest activity the range was found to hold, when known: nothing is
    /// expected after it.
    pub fn suggested_parts(&self, max_parts: usize, data_until: Option<DateTime<Utc>>) -> usize {
        let (Some(first), Some(bound)) = (self.first_seen, self.bound) else {
            return 1;
        };
        let seen_span = (bound - first).num_milliseconds().max(1) as f64;
        let rest_span = (self.expected_end(data_until) - bound)
            .num_milliseconds()
            .max(0) as f64;
        let expected_pages =
            self.seen as f64 * rest_span / seen_span / self.page_size.max(1) as f64;
        (expected_pages.ceil() as usize).clamp(1, max_parts.max(1))
    }

    /// Cuts what is left of this pager's range into `parts` windows (whole milliseconds, at
    /// least 2 ms each) that hold equal stretches of the time where data is expected (up to
    /// `data_until`, when known): the pager keeps the first, the others are returned as filters
    /// `[cut, next cut)`, the last ending where this pager's range ended, so activities newer
    /// than expected are still fetched. Empty when the rest is too short or the pager is done.
    pub fn split_into(
        &mut self,
        parts: usize,
        data_until: Option<DateTime<Utc>>,
    ) -> Vec<ActivityFilter> {
        let (Some(low), false) = (self.bound.or(self.filter.start), self.finished) else {
            return Vec::new();
        };
        let high = self.filter.before.unwrap_or(self.filter.end);
        // Cuts fall on whole milliseconds; each must still be after the bound itself, whose
        // records the pager holds.
        let low_ms = low.trunc_subsecs(3);
        let span = (self.expected_end(data_until) - low_ms).num_milliseconds();
        let parts = (parts as i64).min(span / 2);
        if parts < 2 {
            return Vec::new();
        }
        let cuts: Vec<DateTime<Utc>> = (1..parts)
            .map(|i| low_ms + chrono::Duration::milliseconds(span * i / parts))
            .filter(|cut| *cut > low && *cut < high)
            .collect();
        let mut windows = Vec::with_capacity(cuts.len());
        for (i, cut) in cuts.iter().enumerate() {
            let mut window = self.filter.clone();
            window.start = Some(*cut);
            window.before = cuts.get(i + 1).copied().or(self.filter.before);
            windows.push(window);
        }
        if let Some(first_cut) = cuts.first() {
            self.filter.before = Some(*first_cut);
            // A link the server gave carries the old range: ask again within the new one.
            self.next_link = None;
        }
        windows
    }

    /// Where this range's data is expected to end: its own end, or just after `data_until`
    /// when that is earlier.
    fn expected_end(&self, data_until: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let high = self.filter.before.unwrap_or(self.filter.end);
        data_until
            .map(|newest| newest.trunc_subsecs(3) + chrono::Duration::milliseconds(1))
            .map_or(high, |after_newest| after_newest.min(high))
    }

    /// The checkpoint: every record before this TimeStamp has been handed out.
    pub fn bound(&self) -> Option<DateTime<Utc>> {
        self.bound
    }

    fn query(&self) -> PageQuery<'_> {
        PageQuery {
            filter: &self.filter,
            lower_bound: self.bound,
            order: Order::Ascending,
            top: self.page_size,
            skip: self.skip,
            select: self.select,
        }
    }

    /// Sorts one page into the group and the records it closes.
    fn absorb(&mut self, page: Vec<Activity>) -> Result<PageOutcome, PagingError> {
        let mut outcome = PageOutcome::default();
        let bound_at_request = self.bound;
        let mut previous: Option<DateTime<Utc>> = None;
        for record in page {
            // A record without a usable time stays with its neighbours.
            let Some(time) = record.timestamp().or(previous).or(self.bound) else {
                outcome.in_final_group += 1;
                outcome.new_records += usize::from(self.group.insert(record));
                continue;
            };
            if previous.is_some_and(|p| time < p) {
                return Err(PagingError::Protocol(ProtocolViolation::OutOfOrder {
                    asked: "TimeStamp asc",
                    detail: format!(
                        "a page was not in ascending TimeStamp order ({time} after {})",
                        previous.unwrap_or(time)
                    ),
                }));
            }
            previous = Some(time);
            if bound_at_request.is_some_and(|bound| time < bound) {
                continue; // handed out already
            }
            if self.group.timestamp() != Some(time) {
                outcome.closed.extend(self.group.close(Some(time)));
                self.bound = Some(time);
                outcome.in_final_group = 0;
            }
            outcome.in_final_group += 1;
            outcome.new_records += usize::from(self.group.insert(record));
        }
        Ok(outcome)
    }
}

#[derive(Default)]
struct PageOutcome {
    closed: Vec<Activity>,
    /// Records of the page (new or repeated) at the TimeStamp now held as the group.
    in_final_group: usize,
    new_records: usize,
}

impl Pager for KeysetPager<'_> {
    /// A short page is never taken as the end: a server may cap its pages below `$top`. The
    /// walk follows the server's `@odata.nextLink` while it gives one, and otherwise asks again
    /// from the bound reached; it ends on a page that brings nothing new (at the cost of one
    /// request per walk).
    async fn next_batch(&mut self) -> Result<Option<Vec<Activity>>, PagingError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let page = match self.next_link.take() {
                Some(link) => self.client.fetch_link(&link, &self.reading).await?,
                None => self.client.fetch_page(&self.query(), &self.reading).await?,
            };
            self.pages += 1;
            let (records, next_link) = (page.records, page.next_link);
            let received = records.len();
            let full = received >= self.page_size as usize;
            self.seen += received as u64;
            if self.first_seen.is_none() {
                self.first_seen = records.first().and_then(Activity::timestamp);
            }
            let bound_before = self.bound;
            let mut outcome = self.absorb(records)?;
            self.group.detach_from_page();
            if outcome.new_records == 0 && next_link.is_none() {
                if full {
                    return Err(PagingError::Protocol(ProtocolViolation::SkipIgnored {
                        detail: format!(
                            "a full page at TimeStamp {:?} with $skip={} brought nothing new",
                            self.bound, self.skip
                        ),
                    }));
                }
                self.finished = true;
                outcome.closed.extend(self.group.close(self.bound));
            } else if outcome.in_final_group < received {
                // The page got past older records: the next one starts at the held group.
                self.skip = 0;
            } else if self.bound != bound_before {
                // The whole page is the start of one TimeStamp's records: page within it.
                self.skip = received as u64;
            } else {
                self.skip += received as u64;
            }
            if let Some(link) = next_link {
                if outcome.new_records == 0 && received > 0 {
                    return Err(PagingError::Protocol(ProtocolViolation::StuckLink {
                        link: link.to_string(),
                    }));
                }
                self.links.page_read(outcome.new_records, Some(&link))?;
                self.links.not_seen_before(&link)?;
                self.next_link = Some(link);
            }
            if !outcome.closed.is_empty() || self.finished {
                return Ok(Some(outcome.closed));
            }
        }
    }

    fn progress(&self) -> PagerProgress {
        PagerProgress {
            pages: self.pages,
            reached: self.bound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{ClientOptions, Credentials, RateBudget, RecordingSleeper, RetryPolicy};
    use chrono::TimeZone;
    use std::sync::Arc;

    fn client() -> ActivitiesClient {
        let options = ClientOptions {
            base_url: "http://127.0.0.1:9".into(),
            api_version: "v2.0".into(),
            user: "me".into(),
            credentials: Credentials::Bearer(crate::secret::SecretString::new("t")),
            timeout: std::time::Duration::from_secs(1),
            retry: RetryPolicy::default(),
            budget: RateBudget::default(),
            max_page_bytes: crate::http::DEFAULT_MAX_PAGE_BYTES,
        };
        ActivitiesClient::new(options, Arc::new(RecordingSleeper::default())).unwrap()
    }

    /// Every activity of `days` days from `start`.
    fn days_from(start: DateTime<Utc>, days: i64) -> ActivityFilter {
        ActivityFilter {
            start: Some(start),
            end: start + chrono::Duration::days(days),
            before: None,
            types: vec![],
            app_types: vec![],
        }
    }

    #[test]
    fn splits_the_rest_into_equal_adjacent_windows() {
        let client = client();
        let start = Utc.with_ymd_and_hms(2018, 1, 1, 0, 0, 0).unwrap();
        let filter = days_from(start, 4);
        let mut pager = KeysetPager::new(&client, &filter, None, 10);
        let windows = pager.split_into(4, None);
        assert_eq!(windows.len(), 3);
        assert_eq!(pager.filter.before, Some(start + chrono::Duration::days(1)));
        assert_eq!(windows[0].start, Some(start + chrono::Duration::days(1)));
        assert_eq!(windows[0].before, windows[1].start);
        assert_eq!(windows[2].start, Some(start + chrono::Duration::days(3)));
        assert_eq!(
            windows[2].before, None,
            "the last window ends at the frozen end, inclusive"
        );
        let mut tiny = KeysetPager::new(
            &client,
            &ActivityFilter {
                end: start + chrono::Duration::milliseconds(3),
                ..filter
            },
            None,
            10,
        );
        assert!(tiny.split_into(4, None).is_empty(), "no window under 2 ms");
    }

    #[test]
    fn with_the_newest_activity_known_the_cuts_share_out_the_time_up_to_it() {
        let client = client();
        let start = Utc.with_ymd_and_hms(2018, 1, 1, 0, 0, 0).unwrap();
        let filter = days_from(start, 400);
        let newest = start + chrono::Duration::days(4) - chrono::Duration::milliseconds(1);
        let mut pager = KeysetPager::new(&client, &filter, None, 10);
        let windows = pager.split_into(4, Some(newest));
        let starts: Vec<_> = windows.iter().map(|w| w.start.unwrap()).collect();
        let day = |n| start + chrono::Duration::days(n);
        assert_eq!(starts, [day(1), day(2), day(3)]);
        assert_eq!(pager.filter.before, Some(day(1)));
        assert_eq!(
            windows[2].before, None,
            "the last window still runs to the end: activities may be newer than the hint"
        );

        // A hint past the range's end changes nothing; one before what is left of the range
        // leaves it whole.
        let mut past_the_end = KeysetPager::new(&client, &filter, None, 10);
        let later = past_the_end.split_into(4, Some(day(1000)));
        assert_eq!(later[0].start, Some(day(100)));
        let mut resumed = KeysetPager::new(&client, &filter, None, 10).resume_from(Some(day(5)));
        assert!(resumed.split_into(4, Some(newest)).is_empty());
    }
}
