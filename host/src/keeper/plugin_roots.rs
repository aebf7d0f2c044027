//! Folders plugins keep the same on the laptop and the VPS, beside the
//! project (a manifest's `[[permissions.sync]]`, accepted by the user): the
//! agents' own configuration, for one. sinc's sync engine carries each on a
//! daemon channel of its own over the keeper's connection. Of the keepers
//! connected to one VPS, the one holding a folder's lock carries it; the
//! others try again every [`TAKE_OVER_EVERY`], so one folder is never synced
//! by two keepers at once and carries on when its keeper stops. Only the
//! entries the plugin names sync, and never what the credentials list
//! matches — on either side.

use super::local_host::TAKE_OVER_EVERY;
use super::{RETRY, bridge_command, open_daemon, try_lock_file};
use crate::plugins::Installed;
use crate::sync::credentials::CREDENTIALS;
use crate::sync::endpoint::{self, EndpointConfig};
use crate::sync::ignore::IgnoreSpec;
use crate::sync::syncer::{SyncStatus, Syncer, SyncerConfig};
use crate::sync::trash::TrashLimits;
use crate::transport::Connection;
use serde::{Deserialize, Serialize};
use sinc_plugin_host::manifest::SyncRoot;
use sinc_sync_core::{DeleteLimits, Mode};
use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// The keeper's connection and the sinc installed on the VPS, while connected.
pub type DaemonLink = watch::Receiver<Option<(Arc<Connection>, String)>>;

/// A folder a plugin asked for, as `sinc status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootReport {
    /// The plugin that asked.
    pub plugin: String,
    /// The folder's name in the plugin.
    pub name: String,
    /// The folder (`~/…`), on both machines.
    pub path: String,
    /// Whether this keeper carries it (else another keeper of this VPS does).
    pub here: bool,
    /// Its sync, when carried here.
    pub status: Option<SyncStatus>,
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

/// The folders this keeper is asked to keep, and how each goes.
#[derive(Debug, Clone)]
pub struct PluginRoots {
    installed: Installed,
    wanted: Arc<watch::Sender<Wanted>>,
    reports: Reports,
}

impl PluginRoots {
    /// Start keeping the folders of the enabled plugins.
    pub fn start(setup: RootSetup, link: DaemonLink, installed: Installed) -> PluginRoots {
        let (tx, rx) = watch::channel(installed.sync_roots());
        let reports = Reports::default();
        let roots = PluginRoots { installed, wanted: Arc::new(tx), reports: reports.clone() };
        tokio::spawn(keep_wanted(setup, link, rx, reports));
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

    /// The lockfile changed: keep exactly the enabled plugins' folders now.
    pub fn refresh(&self) {
        let wanted = self.installed.sync_roots();
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
}

/// The key of a plugin's folder (its lock and state folder's name).
fn key(plugin: &str, root: &SyncRoot) -> String {
    format!("{plugin}-{}", root.name)
}

/// The rules of a folder: its includes and excludes, and the credentials
/// list that nothing re-includes.
pub fn ignore_spec(root: &SyncRoot) -> IgnoreSpec {
    IgnoreSpec { patterns: root.ignore_lines(), use_gitignore: false, never: CREDENTIALS.map(String::from).to_vec() }
}

/// Run one carrier per wanted folder, stopping those no longer wanted.
async fn keep_wanted(setup: RootSetup, link: DaemonLink, mut wanted: watch::Receiver<Wanted>, reports: Reports) {
    let mut running: BTreeMap<String, (SyncRoot, tokio::task::JoinHandle<()>)> = BTreeMap::new();
    loop {
        let now: BTreeMap<String, (String, SyncRoot)> =
            wanted.borrow_and_update().iter().map(|(p, r)| (key(p, r), (p.clone(), r.clone()))).collect();
        running.retain(|k, (root, task)| {
            let keep = now.get(k).is_some_and(|(_, r)| r == root);
            if !keep {
                task.abort();
                reports.lock().unwrap_or_else(PoisonError::into_inner).remove(k);
            }
            keep
        });
        for (k, (plugin, root)) in now {
            if running.contains_key(&k) {
                continue;
            }
            let task = tokio::spawn(carry(setup.clone(), plugin, root.clone(), link.clone(), reports.clone()));
            running.insert(k, (root, task));
        }
        if wanted.changed().await.is_err() {
            break;
        }
    }
    running.values().for_each(|(_, task)| task.abort());
}

/// Carry one folder for as long as this keeper runs.
async fn carry(setup: RootSetup, plugin: String, root: SyncRoot, link: DaemonLink, reports: Reports) {
    let k = key(&plugin, &root);
    let report = |here: bool, status: Option<SyncStatus>| {
        let r = RootReport { plugin: plugin.clone(), name: root.name.clone(), path: root.path.clone(), here, status };
        reports.lock().unwrap_or_else(PoisonError::into_inner).insert(k.clone(), r);
    };
    report(false, None);
    let dir = setup.state_dir.join(&k);
    let _lock = loop {
        match try_lock_file(&dir.join("lock")) {
            Ok(Some(lock)) => break lock,
            Ok(None) => {}
            Err(e) => tracing::warn!("{plugin}'s folder {}: {e}", root.path),
        }
        tokio::time::sleep(TAKE_OVER_EVERY).await;
    };
    let (status_tx, mut status_rx) = watch::channel(SyncStatus::default());
    report(true, Some(SyncStatus::default()));
    let (mut syncer, _watcher) = match open(&setup, &k, &root, &dir, status_tx).await {
        Ok(opened) => opened,
        Err(e) => {
            let status = SyncStatus { last_error: Some(e.clone()), ..SyncStatus::default() };
            report(true, Some(status));
            return tracing::warn!("{plugin}'s folder {} cannot be synced: {e}", root.path);
        }
    };
    tracing::info!("keeping {} in sync for {plugin}", root.path);
    let publish = async {
        while status_rx.changed().await.is_ok() {
            let status = status_rx.borrow_and_update().clone();
            report(true, Some(status));
        }
    };
    let sync = async {
        // Nothing commands this sync: `sinc flush` and the like act on the project.
        let (_commands_tx, mut commands) = tokio::sync::mpsc::channel(1);
        let mut link = link;
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

/// The folder's sync, ready to connect (and the watcher that feeds it).
async fn open(
    setup: &RootSetup,
    key: &str,
    root: &SyncRoot,
    dir: &Path,
    status: watch::Sender<SyncStatus>,
) -> Result<(Syncer, crate::sync::watch::Watcher), String> {
    let rest = root.path.strip_prefix("~/").unwrap_or(&root.path);
    let local = setup.home.join(rest);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&local)
        .map_err(|e| format!("creating {}: {e}", local.display()))?;
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
async fn connect(
    link: &mut DaemonLink,
) -> Result<(crate::sync::client::RemoteClient, tokio::sync::mpsc::UnboundedReceiver<crate::sync::wire::Notice>), String>
{
    let current = link.wait_for(Option::is_some).await.map(|now| now.clone()).map_err(|_| "the keeper stopped")?;
    let Some((conn, sinc)) = current else { return Err("not connected".into()) };
    let channel = conn.exec(&bridge_command(&sinc)).await.map_err(|e| e.to_string())?;
    let dead = conn.dead_signal();
    // Only the channel is kept: the keeper closes the connection itself.
    drop(conn);
    open_daemon(channel.into_stream(), dead).await
}
