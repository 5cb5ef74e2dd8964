//! The client-side budget of one mailbox: at most N requests in flight and M per window.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The service's documented limits: 10,000 requests per 600 s per mailbox and application, and
/// about 4 concurrent requests per mailbox.
#[derive(Debug, Clone, Copy)]
pub struct RateBudget {
    pub max_in_flight: usize,
    pub requests_per_window: usize,
    pub window: Duration,
}

impl Default for RateBudget {
    fn default() -> Self {
        RateBudget {
            max_in_flight: 4,
            requests_per_window: 10_000,
            window: Duration::from_secs(600),
        }
    }
}

/// Shared by every task that talks to one mailbox.
#[derive(Debug)]
pub struct MailboxLimiter {
    budget: RateBudget,
    in_flight: Arc<Semaphore>,
    /// Start times of the requests in the current window, oldest first.
    recent: Mutex<VecDeque<Instant>>,
}

/// Held for the duration of one request.
#[derive(Debug)]
pub struct RequestPermit {
    _slot: OwnedSemaphorePermit,
}

impl MailboxLimiter {
    pub fn new(budget: RateBudget) -> Self {
        MailboxLimiter {
            budget,
            in_flight: Arc::new(Semaphore::new(budget.max_in_flight.max(1))),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits for a free slot and room in the window, then counts the request.
    pub async fn acquire(&self) -> RequestPermit {
        let slot = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .expect("the limiter's semaphore is never closed");
        loop {
            let wait_until = {
                let mut recent = self.recent.lock().await;
                // Tokio's timer, not the pull's clock (`crate::clock`): a budget of requests
                // really sent, paced as they really take time (paused time in its tests).
                let now = Instant::now();
                while recent
                    .front()
                    .is_some_and(|start| now.duration_since(*start) >= self.budget.window)
                {
                    recent.pop_front();
                }
                if recent.len() < self.budget.requests_per_window.max(1) {
                    recent.push_back(now);
                    return RequestPermit { _slot: slot };
                }
                recent.front().map(|oldest| *oldest + self.budget.window)
            };
            if let Some(when) = wait_until {
                tracing::warn!(
                    "client-side budget of {} requests per {:?} reached for this mailbox; waiting",
                    self.budget.requests_per_window,
                    self.budget.window
                );
                tokio::time::sleep_until(when).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn holds_the_window_budget() {
        let limiter = MailboxLimiter::new(RateBudget {
            max_in_flight: 4,
            requests_per_window: 3,
            window: Duration::from_secs(10),
        });
        let start = Instant::now();
        for _ in 0..3 {
            drop(limiter.acquire().await);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        drop(limiter.acquire().await);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn holds_the_in_flight_budget() {
        let limiter = Arc::new(MailboxLimiter::new(RateBudget {
            max_in_flight: 2,
            requests_per_window: 100,
            window: Duration::from_secs(10),
        }));
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        let third = tokio::spawn({
            let limiter = Arc::clone(&limiter);
            async move { limiter.acquire().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!third.is_finished());
        drop(a);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(third.is_finished());
    }
}
