//! The per-user `sinc daemon` on the VPS: it serves every project's remote
//! side of sync on a Unix socket only the user can reach (never a network
//! port), keeps each project's watcher and change log running while the
//! laptop is away, hosts the remote plugins, and exits after a while with
//! nothing to serve.
//!
//! The laptop reaches it through `sinc daemon --bridge`, run on an SSH exec
//! channel, which starts the daemon when needed (replacing one of another
//! build) and copies bytes between the channel and the socket.

use crate::paths::Dirs;
use crate::remote::plugins::Hosted;
use crate::sync::serve::{self, Projects, ServeEnd};
use crate::sync::wire::{self, Message, Request, Response, WireReader, WireWriter};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};

/// How long the daemon lingers with no project and no connection.
pub const IDLE_EXIT: Duration = Duration::from_secs(600);

/// Where the daemon keeps its socket, state and log.
#[derive(Debug, Clone)]
pub struct DaemonPaths {
    /// The Unix socket.
    pub socket: PathBuf,
    /// Held while a daemon runs (one per user).
    pub lock: PathBuf,
    /// Projects' indexes and trash.
    pub data: PathBuf,
    /// The log file.
    pub log: PathBuf,
    /// Durable state (ended sessions' kept output).
    pub state: PathBuf,
    /// Compiled plugins.
    pub cache: PathBuf,
    /// The user's home (for `~/` in roots).
    pub home: PathBuf,
}

impl DaemonPaths {
    /// From the environment: the socket in `$XDG_RUNTIME_DIR/sincronizado`
    /// when set, else in `$XDG_STATE_HOME/sincronizado`.
    pub fn from_env() -> Result<DaemonPaths, crate::paths::NoHome> {
        let dirs = Dirs::from_env()?;
        let run = std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|v| !v.is_empty())
            .map(|d| PathBuf::from(d).join(crate::paths::APP_DIR))
            .unwrap_or_else(|| dirs.state.clone());
        Ok(DaemonPaths {
            socket: run.join("daemon.sock"),
            lock: run.join("daemon.lock"),
            data: dirs.data.clone(),
            log: dirs.state.join("daemon.log"),
            state: dirs.state.clone(),
            cache: dirs.cache.clone(),
            home: dirs.home,
        })
    }

    fn prepare(&self) -> std::io::Result<()> {
        for dir in [self.socket.parent(), self.log.parent()].into_iter().flatten() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        Ok(())
    }
}

/// This build, as the daemon and bridge name it (version and binary name, so
/// two builds of one version differ).
pub fn build_id() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    format!("sinc {} ({exe})", env!("CARGO_PKG_VERSION"))
}

/// Run the daemon until it is told to stop or stays idle.
pub async fn run(paths: &DaemonPaths) -> std::io::Result<()> {
    paths.prepare()?;
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&paths.lock)?;
    if lock.try_lock().is_err() {
        tracing::info!("another sinc daemon is running");
        return Ok(());
    }
    let _ = std::fs::remove_file(&paths.socket);
    let listener = UnixListener::bind(&paths.socket)?;
    std::fs::set_permissions(&paths.socket, std::fs::Permissions::from_mode(0o600))?;
    tracing::info!("{} serving on {}", build_id(), paths.socket.display());
    let projects = Projects::new(&paths.data, &paths.home);
    let plugins = Hosted::new(&paths.data, &paths.cache, &paths.home, &paths.state);
    plugins.restore(&tokio::runtime::Handle::current());
    let active = Arc::new(AtomicUsize::new(0));
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let build = build_id();
    loop {
        let idle = tokio::time::sleep(IDLE_EXIT);
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let (projects, plugins, active, stop, build) =
                    (projects.clone(), plugins.clone(), active.clone(), stop_tx.clone(), build.clone());
                active.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (r, w) = stream.into_split();
                    match serve::serve(r, w, projects, plugins, &build).await {
                        Ok(ServeEnd::Shutdown) => {
                            let _ = stop.send(true);
                        }
                        Ok(ServeEnd::Closed) => {}
                        Err(e) => tracing::warn!("connection ended: {e}"),
                    }
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            }
            _ = stop_rx.changed() => {
                tracing::info!("asked to stop");
                break;
            }
            _ = idle => {
                if projects.is_empty() && plugins.is_empty() && active.load(Ordering::SeqCst) == 0 {
                    tracing::info!("idle; exiting");
                    break;
                }
            }
        }
    }
    projects.save_all();
    let _ = std::fs::remove_file(&paths.socket);
    drop(lock);
    Ok(())
}

/// `sinc daemon --stop`: ask the running daemon (if any) to stop, and wait
/// until it has let go of its lock. Returns whether one was running.
pub async fn stop(paths: &DaemonPaths) -> std::io::Result<bool> {
    let Some((_, stream)) = probe(&paths.socket).await else {
        return Ok(false);
    };
    shutdown(stream).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&paths.lock)?;
        if lock.try_lock().is_ok() {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(std::io::Error::other("the daemon did not stop within 10 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// This machine's daemon, when it has hosted plugins (a laptop sent it a
/// set): where `sinc NAME …` on the VPS itself asks for them.
pub fn hosting_here() -> Option<DaemonPaths> {
    DaemonPaths::from_env().ok().filter(|paths| Hosted::has_saved_set(&paths.data))
}

/// Make one request of this user's daemon here, starting it when none
/// runs (for `sinc` used on the VPS itself). A daemon of another build is
/// left running (its keepers use it) and named in the error.
pub async fn request(paths: &DaemonPaths, request: Request) -> Result<Response, String> {
    let ours = build_id();
    let mut started = false;
    let stream = loop {
        match probe(&paths.socket).await {
            Some((theirs, _)) if theirs == ours => {
                break UnixStream::connect(&paths.socket).await.map_err(|e| format!("reaching the daemon: {e}"))?;
            }
            Some((theirs, _)) => {
                return Err(format!("the sinc daemon running here is another build ({theirs}); use that sinc"));
            }
            None if !started => {
                spawn_daemon(paths).map_err(|e| format!("starting the daemon: {e}"))?;
                started = true;
            }
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (r, w) = stream.into_split();
    let (client, ..) = crate::sync::client::RemoteClient::connect(r, w, &ours, std::future::pending())
        .await
        .map_err(|e| format!("talking to the daemon: {e}"))?;
    client.call(request).await.map_err(|e| format!("talking to the daemon: {e}"))
}

/// Ask a running daemon for its build; `None` when none answers.
async fn probe(socket: &Path) -> Option<(String, UnixStream)> {
    let stream = UnixStream::connect(socket).await.ok()?;
    let (mut r, mut w) = stream.into_split();
    wire::write_preamble(&mut w).await.ok()?;
    wire::skip_to_preamble(&mut r).await.ok()?;
    let mut reader = WireReader::new(r);
    let mut writer = WireWriter::new(w);
    let theirs = wire::handshake(&mut reader, &mut writer, &build_id()).await.ok()?;
    let stream = reader.into_inner().reunite(writer.into_inner()).ok()?;
    Some((theirs.build, stream))
}

async fn shutdown(stream: UnixStream) {
    let (r, w) = stream.into_split();
    let mut reader = WireReader::new(r);
    let mut writer = WireWriter::new(w);
    if writer.send(&Message::Request { id: 1, request: Request::Shutdown }).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(m)) = reader.next().await {
                if matches!(m, Message::Response { response: Response::Ok, .. }) {
                    break;
                }
            }
        })
        .await;
    }
}

fn spawn_daemon(paths: &DaemonPaths) -> std::io::Result<()> {
    paths.prepare()?;
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&paths.log)?;
    std::process::Command::new(std::env::current_exe()?)
        .args(["daemon", "--background"])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    Ok(())
}

/// `sinc daemon --bridge`: connect stdin/stdout to the daemon (starting or
/// replacing it as needed). Returns when either side closes.
pub async fn bridge(paths: &DaemonPaths) -> std::io::Result<()> {
    let ours = build_id();
    let mut started = false;
    for _ in 0..100 {
        match probe(&paths.socket).await {
            Some((theirs, stream)) if theirs == ours => {
                drop(stream);
                let socket = UnixStream::connect(&paths.socket).await?.into_std()?;
                socket.set_nonblocking(false)?;
                let stdin = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
                let stdout = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
                // One thread each way, with plain blocking reads and writes
                // of up to 256 KiB: a first sync of 839 MiB cost the bridge
                // 3.4 s of CPU through tokio's standard streams (a thread hop
                // per read). Not `std::io::copy`: between a pipe and a socket
                // it splices, and a splice from the socket holds sshd's pipe
                // locked while it waits for the daemon — sshd stalls, and its
                // keepalive answers with it. Whichever side ends first ends
                // the bridge, so the channel closes and the keeper learns at
                // once that the daemon went.
                let to_daemon = socket.try_clone()?;
                let up = tokio::task::spawn_blocking(move || pump(stdin, to_daemon));
                let down = tokio::task::spawn_blocking(move || pump(socket, stdout));
                let (which, ended) = tokio::select! {
                    r = up => ("from the channel", r),
                    r = down => ("from the daemon", r),
                };
                match ended {
                    Ok(Ok(())) => tracing::debug!("the copy {which} ended"),
                    Ok(Err(e)) => tracing::debug!("the copy {which} failed: {e}"),
                    Err(e) => tracing::debug!("the copy {which} stopped: {e}"),
                }
                return Ok(());
            }
            Some((theirs, stream)) => {
                tracing::info!("replacing the running daemon ({theirs}) with {ours}");
                shutdown(stream).await;
            }
            None if !started => {
                spawn_daemon(paths)?;
                started = true;
            }
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(std::io::Error::other(format!("the sinc daemon did not start; see {}", paths.log.display())))
}

/// Copy from `from` to `to` until `from` ends.
fn pump(mut from: impl std::io::Read, mut to: impl std::io::Write) -> std::io::Result<()> {
    let mut buf = vec![0; 256 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => to.write_all(&buf[..n])?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
