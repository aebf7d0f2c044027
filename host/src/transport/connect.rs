//! Opening an authenticated SSH connection: TCP (or a channel through jump
//! hosts), key exchange with host key verification, authentication, all bounded
//! by the connect timeout except for the time spent answering questions.

use super::auth;
use super::connection::Connection;
use super::deadline::Deadline;
use super::error::ConnectError;
use super::handler::ClientHandler;
use super::inbound::Inbound;
use super::known_hosts;
use super::prompt::Prompter;
use super::target::Target;
use super::watchdog::Liveness;
use russh::client::{self, Handle};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How to behave while connecting.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// Whether questions may be asked on the terminal.
    pub prompter: Prompter,
    /// Suppress banners and notices.
    pub quiet: bool,
    /// Give up on a TCP connect attempt after this long (within the connect
    /// timeout): reconnecting starts a fresh attempt each second rather than
    /// wait for the kernel's slowing SYN retries while the network is down.
    pub tcp_attempt: Option<Duration>,
}

impl ConnectOptions {
    /// For connecting with nobody at the terminal (the keeper, reconnects,
    /// tests): no questions, no banners.
    pub fn unattended(tcp_attempt: Option<Duration>) -> ConnectOptions {
        ConnectOptions { prompter: Prompter::never(), quiet: true, tcp_attempt }
    }
}

/// Connect to `target`, through its jump hosts if any.
pub async fn connect(target: &Target, opts: ConnectOptions) -> Result<Arc<Connection>, ConnectError> {
    let mut jumps: Vec<Handle<ClientHandler>> = Vec::new();
    let mut liveness = Arc::new(Liveness::default());
    let mut inbound = Arc::new(Inbound::default());
    let mut socket = None;
    let mut auth_method = String::new();
    for hop in target.jumps.iter().chain(std::iter::once(target)) {
        // Only the last hop's signs of life say the target is alive, and only
        // it is asked for remote forwards.
        liveness = Arc::new(Liveness::default());
        inbound = Arc::new(Inbound::default());
        let (handle, method) = match jumps.last() {
            None => {
                let deadline = Deadline::start(hop.connect_timeout);
                let stream = tcp(hop, &deadline, opts).await?;
                // A second handle on the socket lets the watchdog look at it.
                let (stream, probe) =
                    with_probe(stream).map_err(|e| ConnectError::Network { addr: addr(hop), reason: e.to_string() })?;
                socket = probe;
                establish(hop, stream, deadline, opts, (&liveness, &inbound)).await?
            }
            Some(via) => {
                let deadline = Deadline::start(hop.connect_timeout);
                let channel = via
                    .channel_open_direct_tcpip(hop.hostname.clone(), u32::from(hop.port), "127.0.0.1", 0)
                    .await
                    .map_err(|source| ConnectError::Ssh {
                        addr: addr(hop),
                        stage: "opening the ProxyJump channel",
                        source,
                    })?;
                establish(hop, channel.into_stream(), deadline, opts, (&liveness, &inbound)).await?
            }
        };
        jumps.push(handle);
        auth_method = method;
    }
    let handle = jumps.pop().ok_or_else(|| ConnectError::Network { addr: addr(target), reason: "no hop".into() })?;
    Ok(Connection::new(handle, jumps, target.clone(), (liveness, inbound), socket, auth_method))
}

/// The stream, and a duplicate of its socket (none if it cannot be made).
fn with_probe(stream: TcpStream) -> std::io::Result<(TcpStream, Option<std::net::TcpStream>)> {
    let std_stream = stream.into_std()?;
    // Both handles share one open file: non-blocking for tokio, and so that
    // a look at the socket never waits.
    std_stream.set_nonblocking(true)?;
    let probe = std_stream.try_clone().ok();
    Ok((TcpStream::from_std(std_stream)?, probe))
}

fn addr(t: &Target) -> String {
    format!("{}:{}", t.hostname, t.port)
}

async fn tcp_attempt_over(limit: Option<Duration>) {
    match limit {
        Some(limit) => tokio::time::sleep(limit).await,
        None => std::future::pending().await,
    }
}

/// While reconnecting, a new SYN goes out this often: the kernel would
/// resend a lost one only after a second, then three, so the first packet
/// through once the network is back would come late.
const STAGGER: Duration = Duration::from_millis(250);

/// Connect to `sa`. With an attempt limit (reconnecting), start a fresh
/// connection every [`STAGGER`] while the earlier ones wait, and take the
/// first that gets through.
async fn connect_staggered(sa: std::net::SocketAddr, limit: Option<Duration>) -> std::io::Result<TcpStream> {
    use futures_util::StreamExt;
    if limit.is_none() {
        return TcpStream::connect(sa).await;
    }
    let mut pending = futures_util::stream::FuturesUnordered::new();
    pending.push(TcpStream::connect(sa));
    let mut next = tokio::time::interval_at(tokio::time::Instant::now() + STAGGER, STAGGER);
    let mut last_error = None;
    loop {
        tokio::select! {
            Some(result) = pending.next() => match result {
                Ok(stream) => return Ok(stream),
                // Refused or unreachable now; a later SYN may do better.
                Err(e) => last_error = Some(e),
            },
            _ = next.tick() => pending.push(TcpStream::connect(sa)),
        }
        if pending.is_empty()
            && let Some(e) = last_error.take()
        {
            // Every attempt failed at once (refused, no route): say so
            // rather than retry in a tight loop.
            return Err(e);
        }
    }
}

async fn tcp(target: &Target, deadline: &Deadline, opts: ConnectOptions) -> Result<TcpStream, ConnectError> {
    let timeout = |stage| ConnectError::Timeout { addr: addr(target), after: deadline.budget(), stage };
    let addrs = tokio::select! {
        r = tokio::net::lookup_host((target.hostname.as_str(), target.port)) => r.map_err(|e| ConnectError::Resolve {
            host: target.hostname.clone(),
            reason: e.to_string(),
        })?,
        _ = deadline.expired() => return Err(timeout("resolving the host name")),
    };
    let mut last = None;
    for sa in addrs {
        let attempt = tokio::select! {
            r = connect_staggered(sa, opts.tcp_attempt) => r,
            _ = deadline.expired() => return Err(timeout("connecting")),
            // Too slow for this address: the next one may answer.
            _ = tcp_attempt_over(opts.tcp_attempt) => Err(std::io::ErrorKind::TimedOut.into()),
        };
        match attempt {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => ConnectError::Refused { addr: addr(target) },
        Some(e) if e.kind() == std::io::ErrorKind::TimedOut => timeout("connecting"),
        Some(e) => ConnectError::Network { addr: addr(target), reason: e.to_string() },
        None => ConnectError::Resolve { host: target.hostname.clone(), reason: "no addresses".into() },
    })
}

async fn establish<S>(
    target: &Target,
    stream: S,
    deadline: Deadline,
    opts: ConnectOptions,
    (liveness, inbound): (&Arc<Liveness>, &Arc<Inbound>),
) -> Result<(Handle<ClientHandler>, String), ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let rejection = Arc::new(Mutex::new(None));
    let handler = ClientHandler::new(target, opts.prompter, deadline.clone(), rejection.clone(), opts.quiet)
        .watched_by(liveness.clone(), inbound.clone());
    let handshake = client::connect_stream(Arc::new(client_config(target)), stream, handler);
    let result = tokio::select! {
        r = handshake => r,
        _ = deadline.expired() => {
            return Err(ConnectError::Timeout { addr: addr(target), after: deadline.budget(), stage: "SSH handshake" });
        }
    };
    let mut handle = match result {
        Ok(h) => h,
        Err(source) => {
            if let Some(reason) = rejection.lock().ok().and_then(|mut r| r.take()) {
                return Err(reason);
            }
            return Err(ConnectError::Ssh { addr: addr(target), stage: "the SSH handshake", source });
        }
    };
    let method = auth::authenticate(&mut handle, target, opts.prompter).await?;
    Ok((handle, method))
}

/// The russh client settings for one hop.
fn client_config(target: &Target) -> client::Config {
    let mut preferred = russh::Preferred {
        cipher: Cow::Owned(super::ciphers::order(super::ciphers::hardware_aes())),
        ..russh::Preferred::default()
    };
    // Like OpenSSH, ask first for the host key types already recorded for this
    // host, so a server with several keys is verified against the known one.
    let known = known_hosts::known_types(&target.all_known_hosts_files(), &target.hostname, target.port);
    if !known.is_empty() {
        let mut order: Vec<_> = known.clone();
        order.extend(preferred.key.iter().filter(|a| !known.contains(a)).cloned());
        preferred.key = Cow::Owned(order);
    }
    client::Config {
        client_id: russh::SshId::Standard(Cow::Owned(format!("SSH-2.0-sinc_{}", env!("CARGO_PKG_VERSION")))),
        keepalive_interval: Some(target.keepalive_interval),
        keepalive_max: target.keepalive_max,
        inactivity_timeout: None,
        nodelay: true,
        preferred,
        ..client::Config::default()
    }
}
