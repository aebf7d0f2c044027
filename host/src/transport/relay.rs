//! Channels relayed through the keeper, like OpenSSH's ControlMaster: the
//! keeper already holds an authenticated connection to the VPS, so a
//! foreground command asks it — over a Unix socket only the user can open —
//! to open a channel there, and the two pass the channel's traffic back and
//! forth. This saves the TCP, key exchange and authentication round trips of a
//! connection of its own.
//!
//! Frames are length-prefixed postcard values. The client sends `Up::Open`
//! first and waits for `Down::Opened` (or `Refused`); then input flows up and
//! events flow down until the channel ends. A client that goes away closes
//! its channel.

use super::channel::{ChannelEvent, ChannelGone, ChannelRequest, RemoteChannel};
use super::connection::Connection;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Mutex, mpsc, watch};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// Largest frame either side accepts.
const MAX_FRAME: usize = 1 << 20;
/// Stdin is relayed in pieces of this size.
const CHUNK: usize = 32 << 10;
/// How long the keeper waits for a client's request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Output the keeper holds for one relayed channel whose client reads
/// slower than the command writes.
const MAX_BACKLOG: usize = 64 << 20;

/// Client to keeper.
#[derive(Debug, Serialize, Deserialize)]
enum Up {
    /// Open a channel on the connection to `target` (`user@host:port`).
    Open { target: String, request: ChannelRequest },
    /// Bytes for the command's stdin.
    Data(Bytes),
    /// End of stdin.
    Eof,
    /// The terminal's new size.
    WindowChange { cols: u32, rows: u32 },
    /// Close the channel.
    Close,
}

/// Keeper to client.
#[derive(Debug, Serialize, Deserialize)]
enum Down {
    /// The channel is open.
    Opened,
    /// It could not be opened, and why.
    Refused(String),
    /// Something the command did.
    Event(ChannelEvent),
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec()
}

type Reader = FramedRead<OwnedReadHalf, LengthDelimitedCodec>;
type Writer = FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>;

fn framed(stream: UnixStream) -> (Reader, Writer) {
    let (r, w) = stream.into_split();
    (FramedRead::new(r, codec()), FramedWrite::new(w, codec()))
}

async fn send<T: Serialize>(w: &mut Writer, value: &T) -> std::io::Result<()> {
    let bytes = postcard::to_stdvec(value).map_err(std::io::Error::other)?;
    w.send(Bytes::from(bytes)).await
}

/// The next frame; `None` at the end of the stream, on an I/O error or on a
/// frame that does not decode (the peer is then not to be trusted further).
async fn recv<T: for<'de> Deserialize<'de>>(r: &mut Reader) -> Option<T> {
    let frame = r.next().await?.ok()?;
    postcard::from_bytes(&frame).ok()
}

/// Why a channel could not be opened through the keeper. After `Absent` and
/// `Refused` nothing ran on the VPS; after `Gone`, the keeper and its
/// connection are gone.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// No keeper listens on the socket.
    #[error("no keeper is running for this project")]
    Absent,
    /// The keeper could not open the channel.
    #[error("the keeper cannot open a channel: {0}")]
    Refused(String),
    /// The keeper did not answer in time.
    #[error("the keeper did not answer in time")]
    Timeout,
    /// The keeper hung up without answering: it is gone, and with it its
    /// connection (a command it had just started went with that connection,
    /// unless it runs without a terminal and ignores its closed pipes).
    #[error("the keeper went away without answering")]
    Gone,
    /// The exchange failed.
    #[error("talking to the keeper failed: {0}")]
    Io(#[from] std::io::Error),
    /// The answer made no sense.
    #[error("the keeper's answer was not understood")]
    Protocol,
}

/// Ask the keeper listening on `socket` for a channel on its connection to
/// `target`, waiting at most `timeout` for it to open.
pub async fn open(
    socket: &Path,
    target: &str,
    request: &ChannelRequest,
    timeout: Duration,
) -> Result<RemoteChannel, RelayError> {
    // Nothing was asked yet: whatever keeps us from the keeper means there
    // is none to use.
    let Ok(stream) = UnixStream::connect(socket).await else {
        return Err(RelayError::Absent);
    };
    let (mut from_keeper, mut to_keeper) = framed(stream);
    // A keeper that cannot take the request never saw it.
    send(&mut to_keeper, &Up::Open { target: target.to_owned(), request: request.clone() })
        .await
        .map_err(|_| RelayError::Gone)?;
    match tokio::time::timeout(timeout, recv(&mut from_keeper)).await {
        Err(_) => Err(RelayError::Timeout),
        Ok(Some(Down::Opened)) => {
            Ok(RemoteChannel::relayed(Events { from_keeper }, Input { to_keeper: Mutex::new(to_keeper) }))
        }
        Ok(Some(Down::Refused(why))) => Err(RelayError::Refused(why)),
        Ok(Some(Down::Event(_))) => Err(RelayError::Protocol),
        Ok(None) => Err(RelayError::Gone),
    }
}

/// The events of a relayed channel.
#[derive(Debug)]
pub struct Events {
    from_keeper: Reader,
}

impl Events {
    /// The next event. A keeper that goes away (or talks nonsense) ends the
    /// channel as `Lost`.
    pub async fn next(&mut self) -> ChannelEvent {
        match recv(&mut self.from_keeper).await {
            Some(Down::Event(event)) => event,
            _ => ChannelEvent::Lost,
        }
    }
}

/// The input side of a relayed channel.
#[derive(Debug)]
pub struct Input {
    to_keeper: Mutex<Writer>,
}

impl Input {
    async fn send(&self, frame: Up) -> Result<(), ChannelGone> {
        send(&mut *self.to_keeper.lock().await, &frame).await.map_err(|_| ChannelGone)
    }

    pub(crate) async fn data(&self, bytes: Bytes) -> Result<(), ChannelGone> {
        self.send(Up::Data(bytes)).await
    }

    pub(crate) async fn copy_from<R: AsyncRead + Unpin>(&self, mut input: R) -> Result<(), ChannelGone> {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match input.read(&mut buf).await {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => self.data(Bytes::copy_from_slice(&buf[..n])).await?,
            }
        }
    }

    pub(crate) async fn eof(&self) -> Result<(), ChannelGone> {
        self.send(Up::Eof).await
    }

    pub(crate) async fn window_change(&self, cols: u32, rows: u32) -> Result<(), ChannelGone> {
        self.send(Up::WindowChange { cols, rows }).await
    }

    pub(crate) async fn close(&self) -> Result<(), ChannelGone> {
        self.send(Up::Close).await
    }
}

/// The keeper's current connection, if it has one.
pub type SharedConnection = watch::Receiver<Option<Arc<Connection>>>;

/// Serve relay requests on `listener` with whatever connection `shared`
/// holds at the time of each request. Only processes of this user may ask.
pub async fn serve(listener: UnixListener, shared: SharedConnection) {
    let me = nix::unistd::getuid().as_raw();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => match stream.peer_cred() {
                Ok(cred) if cred.uid() == me => {
                    tokio::spawn(relay(stream, shared.clone()));
                }
                Ok(cred) => tracing::warn!("relay socket: refused a process of uid {}", cred.uid()),
                Err(e) => tracing::warn!("relay socket: {e}"),
            },
            Err(e) => {
                tracing::warn!("relay socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Open the requested channel, or say why not.
async fn open_for(
    shared: &SharedConnection,
    target: &str,
    request: &ChannelRequest,
) -> Result<(Arc<Connection>, RemoteChannel), String> {
    let current = shared.borrow().clone();
    let Some(conn) = current.filter(|c| !c.is_dead()) else {
        return Err("the keeper is not connected to the VPS right now".to_owned());
    };
    if conn.target().describe() != target {
        return Err(format!("the keeper is connected to {}, not {target}", conn.target().describe()));
    }
    match tokio::time::timeout(conn.target().connect_timeout, conn.open(request)).await {
        Ok(Ok(channel)) => Ok((conn, channel)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("opening a channel timed out".to_owned()),
    }
}

/// Open the requested channel and relay it until it ends.
async fn relay(stream: UnixStream, shared: SharedConnection) {
    let (mut from_client, mut to_client) = framed(stream);
    let Ok(Some(Up::Open { target, request })) = tokio::time::timeout(REQUEST_TIMEOUT, recv(&mut from_client)).await
    else {
        return;
    };
    let (conn, channel) = match open_for(&shared, &target, &request).await {
        Ok(opened) => opened,
        Err(why) => {
            let _ = send(&mut to_client, &Down::Refused(why)).await;
            return;
        }
    };
    let (events, input) = channel.split();
    if send(&mut to_client, &Down::Opened).await.is_ok() {
        tracing::debug!("relaying a channel");
        // russh hands a channel's data over through a short queue and waits
        // when it is full, which would stall the whole connection (the sync
        // and every other relayed terminal) behind one client that does not
        // read. So the channel is drained at once into a queue of our own,
        // bounded in bytes; a client that falls further behind loses it.
        let (queue, mut queued) = mpsc::unbounded_channel::<ChannelEvent>();
        let backlog = AtomicUsize::new(0);
        let drain = async {
            // Owned here: once dropped, russh discards what else arrives for
            // the channel instead of waiting, and the forwarder learns that
            // nothing more is coming.
            let (mut events, queue) = (events, queue);
            while let Some(event) = events.next().await {
                let size = event_size(&event);
                if backlog.fetch_add(size, Ordering::Relaxed) + size > MAX_BACKLOG {
                    tracing::warn!("a relayed channel's client fell {MAX_BACKLOG} bytes behind: closing it");
                    let _ = queue.send(ChannelEvent::Lost);
                    let _ = input.close().await;
                    break;
                }
                if queue.send(event).is_err() {
                    break;
                }
            }
        };
        let forward = async {
            while let Some(event) = queued.recv().await {
                backlog.fetch_sub(event_size(&event), Ordering::Relaxed);
                if send(&mut to_client, &Down::Event(event)).await.is_err() {
                    break;
                }
            }
        };
        let inbound = async {
            while let Some(frame) = recv::<Up>(&mut from_client).await {
                let delivered = match frame {
                    Up::Data(bytes) => input.data(&bytes).await,
                    Up::Eof => input.eof().await,
                    Up::WindowChange { cols, rows } => input.window_change(cols, rows).await,
                    Up::Close => input.close().await,
                    Up::Open { .. } => break,
                };
                if delivered.is_err() {
                    break;
                }
            }
        };
        // Done when everything the channel said has been passed on (or the
        // client stopped taking it), or when the client hung up.
        tokio::select! {
            ((), ()) = async { tokio::join!(drain, forward) } => {}
            () = inbound => {}
        }
    }
    // Whatever ended the relay, the command's channel ends with it.
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, input.close()).await;
    // The connection stays up while a relayed channel uses it.
    drop(conn);
}

fn event_size(event: &ChannelEvent) -> usize {
    match event {
        ChannelEvent::Stdout(b) | ChannelEvent::Stderr(b) => b.len(),
        _ => 0,
    }
}
