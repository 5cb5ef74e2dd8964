//! Offset paging as the blog documents it (`$top` + `$skip`), made as safe as offsets allow.
//!
//! Requests are ordered `TimeStamp desc` under the frozen `TimeStamp lt end` bound, so:
//! - activities created after the pull started fall outside the bound and shift nothing;
//! - the retention purge removes the *oldest* records, which sit after every unread offset,
//!   so it cannot open a gap among the records still to be read;
//! - an activity that appears inside the range during the pull (a client-clock TimeStamp in
//!   the past) shifts later offsets by one: the repeat at the next page's head is dropped by
//!   comparing keys with the previous page. Shifts larger than a page, or records removed
//!   inside the range by anything but retention, are not detected: use keyset paging.
//!
//! Pages arrive newest first; they are spooled to a temporary file and handed out in reverse,
//! so output is ascending and memory stays constant.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::tie_order::TieGroup;
use super::{LinkWalk, Pager, PagerProgress, PagingError};
use crate::http::ActivitiesClient;
use crate::odata::{ActivityFilter, Order, PageQuery};
use crate::output::create_private;
use crate::record::{Activity, PageReading};
use crate::source::error::ProtocolViolation;

pub struct SkipPager<'a> {
    client: &'a ActivitiesClient,
    filter: &'a ActivityFilter,
    select: Option<&'a [String]>,
    page_size: u32,
    skip: u64,
    previous_keys: HashSet<String>,
    spool: Spool,
    pages: u64,
    oldest_seen: Option<DateTime<Utc>>,
    fetching_done: bool,
    group: TieGroup,
    /// The links followed, guarded as every source's are (never a page twice, never for ever).
    links: LinkWalk,
}

/// Spooled pages: newline-separated raw records, with each page's byte range.
struct Spool {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    reader: Option<File>,
    pages: Vec<(u64, u64)>,
    written: u64,
}

impl<'a> SkipPager<'a> {
    pub fn new(
        client: &'a ActivitiesClient,
        filter: &'a ActivityFilter,
        select: Option<&'a [String]>,
        page_size: u32,
        spool_path: PathBuf,
    ) -> Result<Self, PagingError> {
        let file = create_private(&spool_path).map_err(|source| PagingError::Spool {
            path: spool_path.display().to_string(),
            source,
        })?;
        Ok(SkipPager {
            client,
            filter,
            select,
            page_size,
            skip: 0,
            previous_keys: HashSet::new(),
            spool: Spool {
                path: spool_path,
                writer: Some(BufWriter::new(file)),
                reader: None,
                pages: Vec::new(),
                written: 0,
            },
            pages: 0,
            oldest_seen: None,
            fetching_done: false,
            links: LinkWalk::between_queries("@odata.nextLink"),
            group: TieGroup::default(),
        })
    }

    pub fn first_query(&self) -> PageQuery<'_> {
        self.query()
    }

    fn query(&self) -> PageQuery<'_> {
        PageQuery {
            filter: self.filter,
            lower_bound: None,
            order: Order::Descending,
            top: self.page_size,
            skip: self.skip,
            select: self.select,
        }
    }

    /// Pages until a page comes back empty: a short page is not the end, since a server may
    /// cap its pages below `$top` (its `@odata.nextLink` is followed while it gives one).
    async fn fetch_everything(&mut self) -> Result<(), PagingError> {
        let mut next_link: Option<String> = None;
        while !self.fetching_done {
            let page = match next_link.take() {
                Some(link) => self.client.fetch_link(&link, &PageReading::Keys).await?,
                None => {
                    self.client
                        .fetch_page(&self.query(), &PageReading::Keys)
                        .await?
                }
            };
            self.pages += 1;
            next_link = page.next_link;
            let page = page.records;
            let received = page.len();
            let keys: HashSet<String> = page.iter().map(|r| r.key().to_string()).collect();
            let fresh: Vec<Activity> = page
                .into_iter()
                .filter(|r| !self.previous_keys.contains(r.key()))
                .collect();
            if received > 0 && fresh.is_empty() {
                return Err(PagingError::Protocol(ProtocolViolation::SkipIgnored {
                    detail: format!("the page at $skip={} repeated the previous page", self.skip),
                }));
            }
            if let Some(oldest) = fresh.iter().filter_map(Activity::timestamp).min() {
                self.oldest_seen = Some(self.oldest_seen.map_or(oldest, |o| o.min(oldest)));
            }
            if let Some(link) = &next_link {
                self.links.page_read(fresh.len(), Some(link))?;
                self.links.not_seen_before(link)?;
            }
            self.spool.append_page(&fresh)?;
            self.previous_keys = keys;
            self.skip += received as u64;
            self.fetching_done = received == 0 && next_link.is_none();
        }
        self.spool.finish_writing()
    }
}

impl Spool {
    fn error(&self, source: std::io::Error) -> PagingError {
        PagingError::Spool {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn append_page(&mut self, records: &[Activity]) -> Result<(), PagingError> {
        let start = self.written;
        let writer = self
            .writer
            .as_mut()
            .ok_or(PagingError::Internal("spool written after it was closed"))?;
        let mut result = Ok(());
        for record in records {
            result = result
                .and_then(|_| writer.write_all(record.raw_json().as_bytes()))
                .and_then(|_| writer.write_all(b"\n"));
            self.written += record.raw_json().len() as u64 + 1;
        }
        result.map_err(|e| self.error(e))?;
        self.pages.push((start, self.written));
        Ok(())
    }

    fn finish_writing(&mut self) -> Result<(), PagingError> {
        if let Some(writer) = self.writer.take() {
            let file = writer
                .into_inner()
                .map_err(|e| self.error(e.into_error()))?;
            drop(file);
            self.reader = Some(File::open(&self.path).map_err(|e| self.error(e))?);
        }
        Ok(())
    }

    /// The last page not yet read back, its records oldest first.
    fn pop_page_reversed(&mut self) -> Result<Option<Vec<Activity>>, PagingError> {
        let Some((start, end)) = self.pages.pop() else {
            return Ok(None);
        };
        let reader = self
            .reader
            .as_mut()
            .ok_or(PagingError::Internal("spool read before it was written"))?;
        let mut bytes = vec![0; (end - start) as usize];
        let read = reader
            .seek(SeekFrom::Start(start))
            .and_then(|_| reader.read_exact(&mut bytes));
        read.map_err(|e| self.error(e))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| self.error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        let mut records = Vec::new();
        for line in text.lines().rev() {
            let record = Activity::from_json(line)
                .map_err(|e| self.error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
            records.push(record);
        }
        Ok(Some(records))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Pager for SkipPager<'_> {
    async fn next_batch(&mut self) -> Result<Option<Vec<Activity>>, PagingError> {
        if !self.fetching_done {
            self.fetch_everything().await?;
        }
        let Some(page) = self.spool.pop_page_reversed()? else {
            let rest = self.group.close(None);
            return Ok((!rest.is_empty()).then_some(rest));
        };
        let mut ready = Vec::new();
        let mut previous = self.group.timestamp();
        for record in page {
            let time = record.timestamp().or(previous);
            if previous.is_some_and(|p| time.is_some_and(|t| t < p)) {
                return Err(PagingError::Protocol(ProtocolViolation::OutOfOrder {
                    asked: "TimeStamp desc",
                    detail: "pages were not in descending TimeStamp order".into(),
                }));
            }
            if time != self.group.timestamp() {
                ready.extend(self.group.close(time));
            }
            previous = time;
            self.group.insert(record);
        }
        Ok(Some(ready))
    }

    fn progress(&self) -> PagerProgress {
        PagerProgress {
            pages: self.pages,
            reached: self.oldest_seen,
        }
    }
}
