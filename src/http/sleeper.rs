//! Waiting, made injectable so retry tests assert the waits instead of sitting through them.
//! A sleeper is also the clock it waits on (`crate::clock`): one injected value for both.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::clock::{Clock, ShiftedClock, SystemClock, VirtualClock};

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

/// Real waiting on the tokio timer, on a clock that read `start` when the sleeper was made
/// (`ShiftedClock`): the demo's pull of a tenant whose "now" is in 2018.
#[derive(Debug, Clone)]
pub struct ShiftedSleeper {
    clock: ShiftedClock,
}

impl ShiftedSleeper {
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        ShiftedSleeper {
            clock: ShiftedClock::starting_at(start),
        }
    }
}

impl Clock for ShiftedSleeper {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl Sleeper for ShiftedSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
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
}
