//! When a plugin hears how its forwards went. A report (`forwarded`) is
//! the plugin's bookkeeping — LunaRoute parses the response, prices it and
//! records it, tens of microseconds — and nobody waits for it, while the
//! next request on the same connection usually arrives while it runs and
//! would wait behind it (the plugin's thread also serves its ports). So
//! the thread holds reports back and hands them over once it has been idle
//! for [`IDLE`]; once the oldest has waited [`MAX_WAIT`], whenever nothing
//! else is ready; and before any call that does not answer a client (a
//! subcommand, an event, its shutdown), so what those see includes every
//! completed forward. Pure: the caller reads the clock.

use crate::Exchange;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Quiet this long, the plugin's thread hands over a held report (the
/// runtime's timers count whole milliseconds).
pub const IDLE: Duration = Duration::from_millis(1);
/// No report is held longer than this.
pub const MAX_WAIT: Duration = Duration::from_millis(100);
/// At most this many reports are held…
pub const MAX_HELD: usize = 256;
/// …holding at most this many bytes of tapped bodies.
pub const MAX_HELD_BYTES: usize = 32 << 20;

/// The reports held back, oldest first.
#[derive(Debug, Default)]
pub struct Reports {
    held: VecDeque<(Instant, Exchange)>,
    bytes: usize,
}

impl Reports {
    /// Hold `exchange`, reported at `now`; what that leaves over the bounds
    /// is given back, oldest first (the caller hands it over at once), so
    /// reports always go in order.
    pub fn hold(&mut self, now: Instant, exchange: Exchange) -> Vec<Exchange> {
        self.bytes += exchange.body.as_ref().map_or(0, Vec::len);
        self.held.push_back((now, exchange));
        let mut due = Vec::new();
        while self.held.len() > MAX_HELD || self.bytes > MAX_HELD_BYTES {
            due.extend(self.hand_over());
        }
        due
    }

    /// When the oldest is to be handed over if no call comes first, the
    /// thread having become idle at `now`; `None` when none is held.
    pub fn due(&self, now: Instant) -> Option<Instant> {
        let (reported, _) = self.held.front()?;
        Some((now + IDLE).min(*reported + MAX_WAIT))
    }

    /// Whether the oldest has waited [`MAX_WAIT`] at `now`.
    pub fn overdue(&self, now: Instant) -> bool {
        self.held.front().is_some_and(|(reported, _)| now >= *reported + MAX_WAIT)
    }

    /// The oldest, to hand over.
    pub fn hand_over(&mut self) -> Option<Exchange> {
        let (_, exchange) = self.held.pop_front()?;
        self.bytes -= exchange.body.as_ref().map_or(0, Vec::len);
        Some(exchange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(request: u64, body: usize) -> Exchange {
        Exchange {
            request,
            status: 200,
            headers: Vec::new(),
            body: (body > 0).then(|| vec![0; body]),
            error: None,
            headers_ms: 0,
            first_byte_ms: 0,
            total_ms: 0,
            bytes: body as u64,
        }
    }

    #[test]
    fn reports_are_handed_over_in_order_once_idle_or_once_old() {
        let t0 = Instant::now();
        let mut reports = Reports::default();
        assert_eq!(reports.due(t0), None);
        assert!(reports.hold(t0, exchange(1, 10)).is_empty());
        let t1 = t0 + IDLE / 4;
        assert!(reports.hold(t1, exchange(2, 0)).is_empty());
        assert_eq!(reports.due(t0), Some(t0 + IDLE), "idle first");
        assert!(!reports.overdue(t0 + MAX_WAIT - Duration::from_micros(1)) && reports.overdue(t0 + MAX_WAIT));
        let busy = t0 + MAX_WAIT - IDLE / 2;
        assert_eq!(reports.due(busy), Some(t0 + MAX_WAIT), "never later than the oldest's limit");
        assert_eq!(reports.hand_over().map(|e| e.request), Some(1));
        assert_eq!(reports.due(busy), Some(t1 + MAX_WAIT));
        assert_eq!(reports.hand_over().map(|e| e.request), Some(2));
        assert!(reports.held.is_empty() && reports.hand_over().is_none() && reports.bytes == 0);
    }

    #[test]
    fn without_room_the_oldest_reports_are_given_back() {
        let now = Instant::now();
        let requests = |due: Vec<Exchange>| due.iter().map(|e| e.request).collect::<Vec<_>>();
        let mut reports = Reports::default();
        for n in 0..MAX_HELD as u64 {
            assert!(reports.hold(now, exchange(n, 0)).is_empty());
        }
        assert_eq!(requests(reports.hold(now, exchange(999, 0))), [0], "count");
        assert_eq!(reports.hand_over().map(|e| e.request), Some(1), "still in order");
        let mut reports = Reports::default();
        for n in 1..=3 {
            assert!(reports.hold(now, exchange(n, 1)).is_empty());
        }
        assert_eq!(requests(reports.hold(now, exchange(4, MAX_HELD_BYTES - 1))), [1, 2], "bytes");
        assert_eq!(reports.bytes, MAX_HELD_BYTES);
        assert_eq!(reports.hand_over().map(|e| e.request), Some(3));
        assert_eq!(reports.hand_over().map(|e| e.request), Some(4));
        assert_eq!(reports.bytes, 0);
    }
}
