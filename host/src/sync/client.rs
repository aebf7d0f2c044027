//! The keeper's side of the protocol: requests to the VPS daemon, pipelined
//! on one stream, with responses and content routed back by request id and
//! the daemon's change notices delivered separately.

use super::transfer;
use super::wire::{self, Chunk, Hello, Message, Notice, Request, Response, WireError, WireReader, WireWriter};
use sinc_sync_core::{Entry, RelPath};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};

enum Outgoing {
    One(Message),
    /// A request followed by its content; written contiguously.
    Stream {
        first: Message,
        id: u64,
        chunks: mpsc::Receiver<Chunk>,
    },
}

struct Pending {
    response: oneshot::Sender<Response>,
    data: Option<mpsc::Sender<Chunk>>,
}

/// Requests waiting for their answer; `None` once the connection is gone (so
/// a request made afterwards fails at once instead of waiting forever).
type PendingMap = Arc<Mutex<Option<HashMap<u64, Pending>>>>;

/// A registered request: its id, where its response arrives, and where its
/// content arrives (for downloads).
type Registered = (u64, oneshot::Receiver<Response>, Option<mpsc::Receiver<Chunk>>);

/// A connection to the daemon.
pub struct RemoteClient {
    // Unbounded so that queueing a request never waits for the connection:
    // a reader of the daemon's content must never be blocked behind a write
    // (the daemon may be waiting for us to read before it reads again).
    out: mpsc::UnboundedSender<Outgoing>,
    pending: PendingMap,
    next_id: AtomicU64,
    closed: tokio::sync::watch::Receiver<Option<String>>,
}

impl std::fmt::Debug for RemoteClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteClient").finish_non_exhaustive()
    }
}

/// The content stream of a read, and its final response.
#[derive(Debug)]
pub struct Download {
    /// Content chunks, ending with `End` or `Abort`.
    pub chunks: mpsc::Receiver<Chunk>,
    /// The response that follows the content.
    pub response: oneshot::Receiver<Response>,
}

/// Write `first` and everything queued behind it, flushing only when
/// nothing more is ready (many small messages share one write, and one SSH
/// packet, instead of one each).
async fn write_queued<W: AsyncWrite + Unpin>(
    writer: &mut WireWriter<W>,
    first: Outgoing,
    queue: &mut mpsc::UnboundedReceiver<Outgoing>,
) -> Result<(), WireError> {
    let mut next = Some(first);
    while let Some(item) = next.take() {
        match item {
            Outgoing::One(m) => writer.feed(&m).await?,
            Outgoing::Stream { first, id, mut chunks } => {
                writer.feed(&first).await?;
                loop {
                    let chunk = match chunks.try_recv() {
                        Ok(chunk) => Some(chunk),
                        Err(mpsc::error::TryRecvError::Empty) => {
                            writer.flush().await?;
                            chunks.recv().await
                        }
                        Err(mpsc::error::TryRecvError::Disconnected) => None,
                    };
                    let chunk = chunk.unwrap_or_else(|| Chunk::Abort { reason: "the sender stopped".into() });
                    let last = matches!(chunk, Chunk::End | Chunk::Abort { .. });
                    writer.feed(&Message::Data { id, chunk }).await?;
                    if last {
                        break;
                    }
                }
            }
        }
        next = queue.try_recv().ok();
    }
    writer.flush().await
}

impl RemoteClient {
    /// Start the protocol over `reader`/`writer`; returns the client, the
    /// daemon's hello, any noise printed before the protocol started, and the
    /// stream of notices. The connection ends when `link_dead` resolves (the
    /// transport's watchdog gave up), even if the streams never do.
    pub async fn connect<R, W, D>(
        mut reader: R,
        mut writer: W,
        build: &str,
        link_dead: D,
    ) -> Result<(RemoteClient, Hello, Vec<u8>, mpsc::UnboundedReceiver<Notice>), WireError>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
        D: std::future::Future<Output = ()> + Send + 'static,
    {
        wire::write_preamble(&mut writer).await?;
        let noise = wire::skip_to_preamble(&mut reader).await?;
        let mut reader = WireReader::new(reader);
        let mut writer = WireWriter::new(writer);
        let hello = wire::handshake(&mut reader, &mut writer, build).await?;
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outgoing>();
        let (notice_tx, notice_rx) = mpsc::unbounded_channel();
        let (closed_tx, closed_rx) = tokio::sync::watch::channel(None);
        let closed_tx = Arc::new(closed_tx);
        let pending: PendingMap = Arc::new(Mutex::new(Some(HashMap::new())));

        let closed_w = closed_tx.clone();
        // Once the connection is known dead (the reader saw it end), the
        // writer stops too, even when stuck on a channel that will never
        // take more bytes; dropping what it holds frees the file readers.
        let mut dead = closed_rx.clone();
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    item = out_rx.recv() => item,
                    _ = dead.wait_for(Option::is_some) => None,
                };
                let Some(item) = item else { break };
                let result = tokio::select! {
                    r = write_queued(&mut writer, item, &mut out_rx) => r,
                    _ = dead.wait_for(Option::is_some) => break,
                };
                if let Err(e) = result {
                    let _ = closed_w.send(Some(e.to_string()));
                    break;
                }
            }
        });

        let routes = pending.clone();
        tokio::spawn(async move {
            tokio::pin!(link_dead);
            let reason = loop {
                let message = tokio::select! {
                    m = reader.next() => m,
                    () = &mut link_dead => break "the link to the VPS went silent".to_owned(),
                };
                match message {
                    Ok(Some(Message::Response { id, response })) => {
                        let waiting = routes.lock().ok().and_then(|mut m| m.as_mut().and_then(|m| m.remove(&id)));
                        if let Some(p) = waiting {
                            let _ = p.response.send(response);
                        }
                    }
                    Ok(Some(Message::Data { id, chunk })) => {
                        let tx = routes
                            .lock()
                            .ok()
                            .and_then(|m| m.as_ref().and_then(|m| m.get(&id)).and_then(|p| p.data.clone()));
                        if let Some(tx) = tx {
                            let _ = tx.send(chunk).await;
                        }
                    }
                    Ok(Some(Message::Notice(n))) => {
                        let _ = notice_tx.send(n);
                    }
                    Ok(Some(other)) => break format!("unexpected message {other:?}").chars().take(120).collect(),
                    Ok(None) => break "the daemon closed the connection".to_owned(),
                    Err(e) => break e.to_string(),
                }
            };
            if let Ok(mut m) = routes.lock() {
                *m = None;
            }
            let _ = closed_tx.send(Some(reason));
        });

        let client = RemoteClient { out: out_tx, pending, next_id: AtomicU64::new(1), closed: closed_rx };
        Ok((client, hello, noise, notice_rx))
    }

    fn register(&self, with_data: bool) -> Result<Registered, WireError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let (data_tx, data_rx) = if with_data {
            let (a, b) = mpsc::channel(8);
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        match self.pending.lock().ok().as_deref_mut() {
            Some(Some(m)) => {
                m.insert(id, Pending { response: tx, data: data_tx });
                Ok((id, rx, data_rx))
            }
            _ => Err(self.gone()),
        }
    }

    fn gone(&self) -> WireError {
        match self.closed.borrow().clone() {
            Some(reason) => WireError::Unexpected(reason),
            None => WireError::Closed,
        }
    }

    /// Why the connection ended, once it has.
    pub fn closed_reason(&self) -> Option<String> {
        self.closed.borrow().clone()
    }

    /// Wait until the connection ends; returns why.
    pub async fn wait_closed(&self) -> String {
        let mut rx = self.closed.clone();
        loop {
            if let Some(r) = rx.borrow().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                return "the connection ended".into();
            }
        }
    }

    async fn await_response(&self, rx: oneshot::Receiver<Response>) -> Result<Response, WireError> {
        rx.await.map_err(|_| self.gone())
    }

    /// Send a request and wait for its response.
    pub async fn call(&self, request: Request) -> Result<Response, WireError> {
        let (id, rx, _) = self.register(false)?;
        self.out.send(Outgoing::One(Message::Request { id, request })).map_err(|_| self.gone())?;
        self.await_response(rx).await
    }

    /// Every entry of the remote tree.
    pub async fn snapshot(&self) -> Result<Vec<(RelPath, Entry)>, WireError> {
        let mut d = self.download(Request::Snapshot).await?;
        let mut all = Vec::new();
        while let Some(chunk) = d.chunks.recv().await {
            if matches!(chunk, Chunk::End) {
                break;
            }
            let bytes = transfer::unpack(&chunk).map_err(|e| WireError::Malformed(e.to_string()))?;
            let batch: Vec<(RelPath, Entry)> =
                postcard::from_bytes(&bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
            all.extend(batch);
        }
        match self.await_response(d.response).await? {
            Response::SnapshotDone { count } if count == all.len() as u64 => Ok(all),
            other => Err(WireError::Unexpected(format!("snapshot ended with {other:?} after {} entries", all.len()))),
        }
    }

    /// Send a request answered by content chunks, then a response.
    pub async fn download(&self, request: Request) -> Result<Download, WireError> {
        let (id, response, chunks) = self.register(true)?;
        self.out.send(Outgoing::One(Message::Request { id, request })).map_err(|_| self.gone())?;
        Ok(Download { chunks: chunks.unwrap_or_else(|| mpsc::channel(1).1), response })
    }

    /// Send a request followed by the content from `chunks` (ending with
    /// `End` or `Abort`); returns a receiver for its response.
    pub async fn upload(
        &self,
        request: Request,
        chunks: mpsc::Receiver<Chunk>,
    ) -> Result<oneshot::Receiver<Response>, WireError> {
        let (id, rx, _) = self.register(false)?;
        self.out
            .send(Outgoing::Stream { first: Message::Request { id, request }, id, chunks })
            .map_err(|_| self.gone())?;
        Ok(rx)
    }

    /// Send a request without waiting; returns a receiver for its response.
    pub async fn send(&self, request: Request) -> Result<oneshot::Receiver<Response>, WireError> {
        let (id, rx, _) = self.register(false)?;
        self.out.send(Outgoing::One(Message::Request { id, request })).map_err(|_| self.gone())?;
        Ok(rx)
    }
}
