//! Why a source's walk stopped before the end: every source returns it.

use crate::http::HttpError;

/// How a server broke the paging contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolViolation {
    /// Records out of the order the request asked for (`$orderby`).
    #[error("{detail}; the server ignored $orderby={asked}")]
    OutOfOrder { asked: &'static str, detail: String },
    /// Pages that brought nothing new at a new `$skip`: the server ignores `$skip`.
    #[error("{detail}; the server seems to ignore $skip, so paging cannot make progress")]
    SkipIgnored { detail: String },
    /// A link to a page with nothing new.
    #[error(
        "the server's @odata.nextLink led to a page with nothing new ({link}); following it \
         again could loop forever"
    )]
    StuckLink { link: String },
    /// An answer about another resource than the one asked for.
    #[error("asked for {what} {asked}, the service answered with {answered}")]
    WrongResource {
        what: &'static str,
        asked: String,
        answered: String,
    },
}

/// Why paging stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum PagingError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("the server broke the paging contract: {0}")]
    Protocol(ProtocolViolation),
    /// More records in a range than one query may return, at the narrowest range allowed.
    #[error(
        "the audit log holds more records between {start} and {end} than one query may return, \
         and the range is already at its narrowest (--min-split); they were not retrieved. \
         Narrow the query with --operations and run again"
    )]
    OverLimitAtNarrowest { start: String, end: String },
    /// A query still running when `--query-timeout` ran out.
    #[error(
        "audit log query {query_id} was still {status} after {seconds} s (--query-timeout); the \
         service may be busy: run again later"
    )]
    QueryTimedOut {
        query_id: String,
        status: String,
        seconds: u64,
    },
    /// A copy this tool keeps (a case's blob cache) cannot be read back.
    #[error("{detail} (the cached copy {path}: remove it to fetch the blob again)")]
    DamagedCache { path: String, detail: String },
    /// A mistake of this program, not of the server or the input.
    #[error("internal error: {0}")]
    Internal(&'static str),
    #[error("interrupted")]
    Interrupted,
    /// A link to a page already fetched in the same walk: following it would loop.
    #[error(
        "the server broke the paging contract: its {what} {link:?} leads to a page already \
         fetched in this walk; the walk was stopped rather than loop for ever. Run again; if it \
         persists, the service (or a proxy before it) is at fault"
    )]
    LinkLoop { what: &'static str, link: String },
    /// Pages that keep linking on while adding nothing new.
    #[error(
        "the server broke the paging contract: {pages} pages in a row added nothing new yet \
         linked on through {what} (the last to {link:?}); the walk was stopped rather than loop \
         for ever. Run again; if it persists, the service (or a proxy before it) is at fault"
    )]
    IdlePages {
        what: &'static str,
        pages: u32,
        link: String,
    },
    /// An audit log query returned fewer records than it counted, every time it was asked.
    #[error(
        "audit log query {query_id} for {start}..{end} returned {retrieved} of the {expected} \
         records the service counted (approximateReturnedRecordCount), and {queries} queries of \
         that range together returned no more: the records missing were not retrieved, so the \
         pull is incomplete (the records returned are kept). Run again later"
    )]
    Shortfall {
        query_id: String,
        start: String,
        end: String,
        expected: u64,
        retrieved: u64,
        queries: u32,
    },
    /// Every query of a range ended `failed` or `cancelled`.
    #[error(
        "audit log query {query_id} for {start}..{end} ended {status}; none of the {queries} \
         queries made for that range succeeded, so its records were not retrieved. The service \
         may be busy: run again later, or narrow the range (--start, --end)"
    )]
    QueryFailed {
        query_id: String,
        status: String,
        start: String,
        end: String,
        queries: u32,
    },
    /// The tenant lacks the licence the log needs (the sign-in logs: Entra ID P1 or P2).
    #[error(
        "the service refused to list its {what} (403 {message:?}): {licence}. Nothing was \
         retrieved; with a licence, or from a tenant that has one, run again"
    )]
    LicenceMissing {
        what: &'static str,
        licence: &'static str,
        message: String,
    },
    /// An input the user gave cannot be used (a damaged state file, say): what to fix.
    #[error("{0}")]
    Input(String),
    #[error("cannot use the spool file {path}: {source}")]
    Spool {
        path: String,
        source: std::io::Error,
    },
    /// Records could not be written where they go (the outputs of a pull).
    #[error("cannot write {what}: {source}")]
    Output {
        what: String,
        source: std::io::Error,
    },
}
