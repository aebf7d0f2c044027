//! The keeper's control socket: how `sinc status`, `flush`, `push`, `pull`,
//! `pause`, `resume`, `conflicts`, `restore` and `kill` talk to the
//! background keeper of a project. One JSON object per line each way, on a
//! Unix socket only the user can open.

use super::link::{LinkMonitor, LinkStatus};
use super::plugin_roots::{PluginRoots, RootReport};
use super::plugins::RemotePlugins;
use crate::sync::syncer::{Command, Keep, PlanSummary, SyncStatus, Version};
use crate::sync::wire::{Request, Response, SessionChange, SessionRef};
use serde::{Deserialize, Serialize};
use sinc_sync_core::{RelPath, Side};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};

/// How the answer to a request a keeper cannot read starts (a keeper of
/// an older sinc does not know a newer request).
pub const BAD_REQUEST: &str = "bad request";

/// A request to the keeper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum ControlRequest {
    /// The sync status.
    Status,
    /// Sync now; answer when both sides agree.
    Flush,
    /// Stop applying changes.
    Pause,
    /// The session ended and its end hooks run: stop applying changes, and
    /// tell whoever asks that this keeper stops once they are done (a new
    /// session of the folder gets a keeper of its own).
    Ending,
    /// Apply changes again (`confirm` lifts a halt).
    Resume {
        /// Proceed past a halt.
        confirm: bool,
    },
    /// Stop the keeper (and the daemon's watching of this project).
    Stop,
    /// Compute a forced push (`local` wins) or pull (`remote` wins).
    Plan {
        /// The side that wins.
        winner: Side,
    },
    /// Apply a computed plan.
    Apply {
        /// Its id.
        id: u64,
    },
    /// Resolve conflicts (no paths: all).
    Resolve {
        /// Paths relative to the project.
        paths: Vec<String>,
        /// Which version to keep.
        keep: Keep,
    },
    /// Kept versions of a path.
    Versions {
        /// Path relative to the project.
        path: String,
    },
    /// Put a kept version back.
    Restore {
        /// Path relative to the project.
        path: String,
        /// Version number (1: newest).
        number: usize,
    },
    /// Send the VPS daemon the remote plugin set again (the lockfile
    /// changed).
    Plugins,
    /// Pass a plugin request (a subcommand, a before-start hook) to the
    /// VPS daemon; its answer comes back as `Answer`.
    Plugin {
        /// `PluginCommand` or `BeforeStart`.
        request: Request,
    },
    /// To the local plugin host: run the local plugin set again (the
    /// lockfile changed); answered by `Plugins`.
    LocalPlugins,
    /// To the local plugin host: a subcommand or before-start hook of the
    /// local plugins; answered by `Answer`.
    LocalPlugin {
        /// `PluginCommand` or `BeforeStart`.
        request: Request,
    },
    /// To the local plugin host: session events for the local plugins.
    LocalEvents {
        /// What happened, oldest first.
        events: Vec<(SessionChange, SessionRef)>,
    },
    /// To the local plugin host: `session` ended (its agent was stopped, or
    /// the user ends it again to finish an end that failed): tell the
    /// plugins if they have not heard, and run its end in any case;
    /// answered by `Ended` once that is done.
    EndSession {
        /// The session.
        session: SessionRef,
    },
    /// To the local plugin host: a local plugin's subcommand, for a `sinc`
    /// run in folder `cwd`; answered by `Command`.
    LocalCommand {
        /// The plugin.
        plugin: String,
        /// The subcommand.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Where `sinc` was run.
        cwd: Option<String>,
    },
}

/// The keeper's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum ControlResponse {
    /// The status.
    Status {
        /// Session id.
        session: String,
        /// The keeper's process id.
        pid: u32,
        /// The sync status.
        status: Box<SyncStatus>,
        /// The connection to the VPS.
        #[serde(default)]
        link: LinkStatus,
        /// The folders plugins keep in sync beside the project.
        #[serde(default)]
        folders: Vec<RootReport>,
        /// Whether its session ended and it stops once the end hooks ran.
        #[serde(default)]
        ending: bool,
    },
    /// Done.
    Done,
    /// A plan.
    Plan {
        /// What it would do.
        plan: PlanSummary,
    },
    /// A plan was applied.
    Applied {
        /// Steps applied.
        count: usize,
    },
    /// Conflicts resolved.
    Resolved {
        /// Their paths.
        paths: Vec<String>,
    },
    /// Kept versions.
    Versions {
        /// Newest first.
        versions: Vec<Version>,
    },
    /// A version was restored.
    Restored {
        /// Which.
        version: Version,
    },
    /// The plugins' states (on the VPS, or in the local plugin host).
    Plugins {
        /// One per plugin.
        states: Vec<crate::sync::wire::PluginState>,
    },
    /// The plugins' answer to a plugin request (the VPS daemon's, passed
    /// on, or the local plugin host's).
    Answer {
        /// Its answer.
        response: Response,
    },
    /// What a local plugin's subcommand printed, and what follows it.
    Command {
        /// Its exit status.
        status: u8,
        /// Standard output.
        stdout: String,
        /// Standard error.
        stderr: String,
        /// What the `sinc` that ran it does next.
        then: Option<crate::plugins::invocation::FollowUp>,
    },
    /// A session's end has run.
    Ended {
        /// Whether any plugin took part (then the session's sync is
        /// paused, for the asker to stop).
        ran: bool,
        /// What failed, one line each.
        problems: Vec<String>,
    },
    /// The request failed.
    Error {
        /// Why.
        message: String,
    },
}

/// Talking to a keeper failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No keeper listens.
    #[error("sync is not running for this project")]
    NotRunning,
    /// The exchange failed.
    #[error("talking to the keeper failed: {0}")]
    Io(#[from] std::io::Error),
    /// The keeper's answer was not understood.
    #[error("the keeper's answer was not understood: {0}")]
    Protocol(String),
}

/// Send one request to the keeper at `socket` and wait for its answer.
pub async fn request(socket: &Path, req: &ControlRequest) -> Result<ControlResponse, ControlError> {
    let stream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Err(ControlError::NotRunning);
        }
        Err(e) => return Err(ControlError::Io(e)),
    };
    let (r, mut w) = stream.into_split();
    let mut line = serde_json::to_vec(req).map_err(|e| ControlError::Protocol(e.to_string()))?;
    line.push(b'\n');
    w.write_all(&line).await?;
    let mut answer = String::new();
    BufReader::new(r).read_line(&mut answer).await?;
    if answer.is_empty() {
        return Err(ControlError::Protocol("the keeper closed the connection".into()));
    }
    serde_json::from_str(&answer).map_err(|e| ControlError::Protocol(e.to_string()))
}

/// Whether a keeper answers at `socket`.
pub async fn is_running(socket: &Path) -> bool {
    matches!(tokio::time::timeout(Duration::from_secs(2), request(socket, &ControlRequest::Status)).await, Ok(Ok(_)))
}

/// What the control socket reports on and commands: the project's sync.
#[derive(Debug, Clone)]
pub struct Served {
    /// The session id.
    pub session: String,
    /// The sync's status.
    pub status: watch::Receiver<SyncStatus>,
    /// The connection to the VPS.
    pub link: LinkMonitor,
    /// Commands to the sync.
    pub commands: mpsc::Sender<Command>,
    /// Set once its session's end began (it stops after it).
    pub ending: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Serve control connections until the command channel closes.
pub async fn serve(listener: UnixListener, served: Served, plugins: RemotePlugins, roots: PluginRoots) {
    serve_requests(listener, move |request| {
        let (served, plugins, roots) = (served.clone(), plugins.clone(), roots.clone());
        async move {
            match request {
                ControlRequest::Plugins => {
                    roots.refresh();
                    match plugins.refresh().await {
                        Ok(states) => ControlResponse::Plugins { states },
                        Err(message) => ControlResponse::Error { message },
                    }
                }
                ControlRequest::Plugin {
                    request:
                        request @ (Request::PluginCommand { .. }
                        | Request::BeforeStart { .. }
                        | Request::Tools { .. }
                        | Request::CallTool { .. }
                        | Request::SessionScreen { .. }),
                } => relay(&plugins, request).await,
                ControlRequest::Plugin { request: Request::LoopbackHttp { call } } => {
                    let limit = call.wait() + RELAY_MARGIN;
                    let asked = relay(&plugins, Request::LoopbackHttp { call });
                    tokio::time::timeout(limit, asked).await.unwrap_or_else(|_| ControlResponse::Error {
                        message: format!("the VPS did not answer within {}s", limit.as_secs()),
                    })
                }
                ControlRequest::Plugin { .. } => {
                    ControlResponse::Error { message: "only plugin requests pass through the keeper".into() }
                }
                ControlRequest::LocalPlugins
                | ControlRequest::LocalPlugin { .. }
                | ControlRequest::LocalEvents { .. }
                | ControlRequest::EndSession { .. }
                | ControlRequest::LocalCommand { .. } => {
                    ControlResponse::Error { message: "the local plugin host answers that, on its own socket".into() }
                }
                ControlRequest::Status => ControlResponse::Status {
                    session: served.session.clone(),
                    pid: std::process::id(),
                    status: Box::new(served.status.borrow().clone()),
                    link: served.link.status(),
                    folders: roots.reports(),
                    ending: served.ending.load(std::sync::atomic::Ordering::SeqCst),
                },
                ControlRequest::Ending => {
                    served.ending.store(true, std::sync::atomic::Ordering::SeqCst);
                    answer(ControlRequest::Pause, &served.commands).await
                }
                ControlRequest::Resume { confirm } => {
                    // The plugins' folders carried here may be halted too.
                    roots.resume(confirm);
                    answer(ControlRequest::Resume { confirm }, &served.commands).await
                }
                req => answer(req, &served.commands).await,
            }
        }
    })
    .await;
}

/// Serve one request per connection on `listener`, each answered by
/// `handle` on a task of its own.
pub async fn serve_requests<F, Fut>(listener: UnixListener, handle: F)
where
    F: Fn(ControlRequest) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ControlResponse> + Send + 'static,
{
    let handle = std::sync::Arc::new(handle);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: not a busy loop meanwhile.
                tracing::warn!("accepting a control connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(r).read_line(&mut line).await.is_err() {
                return;
            }
            let response = match serde_json::from_str::<ControlRequest>(&line) {
                Ok(request) => handle(request).await,
                Err(e) => ControlResponse::Error { message: format!("{BAD_REQUEST}: {e}") },
            };
            if let Ok(mut bytes) = serde_json::to_vec(&response) {
                bytes.push(b'\n');
                let _ = w.write_all(&bytes).await;
            }
        });
    }
}

/// Ask the daemon's plugins, and pass the answer on.
/// How much longer than a call to a VPS service the keeper waits for the
/// VPS's answer.
pub const RELAY_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

async fn relay(plugins: &RemotePlugins, request: Request) -> ControlResponse {
    match plugins.call(request).await {
        Ok(Response::Failed { message }) | Err(message) => ControlResponse::Error { message },
        Ok(response) => ControlResponse::Answer { response },
    }
}

fn rel(path: &str) -> Result<RelPath, String> {
    RelPath::new(path.trim_start_matches("./").trim_end_matches('/')).map_err(|e| e.to_string())
}

async fn ask<T>(
    commands: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, String> {
    let (tx, rx) = oneshot::channel();
    commands.send(make(tx)).await.map_err(|_| "the keeper is stopping".to_owned())?;
    rx.await.map_err(|_| "the keeper is stopping".to_owned())
}

async fn answer(req: ControlRequest, commands: &mpsc::Sender<Command>) -> ControlResponse {
    let result: Result<ControlResponse, String> = async {
        Ok(match req {
            ControlRequest::Flush => {
                ask(commands, Command::Flush).await??;
                ControlResponse::Done
            }
            ControlRequest::Pause => {
                commands.send(Command::Pause).await.map_err(|_| "the keeper is stopping".to_owned())?;
                ControlResponse::Done
            }
            ControlRequest::Resume { confirm } => {
                commands.send(Command::Resume { confirm }).await.map_err(|_| "the keeper is stopping".to_owned())?;
                ControlResponse::Done
            }
            ControlRequest::Stop => {
                ask(commands, Command::Stop).await?;
                ControlResponse::Done
            }
            ControlRequest::Plan { winner } => {
                ControlResponse::Plan { plan: ask(commands, |reply| Command::Plan { winner, reply }).await?? }
            }
            ControlRequest::Apply { id } => {
                ControlResponse::Applied { count: ask(commands, |reply| Command::Apply { id, reply }).await?? }
            }
            ControlRequest::Resolve { paths, keep } => {
                let paths = paths.iter().map(|p| rel(p)).collect::<Result<Vec<_>, _>>()?;
                ControlResponse::Resolved {
                    paths: ask(commands, |reply| Command::Resolve { paths, keep, reply }).await??,
                }
            }
            ControlRequest::Versions { path } => {
                let path = rel(&path)?;
                ControlResponse::Versions { versions: ask(commands, |reply| Command::Versions { path, reply }).await?? }
            }
            ControlRequest::Restore { path, number } => {
                let path = rel(&path)?;
                ControlResponse::Restored {
                    version: ask(commands, |reply| Command::Restore { path, number, reply }).await??,
                }
            }
            ControlRequest::Status | ControlRequest::Ending => {
                return Err("the status and the end are answered by the socket itself".into());
            }
            ControlRequest::Plugins
            | ControlRequest::Plugin { .. }
            | ControlRequest::LocalPlugins
            | ControlRequest::LocalPlugin { .. }
            | ControlRequest::LocalEvents { .. }
            | ControlRequest::EndSession { .. }
            | ControlRequest::LocalCommand { .. } => {
                return Err("plugin requests are answered by the plugin relay".into());
            }
        })
    }
    .await;
    result.unwrap_or_else(|message| ControlResponse::Error { message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_request_gets_a_clear_answer_and_the_socket_keeps_serving() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("host.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        tokio::spawn(serve_requests(listener, |request| async move {
            match request {
                ControlRequest::LocalEvents { events, .. } => ControlResponse::Applied { count: events.len() },
                _ => ControlResponse::Done,
            }
        }));
        let mut stream = UnixStream::connect(&socket).await.unwrap();
        stream.write_all(b"{\"cmd\":\"no-such-thing\"}\n").await.unwrap();
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).await.unwrap();
        let answer: ControlResponse = serde_json::from_str(&answer).unwrap();
        assert!(
            matches!(&answer, ControlResponse::Error { message } if message.starts_with("bad request")),
            "{answer:?}"
        );
        // A client that connects and says nothing holds up no one.
        let _silent = UnixStream::connect(&socket).await.unwrap();
        let events = vec![(
            SessionChange::Created,
            SessionRef { id: "s".into(), local_path: None, remote_path: "/w".into(), agent: "a".into(), created: 0 },
        )];
        let answer = request(&socket, &ControlRequest::LocalEvents { events }).await.unwrap();
        assert_eq!(answer, ControlResponse::Applied { count: 1 });
    }
}
