//! Several mailboxes per query, for a case: `userPrincipalNameFilters` is a list
//! (microsoft-graph-docs-contrib `api-reference/beta/resources/security-auditlogquery.md` and
//! `api-reference/beta/api/security-auditcoreroot-post-auditlogqueries.md`: a "String
//! collection"), so a case asks for its mailboxes together while their expected records fit the
//! record limit, and hands each mailbox its own.
//!
//! Whose a record is. Both documents define the filter as "the UPN of the user who performed
//! the action (specified in the operation property) that resulted in the record being logged",
//! and `security-auditlogrecord.md` gives each record that user as `userPrincipalName` ("UPN of
//! the user who performed the action"; `auditData.UserId` in the record itself). So a query of
//! one mailbox returns the records its user performed, and a record of a group's query is its
//! performer's, whichever mailbox it acted on: a delegate's access to another mailbox
//! (`UserId` the delegate, `MailboxOwnerUPN` the owner) is the delegate's record, as a query of
//! the owner alone does not return it either.
//!
//! The guarantee that each mailbox gets exactly what a query of it alone returns lives in
//! [`distribute`]: a group's records are handed out only when every one names one mailbox of
//! the group as its performer. When one names none (a service that filters by another field
//! than the documents say), or a group's query fails, the group is not used: each of its
//! mailboxes is queried alone, as before grouping.
//!
//! How groups are made. The case tells which mailboxes it still pulls, in the order it runs
//! them (`pending`). The first mailbox to ask for the case's range leads a group of itself and
//! the next mailboxes not yet grouped: up to `cap` of them while nothing is known, then while
//! their expected records (each mailbox's own estimate, else the mean learned from the groups
//! that came back) fit `GROUP_FILL` of the record limit (`recordCountLimit`, or the size of a
//! sample). The others of the group wait for it. A group over the limit is split by mailbox:
//! the records it returned are a sample whose share per mailbox estimates each one's count;
//! a mailbox over the limit alone gets that sample to be split by time in its own walk (as a
//! mailbox of a pull is), the others are packed into smaller groups, queried in the next round.
//! A mailbox resumed past the case's start takes the group's records from its bound on.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use rustc_hash::FxHashMap;
use serde::Deserialize;

use super::plan::{OverLimit, Range};
use super::query::{QueryOutcome, QueryRunner, Ran};
use super::QueryLogEntry;
use crate::record::{Activity, PageReading};

/// The share of the record limit a group is expected to hold. Higher than a time split's
/// `plan::FILL`: a group's estimate adds up counts of whole mailboxes (exact once a group came
/// back), where a time split's rests on a sample's quantiles.
pub const GROUP_FILL: f64 = 0.8;

/// The mailboxes one query names at most, by default. Microsoft documents no limit on
/// `userPrincipalNameFilters`; a hundred keeps a query's body a few kilobytes.
pub const MAILBOXES_PER_QUERY: usize = 100;

/// The grouping of a case's mailboxes, shared by their walks.
pub struct MailboxGroups {
    state: Mutex<State>,
    /// Bumped whenever a mailbox's answer is set or its group released.
    changed: tokio::sync::watch::Sender<u64>,
    cap: usize,
}

impl std::fmt::Debug for MailboxGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxGroups")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    /// The mailboxes still to pull, in the case's order.
    names: Vec<String>,
    /// Lower-cased name -> index.
    index: FxHashMap<String, usize>,
    slots: Vec<Slot>,
    /// The range groups are asked for: the case's (the first walk's).
    range: Option<Range>,
    /// `recordCountLimit`, once a query said it.
    limit: Option<u64>,
    /// Records and mailboxes of the groups that came back, for the mean.
    learned: (u64, u64),
    /// Each mailbox's count as a group's sample estimated it.
    estimates: FxHashMap<usize, f64>,
}

enum Slot {
    /// In no group yet.
    Free,
    /// In a group being queried.
    Grouped,
    /// Its answer, until its walk takes it.
    Ready(Asked),
    /// Answered, or not the groups' to answer.
    Taken,
}

/// What a walk's first range gets from the groups.
pub(super) enum Asked {
    /// The mailbox's answer: its records of the range, or its sample over the limit, in
    /// `round`.
    Answered { outcome: QueryOutcome, round: u32 },
    /// Query it alone; `log` and `pages`: the group queries that led there.
    Alone { log: Vec<QueryLogEntry>, pages: u64 },
}

impl Asked {
    /// Query it alone, nothing before.
    pub(super) fn alone() -> Self {
        Asked::Alone {
            log: Vec::new(),
            pages: 0,
        }
    }
}

/// What a group's query is run with.
#[derive(Clone, Copy)]
pub(super) struct GroupQuery<'a> {
    /// The asking mailbox's runner (its client runs the group's queries).
    pub runner: QueryRunner<'a>,
    pub reading: &'a PageReading,
    pub slots: Option<&'a std::sync::Arc<tokio::sync::Semaphore>>,
    pub concurrency: usize,
}

impl MailboxGroups {
    pub fn new(cap: usize) -> Self {
        MailboxGroups {
            state: Mutex::default(),
            changed: tokio::sync::watch::channel(0).0,
            cap: cap.max(1),
        }
    }

    /// The mailboxes the case still pulls, in the order it runs them.
    pub fn set_pending(&self, mailboxes: &[String]) {
        let mut state = self.lock();
        *state = State::default();
        for name in mailboxes {
            let key = name.to_lowercase();
            if !state.index.contains_key(&key) {
                let i = state.names.len();
                state.index.insert(key, i);
                state.names.push(name.clone());
                state.slots.push(Slot::Free);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// The answer to `mailbox`'s first range, `[start, range.1)` of the case's `range`:
    /// from a group, led by this walk or another, or `Alone`.
    pub(super) async fn ask(
        &self,
        query: GroupQuery<'_>,
        mailbox: &str,
        range: Range,
        start: DateTime<Utc>,
    ) -> Asked {
        let key = mailbox.to_lowercase();
        loop {
            let mut changes = self.changed.subscribe();
            let members = {
                let mut state = self.lock();
                if *state.range.get_or_insert(range) != range {
                    return Asked::alone();
                }
                let Some(&me) = state.index.get(&key) else {
                    return Asked::alone();
                };
                match std::mem::replace(&mut state.slots[me], Slot::Taken) {
                    Slot::Ready(asked) => return from_bound(asked, start),
                    Slot::Taken => return Asked::alone(),
                    Slot::Grouped => {
                        state.slots[me] = Slot::Grouped;
                        None
                    }
                    // A mailbox resumed past the start does not lead: its group would miss
                    // the others' records before its bound.
                    Slot::Free if start != range.0 => return Asked::alone(),
                    Slot::Free => {
                        // Once the limit and a mean are known, the next groups too, to run at
                        // once (each holds at most a query's records until its mailbox asks).
                        let mut groups = vec![state.form_group(me, self.cap)];
                        while state.learned.1 > 0
                            && state.limit.is_some()
                            && groups.len() < query.concurrency
                        {
                            let Some(next) =
                                state.slots.iter().position(|s| matches!(s, Slot::Free))
                            else {
                                break;
                            };
                            groups.push(state.form_group(next, self.cap));
                        }
                        Some((me, groups))
                    }
                }
            };
            match members {
                Some((me, members)) => {
                    let pages = self.lead(query, range, members).await;
                    let mut state = self.lock();
                    let asked = match std::mem::replace(&mut state.slots[me], Slot::Taken) {
                        Slot::Ready(asked) => asked,
                        _ => Asked::alone(),
                    };
                    return with_pages(asked, pages);
                }
                None => {
                    // The sender lives as long as `self`.
                    let _ = changes.changed().await;
                }
            }
        }
    }

    /// Runs the `groups` over `range` (and the smaller groups they split into), at most
    /// `concurrency` at once, until each member has its answer; the pages read.
    async fn lead(&self, query: GroupQuery<'_>, range: Range, groups: Vec<Vec<usize>>) -> u64 {
        let release = Release {
            groups: self,
            members: groups.concat(),
        };
        // Popped from the end: the first group first.
        let mut queue: Vec<_> = groups
            .into_iter()
            .rev()
            .map(|g| (g, 1, Vec::new()))
            .collect();
        let mut running = FuturesUnordered::new();
        let mut pages = 0;
        loop {
            while running.len() < query.concurrency.max(1) {
                let Some((members, round, before)) = queue.pop() else {
                    break;
                };
                let names: Vec<String> = {
                    let state = self.lock();
                    members.iter().map(|&i| state.names[i].clone()).collect()
                };
                running.push(async move {
                    let _slot = super::case_slot(query.slots).await;
                    let runner = QueryRunner {
                        users: &names,
                        ..query.runner
                    };
                    let outcome = runner.run(range.0, range.1, round, query.reading).await;
                    (members, names, round, before, outcome)
                });
            }
            let Some((members, names, round, before, outcome)) = running.next().await else {
                break;
            };
            pages += outcome.pages;
            let regroup = self.settle(&members, &names, round, before, outcome);
            queue.extend(regroup.into_iter().rev());
            self.notify();
        }
        drop(release);
        pages
    }

    /// Sets the answers a group's query gives its members; the smaller groups to query next
    /// (members, round, the log that led to them).
    fn settle(
        &self,
        members: &[usize],
        names: &[String],
        round: u32,
        before: Vec<QueryLogEntry>,
        outcome: QueryOutcome,
    ) -> Vec<(Vec<usize>, u32, Vec<QueryLogEntry>)> {
        let mut state = self.lock();
        state.limit = outcome.limit.or(state.limit);
        let log = [before, outcome.log].concat();
        let alone = |state: &mut State, log: &[QueryLogEntry]| {
            for &m in members {
                state.slots[m] = Slot::Ready(Asked::Alone {
                    log: log.to_vec(),
                    pages: 0,
                });
            }
        };
        let answered = |records: Vec<Activity>, log: &[QueryLogEntry]| {
            let mut log = log.to_vec();
            if let Some(last) = log.last_mut() {
                last.kept = Some(records.len() as u64);
            }
            Asked::Answered {
                outcome: QueryOutcome {
                    log,
                    pages: 0,
                    limit: outcome.limit,
                    result: Ok(Ran::Records(records)),
                },
                round,
            }
        };
        match outcome.result {
            Ok(Ran::Records(records)) => match distribute(names, records) {
                Ok(shares) => {
                    let total: usize = shares.iter().map(Vec::len).sum();
                    state.learned.0 += total as u64;
                    state.learned.1 += members.len() as u64;
                    for (&m, share) in members.iter().zip(shares) {
                        state.slots[m] = Slot::Ready(answered(share, &log));
                    }
                    Vec::new()
                }
                Err(unplaced) => {
                    warn_unplaced(unplaced, names);
                    alone(&mut state, &log);
                    Vec::new()
                }
            },
            Ok(Ran::OverLimit(over, sample)) if members.len() == 1 => {
                state.slots[members[0]] = Slot::Ready(Asked::Answered {
                    outcome: QueryOutcome {
                        log,
                        pages: 0,
                        limit: outcome.limit,
                        result: Ok(Ran::OverLimit(over, sample)),
                    },
                    round,
                });
                Vec::new()
            }
            Ok(Ran::OverLimit(over, sample)) => {
                let sampled = sample.len();
                let shares = match distribute(names, sample) {
                    Ok(shares) => shares,
                    Err(unplaced) => {
                        warn_unplaced(unplaced, names);
                        alone(&mut state, &log);
                        return Vec::new();
                    }
                };
                let limit = over
                    .limit
                    .or(state.limit)
                    .filter(|&l| l > 0)
                    .unwrap_or(sampled.max(1) as u64);
                state.limit.get_or_insert(limit);
                let scale = over
                    .expected
                    .unwrap_or(sampled as u64 + 1)
                    .max(sampled as u64) as f64
                    / sampled.max(1) as f64;
                let (mut rest, mut by_time) = (Vec::new(), Vec::new());
                for (&m, share) in members.iter().zip(shares) {
                    let estimate = (share.len() as f64 + 0.5) * scale;
                    state.estimates.insert(m, estimate);
                    if estimate > limit as f64 {
                        by_time.push((m, estimate, share));
                    } else {
                        rest.push((m, estimate));
                    }
                }
                let budget = GROUP_FILL * limit as f64;
                let mut groups = pack(&rest, budget, self.cap);
                if groups.len() == 1 && groups[0].len() == members.len() {
                    // The estimates all fit, yet the whole was over: halve it.
                    let whole = groups.remove(0);
                    let (a, b) = whole.split_at(whole.len() / 2);
                    groups = vec![a.to_vec(), b.to_vec()];
                }
                tracing::info!(
                    "an audit log query of {} mailboxes is over its record limit: split into {} \
                     groups (round {})",
                    members.len(),
                    groups.len(),
                    round + 1
                );
                let mut log = log;
                if let Some(last) = log.last_mut() {
                    // Its parts: the smaller groups, and each mailbox split by time alone.
                    last.parts = (groups.len() + by_time.len()) as u32;
                }
                for (m, estimate, share) in by_time {
                    // Over the limit alone: split by time in its own walk.
                    let over = OverLimit {
                        sample: share.iter().filter_map(Activity::timestamp).collect(),
                        expected: Some(estimate.ceil() as u64),
                        limit: Some(limit),
                    };
                    state.slots[m] = Slot::Ready(Asked::Answered {
                        outcome: QueryOutcome {
                            log: log.clone(),
                            pages: 0,
                            limit: Some(limit),
                            result: Ok(Ran::OverLimit(over, share)),
                        },
                        round,
                    });
                }
                groups
                    .into_iter()
                    .filter(|g| !g.is_empty())
                    .map(|g| (g, round + 1, log.clone()))
                    .collect()
            }
            Err(_) => {
                // Each member queried alone meets (and reports) its own failure.
                alone(&mut state, &log);
                Vec::new()
            }
        }
    }
}

impl State {
    /// A mailbox's expected records: its own estimate, else the mean of those learned.
    fn estimate(&self, m: usize) -> Option<f64> {
        self.estimates.get(&m).copied().or_else(|| {
            let (records, mailboxes) = self.learned;
            (mailboxes > 0).then(|| records as f64 / mailboxes as f64)
        })
    }

    /// `leader` and the next mailboxes in no group, while they fit; marked grouped.
    fn form_group(&mut self, leader: usize, cap: usize) -> Vec<usize> {
        let budget = self.limit.map(|l| GROUP_FILL * l as f64);
        let mut members = vec![leader];
        let mut volume = self.estimate(leader).unwrap_or(0.0);
        let n = self.slots.len();
        for j in (leader + 1..n).chain(0..leader) {
            if members.len() >= cap {
                break;
            }
            if !matches!(self.slots[j], Slot::Free) {
                continue;
            }
            if let (Some(budget), Some(expected)) = (budget, self.estimate(j)) {
                if volume + expected > budget {
                    break;
                }
                volume += expected;
            }
            members.push(j);
        }
        for &m in &members {
            self.slots[m] = Slot::Grouped;
        }
        members
    }
}

/// Mailboxes with their estimates, in order, packed into groups of at most `budget` records
/// and `cap` mailboxes (a mailbox alone over the budget is a group of one).
fn pack(members: &[(usize, f64)], budget: f64, cap: usize) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut volume = 0.0;
    for &(m, estimate) in members {
        match groups.last_mut() {
            Some(group) if group.len() < cap && volume + estimate <= budget => {
                group.push(m);
                volume += estimate;
            }
            _ => {
                groups.push(vec![m]);
                volume = estimate;
            }
        }
    }
    groups
}

/// Puts the members' slots of a group whose leader stopped before answering them back in no
/// group, so that each is asked for again.
struct Release<'g> {
    groups: &'g MailboxGroups,
    members: Vec<usize>,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let mut state = self.groups.lock();
        for &m in &self.members {
            if matches!(state.slots[m], Slot::Grouped) {
                state.slots[m] = Slot::Free;
            }
        }
        drop(state);
        self.groups.notify();
    }
}

/// The performer a record names: `userPrincipalName` (`security-auditlogrecord`), else its
/// `auditData`'s `UserId`.
#[derive(Deserialize)]
struct Performer {
    #[serde(rename = "userPrincipalName", default)]
    upn: Option<String>,
    #[serde(rename = "auditData", default)]
    audit_data: Option<AuditDataUser>,
}

#[derive(Deserialize)]
struct AuditDataUser {
    #[serde(rename = "UserId", default)]
    user_id: Option<String>,
}

fn performer(record: &Activity) -> Option<String> {
    let named: Performer = serde_json::from_str(record.raw_json()).ok()?;
    named
        .upn
        .filter(|u| !u.is_empty())
        .or(named.audit_data.and_then(|d| d.user_id))
        .map(|u| u.to_lowercase())
}

/// A group's records, each to the mailbox of `names` that performed it (see the module): one
/// share per name, in order; or how many records name no mailbox of the group, when any does
/// (then no share can be vouched for).
pub(super) fn distribute(
    names: &[String],
    records: Vec<Activity>,
) -> Result<Vec<Vec<Activity>>, usize> {
    let index: FxHashMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_lowercase(), i))
        .collect();
    let mut shares: Vec<Vec<Activity>> = names.iter().map(|_| Vec::new()).collect();
    let mut unplaced = 0;
    for record in records {
        match performer(&record).and_then(|p| index.get(&p).copied()) {
            Some(i) => shares[i].push(record),
            None => unplaced += 1,
        }
    }
    if unplaced > 0 {
        return Err(unplaced);
    }
    Ok(shares)
}

fn warn_unplaced(unplaced: usize, names: &[String]) {
    tracing::warn!(
        "{unplaced} records of an audit log query of {} mailboxes name none of them as the user \
         who performed it: each mailbox is queried alone instead",
        names.len()
    );
}

/// A group's answer for a mailbox resumed at `start`: its records from there on.
fn from_bound(asked: Asked, start: DateTime<Utc>) -> Asked {
    match asked {
        Asked::Answered { mut outcome, round } => {
            if let Ok(Ran::Records(records)) = &mut outcome.result {
                records.retain(|r| r.timestamp().is_none_or(|t| t >= start));
            }
            Asked::Answered { outcome, round }
        }
        alone => alone,
    }
}

fn with_pages(asked: Asked, more: u64) -> Asked {
    match asked {
        Asked::Answered { mut outcome, round } => {
            outcome.pages += more;
            Asked::Answered { outcome, round }
        }
        Asked::Alone { log, pages } => Asked::Alone {
            log,
            pages: pages + more,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, upn: Option<&str>, user_id: Option<&str>) -> Activity {
        let mut value = serde_json::json!({"id": id, "createdDateTime": "2018-05-01T00:00:00Z"});
        if let Some(upn) = upn {
            value["userPrincipalName"] = serde_json::json!(upn);
        }
        if let Some(user_id) = user_id {
            value["auditData"] = serde_json::json!({"UserId": user_id, "MailboxOwnerUPN": "x@y"});
        }
        Activity::from_json(&value.to_string()).unwrap()
    }

    #[test]
    fn each_record_goes_to_the_mailbox_that_performed_it() {
        let names = vec![
            "Alice@Contoso.com".to_string(),
            "bob@contoso.com".to_string(),
        ];
        let records = vec![
            record("1", Some("alice@contoso.com"), None),
            record("2", None, Some("BOB@contoso.com")),
            record("3", Some("bob@contoso.com"), Some("alice@contoso.com")),
        ];
        let shares = distribute(&names, records).unwrap();
        let ids = |share: &[Activity]| {
            share
                .iter()
                .map(|r| r.key().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&shares[0]), ["1"]);
        assert_eq!(ids(&shares[1]), ["2", "3"]);
    }

    #[test]
    fn a_record_of_no_mailbox_of_the_group_makes_the_group_unusable() {
        let names = vec!["alice@contoso.com".to_string()];
        let records = vec![
            record("1", Some("alice@contoso.com"), None),
            record("2", Some("carol@contoso.com"), None),
            record("3", None, None),
        ];
        assert_eq!(distribute(&names, records).unwrap_err(), 2);
    }

    #[test]
    fn groups_are_packed_in_order_within_the_budget_and_the_cap() {
        let members: Vec<(usize, f64)> = [100.0, 150.0, 100.0, 500.0, 50.0, 50.0]
            .into_iter()
            .enumerate()
            .collect();
        assert_eq!(
            pack(&members, 300.0, 10),
            vec![vec![0, 1], vec![2], vec![3], vec![4, 5]]
        );
        assert_eq!(pack(&members[4..], 300.0, 1), vec![vec![4], vec![5]]);
    }

    #[test]
    fn a_group_is_formed_from_the_next_free_mailboxes_within_what_is_learned() {
        let groups = MailboxGroups::new(3);
        let names: Vec<String> = (0..6).map(|i| format!("u{i}@x")).collect();
        groups.set_pending(&names);
        let mut state = groups.lock();
        // Nothing learned: up to the cap.
        assert_eq!(state.form_group(0, 3), vec![0, 1, 2]);
        // 100 records a mailbox learned, a limit of 250: two fit 80 %.
        state.learned = (300, 3);
        state.limit = Some(250);
        assert_eq!(state.form_group(3, 3), vec![3, 4]);
        assert_eq!(state.form_group(5, 3), vec![5]);
    }
}
