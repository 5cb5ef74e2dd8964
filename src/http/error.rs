//! What can go wrong talking to the service, each with what to do about it.

use std::time::Duration;

/// The service refused the request; retrying the same request cannot help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the server rejected the credentials (401 Unauthorized): {reason}. An OAuth token lives 60 \
         minutes: if it has expired, get a new one and run again (--token or OAUTH_TOKEN)"
    )]
    Unauthorized { reason: String },

    /// A token the tool signed in for was refused, and so was a new one.
    #[error(
        "the service refused the signed-in app's token twice (401 Unauthorized, with a new token \
         the second time): {reason}. Signing in works, so what the token grants is what the \
         service does not accept: check that {hint}, that the consent was granted in --tenant \
         (the tenant whose records you ask for) after the permission was added, and that the \
         permission is of the API this source reads; then run again"
    )]
    SignedInTokenRefused { reason: String, hint: &'static str },

    #[error(
        "the server answered 403 {message:?}: Microsoft withdrew the Activities API in July 2018 \
         and now refuses every application id. A live tenant cannot serve this request; use the \
         mock tenant (o365-activities mock-tenant serve) to rehearse"
    )]
    ApiWithdrawn { message: String },

    #[error("the server answered 403 Forbidden ({message}): {hint}")]
    Forbidden { message: String, hint: &'static str },

    #[error(
        "mailbox {mailbox} refused access (404 {message:?}): the caller has no permission on this \
         mailbox. Grant it FullAccess (Add-MailboxPermission -Identity {mailbox} -User <analyst> \
         -AccessRights FullAccess) with a token carrying Mail.Read.Shared, or use an app with the \
         Mail.Read application permission and admin consent. New grants take minutes to hours to \
         propagate: if you just granted it, wait and run again"
    )]
    NoMailboxPermission { mailbox: String, message: String },

    #[error("the server answered 404 Not Found ({message}) for {url}: check {flag}")]
    NotFound {
        url: String,
        message: String,
        flag: &'static str,
    },

    #[error(
        "the server rejected the request (400 Bad Request): {message}. The query was: {query}"
    )]
    BadRequest { message: String, query: String },

    #[error("the server answered {status}: {message}")]
    Other { status: u16, message: String },

    /// No token could be had from the identity platform.
    #[error("sign-in failed: {0}")]
    SignIn(String),
}

/// Any failure of one page request, after the retry policy has had its say.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Refused(#[from] Refusal),

    #[error("gave up after {attempts} attempts; the last failure was: {last}")]
    GaveUp { attempts: u32, last: LastFailure },

    #[error("cannot build the HTTP client: {0}")]
    Setup(String),

    /// The server tried to lead the client to another origin.
    #[error("{0}")]
    Unsafe(String),

    /// A whole answer of a shape the documents do not give: asking again cannot help.
    #[error(
        "the server broke the API's contract: its answer to {request} is not understood \
         ({reason}); it was not retried, since the same request gets the same answer. Report it \
         (with the request) if the service is Microsoft's"
    )]
    NotUnderstood { request: String, reason: String },

    #[error("cannot connect to {host}: {cause}; check {flag} and the network")]
    CannotConnect {
        host: String,
        cause: String,
        flag: &'static str,
    },
}

/// Why the last attempt of a request given up on failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LastFailure {
    /// The service answered with this status: throttling (429, 503) or a transient error (other
    /// 5xx, 408).
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    /// No answer came (a timeout, a reset connection).
    #[error("request failed: {0}")]
    NoAnswer(String),
    /// The connection could not be made.
    #[error("cannot connect: {0}")]
    CannotConnect(String),
    /// The answer's body could not be read whole (cut off, over the cap) or read as the source
    /// reads it.
    #[error("{0}")]
    Body(String),
}

/// Human text for a wait, used in warnings.
pub fn describe_wait(wait: Duration) -> String {
    if wait.as_secs() >= 120 {
        format!("{} min {} s", wait.as_secs() / 60, wait.as_secs() % 60)
    } else {
        format!("{:.1} s", wait.as_secs_f64())
    }
}
