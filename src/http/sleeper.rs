//! Waiting, made injectable so retry tests assert the waits instead of sitting through them.
//! A sleeper is also the clock it waits on (`crate::clock`): one injected value for both.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;

use crate::clock::{Clock, SystemClock, VirtualClock};

/// Something that waits, on the clock it tells the time by.
pub trait Sleeper: Clock {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// Real waiting on the tokio timer, on the system's clock.
#[derive(Debug, Default, Clone)]
pub struct TokioSleeper;

impl Clock for TokioSleeper {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now()
    }
}

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Another sleeper's waits, on its clock moved so that it read `start` when this was made: it
/// runs at that clock's pace from there (the demo's pulls of a tenant whose "now" is in 2018).
#[derive(Debug, Clone)]
pub struct ShiftedSleeper {
    inner: Arc<dyn Sleeper>,
    offset: TimeDelta,
}

impl ShiftedSleeper {
    pub fn starting_at(inner: Arc<dyn Sleeper>, start: DateTime<Utc>) -> Self {
        let offset = start - inner.now();
        ShiftedSleeper { inner, offset }
    }
}

impl Clock for ShiftedSleeper {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now() + self.offset
    }
}

impl Sleeper for ShiftedSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }
}

/// Virtual time for tests: records every requested wait, moves its clock on by it and returns
/// at once. Clones share the waits and the clock.
#[derive(Debug, Default, Clone)]
pub struct RecordingSleeper {
    waits: Arc<Mutex<Vec<Duration>>>,
    clock: VirtualClock,
}

impl RecordingSleeper {
    /// Virtual time starting at `start`.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        RecordingSleeper {
            waits: Arc::default(),
            clock: VirtualClock::starting_at(start),
        }
    }

    pub fn waits(&self) -> Vec<Duration> {
        self.waits.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// The virtual clock, for a test to move on (say, when a server answers a page).
    pub fn clock(&self) -> VirtualClock {
        self.clock.clone()
    }
}

impl Clock for RecordingSleeper {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        if let Ok(mut waits) = self.waits.lock() {
            waits.push(duration);
        }
        self.clock.advance(duration);
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_recording_sleepers_clock_advances_by_its_waits() {
        let start = Utc::now();
        let sleeper = RecordingSleeper::starting_at(start);
        sleeper.sleep(Duration::from_secs(7)).await;
        sleeper.clone().sleep(Duration::from_secs(3)).await;
        assert_eq!(sleeper.now(), start + chrono::TimeDelta::seconds(10));
        assert_eq!(sleeper.waits().len(), 2);
    }

    #[tokio::test]
    async fn a_shifted_sleeper_starts_where_asked_and_runs_on_its_inners_time() {
        let inner = RecordingSleeper::default();
        let start = DateTime::parse_from_rfc3339("2018-06-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let shifted = ShiftedSleeper::starting_at(Arc::new(inner.clone()), start);
        assert_eq!(shifted.now(), start);
        shifted.sleep(Duration::from_secs(5)).await;
        assert_eq!(shifted.now(), start + TimeDelta::seconds(5));
        assert_eq!(inner.waits(), vec![Duration::from_secs(5)]);
    }
}
