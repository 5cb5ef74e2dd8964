//! Following a server's links from page to page (`@odata.nextLink`, `NextPageUri`), with the
//! guards every source's link-following shares (the Graph audit log, the Management Activity
//! API's listings, the Activities API's pagers), so a new source inherits them by walking its
//! links through a `LinkWalk`:
//!
//! - a link must stay on the base URL's origin (another server's records never become
//!   evidence);
//! - a link to a page already fetched in the same walk (the current page, or any before it) is
//!   a loop: the walk stops with `PagingError::LinkLoop` instead of asking for ever;
//! - pages that keep linking on while adding nothing new (no record, or only records already
//!   fetched in the walk, under links that differ) stop the walk with `PagingError::IdlePages`
//!   after `MAX_IDLE_PAGES` in a row. A few are let through: Microsoft Graph's paging guidance
//!   ("Paging Microsoft Graph data in your app") says a page may hold fewer results than asked,
//!   even none, with a link on, and the Management Activity API may answer an empty listing
//!   page with a `NextPageUri`.

use rustc_hash::FxHashSet;

use super::PagingError;
use crate::http::{printable, ApiClient};

/// Pages in a row that add nothing before the walk is taken for a loop.
pub const MAX_IDLE_PAGES: u32 = 3;

/// One walk along a server's links.
#[derive(Debug)]
pub struct LinkWalk {
    /// The server's name for its link, for messages.
    what: &'static str,
    /// Every URL fetched in this walk (normalised), the first one included.
    seen: FxHashSet<String>,
    /// Pages in a row that added nothing.
    idle: u32,
    /// The URL of the page being read.
    current: String,
}

/// A URL as compared with the others of the walk: parsed and written back, so spellings of the
/// same URL (a scheme or host in capitals, the default port, an empty query, a fragment, which
/// is never sent) are one.
fn normalised(link: &str) -> String {
    match url::Url::parse(link) {
        Ok(mut url) => {
            if url.query() == Some("") {
                url.set_query(None);
            }
            url.set_fragment(None);
            url.into()
        }
        Err(_) => link.to_string(),
    }
}

impl LinkWalk {
    /// A walk that starts at `first` (a URL this client made), following the server's `what`.
    pub fn new(first: &str, what: &'static str) -> Self {
        LinkWalk {
            what,
            seen: std::iter::once(normalised(first)).collect(),
            idle: 0,
            current: first.to_string(),
        }
    }

    /// A walk whose pages are asked by query (the Activities API's pagers), following the
    /// server's `what` between them; the client checks the origin of each link itself.
    pub fn between_queries(what: &'static str) -> Self {
        LinkWalk {
            what,
            seen: FxHashSet::default(),
            idle: 0,
            current: String::new(),
        }
    }

    /// After a page is read: `added` is how many new things (records, blobs) it brought, and
    /// `next` its link on, if any. Too many pages in a row that add nothing yet link on stop
    /// the walk.
    pub fn page_read(&mut self, added: usize, next: Option<&str>) -> Result<(), PagingError> {
        let Some(next) = next else {
            return Ok(());
        };
        if added > 0 {
            self.idle = 0;
            return Ok(());
        }
        self.idle += 1;
        if self.idle >= MAX_IDLE_PAGES {
            return Err(PagingError::IdlePages {
                what: self.what,
                pages: self.idle,
                link: printable(next),
            });
        }
        Ok(())
    }

    /// Before the server's link `next` is followed: it must stay on `client`'s origin and lead
    /// to a page not fetched before in this walk.
    pub fn follow(&mut self, client: &ApiClient, next: &str) -> Result<(), PagingError> {
        client.check_same_origin(next, self.what)?;
        self.not_seen_before(next)
    }

    /// Before the server's link `next` is followed by a client that checks its origin itself:
    /// it must lead to a page not fetched before in this walk.
    pub fn not_seen_before(&mut self, next: &str) -> Result<(), PagingError> {
        if !self.seen.insert(normalised(next)) {
            return Err(PagingError::LinkLoop {
                what: self.what,
                link: printable(next),
            });
        }
        self.current = next.to_string();
        Ok(())
    }

    /// The URL of the page to fetch now.
    pub fn current(&self) -> &str {
        &self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_that_add_nothing_are_let_through_a_few_times_in_a_row() {
        let mut walk = LinkWalk::new("http://h/a", "@odata.nextLink");
        for _ in 0..MAX_IDLE_PAGES - 1 {
            walk.page_read(0, Some("http://h/b")).unwrap();
        }
        walk.page_read(1, Some("http://h/b")).unwrap();
        for _ in 0..MAX_IDLE_PAGES - 1 {
            walk.page_read(0, Some("http://h/b")).unwrap();
        }
        assert!(matches!(
            walk.page_read(0, Some("http://h/b")),
            Err(PagingError::IdlePages { .. })
        ));
        // The last page may be empty.
        LinkWalk::new("http://h/a", "x").page_read(0, None).unwrap();
    }

    #[test]
    fn spellings_of_one_url_are_one() {
        assert_eq!(normalised("HTTP://H:80/a%7E"), normalised("http://h/a%7E"));
        assert_eq!(normalised("http://h/a?#x"), normalised("http://h/a"));
        assert_ne!(normalised("http://h/a?b"), normalised("http://h/a"));
    }
}
