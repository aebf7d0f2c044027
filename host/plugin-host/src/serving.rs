//! Serving HTTP on a plugin's declared ports: the host owns the sockets and
//! every connection; the plugin only decides (`http-handler.handle`) and is
//! called again for what happens later (a forward done, a WebSocket
//! message, a client gone). Bodies it does not ask for never enter it: a
//! `forward` streams the request and the response through the host.

use crate::bindings::sinc::plugin::http_types::{Exchange, Forward, Message, Reply, Request, Response};
use crate::outbound::Outbound;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full, Limited, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::{self, protocol::Role};

/// The largest request body a plugin may read.
pub const MAX_BODY: usize = 16 << 20;
/// The largest response body a `tap-response` forward copies for the plugin.
pub const MAX_TAP: usize = 16 << 20;
/// Request bodies up to this size are read before the plugin is asked.
const READ_AHEAD: u64 = 1 << 20;
/// How long reading a request body may take.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Chunks or messages queued for a slow client before sends fail.
const QUEUE: usize = 256;

/// The headers about one connection, never passed on (RFC 9110 §7.6.1,
/// and the old `proxy-connection`).
pub(crate) const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// How often a host-held WebSocket queue is looked at for its closing.
const CLOSED_CHECK: Duration = Duration::from_millis(500);

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A response body.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// Where a port's requests go: the plugin's instance (see
/// [`crate::running`]).
pub trait Handler: Send + Sync + 'static {
    /// Ask the plugin to answer; the sender is dropped when it cannot (it
    /// was stopped or is restarting).
    fn handle(&self, request: Request) -> oneshot::Receiver<Reply>;
    /// A forward it asked for is done.
    fn forwarded(&self, exchange: Exchange);
    /// A WebSocket message arrived; the receiver resolves (or closes)
    /// once the plugin has handled it.
    fn on_message(&self, connection: u64, message: Message) -> oneshot::Receiver<()>;
    /// A WebSocket's peer closed it with `code` and `reason` (before
    /// `closed`).
    fn on_close(&self, connection: u64, code: u16, reason: String);
    /// A streamed reply's or WebSocket's client went away.
    fn closed(&self, connection: u64);
    /// Pass a piece of a forwarded response through its filter; the sender
    /// is dropped when it cannot.
    fn filter(&self, request: u64, chunk: Bytes, last: bool) -> oneshot::Receiver<Vec<u8>>;
    /// Ask what the client of a forward that failed gets (`None`: the
    /// host's error); the sender is dropped when it cannot.
    fn failed(&self, request: u64, status: u16, reason: String) -> oneshot::Receiver<Option<Response>>;
}

/// The host reads a WebSocket's next message only while fewer than this
/// many of its messages wait for the plugin…
pub(crate) const MESSAGES_IN_FLIGHT: usize = 16;
/// …and they hold less than this many bytes (so at most this plus one
/// message wait).
pub(crate) const BYTES_IN_FLIGHT: usize = 4 << 20;

/// One request or connection the host holds for the plugin.
enum Held {
    /// Being handled: its body, unread or read (by `body`), and how the
    /// plugin changes its forward.
    Handling { unread: Option<Incoming>, read: Option<Bytes>, change: ForwardChange },
    /// A `stream` reply: chunks for its body.
    Streaming(mpsc::Sender<Bytes>),
    /// A WebSocket: messages to send.
    Socket(mpsc::Sender<Message>),
    /// A WebSocket the host ended, until its task is done.
    Closing,
}

/// How long a forward waits for the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To connect (then 504).
    pub connect: Duration,
    /// From sending the request to the response head (then 504).
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts { connect: Duration::from_secs(10), response: Duration::from_secs(600) }
    }
}

/// What the plugin changed about a forward while handling its request.
#[derive(Debug, Default)]
struct ForwardChange {
    /// The body sent instead of the request's own.
    replacement: Option<Bytes>,
    /// Whether the response goes through its filter.
    filter: bool,
    /// How long to wait.
    timeouts: Timeouts,
}

/// The requests and connections of one plugin's ports, shared by the
/// servers and the plugin's host calls (`http-server`).
pub struct Connections {
    plugin: String,
    /// Set once the plugin is unloaded: no new sockets then.
    shut: std::sync::atomic::AtomicBool,
    next: AtomicU64,
    held: Mutex<HashMap<u64, Held>>,
    /// Requests whose response is not sent yet.
    in_flight: std::sync::atomic::AtomicUsize,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections").field("plugin", &self.plugin).finish()
    }
}

impl Connections {
    /// For `plugin`, reading bodies on `runtime`.
    pub fn new(plugin: &str, runtime: tokio::runtime::Handle) -> Connections {
        Connections {
            plugin: plugin.to_owned(),
            shut: std::sync::atomic::AtomicBool::new(false),
            next: AtomicU64::new(1),
            held: Mutex::default(),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            runtime,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, held: Held) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.table().insert(id, held);
        id
    }

    fn take(&self, id: u64) -> Option<Held> {
        self.table().remove(&id)
    }

    /// Whether connection `id` is still the plugin's (not finished by it).
    fn holds(&self, id: u64) -> bool {
        self.table().contains_key(&id)
    }

    /// How many requests on its ports have a response not sent yet
    /// (forwards still streaming among them).
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// How many WebSockets the plugin has open (accepted and its own).
    pub(crate) fn sockets(&self) -> usize {
        self.table().values().filter(|h| matches!(h, Held::Socket(_))).count()
    }

    /// The whole body of request `id` (from the plugin's thread, never a
    /// runtime thread: it blocks until the body is read).
    pub fn body(&self, id: u64) -> Result<Bytes, String> {
        let unread = match self.table().get_mut(&id) {
            Some(Held::Handling { read: Some(bytes), .. }) => return Ok(bytes.clone()),
            Some(Held::Handling { unread, .. }) => unread.take(),
            _ => return Err(format!("request {id} is not being handled (a body can only be read in `handle`)")),
        };
        let Some(unread) = unread else { return Err(format!("the body of request {id} is being read")) };
        let read = crate::own_runtime::block_on(&self.runtime, async {
            match tokio::time::timeout(BODY_TIMEOUT, Limited::new(unread, MAX_BODY).collect()).await {
                Err(_) => Err(format!("the client did not send the body within {}s", BODY_TIMEOUT.as_secs())),
                Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                    Err(format!("the request body is larger than {} MiB", MAX_BODY >> 20))
                }
                Ok(Err(e)) => Err(format!("reading the request body: {e}")),
                Ok(Ok(collected)) => Ok(collected.to_bytes()),
            }
        })?;
        if let Some(Held::Handling { read: slot, .. }) = self.table().get_mut(&id) {
            *slot = Some(read.clone());
        }
        Ok(read)
    }

    /// Change the forward of request `id`, which is being handled.
    fn change(&self, id: u64, apply: impl FnOnce(&mut ForwardChange)) -> Result<(), String> {
        match self.table().get_mut(&id) {
            Some(Held::Handling { change, .. }) => {
                apply(change);
                Ok(())
            }
            _ => Err(format!("request {id} is not being handled (a forward can only be changed in `handle`)")),
        }
    }

    /// Forward `body` instead of request `id`'s own.
    pub fn replace_body(&self, id: u64, body: Bytes) -> Result<(), String> {
        if body.len() > MAX_BODY {
            return Err(format!("a replacement body is larger than {} MiB", MAX_BODY >> 20));
        }
        self.change(id, |c| c.replacement = Some(body))
    }

    /// Filter request `id`'s forwarded response.
    pub fn filter_response(&self, id: u64) -> Result<(), String> {
        self.change(id, |c| c.filter = true)
    }

    /// Wait `timeouts` for request `id`'s upstream.
    pub fn set_timeouts(&self, id: u64, timeouts: Timeouts) -> Result<(), String> {
        if timeouts.connect.is_zero() || timeouts.response.is_zero() {
            return Err("timeouts must be longer than 0 ms".into());
        }
        self.change(id, |c| c.timeouts = timeouts)
    }

    /// Queue `data` on streamed reply `id`.
    pub fn send(&self, id: u64, data: Bytes) -> Result<(), String> {
        let sender = match self.table().get(&id) {
            Some(Held::Streaming(tx)) => tx.clone(),
            _ => return Err(format!("connection {id} is not an open stream (finished, or its client went away)")),
        };
        sender.try_send(data).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                format!("the client of connection {id} is not reading; {QUEUE} chunks queued")
            }
            mpsc::error::TrySendError::Closed(_) => format!("the client of connection {id} went away"),
        })
    }

    /// Queue `message` on WebSocket `id`.
    pub fn send_message(&self, id: u64, message: Message) -> Result<(), String> {
        let size = match &message {
            Message::Text(text) => text.len(),
            Message::Binary(data) => data.len(),
        };
        if size > crate::websockets::MAX_MESSAGE {
            return Err(format!("a WebSocket message is larger than {} MiB", crate::websockets::MAX_MESSAGE >> 20));
        }
        let sender = match self.table().get(&id) {
            Some(Held::Socket(tx)) => tx.clone(),
            _ => return Err(format!("connection {id} is not an open WebSocket")),
        };
        sender.try_send(message).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                format!("the client of WebSocket {id} is not reading; {QUEUE} messages queued")
            }
            mpsc::error::TrySendError::Closed(_) => format!("the client of WebSocket {id} went away"),
        })
    }

    /// The queue of WebSocket `id`, for the host to send on it itself
    /// (weakly: the socket closes when the plugin or the host ends it,
    /// whoever else holds this).
    pub fn socket(&self, id: u64) -> Result<mpsc::WeakSender<Message>, String> {
        match self.table().get(&id) {
            Some(Held::Socket(tx)) => Ok(tx.downgrade()),
            _ => Err(format!("connection {id} is not an open WebSocket")),
        }
    }

    /// Call `then` once WebSocket queue `socket` is closed: its client went
    /// away, or it was ended (noticed within [`CLOSED_CHECK`]).
    pub fn when_closed(&self, socket: mpsc::WeakSender<Message>, then: impl FnOnce() + Send + 'static) {
        self.runtime.spawn(async move {
            while socket.upgrade().is_some_and(|s| !s.is_closed()) {
                tokio::time::sleep(CLOSED_CHECK).await;
            }
            then();
        });
    }

    /// End WebSocket `id` from the host's side (what is queued is sent
    /// first); the plugin hears `closed` as when its client leaves.
    pub fn close(&self, id: u64) {
        if let Some(held @ Held::Socket(_)) = self.table().get_mut(&id) {
            *held = Held::Closing;
        }
    }

    /// Take `socket`, which the host opened for the plugin: its connection,
    /// whose messages and end go to `handler`.
    pub(crate) fn adopt<S>(
        self: &Arc<Self>,
        socket: tokio_tungstenite::WebSocketStream<S>,
        handler: Arc<dyn Handler>,
    ) -> Result<u64, String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = self.insert(Held::Socket(tx));
        // Checked after the insert: `shut` sets the flag before it closes
        // what the table holds, so either it closes this socket or this
        // sees the flag.
        if self.shut.load(Ordering::SeqCst) {
            self.take(id);
            return Err(format!("plugin {} is stopping", self.plugin));
        }
        let gone = Gone { id, connections: self.clone(), handler };
        self.runtime.spawn(pump(socket, rx, gone));
        Ok(id)
    }

    /// The runtime its connections run on.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// The plugin is unloaded: end every WebSocket, and refuse new ones.
    pub fn shut(&self) {
        self.shut.store(true, Ordering::SeqCst);
        self.close_all();
    }

    /// End every WebSocket (the plugin is stopping, or its instance ended:
    /// a new one knows none of them).
    pub fn close_all(&self) {
        for held in self.table().values_mut() {
            if matches!(held, Held::Socket(_)) {
                *held = Held::Closing;
            }
        }
    }

    /// End stream or WebSocket `id` (dropping its queue ends it once what
    /// is queued is sent).
    pub fn finish(&self, id: u64) {
        self.take(id);
    }
}

/// What a port's server needs.
pub struct Port<H> {
    /// The port number (as the plugin sees it in requests).
    pub port: u16,
    /// The plugin's instance.
    pub handler: Arc<H>,
    /// Its requests and connections.
    pub connections: Arc<Connections>,
    /// Where it may forward to.
    pub outbound: Outbound,
    /// The connections its forwards go out on.
    pub upstreams: crate::upstream::Upstreams,
}

impl<H> std::fmt::Debug for Port<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port").field("port", &self.port).field("plugin", &self.connections.plugin).finish()
    }
}

/// Accept connections on `listener` until the task is aborted.
pub async fn serve<H: Handler>(listener: tokio::net::TcpListener, port: Arc<Port<H>>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(plugin = %port.connections.plugin, "accepting on port {}: {e}", port.port);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Answers are small writes; Nagle's algorithm would hold them back.
        let _ = stream.set_nodelay(true);
        let port = port.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let port = port.clone();
                async move {
                    let in_flight = InFlight::new(port.connections.clone());
                    let response = answer(request, &port).await;
                    Ok::<_, std::convert::Infallible>(response.map(|inner| Counted { inner, _in_flight: in_flight }))
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = connection.await {
                tracing::debug!("HTTP connection ended: {e}");
            }
        });
    }
}

/// A request counted in [`Connections::in_flight`] while it lives.
struct InFlight(Arc<Connections>);

impl InFlight {
    fn new(connections: Arc<Connections>) -> InFlight {
        connections.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(connections)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body; its request is in flight until it is dropped (sent
/// whole, or its client gone).
struct Counted {
    inner: ResponseBody,
    _in_flight: InFlight,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> http::Response<ResponseBody> {
    let mut response = http::Response::new(Full::new(body.into()).map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    response
}

/// The plugin's whole response.
fn respond(plugin: &str, Response { status, headers, body }: Response) -> http::Response<ResponseBody> {
    let mut response = full(status, "application/octet-stream", body);
    response.headers_mut().remove(header::CONTENT_TYPE);
    headers_from(plugin, &headers, response.headers_mut());
    response
}

fn error(status: u16, message: String) -> http::Response<ResponseBody> {
    full(status, "text/plain; charset=utf-8", format!("{message}\n"))
}

/// Headers from the plugin, skipping (and logging) invalid ones.
fn headers_from(plugin: &str, pairs: &[(String, String)], into: &mut HeaderMap) {
    for (name, value) in pairs {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                into.append(n, v);
            }
            _ => tracing::warn!(plugin, "skipping invalid header {name:?}"),
        }
    }
}

fn headers_to(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter().map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}

/// Headers that belong to one connection (RFC 9110 §7.6.1), plus those
/// its `connection` header names.
fn drop_hop_by_hop(map: &mut HeaderMap) {
    let named: Vec<String> = map
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|n| n.trim().to_ascii_lowercase()))
        .collect();
    for name in named {
        map.remove(name.as_str());
    }
    for name in HOP_BY_HOP {
        map.remove(name);
    }
}

fn is_websocket(request: &http::Request<Incoming>) -> bool {
    let has = |name: HeaderName, token: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

async fn answer<H: Handler>(mut request: http::Request<Incoming>, port: &Port<H>) -> http::Response<ResponseBody> {
    let plugin = port.connections.plugin.clone();
    let upgrade = is_websocket(&request).then(|| hyper::upgrade::on(&mut request));
    let (parts, body) = request.into_parts();
    // A small body is read before the plugin is asked: it then costs the
    // plugin no wait (and no hop back to this runtime) when it reads it.
    let length = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let (unread, read) = match length {
        Some(n) if n <= READ_AHEAD => match tokio::time::timeout(BODY_TIMEOUT, body.collect()).await {
            Ok(Ok(whole)) => (None, Some(whole.to_bytes())),
            Ok(Err(e)) => return error(400, format!("reading the request body: {e}")),
            Err(_) => {
                return error(408, format!("the client did not send the body within {}s", BODY_TIMEOUT.as_secs()));
            }
        },
        _ => (Some(body), None),
    };
    let id = port.connections.insert(Held::Handling { unread, read, change: ForwardChange::default() });
    let asked = Request {
        id,
        port: port.port,
        method: parts.method.to_string(),
        target: parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: headers_to(&parts.headers),
    };
    let reply = port.handler.handle(asked).await;
    let held = port.connections.take(id);
    let Ok(reply) = reply else {
        return error(503, format!("plugin {plugin} is not running"));
    };
    match reply {
        Reply::Respond(response) => respond(&plugin, response),
        Reply::Stream(head) => {
            let (tx, rx) = mpsc::channel(QUEUE);
            port.connections.table().insert(id, Held::Streaming(tx));
            let body = Streamed {
                rx,
                _gone: Gone { id, connections: port.connections.clone(), handler: port.handler.clone() },
            };
            let mut response = http::Response::new(body.boxed_unsync());
            *response.status_mut() = http::StatusCode::from_u16(head.status).unwrap_or(http::StatusCode::OK);
            headers_from(&plugin, &head.headers, response.headers_mut());
            response
        }
        Reply::Forward(forward) => {
            let whole = |bytes: Bytes| Full::new(bytes).map_err(|never| match never {}).boxed_unsync();
            let Some(Held::Handling { unread, read, mut change }) = held else {
                return error(500, format!("plugin {plugin} forwarded request {id}, which it no longer held"));
            };
            let body = match (change.replacement.take(), read, unread) {
                (Some(bytes), _, _) | (None, Some(bytes), _) => whole(bytes),
                (None, None, Some(body)) => body.map_err(|e| Box::new(e) as BoxError).boxed_unsync(),
                (None, None, None) => whole(Bytes::new()),
            };
            forward_request(port, id, parts, body, forward, change).await
        }
        Reply::Websocket => {
            let Some(upgrade) = upgrade else {
                return error(400, "this endpoint takes WebSocket connections only".into());
            };
            let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY) else {
                return error(400, "a WebSocket upgrade needs sec-websocket-key".into());
            };
            let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
            let (tx, rx) = mpsc::channel(QUEUE);
            port.connections.table().insert(id, Held::Socket(tx));
            let gone = Gone { id, connections: port.connections.clone(), handler: port.handler.clone() };
            tokio::spawn(websocket(upgrade, rx, gone));
            let mut response = full(101, "text/plain", Bytes::new());
            response.headers_mut().remove(header::CONTENT_TYPE);
            let h = response.headers_mut();
            h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            if let Ok(v) = HeaderValue::from_str(&accept) {
                h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
            }
            response
        }
    }
}

/// Tells the plugin its client went away, unless the plugin ended the
/// connection itself (`finish` already took it from the table).
struct Gone<H: Handler + ?Sized> {
    id: u64,
    connections: Arc<Connections>,
    handler: Arc<H>,
}

impl<H: Handler + ?Sized> Gone<H> {
    /// The peer (or the network) ended the socket: tell the plugin how,
    /// unless the plugin finished it itself (`closed` then follows on drop).
    fn peer_closed(&self, code: u16, reason: String) {
        if self.connections.holds(self.id) {
            self.handler.on_close(self.id, code, reason);
        }
    }
}

impl<H: Handler + ?Sized> Drop for Gone<H> {
    fn drop(&mut self) {
        if self.connections.take(self.id).is_some() {
            self.handler.closed(self.id);
        }
    }
}

/// The body of a `stream` reply: what the plugin sends, until it finishes
/// (or its client goes away).
struct Streamed<H: Handler> {
    rx: mpsc::Receiver<Bytes>,
    _gone: Gone<H>,
}

impl<H: Handler> Body for Streamed<H> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

async fn websocket<H: Handler>(upgrade: hyper::upgrade::OnUpgrade, outgoing: mpsc::Receiver<Message>, gone: Gone<H>) {
    let upgraded = match upgrade.await {
        Ok(u) => u,
        Err(e) => return tracing::debug!("WebSocket upgrade failed: {e}"),
    };
    let socket = tokio_tungstenite::WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    pump(socket, outgoing, gone).await;
}

/// Carry a WebSocket's messages: in to the plugin, out from its queue,
/// until either side ends it.
async fn pump<S, H>(
    mut socket: tokio_tungstenite::WebSocketStream<S>,
    mut outgoing: mpsc::Receiver<Message>,
    gone: Gone<H>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    H: Handler + ?Sized,
{
    // Messages handed to the plugin and not handled yet, with their sizes:
    // at most MESSAGES_IN_FLIGHT and BYTES_IN_FLIGHT, so a peer faster than
    // the plugin is slowed by TCP instead of filling memory.
    let mut in_flight: std::collections::VecDeque<(oneshot::Receiver<()>, usize)> = std::collections::VecDeque::new();
    let mut bytes = 0;
    loop {
        let room = in_flight.len() < MESSAGES_IN_FLIGHT && bytes < BYTES_IN_FLIGHT;
        tokio::select! {
            incoming = socket.next(), if room => {
                let message = match incoming {
                    Some(Ok(tungstenite::Message::Text(text))) => Message::Text(text.to_string()),
                    Some(Ok(tungstenite::Message::Binary(data))) => Message::Binary(data.to_vec()),
                    Some(Ok(tungstenite::Message::Close(frame))) => {
                        let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                        gone.peer_closed(code, reason);
                        break;
                    }
                    None | Some(Err(_)) => {
                        gone.peer_closed(1006, String::new());
                        break;
                    }
                    Some(Ok(_)) => continue,
                };
                let size = match &message {
                    Message::Text(text) => text.len(),
                    Message::Binary(data) => data.len(),
                };
                bytes += size;
                in_flight.push_back((gone.handler.on_message(gone.id, message), size));
            }
            () = next_handled(&mut in_flight), if !in_flight.is_empty() => {
                if let Some((_, size)) = in_flight.pop_front() {
                    bytes -= size;
                }
            }
            queued = outgoing.recv() => match queued {
                Some(message) => {
                    let message = match message {
                        Message::Text(text) => tungstenite::Message::text(text),
                        Message::Binary(data) => tungstenite::Message::binary(data),
                    };
                    if socket.send(message).await.is_err() {
                        gone.peer_closed(1006, String::new());
                        break;
                    }
                }
                None => {
                    // Finished by the plugin.
                    let _ = socket.close(None).await;
                    break;
                }
            }
        }
    }
}

/// Resolves when the oldest message in flight has been handled (never when
/// there is none).
async fn next_handled(in_flight: &mut std::collections::VecDeque<(oneshot::Receiver<()>, usize)>) {
    match in_flight.front_mut() {
        Some((handled, _)) => {
            let _ = handled.await;
        }
        None => std::future::pending().await,
    }
}

/// Send the request on as `forward` says, streaming both bodies.
async fn forward_request<H: Handler>(
    port: &Port<H>,
    id: u64,
    parts: http::request::Parts,
    body: ResponseBody,
    forward: Forward,
    change: ForwardChange,
) -> http::Response<ResponseBody> {
    let plugin = port.connections.plugin.clone();
    let started = Instant::now();
    let report = |status: u16, why: String| {
        port.handler.forwarded(Exchange {
            request: id,
            status,
            headers: Vec::new(),
            body: None,
            error: Some(why.clone()),
            headers_ms: 0,
            first_byte_ms: 0,
            total_ms: ms(started.elapsed()),
            bytes: 0,
        });
        error(status, why)
    };
    let uri: http::Uri = match forward.url.parse() {
        Ok(uri) => uri,
        Err(e) => return report(502, format!("plugin {plugin} forwarded to an invalid URL {:?}: {e}", forward.url)),
    };
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return report(502, format!("plugin {plugin} forwarded to {:?}, which is not an http(s) URL", forward.url));
        }
    };
    let Some(authority) = uri.authority().cloned() else {
        return report(502, format!("plugin {plugin} forwarded to {:?}, which names no host", forward.url));
    };
    let host_port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    if !port.outbound.allows(authority.host(), host_port) {
        let why = format!(
            "denied: forwarding to {}:{host_port} needs `hosts = [\"{}\"]` (or a URL setting naming it) in the plugin's manifest, accepted by the user",
            authority.host(),
            authority.host()
        );
        tracing::warn!(plugin = %plugin, "{why}");
        return report(502, why);
    }
    let mut headers = parts.headers;
    drop_hop_by_hop(&mut headers);
    for name in &forward.remove_headers {
        headers.remove(name.as_str());
    }
    let mut set = HeaderMap::new();
    headers_from(&plugin, &forward.set_headers, &mut set);
    for name in set.keys() {
        headers.remove(name);
    }
    headers.extend(set);
    if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
        headers.insert(header::HOST, host);
    }
    // A body read whole (or replaced) has a known length, maybe not the
    // client's.
    if let Some(length) = body.size_hint().exact() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    let failed = |status: u16, why: String| async move {
        // The plugin may shape the error as its clients expect.
        let shaped = port.handler.failed(id, status, why.clone()).await.ok().flatten();
        let plain = report(status, why);
        shaped.map_or(plain, |response| respond(&plugin, response))
    };
    let client = match port.upstreams.client(change.timeouts.connect) {
        Ok(client) => client,
        Err(why) => return failed(502, why).await,
    };
    // A body of known length goes as it is; a streamed one as chunks.
    let body = match body.size_hint().exact() {
        Some(_) => match body.collect().await {
            Ok(whole) => reqwest::Body::from(whole.to_bytes()),
            Err(e) => return failed(502, format!("reading the request body: {e}")).await,
        },
        None => reqwest::Body::wrap_stream(body.into_data_stream()),
    };
    let request = client.request(parts.method, forward.url.as_str()).headers(headers).body(body);
    let response = match tokio::time::timeout(change.timeouts.response, request.send()).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            let status = if e.is_timeout() { 504 } else { 502 };
            return failed(status, format!("forwarding to {}: {}", forward.url, error_chain(&e))).await;
        }
        Err(_) => {
            let why = format!(
                "forwarding to {}: no response within {} ms",
                forward.url,
                change.timeouts.response.as_millis()
            );
            return failed(504, why).await;
        }
    };
    let headers_ms = ms(started.elapsed());
    let mut head = http::Response::new(());
    *head.status_mut() = response.status();
    *head.headers_mut() = response.headers().clone();
    let (mut head, ()) = head.into_parts();
    drop_hop_by_hop(&mut head.headers);
    let frames = response.bytes_stream().map(|chunk| chunk.map(Frame::data).map_err(|e| Box::new(e) as BoxError));
    let tapped = Tapped {
        inner: http_body_util::StreamBody::new(frames).boxed_unsync(),
        exchange: Some(Exchange {
            request: id,
            status: head.status.as_u16(),
            headers: headers_to(&head.headers),
            body: forward.tap_response.then(Vec::new),
            error: None,
            headers_ms,
            first_byte_ms: 0,
            total_ms: 0,
            bytes: 0,
        }),
        length: head.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok()),
        started,
        handler: port.handler.clone(),
    };
    if change.filter {
        // The client's body is the filter's, its length unknown in advance.
        head.headers.remove(header::CONTENT_LENGTH);
        return http::Response::from_parts(head, filtered(tapped.boxed_unsync(), id, port.handler.clone()));
    }
    http::Response::from_parts(head, tapped.boxed_unsync())
}

/// `inner` passed through the plugin's response filter, piece by piece; a
/// piece the plugin cannot filter (it stopped) goes on unchanged.
fn filtered<H: Handler>(inner: ResponseBody, id: u64, handler: Arc<H>) -> ResponseBody {
    let through = move |chunk: Bytes, last: bool| {
        let answer = handler.filter(id, chunk.clone(), last);
        async move { answer.await.map_or(chunk, Bytes::from) }
    };
    let frames = futures_util::stream::unfold(Some(inner), move |state| {
        let through = through.clone();
        async move {
            let mut inner = state?;
            loop {
                match inner.frame().await {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => {
                            let out = through(data, false).await;
                            if !out.is_empty() {
                                return Some((Ok(Frame::data(out)), Some(inner)));
                            }
                        }
                        Err(other) => return Some((Ok(other), Some(inner))),
                    },
                    Some(Err(e)) => return Some((Err(e), None)),
                    None => {
                        let rest = through(Bytes::new(), true).await;
                        return (!rest.is_empty()).then(|| (Ok(Frame::data(rest)), None));
                    }
                }
            }
        }
    });
    http_body_util::StreamBody::new(frames).boxed_unsync()
}

/// An error and its causes, `: `-separated (reqwest's own text is only the
/// outermost).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// A forwarded response's body on its way to the client, counted (and
/// copied, when the plugin asked) as it passes; the plugin hears how it
/// went when it ends.
struct Tapped<H: Handler> {
    inner: ResponseBody,
    exchange: Option<Exchange>,
    /// The length its head announced, if it did.
    length: Option<u64>,
    started: Instant,
    handler: Arc<H>,
}

impl<H: Handler> Tapped<H> {
    fn done(&mut self, error: Option<String>) {
        if let Some(mut exchange) = self.exchange.take() {
            exchange.total_ms = ms(self.started.elapsed());
            exchange.error = error;
            self.handler.forwarded(exchange);
        }
    }
}

impl<H: Handler> Drop for Tapped<H> {
    fn drop(&mut self) {
        self.done(Some("the client went away before the response was complete".into()));
    }
}

impl<H: Handler> Body for Tapped<H> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let elapsed = ms(self.started.elapsed());
                    if let Some(exchange) = self.exchange.as_mut() {
                        if exchange.bytes == 0 && !data.is_empty() {
                            exchange.first_byte_ms = elapsed;
                        }
                        exchange.bytes += data.len() as u64;
                        match exchange.body.as_mut() {
                            Some(copy) if copy.len() + data.len() <= MAX_TAP => copy.extend_from_slice(data),
                            Some(_) => exchange.body = None,
                            None => {}
                        }
                    }
                }
                // A body of known length ends with its last byte: hyper
                // polls no further, and the drop must not count as the
                // client leaving.
                let sent = self.exchange.as_ref().map(|e| e.bytes);
                if self.inner.is_end_stream() || (sent.is_some() && sent == self.length) {
                    self.done(None);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let why = format!("the upstream response broke off: {e}");
                self.done(Some(why));
            }
            Poll::Ready(None) => self.done(None),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
