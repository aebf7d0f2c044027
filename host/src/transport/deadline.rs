//! A time budget for connecting that stops counting while the user is being
//! asked something (a host key, a passphrase), so a slow answer is not a
//! timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// A pausable deadline; clones share the budget.
#[derive(Debug, Clone)]
pub struct Deadline {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    budget: Duration,
}

#[derive(Debug)]
struct State {
    remaining: Duration,
    running_since: Option<Instant>,
}

impl Deadline {
    /// Start counting `budget` now.
    pub fn start(budget: Duration) -> Deadline {
        Deadline {
            state: Arc::new(Mutex::new(State { remaining: budget, running_since: Some(Instant::now()) })),
            changed: Arc::new(Notify::new()),
            budget,
        }
    }

    /// The whole budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Stop counting (while a question is on screen).
    pub fn pause(&self) {
        if let Ok(mut s) = self.state.lock()
            && let Some(since) = s.running_since.take()
        {
            s.remaining = s.remaining.saturating_sub(since.elapsed());
        }
        self.changed.notify_one();
    }

    /// Count again.
    pub fn resume(&self) {
        if let Ok(mut s) = self.state.lock()
            && s.running_since.is_none()
        {
            s.running_since = Some(Instant::now());
        }
        self.changed.notify_one();
    }

    /// Completes when the budget is used up.
    pub async fn expired(&self) {
        loop {
            let left = self
                .state
                .lock()
                .map(|s| s.running_since.map(|since| s.remaining.saturating_sub(since.elapsed())))
                .unwrap_or(Some(Duration::ZERO));
            match left {
                Some(d) if d.is_zero() => return,
                Some(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pausing_stops_the_clock() {
        let d = Deadline::start(Duration::from_secs(2));
        tokio::time::sleep(Duration::from_secs(1)).await;
        d.pause();
        let waiter = d.clone();
        let t = tokio::spawn(async move { waiter.expired().await });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!t.is_finished());
        d.resume();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(t.is_finished());
    }
}
