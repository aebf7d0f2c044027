//! The keeper's record of its connection to the VPS — up or down since when,
//! how often it reconnected, how long it was down in all, and the last
//! measured round trip — shown by `sinc status` under "link".

use crate::clock::unix_secs as now;
use crate::transport::relay::SharedConnection;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// The link as `sinc status` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatus {
    /// Whether the keeper has a connection now.
    pub connected: bool,
    /// When the current connection, or the current outage, began (seconds
    /// since the epoch; none before the first connection).
    pub since: Option<u64>,
    /// Round trip of the last keepalive ping, in microseconds.
    pub rtt_us: Option<u64>,
    /// Connections made after the first one.
    pub reconnects: u32,
    /// When the last of them was made.
    pub last_reconnect: Option<u64>,
    /// Seconds spent without a connection since the first one was made, the
    /// current outage included.
    pub down_secs: u64,
}

/// Connection history. Pure bookkeeping: the caller says when.
#[derive(Debug, Default, Clone)]
pub struct LinkLog {
    up_since: Option<u64>,
    down_since: Option<u64>,
    connections: u32,
    last_reconnect: Option<u64>,
    down_secs: u64,
}

impl LinkLog {
    /// A connection was made at `now`.
    pub fn connected(&mut self, now: u64) {
        if let Some(down) = self.down_since.take() {
            self.down_secs += now.saturating_sub(down);
        }
        if self.connections > 0 {
            self.last_reconnect = Some(now);
        }
        self.connections += 1;
        self.up_since = Some(now);
    }

    /// The connection was lost at `now`.
    pub fn disconnected(&mut self, now: u64) {
        if self.up_since.take().is_some() {
            self.down_since = Some(now);
        }
    }

    /// The status at `now`, with the last measured round trip.
    pub fn status(&self, now: u64, rtt_us: Option<u64>) -> LinkStatus {
        let current_outage = self.down_since.map(|d| now.saturating_sub(d)).unwrap_or(0);
        LinkStatus {
            connected: self.up_since.is_some(),
            since: self.up_since.or(self.down_since),
            rtt_us: if self.up_since.is_some() { rtt_us } else { None },
            reconnects: self.connections.saturating_sub(1),
            last_reconnect: self.last_reconnect,
            down_secs: self.down_secs + current_outage,
        }
    }
}

/// The log and the live connection, shared by the keeper's loop (which
/// writes the log) and its control socket (which reports).
#[derive(Debug, Clone)]
pub struct LinkMonitor {
    log: Arc<Mutex<LinkLog>>,
    connection: SharedConnection,
}

impl LinkMonitor {
    /// A monitor of the connection `connection` holds.
    pub fn new(connection: SharedConnection) -> LinkMonitor {
        LinkMonitor { log: Arc::default(), connection }
    }

    /// Note a change: connected or not.
    pub fn note(&self, connected: bool) {
        if let Ok(mut log) = self.log.lock() {
            if connected { log.connected(now()) } else { log.disconnected(now()) }
        }
    }

    /// The status now.
    pub fn status(&self) -> LinkStatus {
        let rtt = self.connection.borrow().as_ref().and_then(|c| c.rtt());
        let rtt_us = rtt.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        self.log.lock().map(|log| log.status(now(), rtt_us)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_reconnects_and_time_down_add_up() {
        let mut log = LinkLog::default();
        assert_eq!(log.status(5, None), LinkStatus::default(), "nothing to report before the first connection");
        log.connected(10);
        let up = log.status(20, Some(400));
        assert!(up.connected && up.since == Some(10) && up.rtt_us == Some(400) && up.reconnects == 0);
        log.disconnected(30);
        let down = log.status(34, Some(400));
        assert!(!down.connected && down.since == Some(30) && down.rtt_us.is_none());
        assert_eq!(down.down_secs, 4, "the current outage counts");
        log.connected(40);
        log.disconnected(50);
        log.connected(53);
        let again = log.status(60, None);
        assert_eq!((again.reconnects, again.last_reconnect, again.down_secs), (2, Some(53), 13));
        log.disconnected(60);
        log.disconnected(61);
        assert_eq!(log.status(62, None).since, Some(60), "a second loss report changes nothing");
    }
}
