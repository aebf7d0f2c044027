//! One remote command on an SSH channel, whichever way it travels: on a
//! connection of our own, or relayed through the project's keeper (see
//! `relay`). Callers see the same events and send the same input either way.

use super::connection::{Output, RemoteStatus, sig_name};
use super::relay;
use bytes::Bytes;
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;

/// Buffer between a channel and the stream made of it.
const STREAM_BUFFER: usize = 64 << 10;

/// A terminal for the remote command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pty {
    /// The `TERM` it emulates.
    pub term: String,
    /// Columns.
    pub cols: u32,
    /// Rows.
    pub rows: u32,
}

/// What to run on a new channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRequest {
    /// The command line, run by the remote user's shell.
    pub command: String,
    /// A terminal, or none (plain pipes).
    pub pty: Option<Pty>,
}

impl ChannelRequest {
    /// `command` on plain pipes.
    pub fn exec(command: &str) -> ChannelRequest {
        ChannelRequest { command: command.to_owned(), pty: None }
    }
}

/// Something the remote command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelEvent {
    /// Output on stdout (or the terminal).
    Stdout(Bytes),
    /// Output on stderr.
    Stderr(Bytes),
    /// How it ended.
    Exit(RemoteStatus),
    /// The remote side closed the channel: nothing more follows.
    Closed,
    /// The connection carrying the channel went away: nothing more follows.
    Lost,
}

/// The channel is gone; input can no longer be delivered.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the remote command's channel is closed")]
pub struct ChannelGone;

/// A channel running one remote command.
#[derive(Debug)]
pub struct RemoteChannel {
    reader: ChannelReader,
    writer: ChannelWriter,
}

/// The receiving half of a channel.
#[derive(Debug)]
pub struct ChannelReader {
    from: Reader,
    ended: bool,
}

#[derive(Debug)]
enum Reader {
    Ssh { half: ChannelReadHalf, dead: watch::Receiver<bool> },
    Relayed(relay::Events),
}

/// The sending half of a channel.
#[derive(Debug)]
pub struct ChannelWriter(Writer);

#[derive(Debug)]
enum Writer {
    Ssh { half: ChannelWriteHalf<Msg>, dead: watch::Receiver<bool> },
    Relayed(relay::Input),
}

/// Wait for `write`, unless the link dies first: russh waits for window space
/// forever, and a dead link never gives any.
async fn unless_dead<F: std::future::Future<Output = Result<(), russh::Error>>>(
    dead: &watch::Receiver<bool>,
    write: F,
) -> Result<(), ChannelGone> {
    let mut dead = dead.clone();
    tokio::select! {
        r = write => r.map_err(|_| ChannelGone),
        _ = dead.wait_for(|d| *d) => Err(ChannelGone),
    }
}

impl RemoteChannel {
    pub(crate) fn ssh(channel: russh::Channel<Msg>, dead: watch::Receiver<bool>) -> RemoteChannel {
        let (half, writer) = channel.split();
        RemoteChannel {
            reader: ChannelReader { from: Reader::Ssh { half, dead: dead.clone() }, ended: false },
            writer: ChannelWriter(Writer::Ssh { half: writer, dead }),
        }
    }

    pub(crate) fn relayed(events: relay::Events, input: relay::Input) -> RemoteChannel {
        RemoteChannel {
            reader: ChannelReader { from: Reader::Relayed(events), ended: false },
            writer: ChannelWriter(Writer::Relayed(input)),
        }
    }

    /// Its two halves, to read and write at the same time.
    pub fn split(self) -> (ChannelReader, ChannelWriter) {
        (self.reader, self.writer)
    }

    /// Copy `stdin` to the command (then EOF) and its output to
    /// `stdout`/`stderr` as it arrives, until it ends.
    pub async fn run_streaming<I, O, E>(self, stdin: Option<I>, mut stdout: O, mut stderr: E) -> RemoteStatus
    where
        I: AsyncRead + Unpin + Send + 'static,
        O: AsyncWrite + Unpin,
        E: AsyncWrite + Unpin,
    {
        let (mut reader, writer) = self.split();
        let feeder = tokio::spawn(async move {
            if let Some(input) = stdin {
                let _ = writer.copy_from(input).await;
            }
            let _ = writer.eof().await;
            // Keep the write half alive until the command is done: dropping it
            // would end a relayed channel.
            writer
        });
        let mut status = RemoteStatus::Unknown;
        while let Some(event) = reader.next().await {
            match event {
                ChannelEvent::Stdout(data) => {
                    if stdout.write_all(&data).await.is_err() {
                        break;
                    }
                    let _ = stdout.flush().await;
                }
                ChannelEvent::Stderr(data) => {
                    let _ = stderr.write_all(&data).await;
                    let _ = stderr.flush().await;
                }
                ChannelEvent::Exit(s) => status = s,
                ChannelEvent::Closed => break,
                ChannelEvent::Lost => {
                    if status == RemoteStatus::Unknown {
                        status = RemoteStatus::Lost;
                    }
                    break;
                }
            }
        }
        feeder.abort();
        status
    }
}

impl RemoteChannel {
    /// Give the command `input` on its stdin and capture its output.
    pub async fn output(self, input: &[u8]) -> Output {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let status = self.run_streaming(Some(std::io::Cursor::new(input.to_vec())), &mut stdout, &mut stderr).await;
        Output { status, stdout, stderr }
    }
}

impl RemoteChannel {
    /// The command's stdin and stdout as one byte stream (stderr is
    /// dropped); the channel lives as long as the stream. For protocols that
    /// run over a command's pipes.
    pub fn into_stream(self) -> DuplexStream {
        let (ours, theirs) = tokio::io::duplex(STREAM_BUFFER);
        let (from_user, mut to_user) = tokio::io::split(ours);
        let (mut reader, writer) = self.split();
        tokio::spawn(async move {
            let input = async {
                let _ = writer.copy_from(from_user).await;
                let _ = writer.eof().await;
                // The write half stays open until the output ends.
                std::future::pending::<()>().await
            };
            let output = async {
                while let Some(event) = reader.next().await {
                    if let ChannelEvent::Stdout(data) = event
                        && to_user.write_all(&data).await.is_err()
                    {
                        break;
                    }
                }
                let _ = to_user.shutdown().await;
            };
            // The channel ends when its output does.
            tokio::select! {
                () = input => {}
                () = output => {}
            }
        });
        theirs
    }
}

impl ChannelReader {
    /// The next event; `None` after `Closed` or `Lost`.
    pub async fn next(&mut self) -> Option<ChannelEvent> {
        if self.ended {
            return None;
        }
        let event = match &mut self.from {
            Reader::Ssh { half, dead } => loop {
                let msg = tokio::select! {
                    msg = half.wait() => msg,
                    // The watchdog gave up on the link: nothing more will come.
                    _ = dead.wait_for(|d| *d) => None,
                };
                let event = match msg {
                    Some(ChannelMsg::Data { data }) => ChannelEvent::Stdout(data),
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => ChannelEvent::Stderr(data),
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        ChannelEvent::Exit(RemoteStatus::Exited(exit_status))
                    }
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        ChannelEvent::Exit(RemoteStatus::Signaled(sig_name(&signal_name)))
                    }
                    // russh forwards the server's close before it forgets the
                    // channel; an end without one means the connection went.
                    Some(ChannelMsg::Close) => ChannelEvent::Closed,
                    None => ChannelEvent::Lost,
                    Some(_) => continue,
                };
                break event;
            },
            Reader::Relayed(events) => events.next().await,
        };
        self.ended = matches!(event, ChannelEvent::Closed | ChannelEvent::Lost);
        Some(event)
    }
}

impl ChannelWriter {
    /// Send bytes to the command's stdin.
    pub async fn data(&self, bytes: &[u8]) -> Result<(), ChannelGone> {
        match &self.0 {
            Writer::Ssh { half, dead } => unless_dead(dead, half.data(bytes)).await,
            Writer::Relayed(w) => w.data(Bytes::copy_from_slice(bytes)).await,
        }
    }

    /// Copy everything `input` yields to the command's stdin.
    pub async fn copy_from<R: AsyncRead + Unpin>(&self, input: R) -> Result<(), ChannelGone> {
        match &self.0 {
            Writer::Ssh { half, dead } => unless_dead(dead, half.data(input)).await,
            Writer::Relayed(w) => w.copy_from(input).await,
        }
    }

    /// Close the command's stdin.
    pub async fn eof(&self) -> Result<(), ChannelGone> {
        match &self.0 {
            Writer::Ssh { half, dead } => unless_dead(dead, half.eof()).await,
            Writer::Relayed(w) => w.eof().await,
        }
    }

    /// Tell the command its terminal changed size.
    pub async fn window_change(&self, cols: u32, rows: u32) -> Result<(), ChannelGone> {
        match &self.0 {
            Writer::Ssh { half, dead } => unless_dead(dead, half.window_change(cols, rows, 0, 0)).await,
            Writer::Relayed(w) => w.window_change(cols, rows).await,
        }
    }

    /// Close the channel (the remote side hangs up the command's terminal).
    pub async fn close(&self) -> Result<(), ChannelGone> {
        match &self.0 {
            Writer::Ssh { half, dead } => unless_dead(dead, half.close()).await,
            Writer::Relayed(w) => w.close().await,
        }
    }
}
