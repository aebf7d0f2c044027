//! The keeper: one background process per project on the laptop. It owns the
//! project's sync: the local endpoint and watcher, the SSH connection to the
//! VPS (reconnecting when it drops), the daemon channel, the control socket
//! the CLI talks to, and the relay socket through which foreground commands
//! open channels on its connection instead of making their own. It outlives the terminal that started it; `sinc
//! kill` stops it.

pub mod control;
pub mod journal_follower;
pub mod link;
pub mod local_host;
pub mod plugin_roots;
pub mod plugins;
pub mod session_ends;
pub mod session_relay;

use crate::cli::Context;
use crate::config::{SyncConfig, SyncMode};
use crate::error::{Error, Result};
use crate::paths::Dirs;
use crate::remote::{self, LocalBinary, daemon};
use crate::sync::client::RemoteClient;
use crate::sync::endpoint::{self, EndpointConfig, Shared};
use crate::sync::ignore::IgnoreSpec;
use crate::sync::syncer::{Stopped, SyncStatus, Syncer, SyncerConfig};
use crate::sync::trash::TrashLimits;
use crate::transport::{self, ConnectOptions, Link, quote, relay};
use sinc_sync_core::{DeleteLimits, Mode};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Pause between reconnection attempts.
pub const RETRY: Duration = Duration::from_secs(1);

/// How often a keeper that does not hold a shared job's lock (hosting the
/// local plugins, carrying a plugin's folder) tries to take it over.
pub const TAKE_OVER_EVERY: Duration = Duration::from_secs(5);

/// Where a project's keeper keeps its files.
#[derive(Debug, Clone)]
pub struct KeeperPaths {
    /// The session's state folder.
    pub dir: PathBuf,
    /// The control socket.
    pub socket: PathBuf,
    /// The socket foreground commands open channels through.
    pub relay: PathBuf,
    /// Held while the keeper runs.
    pub lock: PathBuf,
    /// The keeper's log.
    pub log: PathBuf,
    /// The local endpoint's index.
    pub local: PathBuf,
    /// The ancestor and conflicts.
    pub sync: PathBuf,
    /// The local trash.
    pub trash: PathBuf,
    /// Where the keeper is in the VPS daemon's journal of session events.
    pub events: PathBuf,
}

impl KeeperPaths {
    /// The folder holding every session's state folder.
    pub fn all(dirs: &Dirs) -> PathBuf {
        dirs.state.join("sessions")
    }

    /// The paths for session `id`.
    pub fn new(dirs: &Dirs, id: &str) -> KeeperPaths {
        let dir = Self::all(dirs).join(id);
        KeeperPaths {
            socket: dir.join("keeper.sock"),
            relay: dir.join("relay.sock"),
            lock: dir.join("keeper.lock"),
            log: dir.join("keeper.log"),
            local: dir.join("local"),
            sync: dir.join("sync"),
            trash: dirs.data.join("trash").join(id),
            events: dir.join("events.json"),
            dir,
        }
    }
}

/// Stop the keeper of session `id` (its sync, and the VPS's watching of
/// the folder) if it runs; whether it did.
pub async fn stop(dirs: &Dirs, id: &str) -> bool {
    let socket = KeeperPaths::new(dirs, id).socket;
    matches!(
        tokio::time::timeout(Duration::from_secs(10), control::request(&socket, &control::ControlRequest::Stop)).await,
        Ok(Ok(_))
    )
}

/// The core sync mode for a configured one (`None`: no sync).
pub fn core_mode(mode: SyncMode) -> Option<Mode> {
    match mode {
        SyncMode::TwoWayResolved => Some(Mode::TwoWayResolved),
        SyncMode::TwoWaySafe => Some(Mode::TwoWaySafe),
        SyncMode::Push => Some(Mode::Push),
        SyncMode::Pull => Some(Mode::Pull),
        SyncMode::None => None,
    }
}

fn failure(context: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Failure(format!("{context}: {e}"))
}

/// Lock the file at `path` (made, in a folder only this user may enter,
/// if missing) unless another process holds it.
pub fn try_lock_file(path: &std::path::Path) -> std::io::Result<Option<std::fs::File>> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Run the keeper for the project in `ctx` until stopped.
pub async fn run(ctx: &Context) -> Result<i32> {
    let Some(mode) = core_mode(ctx.config().sync.mode) else {
        return Err(Error::Usage("sync.mode is none: there is nothing to keep in sync".into()));
    };
    let spec = ctx.spec();
    let id = spec.id.to_string();
    let paths = KeeperPaths::new(&ctx.dirs, &id);
    let Some(lock) = try_lock_file(&paths.lock).map_err(failure("locking the session"))? else {
        tracing::info!("a keeper already runs for {id}");
        return Ok(0);
    };
    let _ = std::fs::remove_file(&paths.socket);
    let listener = tokio::net::UnixListener::bind(&paths.socket).map_err(failure("binding the control socket"))?;
    std::fs::set_permissions(&paths.socket, std::fs::Permissions::from_mode(0o600))
        .map_err(failure("securing the control socket"))?;
    // The relay only saves foreground commands a connection: without it they
    // connect on their own.
    let _ = std::fs::remove_file(&paths.relay);
    let relay_listener = tokio::net::UnixListener::bind(&paths.relay)
        .and_then(|l| std::fs::set_permissions(&paths.relay, std::fs::Permissions::from_mode(0o600)).map(|()| l));
    if let Err(e) = &relay_listener {
        tracing::warn!("relay socket: {e}; foreground commands will connect on their own");
    }

    let c = &ctx.config().sync;
    let ignore = IgnoreSpec { patterns: c.ignore.clone(), use_gitignore: c.use_gitignore, ..IgnoreSpec::default() };
    let trash = trash_limits(c);
    let verify = verify_every(c);
    let ep_cfg = EndpointConfig {
        root: ctx.project_dir.clone(),
        ignore: ignore.clone(),
        state_dir: paths.local.clone(),
        trash_dir: paths.trash.clone(),
        trash_limits: trash,
    };
    // The first connection is made while the opening scan runs (on a
    // distant VPS the handshake takes round trips the scan can fill). Only
    // the scan is waited for here: the control socket is served as soon as
    // it is done, and the connection is picked up, made or still being
    // made, by the first turn of the loop below.
    let local_binary = LocalBinary::current(&ctx.dirs.cache).map_err(failure("reading the sinc executable"))?;
    let first_connection = connect(ctx, &local_binary);
    tokio::pin!(first_connection);
    let mut first = FirstConnection::Pending;
    let scan = endpoint::open_watching(ep_cfg, verify);
    tokio::pin!(scan);
    let opened = loop {
        tokio::select! {
            opened = &mut scan => break opened,
            made = &mut first_connection, if matches!(first, FirstConnection::Pending) => {
                first = FirstConnection::Made(made);
            }
        }
    };
    let (local, _watcher) = opened.map_err(|e| Error::Failure(format!("local folder: {e}")))?;
    tokio::spawn(save_on_terminate(local.clone(), paths.clone()));

    let (status_tx, status_rx) = tokio::sync::watch::channel(SyncStatus::default());
    let cfg = SyncerConfig {
        session: id.clone(),
        mode,
        limits: delete_limits(c),
        remote_root: spec.remote_path.clone(),
        ignore,
        trash,
        verify,
        state_dir: paths.sync.clone(),
    };
    let mut syncer = Syncer::new(cfg, local.clone(), status_tx).map_err(failure("loading the sync state"))?;
    let (commands_tx, mut commands) = tokio::sync::mpsc::channel(16);
    let (shared_tx, shared) = tokio::sync::watch::channel(None);
    let monitor = link::LinkMonitor::new(shared.clone());
    let (client_tx, client_rx) = tokio::sync::watch::channel(None);
    let source = plugins::SetSource {
        installed: crate::plugins::Installed::new(&ctx.dirs, &ctx.loaded.config_file),
        config: ctx.reloading(),
    };
    let installed = source.installed.clone();
    tokio::spawn(local_host::run(installed.clone(), source.config.clone(), ctx.dirs.clone(), id.clone()));
    let (daemon_link_tx, daemon_link) = tokio::sync::watch::channel(None);
    let roots = plugin_roots::PluginRoots::start(root_setup(ctx), daemon_link, installed.clone());
    tokio::spawn(journal_follower::run(id.clone(), paths.events.clone(), installed, client_rx.clone()));
    let remote_plugins = plugins::RemotePlugins::start(source, client_rx);
    let served = control::Served {
        session: id.clone(),
        status: status_rx,
        link: monitor.clone(),
        commands: commands_tx,
        ending: std::sync::Arc::default(),
    };
    tokio::spawn(control::serve(listener, served, remote_plugins, roots));
    if let Ok(listener) = relay_listener {
        tokio::spawn(relay::serve(listener, shared));
    }
    tracing::info!("keeping {} in sync with {}", ctx.project_dir.display(), spec.remote_path);

    loop {
        syncer.connecting();
        let attempt = match std::mem::replace(&mut first, FirstConnection::Used) {
            FirstConnection::Pending => (&mut first_connection).await,
            FirstConnection::Made(made) => made,
            FirstConnection::Used => connect(ctx, &local_binary).await,
        };
        let outcome = match attempt {
            Ok((conn, client, mut notices, remote_sinc)) => {
                shared_tx.send_replace(Some(conn.clone()));
                daemon_link_tx.send_replace(Some((conn.clone(), remote_sinc)));
                monitor.note(true);
                let client = Arc::new(client);
                client_tx.send_replace(Some(client.clone()));
                let r = syncer.run_connected(&client, &mut notices, &mut commands).await;
                client_tx.send_replace(None);
                shared_tx.send_replace(None);
                daemon_link_tx.send_replace(None);
                monitor.note(false);
                // Channels relayed to foreground commands (an attached
                // terminal) keep the connection up until they end.
                if let Some(conn) = Arc::into_inner(conn) {
                    conn.disconnect().await;
                }
                r
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Stopped::ByCommand) => break,
            Err(reason) => {
                tracing::warn!("sync connection: {reason}");
                syncer.disconnected(&reason);
            }
        }
        if syncer.run_disconnected(&mut commands, tokio::time::sleep(RETRY)).await.is_some() {
            break;
        }
    }
    endpoint::with(&local, |e| e.save()).await;
    let _ = std::fs::remove_file(&paths.socket);
    let _ = std::fs::remove_file(&paths.relay);
    drop(lock);
    Ok(0)
}

/// The keeper's first connection, started with its opening scan.
enum FirstConnection<T> {
    /// Still being made.
    Pending,
    /// Made (or failed) while the scan ran.
    Made(T),
    /// Taken by the loop; later connections are made there.
    Used,
}

/// On SIGTERM or SIGINT (a shutdown, `kill`): save the index and end. The
/// daemon keeps watching the project (unlike `sinc kill`), the ancestor is
/// journaled as it changes, and the next keeper carries on from there.
async fn save_on_terminate(local: Shared, paths: KeeperPaths) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return tracing::warn!("cannot catch SIGTERM; the index is saved every 30 s");
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("terminated; saving the index"),
        _ = int.recv() => tracing::info!("interrupted; saving the index"),
    }
    endpoint::with(&local, |e| {
        e.save();
        // A save written in the background finishes first.
        e.wait_for_saves();
    })
    .await;
    let _ = std::fs::remove_file(&paths.socket);
    let _ = std::fs::remove_file(&paths.relay);
    std::process::exit(0);
}

/// Where the folders plugins keep in sync are kept track of, for the
/// project's VPS, and how they sync (the project's trash and guard settings).
fn root_setup(ctx: &Context) -> plugin_roots::RootSetup {
    use sha2::Digest;
    let vps = match ctx.target() {
        Ok(target) => format!("{}@{}:{}", target.user, target.hostname, target.port),
        // The connection fails the same way and is retried; the folders
        // wait for it under the name the user gave.
        Err(e) => {
            tracing::warn!("the VPS: {e}");
            ctx.host().unwrap_or_default().to_owned()
        }
    };
    let vps = hex::encode(&sha2::Sha256::digest(vps)[..8]);
    let c = &ctx.config().sync;
    plugin_roots::RootSetup {
        state_dir: ctx.dirs.state.join("roots").join(&vps),
        trash_dir: ctx.dirs.data.join("trash").join("roots").join(&vps),
        home: ctx.dirs.home.clone(),
        trash: trash_limits(c),
        limits: delete_limits(c),
        verify: verify_every(c),
    }
}

/// The configured trash bounds.
fn trash_limits(c: &SyncConfig) -> TrashLimits {
    TrashLimits { max_bytes: u64::from(c.trash_max_mb) << 20, max_age_days: u64::from(c.trash_max_days) }
}

/// The configured mass-delete guard.
fn delete_limits(c: &SyncConfig) -> DeleteLimits {
    DeleteLimits {
        max_count: c.max_delete as usize,
        max_percent: c.max_delete_percent.0,
        percent_floor: DeleteLimits::default().percent_floor,
    }
}

/// The configured full-rescan interval.
fn verify_every(c: &SyncConfig) -> Option<Duration> {
    (c.verify_minutes > 0).then(|| Duration::from_secs(u64::from(c.verify_minutes) * 60))
}

/// The daemon channel, its notices and the sinc installed on the VPS.
type Connected =
    (Arc<transport::Connection>, RemoteClient, tokio::sync::mpsc::UnboundedReceiver<crate::sync::wire::Notice>, String);

/// Connect to the VPS, make sure it has this build, and open the daemon
/// channel.
async fn connect(ctx: &Context, local: &LocalBinary) -> std::result::Result<Connected, String> {
    let target = ctx.target().map_err(|e| e.to_string())?;
    let conn = transport::connect(&target, ConnectOptions::unattended(Some(RETRY))).await.map_err(|e| e.to_string())?;
    let installed =
        remote::ensure(&Link::on(conn.clone()), local, Box::new(|_| {})).await.map_err(|e| e.to_string())?;
    let channel = conn.exec(&bridge_command(installed.path())).await.map_err(|e| e.to_string())?;
    let (client, notices) = open_daemon(channel.into_stream(), conn.dead_signal()).await?;
    Ok((conn, client, notices, installed.path().to_owned()))
}

/// The command that bridges a channel to the VPS daemon.
pub fn bridge_command(remote_sinc: &str) -> String {
    quote::sh_script(&format!("exec {} daemon --bridge", quote::word(remote_sinc)))
}

/// Start the sync protocol with the daemon on `stream`, a channel running
/// [`bridge_command`]; it ends when `link_dead` resolves.
pub async fn open_daemon<S, D>(
    stream: S,
    link_dead: D,
) -> std::result::Result<(RemoteClient, tokio::sync::mpsc::UnboundedReceiver<crate::sync::wire::Notice>), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    D: std::future::Future<Output = ()> + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    let (client, hello, noise, notices) =
        RemoteClient::connect(r, w, &daemon::build_id(), link_dead).await.map_err(|e| e.to_string())?;
    if !noise.is_empty() {
        tracing::warn!("the VPS printed before the sync protocol started: {}", String::from_utf8_lossy(&noise).trim());
    }
    tracing::info!("connected to {}", hello.build);
    Ok((client, notices))
}
