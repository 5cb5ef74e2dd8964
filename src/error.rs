//! The top-level error and its exit code.

use crate::http::{HttpError, Refusal};
use crate::output::OutputError;
use crate::source::paging::PagingError;

/// Exit codes, as README documents them.
pub mod exit_code {
    pub const OTHER: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const REFUSED: i32 = 3;
    pub const GAVE_UP: i32 = 4;
    /// `batch`: some mailboxes are not complete (the same code as a pull that gave up).
    pub const INCOMPLETE: i32 = 4;
    /// `verify`: a file is missing, altered or unexpected.
    pub const VERIFY_FAILED: i32 = 5;
    /// `verify --allowed-signers`: the files are intact, but the manifest is not signed.
    pub const UNSIGNED: i32 = 6;
    /// `verify --allowed-signers`: the signature is missing (the manifest says it was signed),
    /// invalid, or not by an allowed signer.
    pub const BAD_SIGNATURE: i32 = 7;
    /// The tenant lacks the licence a source needs (the sign-in logs: Entra ID P1 or P2).
    pub const NO_LICENCE: i32 = 8;
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Usage(String),

    #[error(transparent)]
    Refused(#[from] Refusal),

    /// Retries ran out, or no connection could be made: the typed cause (`HttpError::GaveUp`
    /// with its last failure, or `HttpError::CannotConnect`).
    #[error("{}", gave_up_message(.0))]
    GaveUp(Box<HttpError>),

    #[error("interrupted: the pull stopped before it was complete")]
    Interrupted,

    #[error(transparent)]
    Output(#[from] OutputError),

    #[error(transparent)]
    Paging(PagingError),

    #[error("{0}")]
    Other(String),

    /// `batch` finished, but not every mailbox is complete.
    #[error("{0}")]
    Incomplete(String),

    /// `verify` found a problem.
    #[error("{0}")]
    VerifyFailed(String),

    /// `verify --allowed-signers`: intact, but not signed.
    #[error("{0}")]
    Unsigned(String),

    /// `verify --allowed-signers`: the signature does not vouch for the manifest.
    #[error("{0}")]
    BadSignature(String),

    /// Another run holds the files this one would write.
    #[error(transparent)]
    InUse(#[from] crate::output::LockError),

    /// A failure after records were written: the partial result's location is attached.
    #[error("{error}\npartial result kept: {kept}")]
    Partial { error: Box<AppError>, kept: String },
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Usage(_)
            | AppError::InUse(_)
            | AppError::Output(OutputError::Exists { .. })
            | AppError::Output(OutputError::UnknownFormat { .. })
            | AppError::Output(OutputError::EvidenceClash { .. })
            | AppError::Output(OutputError::NotAFile { .. })
            | AppError::Output(OutputError::NoFolder { .. }) => exit_code::USAGE,
            AppError::Refused(_) => exit_code::REFUSED,
            AppError::GaveUp(_) => exit_code::GAVE_UP,
            AppError::Interrupted => exit_code::INTERRUPTED,
            AppError::Partial { error, .. } => error.exit_code(),
            AppError::Incomplete(_) => exit_code::INCOMPLETE,
            AppError::VerifyFailed(_) => exit_code::VERIFY_FAILED,
            // Records the service counted but did not return, or a query that kept failing:
            // incomplete as a pull that gave up is, its partial kept.
            AppError::Paging(PagingError::Shortfall { .. } | PagingError::QueryFailed { .. }) => {
                exit_code::INCOMPLETE
            }
            AppError::Paging(PagingError::LicenceMissing { .. }) => exit_code::NO_LICENCE,
            AppError::Unsigned(_) => exit_code::UNSIGNED,
            AppError::BadSignature(_) => exit_code::BAD_SIGNATURE,
            AppError::Output(_) | AppError::Paging(_) | AppError::Other(_) => exit_code::OTHER,
        }
    }
}

impl From<PagingError> for AppError {
    fn from(error: PagingError) -> Self {
        match error {
            PagingError::Http(http) => http.into(),
            PagingError::Interrupted => AppError::Interrupted,
            PagingError::Input(message) => AppError::Usage(message),
            other => AppError::Paging(other),
        }
    }
}

/// What a run that gave up tells the analyst: the cause, and what to do when retries ran out.
fn gave_up_message(cause: &HttpError) -> String {
    match cause {
        HttpError::GaveUp { .. } => format!(
            "{cause}. The service may be overloaded or throttling hard: run again later, or \
             raise --max-retries"
        ),
        other => other.to_string(),
    }
}

impl From<HttpError> for AppError {
    fn from(error: HttpError) -> Self {
        match error {
            HttpError::Refused(refusal) => AppError::Refused(refusal),
            gave_up @ HttpError::GaveUp { .. } => AppError::GaveUp(Box::new(gave_up)),
            HttpError::Setup(message) | HttpError::Unsafe(message) => AppError::Other(message),
            not_understood @ HttpError::NotUnderstood { .. } => {
                AppError::Other(not_understood.to_string())
            }
            cannot @ HttpError::CannotConnect { .. } => AppError::GaveUp(Box::new(cannot)),
        }
    }
}
