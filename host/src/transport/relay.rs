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
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Mutex, watch};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// Largest frame either side accepts.
const MAX_FRAME: usize = 1 << 20;
/// Stdin is relayed in pieces of this size.
const CHUNK: usize = 32 << 10;
/// How long the keeper waits for a client's request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Why a channel could not be opened through the keeper.
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
    let stream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Err(RelayError::Absent);
        }
        Err(e) => return Err(e.into()),
    };
    let (mut down, mut up) = framed(stream);
    send(&mut up, &Up::Open { target: target.to_owned(), request: request.clone() }).await?;
    match tokio::time::timeout(timeout, recv(&mut down)).await {
        Err(_) => Err(RelayError::Timeout),
        Ok(Some(Down::Opened)) => {
            Ok(RemoteChannel::relayed(Events { down, ended: false }, Input { up: Mutex::new(up) }))
        }
        Ok(Some(Down::Refused(why))) => Err(RelayError::Refused(why)),
        Ok(_) => Err(RelayError::Protocol),
    }
}

/// The events of a relayed channel.
#[derive(Debug)]
pub struct Events {
    down: Reader,
    ended: bool,
}

impl Events {
    /// The next event; `None` once the channel ended. A keeper that goes away
    /// (or talks nonsense) ends it as `Lost`.
    pub async fn next(&mut self) -> Option<ChannelEvent> {
        if self.ended {
            return None;
        }
        let event = match recv(&mut self.down).await {
            Some(Down::Event(event)) => event,
            _ => ChannelEvent::Lost,
        };
        self.ended = matches!(event, ChannelEvent::Closed | ChannelEvent::Lost);
        Some(event)
    }
}

/// The input side of a relayed channel.
#[derive(Debug)]
pub struct Input {
    up: Mutex<Writer>,
}

impl Input {
    async fn send(&self, frame: Up) -> Result<(), ChannelGone> {
        send(&mut *self.up.lock().await, &frame).await.map_err(|_| ChannelGone)
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
/// holds at the time of each request.
pub async fn serve(listener: UnixListener, shared: SharedConnection) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(relay(stream, shared.clone()));
            }
            Err(e) => {
                tracing::warn!("relay socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Open the requested channel and relay it until it ends.
async fn relay(stream: UnixStream, shared: SharedConnection) {
    let (mut up, mut down) = framed(stream);
    let Ok(Some(Up::Open { target, request })) = tokio::time::timeout(REQUEST_TIMEOUT, recv(&mut up)).await else {
        return;
    };
    let current = shared.borrow().clone();
    let opened = match &current {
        None => Err("the keeper is not connected to the VPS right now".to_owned()),
        Some(conn) if conn.target().describe() != target => {
            Err(format!("the keeper is connected to {}, not {target}", conn.target().describe()))
        }
        Some(conn) => conn.open(&request).await.map_err(|e| e.to_string()),
    };
    let channel = match opened {
        Ok(channel) => channel,
        Err(why) => {
            let _ = send(&mut down, &Down::Refused(why)).await;
            return;
        }
    };
    if send(&mut down, &Down::Opened).await.is_err() {
        return;
    }
    tracing::debug!("relaying `{}`", request.command);
    let (mut events, input) = channel.split();
    let inbound = async {
        while let Some(frame) = recv::<Up>(&mut up).await {
            let delivered = match frame {
                Up::Data(bytes) => input.data(&bytes).await,
                Up::Eof => input.eof().await,
                Up::WindowChange { cols, rows } => input.window_change(cols, rows).await,
                Up::Close | Up::Open { .. } => break,
            };
            if delivered.is_err() {
                return;
            }
        }
        // The client hung up: the command's channel goes with it.
        let _ = input.close().await;
    };
    let outbound = async {
        while let Some(event) = events.next().await {
            if send(&mut down, &Down::Event(event)).await.is_err() {
                break;
            }
        }
    };
    // Either end finishing ends the relay: a closed channel has nothing more
    // to say, and a client that hung up has had its channel closed.
    tokio::select! {
        () = inbound => {}
        () = outbound => {}
    }
    // The connection stays up while a relayed channel uses it.
    drop(current);
}
