//! Noticing a dead link fast. TCP and SSH keepalives take tens of seconds to
//! give up on a link that went silent (Wi-Fi gone, laptop asleep, NAT entry
//! dropped); the watchdog decides within 3 s.
//!
//! Anything the server sends counts as a sign of life: channel data, and the
//! answers to the pings the watchdog sends after a second of silence. What we send does not count — typing into a dead link must not
//! postpone noticing it. A jump of the wall clock against the monotonic clock
//! means the machine slept, and a local address that disappeared means the
//! network changed under the connection; either way the link is declared dead
//! at once, since reconnecting is cheaper than waiting to find out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Silence after which a link is dead.
pub const DEAD_AFTER: Duration = Duration::from_millis(2500);
/// Silence after which the watchdog asks for a sign of life.
pub const PING_AFTER: Duration = Duration::from_secs(1);
/// How often the watchdog looks: a dead link is noticed within
/// `DEAD_AFTER + TICK` = 3 s of the last sign of life.
pub const TICK: Duration = Duration::from_millis(500);
/// A gap between wall-clock and monotonic time larger than this is a sleep.
const SLEEP_GAP: Duration = Duration::from_secs(2);

/// When the server was last heard from.
#[derive(Debug)]
pub struct Liveness {
    base: Instant,
    last_heard_ms: AtomicU64,
    /// The last ping's round trip in microseconds (0: none yet).
    rtt_us: AtomicU64,
}

impl Default for Liveness {
    fn default() -> Liveness {
        Liveness { base: Instant::now(), last_heard_ms: AtomicU64::new(0), rtt_us: AtomicU64::new(0) }
    }
}

impl Liveness {
    /// The server said something just now.
    pub fn heard(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_heard_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// A ping was answered after `rtt`.
    pub fn answered(&self, rtt: Duration) {
        self.heard();
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).max(1);
        self.rtt_us.store(us, Ordering::Relaxed);
    }

    /// The last ping's round trip.
    pub fn rtt(&self) -> Option<Duration> {
        let us = self.rtt_us.load(Ordering::Relaxed);
        (us > 0).then(|| Duration::from_micros(us))
    }

    /// How long the server has been silent.
    pub fn silent_for(&self) -> Duration {
        let heard = Duration::from_millis(self.last_heard_ms.load(Ordering::Relaxed));
        self.base.elapsed().saturating_sub(heard)
    }
}

/// Both clocks at one tick.
#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    mono: Instant,
    wall: SystemTime,
}

impl Clocks {
    /// Now.
    pub fn now() -> Clocks {
        Clocks { mono: Instant::now(), wall: SystemTime::now() }
    }

    /// Monotonic time between `earlier` and `self`.
    pub fn since(&self, earlier: &Clocks) -> Duration {
        self.mono.saturating_duration_since(earlier.mono)
    }

    /// How long the machine was asleep between `earlier` and `self`: the
    /// monotonic clock stops during suspend, the wall clock does not.
    pub fn slept_since(&self, earlier: &Clocks) -> Duration {
        let mono = self.mono.saturating_duration_since(earlier.mono);
        let wall = self.wall.duration_since(earlier.wall).unwrap_or_default();
        wall.saturating_sub(mono)
    }
}

/// What the watchdog makes of one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Heard from recently enough.
    Alive,
    /// Quiet for a while: ask the server for a sign of life.
    Ping,
    /// Silent too long.
    Dead,
    /// The machine slept: reconnect rather than trust the link.
    Slept,
    /// The local address the connection was made from is gone.
    AddressGone,
    /// This process did not run for a while (stopped, starved): the silence
    /// says nothing; start counting again, and ask.
    Recount,
}

/// What the watchdog saw at one tick.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    /// Since the server's last sign of life.
    pub silent_for: Duration,
    /// Wall-clock time the monotonic clock missed since the previous tick.
    pub slept: Duration,
    /// Monotonic time since the previous tick.
    pub gap: Duration,
    /// Whether the connection's local address is still this machine's.
    pub address_present: bool,
    /// Whether bytes from the server wait unread in the socket: the server
    /// talks, and this process is slow to read (a paused pager, a slow
    /// disk), which also holds up the answers to pings.
    pub unread: bool,
    /// When bytes we sent are in flight, how long since the server's kernel
    /// acknowledged any (`None`: nothing in flight, or unknown).
    pub in_flight_since_ack: Option<Duration>,
}

impl Observation {
    /// Whether the kernel says the server is there though it was not heard:
    /// - its kernel acknowledged some of what we send in the last
    ///   [`PING_AFTER`] (on a slow uplink a ping waits behind our upload, but
    ///   the acks say the link is alive);
    /// - or its bytes wait unread (we are slow, not the server) — unless what
    ///   we sent has gone unacknowledged for as long: then we are not reading
    ///   because we are stuck writing into a dead link, and what waits unread
    ///   came before it died.
    pub fn kernel_vouches(&self) -> bool {
        match self.in_flight_since_ack {
            Some(since) if since < PING_AFTER => true,
            Some(_) => false,
            None => self.unread,
        }
    }
}

/// The decision for a tick.
pub fn verdict(o: Observation) -> Verdict {
    if !o.address_present {
        Verdict::AddressGone
    } else if o.slept > SLEEP_GAP {
        Verdict::Slept
    } else if o.kernel_vouches() {
        Verdict::Alive
    } else if o.gap > 2 * TICK {
        Verdict::Recount
    } else if o.silent_for >= DEAD_AFTER {
        Verdict::Dead
    } else if o.silent_for >= PING_AFTER {
        Verdict::Ping
    } else {
        Verdict::Alive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_pings_then_kills() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let seen = |silent_for| Observation {
            silent_for,
            slept: Duration::ZERO,
            gap: TICK,
            address_present: true,
            unread: false,
            in_flight_since_ack: None,
        };
        assert_eq!(verdict(seen(ms(300))), Verdict::Alive);
        assert_eq!(verdict(seen(s(1))), Verdict::Ping);
        assert_eq!(verdict(seen(ms(2499))), Verdict::Ping);
        assert_eq!(verdict(seen(ms(2500))), Verdict::Dead);
        assert_eq!(verdict(Observation { slept: s(30), ..seen(s(0)) }), Verdict::Slept, "a sleep is fatal at once");
        assert_eq!(verdict(Observation { slept: s(1), ..seen(s(0)) }), Verdict::Alive, "jitter is not a sleep");
        assert_eq!(verdict(Observation { address_present: false, ..seen(s(0)) }), Verdict::AddressGone);
        assert_eq!(verdict(Observation { unread: true, ..seen(s(60)) }), Verdict::Alive, "we are slow, not the server");
        let in_flight = |since| Observation { in_flight_since_ack: Some(since), ..seen(s(60)) };
        assert_eq!(verdict(in_flight(ms(200))), Verdict::Alive, "a slow upload is alive");
        assert_eq!(verdict(in_flight(s(1))), Verdict::Dead, "an upload nobody acknowledges is not");
        assert_eq!(
            verdict(Observation { unread: true, ..in_flight(s(2)) }),
            Verdict::Dead,
            "stuck writing into a dead link, not slow to read"
        );
        assert_eq!(verdict(Observation { gap: s(10), ..seen(s(10)) }), Verdict::Recount, "we did not run: no verdict");
    }

    #[test]
    fn liveness_counts_from_the_last_sign() {
        let l = Liveness::default();
        l.heard();
        assert!(l.silent_for() < Duration::from_millis(100));
    }

    #[test]
    fn clocks_measure_sleep_as_wall_time_the_monotonic_clock_missed() {
        let earlier = Clocks::now();
        let mut later = Clocks::now();
        assert!(later.slept_since(&earlier) < SLEEP_GAP);
        later.wall += Duration::from_secs(60);
        assert!(later.slept_since(&earlier) >= Duration::from_secs(59));
    }
}
