//! Port forwarding (`-L`, `-R`) that outlives reconnections: the local
//! listeners stay open while the link is down (a connection made then waits
//! for the link), and every new connection is asked again for the remote
//! listeners.

use super::connection::Connection;
use super::error::ConnectError;
use super::inbound::InboundChannel;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The address a forward listens on when none is given: loopback only.
pub const LOOPBACK: &str = "127.0.0.1";

/// One forward as `ssh` spells it: `[bind_address:]port:host:hostport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSpec {
    /// Where to listen (`None`: loopback; `*` or empty: every interface).
    pub bind: Option<String>,
    /// The port to listen on (0: any free port).
    pub port: u16,
    /// Where connections go, as seen from the other side.
    pub host: String,
    /// The port they go to.
    pub host_port: u16,
}

impl ForwardSpec {
    /// The address to listen on.
    pub fn listen_address(&self) -> &str {
        match self.bind.as_deref() {
            None => LOOPBACK,
            Some("" | "*") => "0.0.0.0",
            Some(address) => address,
        }
    }
}

impl std::fmt::Display for ForwardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bracket = |h: &str| if h.contains(':') { format!("[{h}]") } else { h.to_owned() };
        if let Some(bind) = &self.bind {
            write!(f, "{}:", bracket(bind))?;
        }
        write!(f, "{}:{}:{}", self.port, bracket(&self.host), self.host_port)
    }
}

impl FromStr for ForwardSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<ForwardSpec, String> {
        let bad = |why: &str| format!("`{spec}` is not [bind_address:]port:host:hostport ({why})");
        let fields = split_fields(spec).ok_or_else(|| bad("unbalanced brackets"))?;
        let port = |s: &str| s.parse::<u16>().map_err(|_| bad(&format!("`{s}` is not a port")));
        let (bind, rest) = match fields.as_slice() {
            [p, h, hp] => (None, [p, h, hp]),
            [b, p, h, hp] => (Some(b.clone()), [p, h, hp]),
            _ => return Err(bad("it needs three or four fields")),
        };
        let [listen, host, host_port] = rest;
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        let host_port = port(host_port)?;
        if host_port == 0 {
            return Err(bad("the destination port cannot be 0"));
        }
        Ok(ForwardSpec { bind, port: port(listen)?, host: host.clone(), host_port })
    }
}

/// Split on `:` outside `[…]`, dropping the brackets.
fn split_fields(spec: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut in_brackets = false;
    for c in spec.chars() {
        match c {
            '[' if !in_brackets => in_brackets = true,
            ']' if in_brackets => in_brackets = false,
            '[' | ']' => return None,
            ':' if !in_brackets => fields.push(String::new()),
            c => fields.last_mut()?.push(c),
        }
    }
    (!in_brackets).then_some(fields)
}

/// Why forwarding could not start.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// A local listener could not be opened.
    #[error("cannot listen on {address}:{port} for -L {spec}: {source}")]
    Listen {
        /// The forward.
        spec: ForwardSpec,
        /// Where.
        address: String,
        /// Which port.
        port: u16,
        /// Why.
        source: std::io::Error,
    },
    /// The server refused a remote listener.
    #[error("the server refused -R {spec}: {source}")]
    Remote {
        /// The forward.
        spec: ForwardSpec,
        /// Why.
        source: ConnectError,
    },
}

/// The forwards of one command, following its connection as it is replaced.
#[derive(Debug)]
pub struct Forwarder {
    current: watch::Sender<Option<Arc<Connection>>>,
    remote: Arc<[ForwardSpec]>,
    listeners: Vec<JoinHandle<()>>,
    /// Where each local forward listens (the port is known when it was 0).
    pub local_addresses: Vec<(ForwardSpec, SocketAddr)>,
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        for task in &self.listeners {
            task.abort();
        }
    }
}

impl Forwarder {
    /// Open the local listeners now (an error when one cannot be opened);
    /// connections are forwarded once [`Forwarder::follow`] gave a connection.
    pub async fn bind(local: &[ForwardSpec], remote: &[ForwardSpec]) -> Result<Forwarder, ForwardError> {
        let (current, _) = watch::channel(None);
        let mut forwarder =
            Forwarder { current, remote: remote.into(), listeners: Vec::new(), local_addresses: Vec::new() };
        for spec in local {
            let address = spec.listen_address().to_owned();
            let listener = TcpListener::bind((address.as_str(), spec.port)).await.map_err(|source| {
                ForwardError::Listen { spec: spec.clone(), address: address.clone(), port: spec.port, source }
            })?;
            let bound = listener.local_addr().map_err(|source| ForwardError::Listen {
                spec: spec.clone(),
                address,
                port: spec.port,
                source,
            })?;
            forwarder.local_addresses.push((spec.clone(), bound));
            let task = tokio::spawn(serve_local(listener, spec.clone(), forwarder.current.subscribe()));
            forwarder.listeners.push(task);
        }
        Ok(forwarder)
    }

    /// Forward over `conn` from now on: local connections open channels on
    /// it, and it is asked for the remote listeners. Returns each remote
    /// forward with the port the server listens on.
    pub async fn follow(&self, conn: Arc<Connection>) -> Result<Vec<(ForwardSpec, u16)>, ForwardError> {
        let routes = self.switch_to(&conn);
        for spec in self.remote.iter() {
            request(&conn, spec, &routes).await?;
        }
        Ok(routes.lock().map(|r| r.clone()).unwrap_or_default())
    }

    /// Like [`Forwarder::follow`], in the background (for reconnections,
    /// while the terminal is in use). A remote listener that fails is asked
    /// for again every [`RETRY`] while the connection lives: the server may
    /// still hold the port for the connection that was lost, until it
    /// notices that one is gone.
    pub fn follow_in_background(&self, conn: Arc<Connection>) {
        let routes = self.switch_to(&conn);
        let remote = self.remote.clone();
        tokio::spawn(async move {
            let mut pending: Vec<ForwardSpec> = remote.to_vec();
            let mut warned = false;
            while !pending.is_empty() && !conn.is_dead() {
                let mut failed = Vec::new();
                for spec in pending {
                    if let Err(e) = request(&conn, &spec, &routes).await {
                        if !warned {
                            tracing::warn!("after reconnecting: {e}; trying again every {}s", RETRY.as_secs());
                        }
                        failed.push(spec);
                    }
                }
                warned |= !failed.is_empty();
                pending = failed;
                if !pending.is_empty() {
                    tokio::time::sleep(RETRY).await;
                }
            }
        });
    }

    /// Make `conn` the one local connections go over, and route what
    /// arrives at its remote listeners by the returned table.
    fn switch_to(&self, conn: &Arc<Connection>) -> Routes {
        self.current.send_replace(Some(conn.clone()));
        let routes = Routes::default();
        if !self.remote.is_empty()
            && let Some(inbound) = conn.inbound()
        {
            tokio::spawn(serve_remote(inbound, routes.clone()));
        }
        routes
    }
}

/// How often a remote listener the server refused after a reconnection is
/// asked for again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// The remote forwards one connection listens for, with their ports there.
type Routes = Arc<std::sync::Mutex<Vec<(ForwardSpec, u16)>>>;

/// Ask `conn` to listen for `spec`, and route what arrives there.
async fn request(conn: &Connection, spec: &ForwardSpec, routes: &Routes) -> Result<u16, ForwardError> {
    let port = conn
        .forward_remote(spec.listen_address(), spec.port)
        .await
        .map_err(|source| ForwardError::Remote { spec: spec.clone(), source })?;
    if let Ok(mut routes) = routes.lock() {
        routes.push((spec.clone(), port));
    }
    Ok(port)
}

/// Accept local connections and carry each over a channel of the current
/// connection, waiting for one while the link is down.
async fn serve_local(listener: TcpListener, spec: ForwardSpec, current: watch::Receiver<Option<Arc<Connection>>>) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("-L {spec}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (spec, mut current) = (spec.clone(), current.clone());
        tokio::spawn(async move {
            let Ok(conn) = current.wait_for(|c| c.as_ref().is_some_and(|c| !c.is_dead())).await.map(|c| c.clone())
            else {
                return;
            };
            let Some(conn) = conn else { return };
            match conn.direct_tcpip(&spec.host, spec.host_port, from).await {
                Ok(channel) => carry(stream, channel.into_stream()).await,
                Err(e) => tracing::info!("-L {spec}: {e}"),
            }
        });
    }
}

/// Carry each connection arriving at a remote listener to its local
/// destination.
async fn serve_remote(mut inbound: tokio::sync::mpsc::UnboundedReceiver<InboundChannel>, routes: Routes) {
    while let Some(arrived) = inbound.recv().await {
        let spec = routes
            .lock()
            .ok()
            .and_then(|r| r.iter().find(|(_, port)| u32::from(*port) == arrived.port).map(|(spec, _)| spec.clone()));
        let Some(spec) = spec else {
            continue;
        };
        tokio::spawn(async move {
            match TcpStream::connect((spec.host.as_str(), spec.host_port)).await {
                Ok(stream) => carry(stream, arrived.channel.into_stream()).await,
                Err(e) => tracing::info!("-R {spec}: connecting to {}:{}: {e}", spec.host, spec.host_port),
            }
        });
    }
}

/// Copy both ways until both sides are done.
async fn carry<S>(mut stream: TcpStream, mut channel: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let _ = stream.set_nodelay(true);
    if let Err(e) = tokio::io::copy_bidirectional(&mut stream, &mut channel).await {
        tracing::debug!("forwarded connection ended: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Result<ForwardSpec, String> {
        s.parse()
    }

    #[test]
    fn three_and_four_field_forms() {
        let plain = spec("8080:localhost:80").unwrap();
        assert_eq!(
            (plain.bind.as_deref(), plain.port, plain.host.as_str(), plain.host_port),
            (None, 8080, "localhost", 80)
        );
        assert_eq!(plain.listen_address(), LOOPBACK);
        let bound = spec("0.0.0.0:0:db.internal:5432").unwrap();
        assert_eq!((bound.listen_address(), bound.port), ("0.0.0.0", 0));
        assert_eq!(spec("*:8080:h:1").unwrap().listen_address(), "0.0.0.0");
        assert_eq!(spec(":8080:h:1").unwrap().listen_address(), "0.0.0.0");
    }

    #[test]
    fn ipv6_in_brackets_and_display_round_trips() {
        let v6 = spec("[::1]:8080:[fe80::2]:80").unwrap();
        assert_eq!((v6.listen_address(), v6.host.as_str()), ("::1", "fe80::2"));
        for s in ["[::1]:8080:[fe80::2]:80", "8080:localhost:80", "127.0.0.2:1:h:2"] {
            assert_eq!(spec(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_specs_say_why() {
        for (bad, why) in [
            ("8080", "three or four"),
            ("a:b:c:d:e", "three or four"),
            ("x:h:80", "`x` is not a port"),
            ("8080:h:99999", "`99999` is not a port"),
            ("8080::80", "host is empty"),
            ("8080:h:0", "cannot be 0"),
            ("[::1:8080:h:80", "brackets"),
        ] {
            let err = spec(bad).unwrap_err();
            assert!(err.contains(why) && err.contains(bad), "{bad}: {err}");
        }
    }
}
