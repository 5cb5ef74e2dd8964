//! Password spraying: one source address failing to sign in as many users (error 50126 and
//! its kin), tenant-wide. Its own finding, medium at most, unless the person signed in from
//! the same source after its failures began.

use super::evidence::{IdentityEvidence, SpraySource};
use crate::triage::analyze::{stamp, Finding, Severity};
use crate::triage::category::Category;

/// Users one address must have failed against to be spraying; fewer if they are at least half
/// of the tenant's users seen (a small tenant).
const SPRAY_USERS: usize = 5;
const SPRAY_USERS_SMALL: usize = 3;

fn is_spraying(source: &SpraySource, users_seen: usize) -> bool {
    let users = source.users.len();
    users >= SPRAY_USERS || (users >= SPRAY_USERS_SMALL && users * 2 >= users_seen)
}

/// The spraying findings that concern `person` (a user the source tried).
pub fn spraying(person: &str, tenant: &IdentityEvidence) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (address, source) in &tenant.spray {
        if !source.users.contains(person) || !is_spraying(source, tenant.users_seen.len()) {
            continue;
        }
        let own: Vec<&String> = source.successes.get(person).into_iter().collect();
        let others = source
            .successes
            .keys()
            .filter(|user| user.as_str() != person)
            .count();
        let (severity, outcome) = if own.is_empty() {
            (
                Severity::Medium,
                if others > 0 {
                    format!(
                        "{others} other users signed in from it afterwards (see their mailboxes)"
                    )
                } else {
                    "no sign-in from it succeeded".to_string()
                },
            )
        } else {
            (
                Severity::High,
                format!("{person} signed in from it after the failures began"),
            )
        };
        let mut ids: Vec<String> = source.ids.clone();
        ids.extend(own.into_iter().cloned());
        findings.push(Finding {
            severity,
            category: Category::Spraying,
            title: format!(
                "Password spraying from {address}: {} failures against {} users",
                source.failures,
                source.users.len()
            ),
            detail: format!(
                "credential failures (error 50126 and kin) from {address} between {} and {}, {person} among the users tried; {outcome}",
                stamp(source.first),
                stamp(source.last)
            ),
            activity_ids: ids,
        });
    }
    findings
}
