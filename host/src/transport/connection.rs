//! An authenticated SSH connection and the channels opened on it. It knows
//! nothing about what flows over them.

use super::channel::{ChannelRequest, RemoteChannel};
use super::error::ConnectError;
use super::handler::ClientHandler;
use super::inbound::{Inbound, InboundChannel};
use super::socket_state;
use super::target::Target;
use super::watchdog::{self, Clocks, Liveness, Verdict};
use russh::client::{Handle, Msg};
use russh::{Channel, Sig};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// How long a polite disconnect may take before the connection is dropped.
const GOODBYE_WAIT: Duration = Duration::from_secs(1);

/// One SSH connection; channels are multiplexed on it.
pub struct Connection {
    handle: Handle<ClientHandler>,
    // Jump hosts' connections must live as long as the tunnel through them.
    _jumps: Vec<Handle<ClientHandler>>,
    target: Target,
    liveness: Arc<Liveness>,
    inbound: Arc<Inbound>,
    dead: watch::Receiver<bool>,
    /// A duplicate of the first hop's TCP socket, to look at (never read).
    socket: Option<std::net::TcpStream>,
    /// How the last hop accepted us.
    auth_method: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("target", &self.target.describe()).finish()
    }
}

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteStatus {
    /// It exited with this status.
    Exited(u32),
    /// It was killed by this signal.
    Signaled(String),
    /// The channel closed without saying.
    Unknown,
    /// The connection dropped before the command ended.
    Lost,
}

impl RemoteStatus {
    /// The status a local shell would report: the code, or 128 + signal number.
    pub fn exit_code(&self) -> i32 {
        match self {
            RemoteStatus::Exited(c) => i32::try_from(*c).unwrap_or(255),
            RemoteStatus::Signaled(name) => 128 + signal_number(name),
            RemoteStatus::Unknown | RemoteStatus::Lost => 255,
        }
    }

    /// Whether it exited with 0.
    pub fn success(&self) -> bool {
        *self == RemoteStatus::Exited(0)
    }
}

fn signal_number(name: &str) -> i32 {
    match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => 1,
    }
}

pub(super) fn sig_name(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT".into(),
        Sig::ALRM => "ALRM".into(),
        Sig::FPE => "FPE".into(),
        Sig::HUP => "HUP".into(),
        Sig::ILL => "ILL".into(),
        Sig::INT => "INT".into(),
        Sig::KILL => "KILL".into(),
        Sig::PIPE => "PIPE".into(),
        Sig::QUIT => "QUIT".into(),
        Sig::SEGV => "SEGV".into(),
        Sig::TERM => "TERM".into(),
        Sig::USR1 => "USR1".into(),
        Sig::Custom(s) => s.clone(),
    }
}

/// A finished command's captured output.
#[derive(Debug, Clone)]
pub struct Output {
    /// How it ended.
    pub status: RemoteStatus,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Standard output as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text, trimmed.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_owned()
    }
}

impl Connection {
    /// The connection, watched by a watchdog that lives as long as it.
    pub(crate) fn new(
        handle: Handle<ClientHandler>,
        jumps: Vec<Handle<ClientHandler>>,
        target: Target,
        (liveness, inbound): (Arc<Liveness>, Arc<Inbound>),
        socket: Option<std::net::TcpStream>,
        auth_method: String,
    ) -> Arc<Connection> {
        let (declare, dead) = watch::channel(false);
        liveness.heard();
        let conn = Arc::new(Connection { handle, _jumps: jumps, target, liveness, inbound, dead, socket, auth_method });
        tokio::spawn(watch_over(Arc::downgrade(&conn), declare));
        conn
    }

    /// A future that resolves once the link is known dead (silent too long,
    /// the machine slept, its address went away, or closed), without keeping
    /// the connection alive.
    pub fn dead_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut dead = self.dead.clone();
        async move {
            let _ = dead.wait_for(|d| *d).await;
        }
    }

    /// The round trip of the watchdog's last ping, once there was one.
    pub fn rtt(&self) -> Option<Duration> {
        self.liveness.rtt()
    }

    /// Whether the link is known to be dead.
    pub fn is_dead(&self) -> bool {
        *self.dead.borrow()
    }

    /// Where this connection goes.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Which authentication method worked (`key file …`, `agent key …`,
    /// `password`, `keyboard-interactive`).
    pub fn auth_method(&self) -> &str {
        &self.auth_method
    }

    /// The address of the first hop the TCP connection reached.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.socket.as_ref().and_then(|s| s.peer_addr().ok())
    }

    fn err(&self, stage: &'static str) -> impl FnOnce(russh::Error) -> ConnectError + '_ {
        move |source| ConnectError::Ssh {
            addr: format!("{}:{}", self.target.hostname, self.target.port),
            stage,
            source,
        }
    }

    /// Open a session channel.
    pub async fn open_session(&self) -> Result<Channel<Msg>, ConnectError> {
        self.handle.channel_open_session().await.map_err(self.err("opening a channel"))
    }

    /// Start `command` on a new channel without a terminal.
    pub async fn exec(&self, command: &str) -> Result<Channel<Msg>, ConnectError> {
        let channel = self.open_session().await?;
        channel.exec(true, command).await.map_err(self.err("starting a remote command"))?;
        Ok(channel)
    }

    /// Open a channel running `request`.
    pub async fn open(&self, request: &ChannelRequest) -> Result<RemoteChannel, ConnectError> {
        let channel = self.open_session().await?;
        if let Some(pty) = &request.pty {
            channel
                .request_pty(false, &pty.term, pty.cols, pty.rows, 0, 0, &[])
                .await
                .map_err(self.err("requesting a terminal"))?;
        }
        channel.exec(true, request.command.as_str()).await.map_err(self.err("starting a remote command"))?;
        Ok(RemoteChannel::ssh(channel, self.dead.clone()))
    }

    /// Open a channel to `host:port` as seen from the server (`-L`), for a
    /// connection that came from `originator`.
    pub async fn direct_tcpip(
        &self,
        host: &str,
        port: u16,
        originator: std::net::SocketAddr,
    ) -> Result<Channel<Msg>, ConnectError> {
        self.handle
            .channel_open_direct_tcpip(host, u32::from(port), originator.ip().to_string(), u32::from(originator.port()))
            .await
            .map_err(self.err("opening a forwarded connection"))
    }

    /// Ask the server to listen on `address:port` and send us what arrives
    /// (`-R`); returns the port it listens on (chosen by it for port 0).
    pub async fn forward_remote(&self, address: &str, port: u16) -> Result<u16, ConnectError> {
        if port != 0 {
            self.inbound.expect(u32::from(port));
        }
        let bound = self
            .handle
            .tcpip_forward(address, u32::from(port))
            .await
            .map_err(self.err("asking for a remote port forward"))?;
        let bound = if port == 0 { u16::try_from(bound).unwrap_or(0) } else { port };
        self.inbound.expect(u32::from(bound));
        Ok(bound)
    }

    /// The connections arriving at this connection's remote forwards (the
    /// first caller gets them).
    pub fn inbound(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<InboundChannel>> {
        self.inbound.take()
    }

    /// Send a keepalive and wait for the answer: proves the link is alive.
    pub async fn ping(&self) -> Result<(), ConnectError> {
        self.handle.send_ping().await.map_err(self.err("pinging"))
    }

    /// Ask for a key re-exchange now (used by tests of long-lived connections).
    pub async fn rekey(&self) -> Result<(), ConnectError> {
        self.handle.rekey_soon().await.map_err(self.err("rekeying"))
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Close the connection politely, waiting at most [`GOODBYE_WAIT`]: a
    /// connection whose network went away (the laptop changed address) may
    /// never take the message, and the command must end all the same.
    pub async fn disconnect(&self) {
        let goodbye = self.handle.disconnect(russh::Disconnect::ByApplication, "", "en");
        if tokio::time::timeout(GOODBYE_WAIT, goodbye).await.is_err() {
            tracing::debug!(
                "{}: the disconnect was not taken in {GOODBYE_WAIT:?}; closing anyway",
                self.target.describe()
            );
        }
    }
}

/// The watchdog of one connection: pings after a second of silence, and
/// declares the link dead after [`watchdog::DEAD_AFTER`] without a sign of
/// life or after the machine slept. It ends with the connection.
async fn watch_over(conn: Weak<Connection>, declare: watch::Sender<bool>) {
    let mut ticks = tokio::time::interval(watchdog::TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Clocks::now();
    let mut ping: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        ticks.tick().await;
        let now = Clocks::now();
        let (slept, gap) = (now.slept_since(&last), now.since(&last));
        last = now;
        let Some(c) = conn.upgrade() else {
            return;
        };
        let local_ip = c.socket.as_ref().and_then(|s| s.local_addr().ok()).map(|a| a.ip());
        let silent_for = c.liveness.silent_for();
        // Asked at every tick: bytes waiting unread keep the silence short,
        // and only this tells whether we are slow or stuck.
        let in_flight_since_ack = c.socket.as_ref().and_then(socket_state::in_flight_since_ack);
        let seen = watchdog::Observation {
            silent_for,
            slept,
            gap,
            address_present: local_ip.is_none_or(socket_state::address_present),
            unread: c.socket.as_ref().is_some_and(socket_state::unread),
            in_flight_since_ack,
        };
        let verdict = if c.is_closed() { Verdict::Dead } else { watchdog::verdict(seen) };
        if silent_for >= watchdog::PING_AFTER {
            tracing::debug!(?seen, ?verdict, "watchdog");
        }
        if seen.kernel_vouches() || verdict == Verdict::Recount {
            c.liveness.heard();
        }
        match verdict {
            Verdict::Alive => {}
            Verdict::Ping | Verdict::Recount => {
                if ping.as_ref().is_none_or(|p| p.is_finished()) {
                    let (weak, liveness) = (Arc::downgrade(&c), c.liveness.clone());
                    ping = Some(tokio::spawn(async move {
                        let Some(c) = weak.upgrade() else {
                            return;
                        };
                        let sent = std::time::Instant::now();
                        if let Ok(Ok(())) = tokio::time::timeout(watchdog::DEAD_AFTER, c.ping()).await {
                            liveness.answered(sent.elapsed());
                        }
                    }));
                }
            }
            Verdict::Dead | Verdict::Slept | Verdict::AddressGone => {
                if verdict == Verdict::Slept {
                    tracing::info!("this machine slept for {}s: reconnecting", slept.as_secs());
                } else if verdict == Verdict::AddressGone {
                    tracing::info!("the local address of the connection to {} is gone", c.target.describe());
                } else if !c.is_closed() {
                    tracing::info!(
                        "no sign of life from {} for {}s: the link is dead",
                        c.target.describe(),
                        c.liveness.silent_for().as_secs()
                    );
                }
                declare.send_replace(true);
                if let Some(p) = ping.take() {
                    p.abort();
                }
                // Best effort: a blackholed socket may never take the
                // goodbye (`disconnect` waits at most GOODBYE_WAIT).
                c.disconnect().await;
                return;
            }
        }
    }
}
