//! What time it is, made injectable beside the sleeper (smithy-rs's `TimeSource` beside its
//! `AsyncSleep`), so that token expiry, `Retry-After` dates, the `--end` clamp, the Entra ID
//! logs' retention and still-growing marker and audit log query timeouts run on virtual time in
//! tests. Every `crate::http::Sleeper` is a clock too: the one value a pull is given tells
//! both the time and how to wait, so a test's waits and the time they pass cannot disagree.
//!
//! What stays on the wall clock says why where it reads it: the stamps a manifest or a state
//! file keeps of when this machine did something (chain of custody records the machine's own
//! time), a signed client assertion (the identity platform checks it against its clock), the
//! progress display, and the client-side request budget (paced by tokio's timer, as requests
//! really take time).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// Something that tells the time. Its own module, below both `http` (whose sleepers are
/// clocks) and `signin` (whose tokens expire on it).
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Virtual time: stands still until advanced (by a test, or by the waits of the sleeper that
/// owns it). Clones share one time.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl VirtualClock {
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        VirtualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the time on by `by`.
    pub fn advance(&self, by: Duration) {
        let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        if let Ok(mut now) = self.now.lock() {
            *now = now
                .checked_add_signed(by)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
        }
    }
}

impl Default for VirtualClock {
    /// Virtual time starting at the system's time now.
    fn default() -> Self {
        VirtualClock::starting_at(Utc::now())
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        match self.now.lock() {
            Ok(now) => *now,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_stands_still_until_advanced_and_clones_share_it() {
        let start = DateTime::parse_from_rfc3339("2018-06-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let clock = VirtualClock::starting_at(start);
        let shared = clock.clone();
        assert_eq!(clock.now(), start);
        shared.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), start + TimeDelta::seconds(90));
    }
}
