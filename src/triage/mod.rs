//! Triage: the blog's hunting techniques over pulled activities, as findings an analyst can act on.
//!
//! `events` loads pulled data (JSON Lines, CSV, or a batch case), `analyze` derives findings and
//! tables per mailbox, `report` writes them as text, JSON, CSV or a self-contained HTML page, a mailbox at a time.

pub mod analyze;
pub mod audit_log;
pub mod case_view;
pub mod category;
pub mod evaluate;
pub mod evaluate_identity;
pub mod events;
pub mod exports;
mod findings;
pub mod geo;
pub mod identity;
mod inputs;
pub mod query_xml;
pub mod report;

pub use analyze::{analyze_mailbox, Finding, MailboxReport, Settings, Severity, Table};
pub use events::{Event, MailboxEvents};
pub use inputs::{load_inputs, plan_inputs, plan_triage, MailboxInput, TriagePlan};

/// A mailbox's report from its activities and, when the triage has any, the identity evidence
/// of its person (sign-ins and directory audits joined by session).
pub fn analyze_with_identity(
    mailbox: &MailboxEvents,
    settings: &Settings,
    identity: &identity::IdentityEvidence,
) -> Result<MailboxReport, crate::error::AppError> {
    let mut report = analyze_mailbox(mailbox, settings);
    if !identity.is_empty() {
        let person = identity.person(&mailbox.mailbox.to_lowercase())?;
        identity::analyze_identity(&mut report, mailbox, &person, identity);
    }
    Ok(report)
}
