//! Attaching the local terminal to a remote command on a PTY channel: raw
//! mode, keystrokes out (through the `~.` escape filter), output in, window
//! size changes forwarded, and the terminal restored on every way out.

use super::escape::{Escape, EscapeFilter, HELP};
use super::terminal::{self, RawMode};
use super::tmux::Size;
use crate::transport::{ChannelEvent, ChannelRequest, ConnectError, Link, Pty, RemoteStatus};
use std::io::Read;
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{SignalKind, signal};

/// How an attach ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachEnd {
    /// The remote command ended (a tmux detach exits 0).
    Exited(RemoteStatus),
    /// The user typed `~.`.
    EscapeDisconnect,
    /// This process got SIGTERM/SIGHUP (the value is the signal number).
    Signal(i32),
    /// The connection dropped.
    ConnectionLost,
}

/// Errors specific to attaching.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// No terminal to attach.
    #[error("attaching needs a terminal (stdin is not a TTY); use `sinc start` in scripts")]
    NotATerminal,
    /// The SSH side failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Local I/O failed.
    #[error("terminal error: {0}")]
    Io(#[from] std::io::Error),
}

/// Run `command` on a PTY and connect it to this terminal until it ends.
pub async fn attach(link: &Link, command: &str) -> Result<AttachEnd, AttachError> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(AttachError::NotATerminal);
    }
    let Size { cols, rows } = terminal::size();
    let term = std::env::var("TERM").ok().filter(|t| !t.is_empty()).unwrap_or_else(|| "xterm-256color".into());
    let pty = Pty { term, cols: u32::from(cols), rows: u32::from(rows) };
    let channel = link.open(&ChannelRequest { command: command.to_owned(), pty: Some(pty) }).await?;
    let (mut reader, writer) = channel.split();

    let mut winch = signal(SignalKind::window_change())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let raw = RawMode::enter()?;
    let mut keys = spawn_stdin_reader();
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let mut escapes = EscapeFilter::default();
    let mut status = RemoteStatus::Unknown;
    let mut stdin_open = true;

    let end = loop {
        tokio::select! {
            typed = keys.recv(), if stdin_open => match typed {
                Some(bytes) => {
                    let (send, escape) = escapes.feed(&bytes);
                    if !send.is_empty() && writer.data(&send[..]).await.is_err() {
                        break AttachEnd::ConnectionLost;
                    }
                    match escape {
                        Some(Escape::Disconnect) => break AttachEnd::EscapeDisconnect,
                        Some(Escape::Help) => {
                            let _ = stdout.write_all(HELP.as_bytes()).await;
                            let _ = stdout.flush().await;
                        }
                        None => {}
                    }
                }
                None => {
                    stdin_open = false;
                    let _ = writer.eof().await;
                }
            },
            event = reader.next() => match event {
                Some(ChannelEvent::Stdout(data)) => {
                    stdout.write_all(&data).await?;
                    stdout.flush().await?;
                }
                Some(ChannelEvent::Stderr(data)) => {
                    stderr.write_all(&data).await?;
                    stderr.flush().await?;
                }
                Some(ChannelEvent::Exit(s)) => status = s,
                Some(ChannelEvent::Lost) if status == RemoteStatus::Unknown => break AttachEnd::ConnectionLost,
                Some(ChannelEvent::Closed | ChannelEvent::Lost) | None => break AttachEnd::Exited(status.clone()),
            },
            _ = winch.recv() => {
                let Size { cols, rows } = terminal::size();
                let _ = writer.window_change(u32::from(cols), u32::from(rows)).await;
            }
            _ = sigterm.recv() => break AttachEnd::Signal(15),
            _ = sighup.recv() => break AttachEnd::Signal(1),
        }
    };
    drop(raw);
    Ok(end)
}

/// Read stdin on a thread (blocking reads cannot be cancelled; the thread ends
/// with the process) and hand the bytes over.
fn spawn_stdin_reader() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}
