//! Folders plugins keep the same on the laptop and the VPS, beside the
//! project (a manifest's `[[permissions.sync]]`, accepted by the user): the
//! agents' own configuration, for one. sinc's sync engine carries each on a
//! daemon channel of its own over the keeper's connection. Of the keepers
//! connected to one VPS, the one holding a folder's lock carries it; the
//! others try again every [`TAKE_OVER_EVERY`], so one folder is never synced
//! by two keepers at once and carries on when its keeper stops. Only the
//! entries the plugin names sync, and never what the credentials list
//! matches — on either side.

use super::{RETRY, TAKE_OVER_EVERY, bridge_command, open_daemon, try_lock_file};
use crate::plugins::Installed;
use crate::sync::client::RemoteClient;
use crate::sync::credentials::CREDENTIALS;
use crate::sync::endpoint::{self, EndpointConfig};
use crate::sync::ignore::IgnoreSpec;
use crate::sync::syncer::{Command, SyncStatus, Syncer, SyncerConfig};
use crate::sync::trash::TrashLimits;
use crate::sync::watch::Watcher;
use crate::sync::wire::Notice;
use crate::transport::Connection;
use serde::{Deserialize, Serialize};
use sinc_plugin_host::manifest::SyncRoot;
use sinc_sync_core::{DeleteLimits, Mode};
use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The keeper's connection and the sinc installed on the VPS, while connected.
pub type DaemonLink = watch::Receiver<Option<(Arc<Connection>, String)>>;

/// Who carries a folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "carried", rename_all = "kebab-case")]
pub enum Carried {
    /// This keeper, with this sync.
    Here {
        /// The folder's sync.
        status: SyncStatus,
    },
    /// Another keeper connected to the same VPS.
    Elsewhere,
    /// Nobody: it cannot be synced now.
    Not {
        /// Why.
        reason: String,
    },
}

/// A folder a plugin asked for, as `sinc status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootReport {
    /// The plugin that asked.
    pub plugin: String,
    /// The folder's name in the plugin.
    pub name: String,
    /// The folder (`~/…`), on both machines.
    pub path: String,
    /// Who carries it.
    pub carried: Carried,
}

/// How every folder is synced.
#[derive(Debug, Clone)]
pub struct RootSetup {
    /// Locks and sync state, for this VPS (`<state>/roots/<vps>`).
    pub state_dir: PathBuf,
    /// Kept versions on the laptop (`<data>/trash/roots/<vps>`).
    pub trash_dir: PathBuf,
    /// What `~/` means here.
    pub home: PathBuf,
    /// Trash bounds (both sides).
    pub trash: TrashLimits,
    /// Mass-delete guard.
    pub limits: DeleteLimits,
    /// Full-rescan interval.
    pub verify: Option<Duration>,
}

/// A folder of a plugin's: `(plugin, folder)`.
pub type Wanted = Vec<(String, SyncRoot)>;

type Reports = Arc<Mutex<BTreeMap<String, RootReport>>>;
type Commands = Arc<Mutex<BTreeMap<String, mpsc::Sender<Command>>>>;

/// The folders this keeper is asked to keep, and how each goes.
#[derive(Debug, Clone)]
pub struct PluginRoots {
    installed: Installed,
    wanted: Arc<watch::Sender<Wanted>>,
    reports: Reports,
    commands: Commands,
}

impl PluginRoots {
    /// Start keeping the folders of the enabled plugins.
    pub fn start(setup: RootSetup, link: DaemonLink, installed: Installed) -> PluginRoots {
        let (tx, rx) = watch::channel(installed.sync_roots().unwrap_or_default());
        let roots =
            PluginRoots { installed, wanted: Arc::new(tx), reports: Reports::default(), commands: Commands::default() };
        let carriers = Carriers { setup, link, reports: roots.reports.clone(), commands: roots.commands.clone() };
        tokio::spawn(carriers.keep_wanted(rx));
        // Another project's `sinc plugin …` changes the lockfile without
        // telling this keeper: it looks again now and then.
        let again = roots.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TAKE_OVER_EVERY).await;
                again.refresh();
            }
        });
        roots
    }

    /// The lockfile changed: keep exactly the enabled plugins' folders now
    /// (an unreadable lockfile changes nothing).
    pub fn refresh(&self) {
        let wanted = match self.installed.sync_roots() {
            Ok(wanted) => wanted,
            Err(e) => return tracing::warn!("the plugins' folders: {e}"),
        };
        self.wanted.send_if_modified(|w| {
            let changed = *w != wanted;
            *w = wanted;
            changed
        });
    }

    /// Every folder and how it goes.
    pub fn reports(&self) -> Vec<RootReport> {
        self.reports.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect()
    }

    /// `sinc resume`: the folders carried here resume too (`confirm` lifts
    /// a halt of the mass-delete guard, as for the project).
    pub fn resume(&self, confirm: bool) {
        for commands in self.commands.lock().unwrap_or_else(PoisonError::into_inner).values() {
            let _ = commands.try_send(Command::Resume { confirm });
        }
    }
}

/// The key of a plugin's folder (its lock and state folder's name, and its
/// session on the VPS); `.` is in neither name.
fn key(plugin: &str, root: &SyncRoot) -> String {
    format!("{plugin}.{}", root.name)
}

/// The rules of a folder: its includes and excludes, nothing else (no
/// `.syncignore`), and the credentials list that nothing re-includes.
pub fn ignore_spec(root: &SyncRoot) -> IgnoreSpec {
    IgnoreSpec {
        patterns: root.ignore_lines(),
        use_gitignore: false,
        never: CREDENTIALS.map(String::from).to_vec(),
        fixed: true,
    }
}

/// What every folder's carrier shares.
#[derive(Debug, Clone)]
struct Carriers {
    setup: RootSetup,
    link: DaemonLink,
    reports: Reports,
    commands: Commands,
}

impl Carriers {
    fn report(&self, key: &str, plugin: &str, root: &SyncRoot, carried: Carried) {
        let r = RootReport { plugin: plugin.to_owned(), name: root.name.clone(), path: root.path.clone(), carried };
        self.reports.lock().unwrap_or_else(PoisonError::into_inner).insert(key.to_owned(), r);
    }

    fn forget(&self, key: &str) {
        self.reports.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
        self.commands.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }

    /// Run one carrier per wanted folder, stopping those no longer wanted.
    /// A folder that overlaps one taken before (another plugin's) is not
    /// synced: two syncs of one file would undo each other.
    async fn keep_wanted(self, mut wanted: watch::Receiver<Wanted>) {
        let mut running: BTreeMap<String, (SyncRoot, tokio::task::JoinHandle<()>)> = BTreeMap::new();
        loop {
            let now: BTreeMap<String, (String, SyncRoot)> =
                wanted.borrow_and_update().iter().map(|(p, r)| (key(p, r), (p.clone(), r.clone()))).collect();
            let gone: Vec<String> = running
                .iter()
                .filter(|(k, (root, _))| now.get(*k).is_none_or(|(_, r)| r != root))
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                if let Some((_, task)) = running.remove(&k) {
                    task.abort();
                    // Ended, so it neither reports again nor holds the lock.
                    let _ = task.await;
                }
                self.forget(&k);
            }
            let mut taken: Vec<(&str, &SyncRoot)> = Vec::new();
            for (k, (plugin, root)) in &now {
                if let Some((other, r)) = taken.iter().find(|(_, r)| r.overlaps(root)) {
                    let reason = format!("it overlaps {} of the plugin {other}, which is synced instead", r.path);
                    self.report(k, plugin, root, Carried::Not { reason });
                    continue;
                }
                taken.push((plugin, root));
                if !running.contains_key(k) {
                    let task = tokio::spawn(self.clone().carry(plugin.clone(), root.clone()));
                    running.insert(k.clone(), (root.clone(), task));
                }
            }
            if wanted.changed().await.is_err() {
                break;
            }
        }
        running.values().for_each(|(_, task)| task.abort());
    }

    /// Carry one folder for as long as it is wanted.
    async fn carry(self, plugin: String, root: SyncRoot) {
        let k = key(&plugin, &root);
        let dir = self.setup.state_dir.join(&k);
        self.report(&k, &plugin, &root, Carried::Elsewhere);
        let _lock = loop {
            match try_lock_file(&dir.join("lock")) {
                Ok(Some(lock)) => break lock,
                Ok(None) => self.report(&k, &plugin, &root, Carried::Elsewhere),
                Err(e) => {
                    let reason = format!("cannot lock {}: {e}", dir.display());
                    self.report(&k, &plugin, &root, Carried::Not { reason });
                }
            }
            tokio::time::sleep(TAKE_OVER_EVERY).await;
        };
        let (status_tx, mut status_rx) = watch::channel(SyncStatus::default());
        let (commands_tx, mut commands) = mpsc::channel(4);
        self.commands.lock().unwrap_or_else(PoisonError::into_inner).insert(k.clone(), commands_tx);
        // A folder that cannot be opened now (no inotify watches left, say)
        // is tried again, with the lock kept.
        let mut wait = RETRY;
        let (mut syncer, _watcher) = loop {
            match open(&self.setup, &k, &root, &dir, status_tx.clone()).await {
                Ok(opened) => break opened,
                Err(reason) => {
                    tracing::warn!("{plugin}'s folder {} cannot be synced: {reason}", root.path);
                    self.report(&k, &plugin, &root, Carried::Not { reason });
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
            }
        };
        tracing::info!("keeping {} in sync for {plugin}", root.path);
        self.report(&k, &plugin, &root, Carried::Here { status: SyncStatus::default() });
        let publish = async {
            while status_rx.changed().await.is_ok() {
                let status = status_rx.borrow_and_update().clone();
                self.report(&k, &plugin, &root, Carried::Here { status });
            }
        };
        let sync = async {
            let mut link = self.link.clone();
            loop {
                syncer.connecting();
                let outcome = match connect(&mut link).await {
                    Ok((client, mut notices)) => syncer.run_connected(&client, &mut notices, &mut commands).await,
                    Err(e) => Err(e),
                };
                if let Err(reason) = outcome {
                    tracing::info!("{}: {reason}", root.path);
                    syncer.disconnected(&reason);
                }
                syncer.run_disconnected(&mut commands, tokio::time::sleep(RETRY)).await;
            }
        };
        tokio::join!(publish, sync);
    }
}

/// The folder's sync, ready to connect (and the watcher that feeds it).
async fn open(
    setup: &RootSetup,
    key: &str,
    root: &SyncRoot,
    dir: &Path,
    status: watch::Sender<SyncStatus>,
) -> Result<(Syncer, Watcher), String> {
    let rest = root.path.strip_prefix("~/").unwrap_or(&root.path);
    let local = setup.home.join(rest);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&local)
        .map_err(|e| format!("creating {}: {e}", local.display()))?;
    // A folder linked elsewhere (a dotfiles manager's) is synced where it is.
    let local = std::fs::canonicalize(&local).map_err(|e| format!("{}: {e}", local.display()))?;
    let ignore = ignore_spec(root);
    let cfg = EndpointConfig {
        root: local,
        ignore: ignore.clone(),
        state_dir: dir.join("local"),
        trash_dir: setup.trash_dir.join(key),
        trash_limits: setup.trash,
    };
    let (ep, watcher) = endpoint::open_watching(cfg, setup.verify).await?;
    let cfg = SyncerConfig {
        session: format!("plugin-{key}"),
        // The laptop's version wins a conflict; the VPS's is kept in its trash.
        mode: Mode::TwoWayResolved,
        limits: setup.limits,
        remote_root: root.path.clone(),
        ignore,
        trash: setup.trash,
        verify: setup.verify,
        state_dir: dir.join("sync"),
    };
    let syncer = Syncer::new(cfg, ep, status).map_err(|e| format!("loading the sync state: {e}"))?;
    Ok((syncer, watcher))
}

/// A daemon channel of its own on the keeper's connection, once connected.
async fn connect(link: &mut DaemonLink) -> Result<(RemoteClient, mpsc::UnboundedReceiver<Notice>), String> {
    let (conn, sinc) =
        link.wait_for(Option::is_some).await.map_err(|_| "the keeper stopped")?.clone().ok_or("not connected")?;
    let channel = conn.exec(&bridge_command(&sinc)).await.map_err(|e| e.to_string())?;
    let dead = conn.dead_signal();
    // Only the channel is kept: the keeper closes the connection itself.
    drop(conn);
    open_daemon(channel.into_stream(), dead).await
}
