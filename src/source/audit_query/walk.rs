//! The walk of a mailbox's range: its queries run at once, up to `query_concurrency`, and
//! their records handed over in (time, id) order.
//!
//! The range is kept as a row of parts in time order, each waiting, running or done. The
//! earliest waiting parts are started first, as slots free. A part over its record limit is
//! replaced in its place by the parts the planner cuts it into (`plan.rs`), a round later. The
//! done parts at the head of the row are handed over, each followed by a durable point at its
//! end: a durable point never stands before a part still running, so a case's checkpoint
//! vouches only for what is written, and a resumed case starts where the head stopped. In a
//! case, the first range is asked of the case's groups (`group.rs`), which answer it with the
//! mailbox's records of a query of several mailboxes, or with its sample over the limit, to be
//! split here as any other part, or send it to query alone.

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};

use super::group::{Asked, GroupQuery};
use super::plan;
use super::query::{QueryOutcome, QueryRunner, Ran};
use super::AuditQuerySource;
use crate::record::{sort_in_time_order, Activity, PageReading};
use crate::source::paging::{EmitWindow, Handover, PagingError, PartialHandover};

/// One part of the range.
struct Part {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    round: u32,
    state: State,
}

enum State {
    Waiting,
    Running,
    Done(Vec<Activity>),
}

impl AuditQuerySource<'_> {
    pub(super) async fn walk(
        &mut self,
        reading: PageReading,
        partial: PartialHandover,
        mut interrupt: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
        emit: &mut EmitWindow<'_>,
    ) -> Result<(), PagingError> {
        let users = self.users.clone();
        let runner = QueryRunner {
            client: self.client,
            sleeper: self.sleeper,
            options: self.options,
            users: &users,
        };
        let (mailbox, case_range) = (&users[0], (self.unresumed_start, self.end));
        let min_split = chrono::Duration::from_std(self.options.min_split).unwrap_or_default();
        let concurrency = self.options.query_concurrency.max(1);
        let mut parts: Vec<Part> = Vec::new();
        // A resumed case whose range was all written has nothing left to ask for.
        if self.start < self.end {
            parts.push(Part {
                start: self.start,
                end: self.end,
                round: 1,
                state: State::Waiting,
            });
        }
        let mut running = FuturesUnordered::new();
        let reading = &reading;
        let runner = &runner;
        loop {
            // The done parts at the head, in order, each with its durable point.
            while parts
                .first()
                .is_some_and(|part| matches!(part.state, State::Done(_)))
            {
                let part = parts.remove(0);
                if let State::Done(records) = part.state {
                    let records = self.final_order(records);
                    if !records.is_empty() {
                        emit(Handover::Records(records))?;
                    }
                }
                emit(Handover::Finished(Some(part.end)))?;
            }
            if parts.is_empty() {
                break;
            }
            // The earliest waiting parts, as slots free.
            for part in parts.iter_mut() {
                if running.len() >= concurrency {
                    break;
                }
                if matches!(part.state, State::Waiting) {
                    part.state = State::Running;
                    let (start, end, round) = (part.start, part.end, part.round);
                    let first = round == 1 && end == case_range.1;
                    let options = self.options;
                    let group = options.groups.as_deref().filter(|_| first);
                    running.push(async move {
                        // A case's first range is asked of its groups (`group.rs`).
                        let asked = match group {
                            Some(groups) => {
                                let query = GroupQuery {
                                    runner: *runner,
                                    reading,
                                    slots: options.case_slots.as_ref(),
                                    concurrency,
                                };
                                groups.ask(query, mailbox, case_range, start).await
                            }
                            None => Asked::alone(),
                        };
                        let (outcome, round) = match asked {
                            Asked::Answered { outcome, round } => (outcome, round),
                            Asked::Alone { log, pages } => {
                                // A case's slot first, when its mailboxes share them.
                                let _slot = super::case_slot(options.case_slots.as_ref()).await;
                                let mut outcome = runner.run(start, end, round, reading).await;
                                outcome.log.splice(0..0, log);
                                outcome.pages += pages;
                                (outcome, round)
                            }
                        };
                        (start, round, outcome)
                    });
                }
            }
            let next = tokio::select! {
                biased;
                _ = interrupt.as_mut() => None,
                next = running.next() => next,
            };
            let Some((start, round, outcome)) = next else {
                drop(running);
                self.hand_over_partial(&mut parts, Vec::new(), partial, emit)?;
                return Err(PagingError::Interrupted);
            };
            let QueryOutcome {
                mut log,
                pages,
                result,
                ..
            } = outcome;
            self.pages += pages;
            let Some(index) = parts.iter().position(|part| part.start == start) else {
                return Err(PagingError::Internal(
                    "an audit log query finished for a range no longer planned",
                ));
            };
            match result {
                Ok(Ran::Records(records)) => {
                    self.log.extend(log);
                    parts[index].state = State::Done(records);
                }
                Ok(Ran::OverLimit(over, _)) => {
                    let (start, end) = (parts[index].start, parts[index].end);
                    let Ok(cuts) = plan::split(self.options.split, start, end, &over, min_split)
                    else {
                        self.log.extend(log);
                        drop(running);
                        self.hand_over_partial(&mut parts, Vec::new(), partial, emit)?;
                        return Err(PagingError::OverLimitAtNarrowest {
                            start: start.to_string(),
                            end: end.to_string(),
                        });
                    };
                    tracing::info!(
                        "audit log range {start}..{end} is over its record limit: split into \
                         {} parts (round {})",
                        cuts.len(),
                        round + 1
                    );
                    // (A group's query, split by mailbox, has its parts already.)
                    if let Some(entry) = log.last_mut().filter(|e| e.parts == 0) {
                        entry.parts = cuts.len() as u32;
                    }
                    self.log.extend(log);
                    let new_parts = cuts.into_iter().map(|(start, end)| Part {
                        start,
                        end,
                        round: round + 1,
                        state: State::Waiting,
                    });
                    parts.splice(index..=index, new_parts);
                }
                Err((error, fetched)) => {
                    self.log.extend(log);
                    drop(running);
                    self.hand_over_partial(&mut parts, fetched, partial, emit)?;
                    return Err(error);
                }
            }
        }
        emit(Handover::Finished(None))
    }

    /// What a walk that stopped hands over: with `Everything`, the records of every part done
    /// and those `fetched` by the query that failed; with `UpToFirstGap`, nothing more (the
    /// head was handed over as it finished).
    fn hand_over_partial(
        &mut self,
        parts: &mut Vec<Part>,
        fetched: Vec<Activity>,
        partial: PartialHandover,
        emit: &mut EmitWindow<'_>,
    ) -> Result<(), PagingError> {
        if partial != PartialHandover::Everything {
            return Ok(());
        }
        let mut records = fetched;
        for part in parts.drain(..) {
            if let State::Done(done) = part.state {
                records.extend(done);
            }
        }
        if !records.is_empty() {
            emit(Handover::Records(self.final_order(records)))?;
        }
        Ok(())
    }

    /// De-duplicated on `id` (across every range of this pull) and sorted by time, then id.
    fn final_order(&mut self, mut records: Vec<Activity>) -> Vec<Activity> {
        sort_in_time_order(&mut records);
        records.retain(|record| self.checks.admit(record, "audit log records"));
        records
    }
}
