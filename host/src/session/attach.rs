//! Attaching the local terminal to a remote command on a PTY channel: raw
//! mode, keystrokes out (through the `~.` escape filter), output in, window
//! size changes forwarded, and the terminal restored on every way out.

use super::escape::{Escape, EscapeFilter, HELP};
use super::terminal::{self, RawMode};
use super::tmux::{Size, status};
use crate::transport::{ChannelEvent, ChannelRequest, ConnectError, Link, Pty, RemoteChannel, RemoteStatus};
use std::io::Read;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{Signal, SignalKind, signal};

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
    /// The link came back, but the session had ended meanwhile.
    SessionEnded,
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

/// The terminal's side of an attach, kept across reconnections.
struct Terminal {
    keys: tokio::sync::mpsc::Receiver<Vec<u8>>,
    stdin_open: bool,
    escapes: EscapeFilter,
    stdout: tokio::io::Stdout,
    stderr: tokio::io::Stderr,
    winch: Signal,
    sigterm: Signal,
    sighup: Signal,
}

/// How one channel's turn ended.
enum Turn {
    /// The attach is over.
    Ended(AttachEnd),
    /// The link dropped; this many typed bytes were sent after the server was
    /// last heard from, so they may not have arrived.
    Lost { unconfirmed: usize },
}

/// How a reconnection ended.
enum Resumed {
    /// A new channel, and the link that carries it.
    Channel(Box<(Link, RemoteChannel)>),
    /// The attach is over.
    Ended(AttachEnd),
}

fn pty_request(command: &str) -> ChannelRequest {
    let Size { cols, rows } = terminal::size();
    let term = std::env::var("TERM").ok().filter(|t| !t.is_empty()).unwrap_or_else(|| "xterm-256color".into());
    ChannelRequest {
        command: command.to_owned(),
        pty: Some(Pty { term, cols: u32::from(cols), rows: u32::from(rows) }),
    }
}

/// How to get back to the session after the link dropped.
#[derive(Clone, Copy)]
pub struct Reattach<'a> {
    /// The command that attaches again (the session exists by then).
    pub command: &'a str,
    /// Give up after this long without a link (`None`: never).
    pub give_up_after: Option<Duration>,
    /// Told of each new link once the terminal is back on it.
    pub on_link: Option<&'a (dyn Fn(&Link) + Sync)>,
}

impl std::fmt::Debug for Reattach<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reattach")
            .field("command", &self.command)
            .field("give_up_after", &self.give_up_after)
            .field("on_link", &self.on_link.is_some())
            .finish()
    }
}

/// Run `command` on a PTY and connect it to this terminal until it ends. When
/// the link drops and `reattach` is given, reconnect (showing a status line)
/// and run its command instead, until that works, the user types `~.`, or
/// its time is up.
pub async fn attach(link: &Link, command: &str, reattach: Option<Reattach<'_>>) -> Result<AttachEnd, AttachError> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(AttachError::NotATerminal);
    }
    let mut channel = link.open(&pty_request(command)).await?;
    let mut term = Terminal {
        keys: spawn_stdin_reader(),
        stdin_open: true,
        escapes: EscapeFilter::default(),
        stdout: tokio::io::stdout(),
        stderr: tokio::io::stderr(),
        winch: signal(SignalKind::window_change())?,
        sigterm: signal(SignalKind::terminate())?,
        sighup: signal(SignalKind::hangup())?,
    };
    let raw = RawMode::enter()?;
    // A reconnection's link must live as long as its channel.
    let mut _current: Option<Link> = None;
    let ended = async {
        loop {
            match run_channel(channel, &mut term).await? {
                // After a reconnection, "no such session" means it ended
                // while the link was down.
                Turn::Ended(AttachEnd::Exited(RemoteStatus::Exited(status::NO_SESSION))) if _current.is_some() => {
                    return Ok(AttachEnd::SessionEnded);
                }
                Turn::Ended(end) => return Ok(end),
                Turn::Lost { unconfirmed } => {
                    let Some(again) = reattach else {
                        return Ok(AttachEnd::ConnectionLost);
                    };
                    match reconnect(link, again, &mut term, unconfirmed).await? {
                        Resumed::Channel(next) => {
                            let (next_link, next_channel) = *next;
                            if let Some(tell) = again.on_link {
                                tell(&next_link);
                            }
                            _current = Some(next_link);
                            channel = next_channel;
                        }
                        Resumed::Ended(end) => return Ok(end),
                    }
                }
            }
        }
    }
    .await;
    if !matches!(ended, Ok(AttachEnd::Exited(_))) {
        let mut stdout = tokio::io::stdout();
        let _ = stdout.write_all(RESET_MODES).await;
        let _ = stdout.flush().await;
    }
    drop(raw);
    ended
}

/// Connect the terminal to one channel until it ends or its link drops.
async fn run_channel(channel: RemoteChannel, term: &mut Terminal) -> Result<Turn, AttachError> {
    let (mut reader, writer) = channel.split();
    let mut status = RemoteStatus::Unknown;
    let mut unconfirmed = 0usize;
    Ok(loop {
        tokio::select! {
            typed = term.keys.recv(), if term.stdin_open => match typed {
                Some(bytes) => {
                    let (send, escape) = term.escapes.feed(&bytes);
                    if !send.is_empty() {
                        if writer.data(&send).await.is_err() {
                            break Turn::Lost { unconfirmed: unconfirmed + send.len() };
                        }
                        unconfirmed += send.len();
                    }
                    match escape {
                        Some(Escape::Disconnect) => break Turn::Ended(AttachEnd::EscapeDisconnect),
                        Some(Escape::Help) => {
                            let _ = term.stdout.write_all(HELP.as_bytes()).await;
                            let _ = term.stdout.flush().await;
                        }
                        None => {}
                    }
                }
                None => {
                    term.stdin_open = false;
                    let _ = writer.eof().await;
                }
            },
            event = reader.next() => match event {
                Some(ChannelEvent::Stdout(data)) => {
                    unconfirmed = 0;
                    term.stdout.write_all(&data).await?;
                    term.stdout.flush().await?;
                }
                Some(ChannelEvent::Stderr(data)) => {
                    unconfirmed = 0;
                    term.stderr.write_all(&data).await?;
                    term.stderr.flush().await?;
                }
                Some(ChannelEvent::Exit(s)) => status = s,
                Some(ChannelEvent::Lost) if status == RemoteStatus::Unknown => break Turn::Lost { unconfirmed },
                Some(ChannelEvent::Closed | ChannelEvent::Lost) | None => break Turn::Ended(AttachEnd::Exited(status)),
            },
            _ = term.winch.recv() => {
                let Size { cols, rows } = terminal::size();
                let _ = writer.window_change(u32::from(cols), u32::from(rows)).await;
            }
            _ = term.sigterm.recv() => break Turn::Ended(AttachEnd::Signal(15)),
            _ = term.sighup.recv() => break Turn::Ended(AttachEnd::Signal(1)),
        }
    })
}

/// Reconnect after the link dropped: a fresh attempt at least every
/// [`RETRY`], a status line updated each second, keys typed meanwhile
/// discarded (and counted on the status line) except `~.`, which gives up.
async fn reconnect(
    link: &Link,
    again: Reattach<'_>,
    term: &mut Terminal,
    unconfirmed: usize,
) -> Result<Resumed, AttachError> {
    let command = again.command;
    let lost_at = Instant::now();
    let give_up = async {
        match again.give_up_after {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(give_up);
    let mut discarded = 0usize;
    let mut last_error = String::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let attempt = |link: Link, not_before: Instant| async move {
        tokio::time::sleep_until(not_before.into()).await;
        let started = Instant::now();
        let result = link.open(&pty_request(command)).await;
        (started, link, result)
    };
    let mut trying = Box::pin(attempt(link.fresh(), Instant::now()));
    loop {
        tokio::select! {
            typed = term.keys.recv(), if term.stdin_open => match typed {
                Some(bytes) => {
                    let (dropped, escape) = term.escapes.feed(&bytes);
                    discarded += dropped.len();
                    if escape == Some(Escape::Disconnect) {
                        let _ = term.stdout.write_all(CLEAR_LINE).await;
                        return Ok(Resumed::Ended(AttachEnd::EscapeDisconnect));
                    }
                    show_status(term, lost_at, unconfirmed, discarded, &last_error).await;
                }
                None => term.stdin_open = false,
            },
            _ = ticker.tick() => show_status(term, lost_at, unconfirmed, discarded, &last_error).await,
            (started, tried, result) = &mut trying => match result {
                Ok(channel) => {
                    let _ = term.stdout.write_all(CLEAR_LINE).await;
                    tracing::info!("reconnected after {:.1}s", lost_at.elapsed().as_secs_f64());
                    return Ok(Resumed::Channel(Box::new((tried, channel))));
                }
                // An agent locked while the laptop slept can be unlocked:
                // keep trying, with the reason on the status line.
                Err(e) if e.is_transient() || matches!(e, ConnectError::AuthDenied { .. }) => {
                    last_error = e.to_string();
                    trying.set(attempt(tried.fresh(), started + RETRY));
                }
                Err(e) => {
                    let _ = term.stdout.write_all(CLEAR_LINE).await;
                    return Err(e.into());
                }
            },
            () = &mut give_up => {
                let _ = term.stdout.write_all(CLEAR_LINE).await;
                return Ok(Resumed::Ended(AttachEnd::ConnectionLost));
            }
            _ = term.sigterm.recv() => {
                let _ = term.stdout.write_all(CLEAR_LINE).await;
                return Ok(Resumed::Ended(AttachEnd::Signal(15)));
            }
            _ = term.sighup.recv() => {
                let _ = term.stdout.write_all(CLEAR_LINE).await;
                return Ok(Resumed::Ended(AttachEnd::Signal(1)));
            }
        }
    }
}

/// Erases the status line.
const CLEAR_LINE: &[u8] = b"\r\x1b[2K";

/// Undoes what a full-screen program like tmux may have left on when it had
/// no chance to clean up: the alternate screen, mouse reporting, bracketed
/// paste, a hidden cursor.
const RESET_MODES: &[u8] = b"\x1b[?1049l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?25h";

/// Pause between the starts of two reconnection attempts.
const RETRY: Duration = Duration::from_secs(1);

async fn show_status(term: &mut Terminal, lost_at: Instant, unconfirmed: usize, discarded: usize, error: &str) {
    let line = status_line(lost_at.elapsed(), unconfirmed, discarded, error);
    let _ = term.stdout.write_all(line.as_bytes()).await;
    let _ = term.stdout.flush().await;
}

/// The one-line status shown while reconnecting (it overwrites itself).
fn status_line(down_for: Duration, unconfirmed: usize, discarded: usize, error: &str) -> String {
    let mut line = format!("\r\x1b[2K[sinc] link down, reconnecting… {} s (~. quits)", down_for.as_secs());
    if unconfirmed > 0 {
        line += &format!("; your last {unconfirmed} typed bytes may not have arrived");
    }
    if discarded > 0 {
        line += &format!("; {discarded} typed bytes discarded");
    }
    if !error.is_empty() {
        line += &format!("; {error}");
    }
    line
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_says_what_happened_to_typed_keys() {
        let plain = status_line(Duration::from_secs(4), 0, 0, "");
        assert!(plain.starts_with("\r\x1b[2K") && plain.contains("reconnecting… 4 s") && plain.contains("~."));
        assert!(!plain.contains("typed"));
        let full = status_line(Duration::from_secs(12), 3, 5, "connection refused");
        assert!(full.contains("last 3 typed bytes may not have arrived"), "{full}");
        assert!(full.contains("5 typed bytes discarded") && full.ends_with("connection refused"), "{full}");
    }
}
