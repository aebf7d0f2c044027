//! Channels the server opens toward us: only those for a remote port forward
//! this connection asked for (`-R`) are accepted; any other kind, or a port
//! nobody asked for, is refused.

use russh::Channel;
use russh::client::Msg;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// A connection arriving at a remote forward's listening port.
pub struct InboundChannel {
    /// The channel carrying it.
    pub channel: Channel<Msg>,
    /// The port it arrived at on the server.
    pub port: u32,
    /// Who connected, `address:port`, as the server reports it.
    pub originator: String,
}

/// The remote forwards one connection asked for, and the queue their
/// connections wait in until someone takes them.
#[derive(Debug)]
pub(crate) struct Inbound {
    ports: Mutex<Vec<u32>>,
    queue: mpsc::UnboundedSender<InboundChannel>,
    taken: Mutex<Option<mpsc::UnboundedReceiver<InboundChannel>>>,
}

impl Default for Inbound {
    fn default() -> Inbound {
        let (queue, rx) = mpsc::unbounded_channel();
        Inbound { ports: Mutex::new(Vec::new()), queue, taken: Mutex::new(Some(rx)) }
    }
}

impl Inbound {
    /// Accept connections arriving at `port` from now on.
    pub fn expect(&self, port: u32) {
        if let Ok(mut ports) = self.ports.lock()
            && !ports.contains(&port)
        {
            ports.push(port);
        }
    }

    /// Whether a connection at `port` was asked for.
    pub fn expects(&self, port: u32) -> bool {
        self.ports.lock().is_ok_and(|p| p.contains(&port))
    }

    /// Queue an accepted channel; `false` when nobody will ever take it.
    pub fn deliver(&self, channel: InboundChannel) -> bool {
        self.queue.send(channel).is_ok()
    }

    /// The queue's receiving end (once).
    pub fn take(&self) -> Option<mpsc::UnboundedReceiver<InboundChannel>> {
        self.taken.lock().ok()?.take()
    }
}

impl std::fmt::Debug for InboundChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundChannel").field("port", &self.port).field("originator", &self.originator).finish()
    }
}
