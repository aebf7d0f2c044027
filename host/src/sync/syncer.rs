//! The keeper's sync loop: it keeps the local endpoint and the VPS daemon's
//! endpoint in step. Changes from either side (the local watcher, the
//! daemon's notices) are reconciled by `sinc_sync_core` against the persisted
//! ancestor, checked against the guards, and applied on both sides at once,
//! pipelined over the one connection. Only the paths that changed are
//! touched; after a reconnect only what changed meanwhile is exchanged.

use super::ancestor::Ancestor;
use super::apply::{ApplyError, StageWriter};
use super::batch::{self, Change};
use super::client::RemoteClient;
use super::conflicts::ConflictStore;
use super::delta::{self, MIN_DELTA_SIZE};
use super::endpoint::{self, RootState, Shared};
use super::ignore::IgnoreSpec;
use super::transfer::{self, Receiver};
use super::trash::{Reason, TrashItem, TrashLimits};
use super::wire::{Body, Chunk, Notice, RejectKind, Request, Response, WireError};
use crate::clock::unix_secs as now;
use serde::{Deserialize, Serialize};
use sinc_sync_core::{
    Action, DeleteLimits, Entry, Halt, Mode, Plan, RelPath, Side, Sizes, Step, TreeView, Views, guard, reconcile,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// How a sync is set up.
#[derive(Debug, Clone)]
pub struct SyncerConfig {
    /// The session id.
    pub session: String,
    /// Direction and conflict policy.
    pub mode: Mode,
    /// Mass-delete guard.
    pub limits: DeleteLimits,
    /// The remote folder.
    pub remote_root: String,
    /// Ignore settings (both sides).
    pub ignore: IgnoreSpec,
    /// Trash bounds (both sides).
    pub trash: TrashLimits,
    /// Full-rescan interval.
    pub verify: Option<Duration>,
    /// Where the ancestor and conflicts are kept.
    pub state_dir: PathBuf,
}

/// What the sync is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncState {
    /// Connecting to the VPS.
    Connecting,
    /// Comparing the two sides.
    Scanning,
    /// Applying changes.
    Transferring,
    /// Both sides agree; watching for changes.
    Watching,
    /// Stopped by a guard until the user confirms.
    Halted,
    /// The connection is down; changes are journaled meanwhile.
    Disconnected,
    /// Paused by the user.
    Paused,
}

impl SyncState {
    /// Its name, as `sinc status` shows it.
    pub fn name(self) -> &'static str {
        match self {
            SyncState::Connecting => "connecting",
            SyncState::Scanning => "scanning",
            SyncState::Transferring => "transferring",
            SyncState::Watching => "watching",
            SyncState::Halted => "halted",
            SyncState::Disconnected => "disconnected",
            SyncState::Paused => "paused",
        }
    }
}

/// Progress of the current transfer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Steps done.
    pub done: u64,
    /// Steps in this batch.
    pub total: u64,
    /// Bytes of file content done.
    pub bytes_done: u64,
    /// Bytes of file content in this batch.
    pub bytes_total: u64,
}

/// The status `sinc status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// The state.
    pub state: SyncState,
    /// Why sync halted.
    pub halted: Option<String>,
    /// The current transfer.
    pub progress: Option<Progress>,
    /// Paths waiting to be synced.
    pub pending: usize,
    /// Unresolved conflicts.
    pub conflicts: usize,
    /// Recent problems (paths that could not be synced).
    pub problems: Vec<String>,
    /// Recent warnings (skipped files and the like).
    pub warnings: Vec<String>,
    /// When both sides last agreed, seconds since the epoch.
    pub last_sync: Option<u64>,
    /// Whether the first full sync has completed.
    pub first_sync_done: bool,
    /// The last connection error.
    pub last_error: Option<String>,
    /// The absolute remote folder, once known.
    pub remote_root: Option<String>,
    /// Changes applied since the keeper started.
    pub applied: u64,
}

impl SyncStatus {
    /// One line describing it, for listings: `watching`, `transferring
    /// 3/10`, `halted: why`, with `, N conflicts` when there are some.
    pub fn summary(&self) -> String {
        let mut s = self.state.name().to_owned();
        if let Some(p) = &self.progress {
            s.push_str(&format!(" {}/{}", p.done, p.total));
        }
        if let Some(h) = &self.halted {
            s.push_str(&format!(": {h}"));
        }
        if self.conflicts > 0 {
            s.push_str(&format!(", {} conflicts", self.conflicts));
        }
        s
    }
}

impl Default for SyncStatus {
    fn default() -> SyncStatus {
        SyncStatus {
            state: SyncState::Connecting,
            halted: None,
            progress: None,
            pending: 0,
            conflicts: 0,
            problems: Vec::new(),
            warnings: Vec::new(),
            last_sync: None,
            first_sync_done: false,
            last_error: None,
            remote_root: None,
            applied: 0,
        }
    }
}

/// Which version a conflict resolution keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keep {
    /// The laptop's.
    Local,
    /// The VPS's.
    Remote,
    /// Both: the remote version is kept beside the local one as a conflict copy.
    Both,
}

/// What a forced push or pull would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// Identifies the plan for `apply`.
    pub id: u64,
    /// The side that would change.
    pub target: Side,
    /// Paths created there.
    pub created: Vec<String>,
    /// Paths overwritten there (their current version goes to the trash).
    pub overwritten: Vec<String>,
    /// Paths deleted there (to the trash).
    pub deleted: Vec<String>,
    /// Bytes to transfer.
    pub bytes: u64,
}

/// One kept version of a path, on either side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// 1 is the newest.
    pub number: usize,
    /// Where it is kept.
    pub side: Side,
    /// The trash item.
    pub item: TrashItem,
}

/// Requests from the control socket.
#[derive(Debug)]
pub enum Command {
    /// Sync everything now and answer when both sides agree.
    Flush(oneshot::Sender<Result<(), String>>),
    /// Stop applying changes (watching continues).
    Pause,
    /// Apply changes again; `confirm` also lifts a guard halt once.
    Resume {
        /// Proceed past a halt.
        confirm: bool,
    },
    /// Compute a forced push (`Side::Local` wins) or pull.
    Plan {
        /// The winning side.
        winner: Side,
        /// The answer.
        reply: oneshot::Sender<Result<PlanSummary, String>>,
    },
    /// Apply a computed plan.
    Apply {
        /// Its id.
        id: u64,
        /// The answer.
        reply: oneshot::Sender<Result<usize, String>>,
    },
    /// Resolve conflicts.
    Resolve {
        /// The paths (empty: all).
        paths: Vec<RelPath>,
        /// Which version wins.
        keep: Keep,
        /// The answer: paths resolved.
        reply: oneshot::Sender<Result<Vec<String>, String>>,
    },
    /// List kept versions of a path.
    Versions {
        /// The path.
        path: RelPath,
        /// The answer.
        reply: oneshot::Sender<Result<Vec<Version>, String>>,
    },
    /// Put a kept version back.
    Restore {
        /// The path.
        path: RelPath,
        /// Which version (1 = newest).
        number: usize,
        /// The answer.
        reply: oneshot::Sender<Result<Version, String>>,
    },
    /// Stop syncing this project (the daemon stops watching it).
    Stop(oneshot::Sender<()>),
}

/// Why `run_connected` returned without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// A `Stop` command.
    ByCommand,
}

/// The remote tree as the keeper knows it: the ancestor plus what the
/// daemon reported as different.
struct RemoteView<'a> {
    ancestor: &'a Ancestor,
    overlay: &'a BTreeMap<RelPath, Option<Entry>>,
}

impl TreeView for RemoteView<'_> {
    fn get(&self, path: &RelPath) -> Option<&Entry> {
        match self.overlay.get(path) {
            Some(e) => e.as_ref(),
            None => self.ancestor.get(path),
        }
    }
}

/// How one step ended.
#[derive(Debug)]
enum Outcome {
    Applied,
    /// The remote side holds something else than planned.
    RemoteIs(Option<Entry>),
    /// The local side changed meanwhile (its watcher reports it).
    LocalChanged,
    /// Could not be done; reported.
    Problem(String),
}

const RECENT: usize = 20;
/// Requests in flight at once: two of the daemon's batches (`MAX_BATCH` in
/// serve.rs), so that one batch is received and staged while the one before
/// it is made durable and renamed into place. With only one batch in flight
/// the upload stops at every flush to disk. Each staged file stays open
/// until its batch is applied (open_files.rs raises the limit for that).
const WINDOW: usize = 512;
/// Downloads requested ahead of the one being received. Each may hold a few
/// chunks in memory (`client.rs`), with no cap on bytes, so there are fewer
/// of them than uploads; the keeper applies what it receives in batches of
/// `LOCAL_BATCH`, well within this.
const FETCH_AHEAD: usize = 256;
/// Deletions wait until the tree has been quiet this long, so that a folder
/// being removed (`rm -rf`) is seen whole, and its root's disappearance halts
/// sync before any of its files is deleted on the other side.
const DELETE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// The sync of one project, across connections.
pub struct Syncer {
    cfg: SyncerConfig,
    ancestor: Ancestor,
    local: Shared,
    overlay: BTreeMap<RelPath, Option<Entry>>,
    pending_local: BTreeSet<RelPath>,
    pending_remote: BTreeSet<RelPath>,
    conflicts: ConflictStore,
    status: watch::Sender<SyncStatus>,
    halt: Option<Halt>,
    confirmed: bool,
    paused: bool,
    local_cursor: (u64, u64),
    remote_cursor: Option<(u64, u64)>,
    remote_root_state: RootState,
    plans: HashMap<u64, Plan>,
    next_plan: u64,
    /// Flushes asked for while disconnected, answered once connected.
    queued_flushes: Vec<oneshot::Sender<Result<(), String>>>,
    /// When either side last reported a change.
    last_change: tokio::time::Instant,
    /// A cycle with deletions waits until then (see `DELETE_GRACE`).
    deferred_until: Option<tokio::time::Instant>,
    /// Paths handled since freed memory was last given back.
    handled_since_release: usize,
    problems: VecDeque<String>,
    warnings: VecDeque<String>,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer").field("session", &self.cfg.session).finish_non_exhaustive()
    }
}

impl Syncer {
    /// Start from the saved ancestor; every local path that differs from it
    /// is pending.
    pub fn new(cfg: SyncerConfig, local: Shared, status: watch::Sender<SyncStatus>) -> std::io::Result<Syncer> {
        let mut ancestor = Ancestor::open(&cfg.state_dir)?;
        let conflicts = ConflictStore::open(&cfg.state_dir);
        let (local_cursor, pending_local) = {
            let ep = local.lock().map_err(|_| std::io::Error::other("local endpoint lock poisoned"))?;
            ancestor.share_paths(ep.index().iter().map(|(p, _)| p));
            let mut pending: BTreeSet<RelPath> =
                ep.index().iter().filter(|(p, n)| ancestor.get(p) != Some(&n.entry)).map(|(p, _)| p.clone()).collect();
            pending.extend(ancestor.entries().keys().filter(|p| ep.index().get(p).is_none()).cloned());
            (ep.cursor(), pending)
        };
        let ancestor_len = ancestor.len();
        let mut s = Syncer {
            cfg,
            ancestor,
            local,
            overlay: BTreeMap::new(),
            pending_local,
            pending_remote: BTreeSet::new(),
            conflicts,
            status,
            halt: None,
            confirmed: false,
            paused: false,
            local_cursor,
            remote_cursor: None,
            remote_root_state: RootState::Ok,
            plans: HashMap::new(),
            next_plan: 1,
            queued_flushes: Vec::new(),
            last_change: tokio::time::Instant::now(),
            deferred_until: None,
            // Loading the ancestor left its decoded copy behind, and the
            // endpoint its opening scan: given back once first idle.
            handled_since_release: ancestor_len,
            problems: VecDeque::new(),
            warnings: VecDeque::new(),
        };
        s.publish(|st| st.state = SyncState::Connecting);
        Ok(s)
    }

    fn publish(&mut self, f: impl FnOnce(&mut SyncStatus)) {
        let pending = self.pending_local.len() + self.pending_remote.len();
        let conflicts = self.conflicts.unresolved.len();
        let problems: Vec<String> = self.problems.iter().cloned().collect();
        let warnings: Vec<String> = self.warnings.iter().cloned().collect();
        let halted = self.halt.as_ref().map(|h| h.to_string());
        self.status.send_modify(|st| {
            f(st);
            st.pending = pending;
            st.conflicts = conflicts;
            st.problems = problems;
            st.warnings = warnings;
            st.halted = halted;
        });
    }

    fn problem(&mut self, message: String) {
        tracing::warn!("{message}");
        if self.problems.len() == RECENT {
            self.problems.pop_front();
        }
        self.problems.push_back(message);
    }

    fn warning(&mut self, message: String) {
        if self.warnings.len() == RECENT {
            self.warnings.pop_front();
        }
        self.warnings.push_back(message);
    }

    /// Mark the connection down (changes keep being journaled).
    pub fn disconnected(&mut self, reason: &str) {
        self.publish(|st| {
            st.state = SyncState::Disconnected;
            st.progress = None;
            st.last_error = Some(reason.to_owned());
        });
    }

    /// Mark a connection attempt.
    pub fn connecting(&mut self) {
        self.publish(|st| st.state = SyncState::Connecting);
    }

    fn ignored_locally(&self, path: &RelPath, entry: Option<&Entry>) -> bool {
        match self.local.lock() {
            Ok(ep) => ep.rules().is_ignored(path, entry.is_some_and(Entry::is_dir)),
            Err(_) => false,
        }
    }

    fn note_remote(&mut self, path: RelPath, entry: Option<Entry>) {
        if self.ignored_locally(&path, entry.as_ref()) || path.is_root() {
            return;
        }
        if self.ancestor.get(&path) == entry.as_ref() {
            self.overlay.remove(&path);
        } else {
            self.overlay.insert(path.clone(), entry);
        }
        self.pending_remote.insert(path);
    }

    fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::Changes { epoch, seq, changes } => {
                self.last_change = tokio::time::Instant::now();
                for (p, e) in changes {
                    self.note_remote(p, e);
                }
                self.remote_cursor = Some((epoch, seq));
            }
            Notice::Root(state) => self.remote_root_state = state,
            Notice::Warning(w) => self.warning(format!("remote: {w}")),
        }
    }

    async fn on_local_change(&mut self) {
        let cursor = self.local_cursor;
        let (changes, now, skipped) = endpoint::with(&self.local, move |e| {
            let skipped: Vec<String> =
                e.take_skipped().into_iter().map(|s| format!("{}: {}", s.path, s.reason)).collect();
            (e.changes_since(cursor.0, cursor.1), e.cursor(), skipped)
        })
        .await;
        for s in skipped {
            self.warning(format!("local: {s}"));
        }
        match changes {
            Some(changes) => {
                if !changes.is_empty() {
                    self.last_change = tokio::time::Instant::now();
                }
                self.pending_local.extend(changes.into_iter().map(|(p, _)| p));
            }
            None => {
                let all = endpoint::with(&self.local, |e| e.snapshot()).await;
                self.pending_local.extend(all.into_iter().map(|(p, _)| p));
                self.pending_local.extend(self.ancestor.entries().keys().cloned());
            }
        }
        self.local_cursor = now;
    }

    /// Open the project on the daemon and learn what changed on the VPS
    /// since the last agreed state.
    async fn open_remote(&mut self, client: &RemoteClient) -> Result<(), String> {
        self.publish(|st| st.state = SyncState::Scanning);
        let started = std::time::Instant::now();
        let open = Request::Open {
            session: self.cfg.session.clone(),
            root: self.cfg.remote_root.clone(),
            ignore: self.cfg.ignore.clone(),
            trash: self.cfg.trash,
            verify_secs: self.cfg.verify.map(|d| d.as_secs()).unwrap_or(0),
        };
        let (epoch, seq, root) = match client.call(open).await.map_err(|e| e.to_string())? {
            Response::Opened { epoch, seq, root, root_state, .. } => {
                self.remote_root_state = root_state;
                (epoch, seq, root)
            }
            Response::Failed { message } => return Err(format!("the VPS could not open the project: {message}")),
            other => return Err(format!("unexpected answer to open: {other:?}")),
        };
        tracing::debug!("the VPS opened the project in {:.1?}", started.elapsed());
        self.publish(|st| st.remote_root = Some(root));
        let since = match self.ancestor.remote_cursor {
            Some((e, s)) if e == epoch => {
                match client.call(Request::ChangesSince { epoch: e, seq: s }).await.map_err(|e| e.to_string())? {
                    Response::Changes { changes, .. } => Some(changes),
                    _ => None,
                }
            }
            _ => None,
        };
        match since {
            Some(changes) => {
                for (p, e) in changes {
                    self.note_remote(p, e);
                }
            }
            None => {
                // Another daemon run (or the first sync): compare the whole
                // remote tree with the ancestor. Only metadata travels.
                let remote = client.snapshot().await.map_err(|e| e.to_string())?;
                let mut seen = BTreeSet::new();
                for (p, e) in remote {
                    seen.insert(p.clone());
                    if self.ancestor.get(&p) != Some(&e) {
                        self.note_remote(p, Some(e));
                    }
                }
                let missing: Vec<RelPath> =
                    self.ancestor.entries().keys().filter(|p| !seen.contains(*p)).cloned().collect();
                for p in missing {
                    self.note_remote(p, None);
                }
            }
        }
        self.remote_cursor =
            Some((epoch, seq.max(self.remote_cursor.filter(|c| c.0 == epoch).map(|c| c.1).unwrap_or(0))));
        tracing::debug!("remote changes known {:.1?} after opening", started.elapsed());
        Ok(())
    }

    /// Sync until the connection ends (`Err` with the reason) or a stop.
    pub async fn run_connected(
        &mut self,
        client: &RemoteClient,
        notices: &mut mpsc::UnboundedReceiver<Notice>,
        commands: &mut mpsc::Receiver<Command>,
    ) -> Result<Stopped, String> {
        let mut local_rx = self.local.lock().map_err(|_| "local endpoint lock poisoned".to_owned())?.subscribe();
        self.on_local_change().await;
        self.open_remote(client).await?;
        for reply in std::mem::take(&mut self.queued_flushes) {
            let r = self.flush(client).await.map_err(|e| e.to_string())?;
            let _ = reply.send(r);
        }
        loop {
            while let Ok(n) = notices.try_recv() {
                self.on_notice(n);
            }
            if self.can_sync() && self.has_pending() && !self.deferred() {
                self.cycle(client).await.map_err(|e| e.to_string())?;
                continue;
            }
            let wake = self.deferred_until;
            let idle = !self.has_pending();
            self.publish(|st| {
                if idle && st.state != SyncState::Halted && st.state != SyncState::Paused {
                    st.state = SyncState::Watching;
                    st.progress = None;
                    st.last_sync = Some(now());
                    st.first_sync_done = true;
                    st.last_error = None;
                }
            });
            if idle && self.handled_since_release >= crate::memory::RELEASE_AFTER_PATHS {
                // The ancestor a large sync grew one path at a time is
                // rebuilt compactly first (the endpoints do the same with
                // their index once changes stop).
                self.handled_since_release = 0;
                self.ancestor.repack_if_grown();
                // Off this task: it walks the allocator's free lists.
                tokio::task::spawn_blocking(crate::memory::release_freed);
            }
            tokio::select! {
                n = notices.recv() => match n {
                    Some(n) => self.on_notice(n),
                    None => return Err(client.wait_closed().await),
                },
                r = local_rx.changed() => {
                    if r.is_err() {
                        return Err("the local endpoint stopped".into());
                    }
                    self.on_local_change().await;
                }
                c = commands.recv() => match c {
                    Some(Command::Stop(reply)) => {
                        let _ = client.call(Request::Close).await;
                        let _ = reply.send(());
                        return Ok(Stopped::ByCommand);
                    }
                    Some(c) => self.on_command(client, c).await.map_err(|e| e.to_string())?,
                    None => return Ok(Stopped::ByCommand),
                },
                reason = client.wait_closed() => return Err(reason),
                _ = tokio::time::sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)), if wake.is_some() => {
                    self.deferred_until = None;
                }
            }
        }
    }

    fn deferred(&self) -> bool {
        self.deferred_until.is_some_and(|t| tokio::time::Instant::now() < t)
    }

    /// Serve commands while there is no connection, until `until` completes.
    pub async fn run_disconnected(
        &mut self,
        commands: &mut mpsc::Receiver<Command>,
        until: impl std::future::Future<Output = ()>,
    ) -> Option<Stopped> {
        let mut local_rx = match self.local.lock() {
            Ok(ep) => ep.subscribe(),
            Err(_) => return None,
        };
        tokio::pin!(until);
        loop {
            tokio::select! {
                _ = &mut until => return None,
                r = local_rx.changed() => {
                    if r.is_ok() {
                        self.on_local_change().await;
                        self.publish(|_| {});
                    }
                }
                c = commands.recv() => match c {
                    None => return Some(Stopped::ByCommand),
                    Some(Command::Stop(reply)) => {
                        let _ = reply.send(());
                        return Some(Stopped::ByCommand);
                    }
                    Some(Command::Pause) => self.set_paused(true),
                    Some(Command::Resume { confirm }) => self.resume(confirm),
                    // A flush waits for the connection (the caller bounds the wait).
                    Some(Command::Flush(reply)) => self.queued_flushes.push(reply),
                    Some(other) => refuse(other, "not connected to the VPS; try again once `sinc status` says watching"),
                },
            }
        }
    }

    fn can_sync(&self) -> bool {
        !self.paused && self.halt.is_none()
    }

    fn has_pending(&self) -> bool {
        !self.pending_local.is_empty() || !self.pending_remote.is_empty()
    }

    fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        self.publish(|st| st.state = if paused { SyncState::Paused } else { SyncState::Scanning });
    }

    fn resume(&mut self, confirm: bool) {
        self.paused = false;
        if confirm && self.halt.is_some() {
            self.halt = None;
            self.confirmed = true;
        }
        let halted = self.halt.is_some();
        self.publish(|st| st.state = if halted { SyncState::Halted } else { SyncState::Scanning });
    }

    fn root_halt(&self, local_root: RootState) -> Option<Halt> {
        for (side, state) in [(Side::Local, local_root), (Side::Remote, self.remote_root_state)] {
            match state {
                RootState::Ok => {}
                RootState::Missing => return Some(Halt::RootDeleted { side }),
                RootState::NotADirectory => return Some(Halt::RootTypeChanged { side }),
            }
        }
        None
    }

    fn halt_now(&mut self, halt: Halt) {
        self.problem(format!("sync halted: {halt}; check both folders, then run `sinc resume --confirm` to proceed"));
        self.halt = Some(halt);
        self.publish(|st| {
            st.state = SyncState::Halted;
            st.progress = None;
        });
    }

    /// Reconcile and apply everything pending.
    async fn cycle(&mut self, client: &RemoteClient) -> Result<(), WireError> {
        let mut paths: BTreeSet<RelPath> = std::mem::take(&mut self.pending_local);
        paths.extend(std::mem::take(&mut self.pending_remote));
        self.handled_since_release += paths.len();
        let started = std::time::Instant::now();
        let plan = {
            let Ok(ep) = self.local.lock() else { return Ok(()) };
            if let Some(h) = self.root_halt(ep.root_state()) {
                drop(ep);
                self.pending_local.extend(paths);
                self.halt_now(h);
                return Ok(());
            }
            let paths: Vec<RelPath> = paths
                .iter()
                .filter(|p| !ep.rules().is_ignored(p, ep.index().get(p).is_some_and(|n| n.entry.is_dir())))
                .cloned()
                .collect();
            let remote = RemoteView { ancestor: &self.ancestor, overlay: &self.overlay };
            let plan =
                reconcile(Views { ancestor: &self.ancestor, local: ep.index(), remote: &remote }, paths, self.cfg.mode);
            // Deletions wait for quiet first, so the guards judge a removal
            // whole rather than the part the watcher reported so far. The
            // guards protect against propagating deletions: they count the
            // whole agreed tree only for a plan that deletes and will run now.
            let removes = plan.local.iter().chain(&plan.remote).any(|s| matches!(s.action, Action::Remove { .. }));
            let waiting = removes && tokio::time::Instant::now() < self.last_change + DELETE_GRACE;
            let verdict = (removes && !waiting)
                .then(|| {
                    let sizes = Sizes {
                        agreed_files: self.ancestor.entries().values().filter(|e| !e.is_dir()).count(),
                        agreed_top_level: self.ancestor.entries().keys().filter(|p| p.depth() == 1).count(),
                        local_empty: ep.index().is_empty(),
                        remote_empty: self.ancestor.entries().keys().all(|p| matches!(self.overlay.get(p), Some(None)))
                            && self.overlay.values().all(Option::is_none),
                    };
                    guard::check(&plan, sizes, self.cfg.limits)
                })
                .flatten();
            (plan, verdict, waiting)
        };
        let (plan, verdict, waiting) = plan;
        if waiting {
            self.pending_local.extend(paths);
            self.deferred_until = Some(self.last_change + DELETE_GRACE);
            return Ok(());
        }
        if let Some(h) = verdict.filter(|_| !self.confirmed) {
            self.pending_local.extend(paths);
            self.halt_now(h);
            return Ok(());
        }
        self.confirmed = false;
        let planned = started.elapsed();
        let result = self.apply_plan(client, &plan).await;
        if !plan.local.is_empty() || !plan.remote.is_empty() {
            tracing::debug!(
                "{} paths: planned in {planned:.1?}, {} steps here and {} on the VPS applied {:.1?} later",
                paths.len(),
                plan.local.len(),
                plan.remote.len(),
                started.elapsed() - planned
            );
        }
        if result.is_err() {
            // The connection failed midway: reconsider everything after reconnecting.
            self.pending_local.extend(paths);
            return result.map(|_| ());
        }
        let conflicted: BTreeSet<&RelPath> = plan.conflicts.iter().map(|c| &c.path).collect();
        let settled: Vec<RelPath> = paths.iter().filter(|p| !conflicted.contains(p)).cloned().collect();
        self.conflicts.settle(settled.iter());
        self.conflicts.record(&plan.conflicts);
        result.map(|_| ())
    }

    /// Apply `plan` to both sides and record what succeeded in the ancestor.
    async fn apply_plan(&mut self, client: &RemoteClient, plan: &Plan) -> Result<usize, WireError> {
        let files: u64 = (plan.local.len() + plan.remote.len()) as u64;
        let bytes: u64 =
            plan.local.iter().chain(&plan.remote).map(|s| s.resulting().map(Entry::size).unwrap_or(0)).sum();
        if files > 0 {
            self.publish(|st| {
                st.state = SyncState::Transferring;
                st.progress = Some(Progress { done: 0, total: files, bytes_done: 0, bytes_total: bytes });
            });
        }
        let status = self.status.clone();
        let tick = move |n: u64| {
            status.send_modify(|st| {
                if let Some(p) = &mut st.progress {
                    p.done += 1;
                    p.bytes_done += n;
                }
            });
        };
        let local = self.local.clone();
        let (remote_results, local_results) = tokio::join!(
            apply_remote(client, &local, &plan.remote, &tick),
            apply_local(client, &local, &plan.local, &tick)
        );
        let mut updates: Vec<(RelPath, Option<Entry>)> = plan.in_sync.clone();
        let mut applied = 0usize;
        for (step, outcome) in remote_results?.into_iter().chain(local_results?) {
            match outcome {
                Outcome::Applied => {
                    applied += 1;
                    updates.push((step.path.clone(), step.resulting().cloned()));
                }
                Outcome::RemoteIs(current) => self.note_remote(step.path.clone(), current),
                // The local watcher reports the change; retrying now would loop.
                Outcome::LocalChanged => {}
                Outcome::Problem(message) => self.problem(message),
            }
        }
        for (p, _) in &updates {
            self.overlay.remove(p);
        }
        self.ancestor.update(&updates, self.remote_cursor).map_err(WireError::Io)?;
        let ancestor = &self.ancestor;
        self.overlay.retain(|p, e| ancestor.get(p) != e.as_ref());
        self.publish(|st| st.applied += applied as u64);
        Ok(applied)
    }

    async fn on_command(&mut self, client: &RemoteClient, command: Command) -> Result<(), WireError> {
        match command {
            Command::Flush(reply) => {
                let r = self.flush(client).await?;
                let _ = reply.send(r);
            }
            Command::Pause => self.set_paused(true),
            Command::Resume { confirm } => self.resume(confirm),
            Command::Plan { winner, reply } => {
                let r = self.forced_plan(client, winner).await?;
                let _ = reply.send(r);
            }
            Command::Apply { id, reply } => {
                let r = match self.plans.remove(&id) {
                    None => Err("that plan is gone; compute it again".to_owned()),
                    Some(plan) => {
                        let n = self.apply_plan(client, &plan).await?;
                        Ok(n)
                    }
                };
                let _ = reply.send(r);
            }
            Command::Resolve { paths, keep, reply } => {
                let r = self.resolve(client, paths, keep).await?;
                let _ = reply.send(r);
            }
            Command::Versions { path, reply } => {
                let r = self.versions(client, &path).await?;
                let _ = reply.send(r);
            }
            Command::Restore { path, number, reply } => {
                let r = self.restore(client, &path, number).await?;
                let _ = reply.send(r);
            }
            Command::Stop(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    /// Rescan both sides so the keeper's views are current (no syncing).
    async fn rescan_both(&mut self, client: &RemoteClient) -> Result<(), WireError> {
        let (local_root, remote) = tokio::join!(
            endpoint::with(&self.local, |e| e.full_rescan().map(|_| e.root_state())),
            client.call(Request::Rescan)
        );
        let local_root = local_root.map_err(WireError::Io)?;
        self.on_local_change().await;
        if let Response::Rescanned { epoch, seq, root_state } = remote? {
            self.remote_root_state = root_state;
            let since = self.remote_cursor.filter(|c| c.0 == epoch).map(|c| c.1).unwrap_or(0);
            if let Response::Changes { changes, .. } = client.call(Request::ChangesSince { epoch, seq: since }).await? {
                for (p, e) in changes {
                    self.note_remote(p, e);
                }
                self.remote_cursor = Some((epoch, seq));
            }
        }
        if self.halt.is_none()
            && let Some(h) = self.root_halt(local_root)
        {
            self.halt_now(h);
        }
        Ok(())
    }

    /// Rescan both sides and sync until they agree.
    async fn flush(&mut self, client: &RemoteClient) -> Result<Result<(), String>, WireError> {
        self.rescan_both(client).await?;
        for _ in 0..8 {
            if !self.has_pending() || !self.can_sync() {
                break;
            }
            if let Some(t) = self.deferred_until.take() {
                tokio::time::sleep_until(t).await;
                self.rescan_both(client).await?;
                continue;
            }
            self.cycle(client).await?;
        }
        Ok(if let Some(h) = &self.halt {
            Err(format!("sync is halted: {h}"))
        } else if self.paused {
            Err("sync is paused; `sinc resume` continues".into())
        } else if self.has_pending() {
            Err(format!("{} paths are still changing", self.pending_local.len() + self.pending_remote.len()))
        } else {
            self.publish(|st| {
                st.state = SyncState::Watching;
                st.last_sync = Some(now());
                st.first_sync_done = true;
            });
            Ok(())
        })
    }

    /// Every path either side or the ancestor knows.
    fn all_paths(&self) -> BTreeSet<RelPath> {
        let mut all: BTreeSet<RelPath> = self.ancestor.entries().keys().cloned().collect();
        all.extend(self.overlay.keys().cloned());
        if let Ok(ep) = self.local.lock() {
            all.extend(ep.index().iter().map(|(p, _)| p.clone()));
        }
        all
    }

    async fn forced_plan(
        &mut self,
        client: &RemoteClient,
        winner: Side,
    ) -> Result<Result<PlanSummary, String>, WireError> {
        // Fresh views of both sides, without a two-way round first: a push
        // must not pull the other side's changes before overriding them.
        self.rescan_both(client).await?;
        let mode = if winner == Side::Local { Mode::Push } else { Mode::Pull };
        let paths = self.all_paths();
        let plan = {
            let Ok(ep) = self.local.lock() else {
                return Ok(Err("local endpoint unavailable".into()));
            };
            let remote = RemoteView { ancestor: &self.ancestor, overlay: &self.overlay };
            reconcile(Views { ancestor: &self.ancestor, local: ep.index(), remote: &remote }, paths, mode)
        };
        let target = winner.other();
        let mut summary =
            PlanSummary { id: self.next_plan, target, created: vec![], overwritten: vec![], deleted: vec![], bytes: 0 };
        for step in plan.steps(target) {
            let p = step.path.to_string();
            match &step.action {
                Action::Put { expected: None, new } => {
                    summary.bytes += new.size();
                    if !summary.deleted.contains(&p) {
                        summary.created.push(p);
                    } else {
                        summary.deleted.retain(|d| d != &p);
                        summary.overwritten.push(p);
                    }
                }
                Action::Put { expected: Some(_), new } => {
                    summary.bytes += new.size();
                    summary.overwritten.push(p);
                }
                Action::Remove { .. } => summary.deleted.push(p),
            }
        }
        self.next_plan += 1;
        self.plans.clear();
        self.plans.insert(summary.id, plan);
        Ok(Ok(summary))
    }

    async fn resolve(
        &mut self,
        client: &RemoteClient,
        paths: Vec<RelPath>,
        keep: Keep,
    ) -> Result<Result<Vec<String>, String>, WireError> {
        let targets: Vec<RelPath> = self
            .conflicts
            .unresolved
            .iter()
            .map(|r| r.conflict.path.clone())
            .filter(|c| paths.is_empty() || paths.contains(c))
            .collect();
        if targets.is_empty() {
            return Ok(Err(if paths.is_empty() {
                "there are no unresolved conflicts".into()
            } else {
                format!(
                    "no unresolved conflict at {}",
                    paths.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
                )
            }));
        }
        let mut done = Vec::new();
        for root in targets {
            if keep == Keep::Both {
                match self.conflict_copy(client, &root).await? {
                    Ok(()) => {}
                    Err(e) => {
                        self.problem(e);
                        continue;
                    }
                }
            }
            let winner = if keep == Keep::Remote { Side::Remote } else { Side::Local };
            let mode = if winner == Side::Local { Mode::Push } else { Mode::Pull };
            let subtree: Vec<RelPath> = self.all_paths().into_iter().filter(|p| p.starts_with(&root)).collect();
            let plan = {
                let Ok(ep) = self.local.lock() else { continue };
                let remote = RemoteView { ancestor: &self.ancestor, overlay: &self.overlay };
                reconcile(Views { ancestor: &self.ancestor, local: ep.index(), remote: &remote }, subtree, mode)
            };
            self.apply_plan(client, &plan).await?;
            self.conflicts.resolved(&root, winner);
            done.push(root.to_string());
        }
        self.publish(|_| {});
        Ok(Ok(done))
    }

    /// Keep the remote version of a conflicted file beside the local one.
    async fn conflict_copy(&mut self, client: &RemoteClient, path: &RelPath) -> Result<Result<(), String>, WireError> {
        let remote = RemoteView { ancestor: &self.ancestor, overlay: &self.overlay }.get(path).cloned();
        let Some(entry @ Entry::File { .. }) = remote else {
            return Ok(Err(format!(
                "{path}: keeping both versions works for files; choose --keep local or --keep remote"
            )));
        };
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().replace([':', '-'], "");
        let name = path.name();
        let copy_name = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => format!("{stem}.sync-conflict-{stamp}-remote.{ext}"),
            _ => format!("{name}.sync-conflict-{stamp}-remote"),
        };
        let Ok(copy) = path.parent().unwrap_or_else(RelPath::root).join(&copy_name) else {
            return Ok(Err(format!("{path}: cannot name a conflict copy")));
        };
        let step =
            Step { path: copy.clone(), action: Action::Put { expected: None, new: entry.clone() }, loser: false };
        let d = client.download(Request::Read { path: path.clone(), entry }).await?;
        let outcome = receive_and_apply(&self.local, &step, d).await;
        match outcome {
            Outcome::Applied => {
                self.pending_local.insert(copy);
                Ok(Ok(()))
            }
            Outcome::Problem(m) => Ok(Err(m)),
            other => Ok(Err(format!("{path}: could not copy the remote version ({other:?})"))),
        }
    }

    async fn versions(
        &mut self,
        client: &RemoteClient,
        path: &RelPath,
    ) -> Result<Result<Vec<Version>, String>, WireError> {
        let mut all: Vec<(Side, TrashItem)> = {
            let p = path.clone();
            endpoint::with(&self.local, move |e| e.trash().versions(&p))
                .await
                .into_iter()
                .map(|i| (Side::Local, i))
                .collect()
        };
        match client.call(Request::TrashList).await? {
            Response::TrashItems(items) => {
                all.extend(items.into_iter().filter(|i| &i.path == path).map(|i| (Side::Remote, i)))
            }
            Response::Failed { message } => return Ok(Err(message)),
            _ => {}
        }
        all.sort_by(|a, b| b.1.time.cmp(&a.1.time).then_with(|| b.1.id.cmp(&a.1.id)));
        Ok(Ok(all.into_iter().enumerate().map(|(i, (side, item))| Version { number: i + 1, side, item }).collect()))
    }

    async fn restore(
        &mut self,
        client: &RemoteClient,
        path: &RelPath,
        number: usize,
    ) -> Result<Result<Version, String>, WireError> {
        let versions = match self.versions(client, path).await? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let Some(version) = versions.into_iter().find(|v| v.number == number) else {
            return Ok(Err(format!("{path} has no kept version {number}; see `sinc restore {path} --list`")));
        };
        // Folders on the way back may be gone: recreate them.
        for dir in path.ancestors().collect::<Vec<_>>().into_iter().rev().filter(|d| !d.is_root()) {
            let d = dir.clone();
            let r = endpoint::with(&self.local, move |e| match e.index().get(&d).map(|n| n.entry.clone()) {
                Some(Entry::Dir) => Ok(()),
                _ => e.transition().put_dir(&d),
            })
            .await;
            if let Err(err) = r {
                return Ok(Err(format!("cannot recreate {dir}: {err}")));
            }
            self.pending_local.insert(dir);
        }
        let current = {
            let p = path.clone();
            endpoint::with(&self.local, move |e| e.index().get(&p).map(|n| n.entry.clone())).await
        };
        let step = Step {
            path: path.clone(),
            action: Action::Put { expected: current.clone(), new: version.item.entry.clone() },
            loser: false,
        };
        let outcome = match (&version.item.entry, version.side) {
            (Entry::Symlink { .. }, _) => {
                let (p, new) = (path.clone(), version.item.entry.clone());
                match endpoint::with(&self.local, move |e| {
                    e.transition().put_symlink(&p, current.as_ref(), &new, false)
                })
                .await
                {
                    Ok(()) => Outcome::Applied,
                    Err(e) => Outcome::Problem(e.to_string()),
                }
            }
            (_, Side::Local) => {
                let item = version.item.clone();
                let p = path.clone();
                endpoint::with(&self.local, move |e| {
                    let src = e.trash().content(&item);
                    let staged = (|| {
                        let mut w = StageWriter::create(e.root(), &p)?;
                        std::io::copy(&mut std::fs::File::open(&src)?, &mut w)?;
                        w.finish()
                    })();
                    match staged {
                        Ok(s) => match e.transition().put_file(&p, current.as_ref(), &item.entry, s, false) {
                            Ok(()) => Outcome::Applied,
                            Err(err) => Outcome::Problem(err.to_string()),
                        },
                        Err(err) => Outcome::Problem(format!("{p}: {err}")),
                    }
                })
                .await
            }
            (_, Side::Remote) => {
                let d = client.download(Request::TrashRead { id: version.item.id.clone() }).await?;
                receive_and_apply(&self.local, &step, d).await
            }
        };
        match outcome {
            Outcome::Applied => {
                if let Some(Entry::File { .. } | Entry::Symlink { .. }) = &step_expected(&step) {
                    tracing::info!("the version of {path} that was replaced by the restore is in the local trash");
                }
                self.pending_local.insert(path.clone());
                Ok(Ok(version))
            }
            Outcome::Problem(m) => Ok(Err(m)),
            other => Ok(Err(format!("{path} changed during the restore ({other:?}); try again"))),
        }
    }
}

fn step_expected(step: &Step) -> Option<Entry> {
    match &step.action {
        Action::Put { expected, .. } => expected.clone(),
        Action::Remove { expected } => Some(expected.clone()),
    }
}

fn refuse(command: Command, why: &str) {
    let why = why.to_owned();
    match command {
        Command::Flush(r) => {
            let _ = r.send(Err(why));
        }
        Command::Plan { reply, .. } => {
            let _ = reply.send(Err(why));
        }
        Command::Apply { reply, .. } => {
            let _ = reply.send(Err(why));
        }
        Command::Resolve { reply, .. } => {
            let _ = reply.send(Err(why));
        }
        Command::Versions { reply, .. } => {
            let _ = reply.send(Err(why));
        }
        Command::Restore { reply, .. } => {
            let _ = reply.send(Err(why));
        }
        Command::Stop(r) => {
            let _ = r.send(());
        }
        Command::Pause | Command::Resume { .. } => {}
    }
}

fn outcome_of(response: Response, path: &RelPath) -> Outcome {
    match response {
        Response::Applied => Outcome::Applied,
        Response::Rejected { kind: RejectKind::Changed, current, .. } => Outcome::RemoteIs(current),
        Response::Rejected { kind: RejectKind::Aborted, .. } => Outcome::LocalChanged,
        Response::Rejected { message, .. } => Outcome::Problem(format!("remote: {message}")),
        Response::Failed { message } => Outcome::Problem(format!("remote: {path}: {message}")),
        other => Outcome::Problem(format!("remote: {path}: unexpected answer {other:?}")),
    }
}

/// What a file step sends: nothing (the content is already there), the
/// whole file, or a delta against the version it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    None,
    Whole,
    Delta,
}

fn content_of(expected: Option<&Entry>, new: &Entry) -> Content {
    match (new, expected) {
        (Entry::File { digest, .. }, Some(Entry::File { digest: old, .. })) if old == digest => Content::None,
        (Entry::File { size, .. }, Some(Entry::File { size: old_size, .. }))
            if *old_size >= MIN_DELTA_SIZE && *size >= MIN_DELTA_SIZE =>
        {
            Content::Delta
        }
        (Entry::File { .. }, _) => Content::Whole,
        _ => Content::None,
    }
}

/// Read `path` (which should have `digest`) into chunks on `tx`, whole or as
/// a delta against `sig`; a failure ends the stream with `Abort`.
fn read_into(
    tx: &mpsc::Sender<Chunk>,
    path: &std::path::Path,
    digest: &sinc_sync_core::Digest,
    sig: Option<&delta::Signature>,
) {
    let emit = |c: Chunk| tx.blocking_send(c).map_err(std::io::Error::other);
    let result = match sig {
        Some(sig) => transfer::send_delta(path, digest, sig, emit),
        None => transfer::send_file(path, digest, emit),
    };
    if let Err(e) = result {
        let _ = tx.blocking_send(Chunk::Abort { reason: e.to_string() });
    }
}

/// Send local content for one file step as chunks (whole or as a delta).
fn spawn_sender(abs: PathBuf, digest: sinc_sync_core::Digest, sig: Option<delta::Signature>) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || read_into(&tx, &abs, &digest, sig.as_ref()));
    rx
}

/// Files the reader thread may have read ahead of the sender (each holds up
/// to four chunks: at most 16 MiB).
const READ_AHEAD: usize = 16;
/// Content of uploads in flight, beyond which the oldest is waited for.
const MAX_INFLIGHT_BYTES: u64 = 32 << 20;

/// Read the whole-file steps among `steps`, in order, on one thread that runs
/// up to `READ_AHEAD` files ahead of the sender (one thread for a whole plan,
/// not a thread hop per file).
fn spawn_whole_file_reader(root: &std::path::Path, steps: &[Step]) -> mpsc::Receiver<mpsc::Receiver<Chunk>> {
    let files: Vec<(PathBuf, sinc_sync_core::Digest)> = steps
        .iter()
        .filter_map(|step| match &step.action {
            Action::Put { expected, new: new @ Entry::File { digest, .. } }
                if content_of(expected.as_ref(), new) == Content::Whole =>
            {
                Some((root.join(step.path.as_str()), *digest))
            }
            _ => None,
        })
        .collect();
    let (files_tx, files_rx) = mpsc::channel(READ_AHEAD);
    if !files.is_empty() {
        tokio::task::spawn_blocking(move || {
            for (path, digest) in files {
                let (tx, rx) = mpsc::channel(4);
                if files_tx.blocking_send(rx).is_err() {
                    return;
                }
                read_into(&tx, &path, &digest, None);
            }
        });
    }
    files_rx
}

/// Apply steps to the VPS, pipelined.
async fn apply_remote(
    client: &RemoteClient,
    local: &Shared,
    steps: &[Step],
    tick: &(dyn Fn(u64) + Sync),
) -> Result<Vec<(Step, Outcome)>, WireError> {
    let root = endpoint::with(local, |e| e.root().to_path_buf()).await;
    let mut whole_files = spawn_whole_file_reader(&root, steps);
    let mut inflight: VecDeque<(Step, oneshot::Receiver<Response>)> = VecDeque::new();
    let mut inflight_bytes: u64 = 0;
    let mut out = Vec::with_capacity(steps.len());
    let settle = |(step, rx): (Step, oneshot::Receiver<Response>)| async move {
        let outcome = match rx.await {
            Ok(r) => outcome_of(r, &step.path),
            Err(_) => return Err(WireError::Closed),
        };
        Ok((step, outcome))
    };
    for step in steps {
        let path = step.path.clone();
        let rx = match &step.action {
            Action::Remove { expected } => {
                client.send(Request::Remove { path, expected: expected.clone(), loser: step.loser }).await?
            }
            Action::Put { expected, new } => {
                let plain = Request::Put {
                    path: path.clone(),
                    expected: expected.clone(),
                    new: new.clone(),
                    body: Body::None,
                    loser: step.loser,
                };
                let put = |body| Request::Put {
                    path: path.clone(),
                    expected: expected.clone(),
                    new: new.clone(),
                    body,
                    loser: step.loser,
                };
                match (content_of(expected.as_ref(), new), new, expected) {
                    (Content::Whole, ..) => {
                        // The reader may wait on a connection that died
                        // (its chunks unsent): notice the death too.
                        let chunks = tokio::select! {
                            next = whole_files.recv() => next.ok_or_else(|| {
                                WireError::Io(std::io::Error::other("the file reader stopped before the plan ended"))
                            })?,
                            _ = client.wait_closed() => return Err(WireError::Closed),
                        };
                        client.upload(put(Body::Full), chunks).await?
                    }
                    (Content::Delta, Entry::File { digest, .. }, Some(old)) => {
                        let request = Request::Signature { path: path.clone(), entry: old.clone() };
                        // Without a signature (the daemon could not read its
                        // version) the whole file goes.
                        let sig = match client.call(request).await? {
                            Response::Signature(sig) => Some(sig),
                            _ => None,
                        };
                        let body = sig.as_ref().map_or(Body::Full, |s| Body::Delta { block_size: s.block_size });
                        let chunks = spawn_sender(root.join(path.as_str()), *digest, sig);
                        client.upload(put(body), chunks).await?
                    }
                    _ => client.send(plain).await?,
                }
            }
        };
        inflight_bytes += step.resulting().map(Entry::size).unwrap_or(0);
        inflight.push_back((step.clone(), rx));
        while inflight.len() > WINDOW || (inflight.len() > 1 && inflight_bytes > MAX_INFLIGHT_BYTES) {
            if let Some(item) = inflight.pop_front() {
                let (s, o) = settle(item).await?;
                let size = s.resulting().map(Entry::size).unwrap_or(0);
                inflight_bytes -= size;
                tick(size);
                out.push((s, o));
            }
        }
    }
    while let Some(item) = inflight.pop_front() {
        let (s, o) = settle(item).await?;
        tick(s.resulting().map(Entry::size).unwrap_or(0));
        out.push((s, o));
    }
    Ok(out)
}

/// Receive content for `step` from `download` into a staged file; the
/// change is applied with its batch. `Err` is the outcome when it cannot be.
async fn receive_into_local(
    root: &std::path::Path,
    step: &Step,
    sig: Option<u32>,
    mut download: super::client::Download,
) -> Result<Change, Outcome> {
    let Action::Put { expected, new } = &step.action else {
        return Err(Outcome::Problem("not a file step".into()));
    };
    let path = step.path.clone();
    let receiver = match sig {
        Some(block_size) => {
            StageWriter::create(root, &path).and_then(|s| Receiver::delta(s, &root.join(path.as_str()), block_size))
        }
        None => StageWriter::create(root, &path).map(Receiver::full),
    };
    let mut receiver = match receiver {
        Ok(r) => Some(r),
        Err(e) => {
            // Drain the content so the stream stays usable.
            while let Some(c) = download.chunks.recv().await {
                if matches!(c, Chunk::End | Chunk::Abort { .. }) {
                    break;
                }
            }
            let _ = download.response.await;
            return Err(Outcome::Problem(format!("local: {path}: {e}")));
        }
    };
    let mut failed: Option<String> = None;
    while let Some(chunk) = download.chunks.recv().await {
        match chunk {
            Chunk::End => break,
            Chunk::Abort { reason } => {
                failed = Some(reason);
                break;
            }
            data => {
                if let Some(r) = &mut receiver
                    && let Err(e) = r.take(&data)
                {
                    failed = Some(e.to_string());
                    receiver = None;
                }
            }
        }
    }
    let response = match download.response.await {
        Ok(r) => r,
        Err(_) => return Err(Outcome::Problem("the connection closed during a transfer".into())),
    };
    match response {
        Response::Sent { .. } => {}
        Response::Rejected { kind: RejectKind::Changed, current, .. } => return Err(Outcome::RemoteIs(current)),
        other => return Err(Outcome::Problem(format!("remote: {path}: {other:?}"))),
    }
    if let Some(reason) = failed {
        return Err(Outcome::Problem(format!("{path}: {reason}")));
    }
    let Some(receiver) = receiver else {
        return Err(Outcome::Problem(format!("{path}: receive failed")));
    };
    let staged = receiver.finish().map_err(|e| Outcome::Problem(format!("local: {path}: {e}")))?;
    Ok(Change::Put { path, expected: expected.clone(), new: new.clone(), staged: Some(staged), loser: step.loser })
}

/// Receive whole content for one step and apply it locally.
async fn receive_and_apply(local: &Shared, step: &Step, download: super::client::Download) -> Outcome {
    let root = endpoint::with(local, |e| e.root().to_path_buf()).await;
    match receive_into_local(&root, step, None, download).await {
        Ok(change) => {
            apply_local_batch(local, vec![change]).await.pop().unwrap_or(Outcome::Problem("not applied".into()))
        }
        Err(outcome) => outcome,
    }
}

/// Apply `changes` to the laptop in one batch.
async fn apply_local_batch(local: &Shared, changes: Vec<Change>) -> Vec<Outcome> {
    let results = endpoint::with(local, move |e| batch::apply(e, changes)).await;
    results.into_iter().map(|r| r.map_or_else(|(e, _)| local_failure(e), |_| Outcome::Applied)).collect()
}

/// Most changes applied to the laptop in one batch (each holds a staged
/// file open; macOS allows a process 256 open files by default).
const LOCAL_BATCH: usize = 128;

/// Apply steps to the laptop, fetching content from the VPS (reads are
/// requested ahead so the daemon never waits for a round trip; changes are
/// applied in batches).
async fn apply_local(
    client: &RemoteClient,
    local: &Shared,
    steps: &[Step],
    tick: &(dyn Fn(u64) + Sync),
) -> Result<Vec<(Step, Outcome)>, WireError> {
    let root = endpoint::with(local, |e| e.root().to_path_buf()).await;
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(steps.len());
    let mut batch: Vec<(usize, Change)> = Vec::new();
    let mut ahead: VecDeque<(usize, Option<u32>, super::client::Download)> = VecDeque::new();
    let mut next_fetch = 0usize;
    for (i, step) in steps.iter().enumerate() {
        // Keep up to FETCH_AHEAD content requests queued at the daemon.
        while next_fetch < steps.len() && ahead.len() < FETCH_AHEAD {
            if let Some(f) = fetch(client, local, &steps[next_fetch]).await? {
                ahead.push_back((next_fetch, f.0, f.1));
            }
            next_fetch += 1;
        }
        let path = step.path.clone();
        let change = match &step.action {
            Action::Remove { expected } => Ok(Change::Remove { path, expected: expected.clone(), loser: step.loser }),
            Action::Put { expected, new } => match ahead.front() {
                Some((index, _, _)) if *index == i => {
                    let Some((_, sig, download)) = ahead.pop_front() else { unreachable!("just checked") };
                    receive_into_local(&root, step, sig, download).await
                }
                // Folders, links, and files whose content is already here.
                _ => Ok(Change::Put {
                    path,
                    expected: expected.clone(),
                    new: new.clone(),
                    staged: None,
                    loser: step.loser,
                }),
            },
        };
        match change {
            Ok(change) => {
                outcomes.push(None);
                batch.push((i, change));
            }
            Err(outcome) => outcomes.push(Some(outcome)),
        }
        tick(step.resulting().map(Entry::size).unwrap_or(0));
        if batch.len() >= LOCAL_BATCH || i + 1 == steps.len() {
            let (at, changes): (Vec<usize>, Vec<Change>) = std::mem::take(&mut batch).into_iter().unzip();
            for (at, outcome) in at.into_iter().zip(apply_local_batch(local, changes).await) {
                outcomes[at] = Some(outcome);
            }
        }
    }
    Ok(steps
        .iter()
        .cloned()
        .zip(outcomes)
        .map(|(step, outcome)| (step, outcome.unwrap_or_else(|| Outcome::Problem("not applied".into()))))
        .collect())
}

fn local_failure(e: ApplyError) -> Outcome {
    match e {
        ApplyError::Changed { .. } => Outcome::LocalChanged,
        other => Outcome::Problem(format!("local: {other}")),
    }
}

/// Ask the daemon for the content a local file step needs (None for steps
/// that need no content: folders, links, exec-bit changes, removals).
async fn fetch(
    client: &RemoteClient,
    local: &Shared,
    step: &Step,
) -> Result<Option<(Option<u32>, super::client::Download)>, WireError> {
    let Action::Put { expected, new: new @ Entry::File { .. } } = &step.action else {
        return Ok(None);
    };
    let sig = match content_of(expected.as_ref(), new) {
        Content::None => return Ok(None),
        Content::Whole => None,
        Content::Delta => {
            let path = step.path.clone();
            let old = expected.clone();
            endpoint::with(local, move |e| {
                e.transition().check(&path, old.as_ref()).ok()?;
                let f = std::fs::File::open(e.abs(&path)).ok()?;
                let len = f.metadata().ok()?.len();
                delta::signature(f, len).ok()
            })
            .await
        }
    };
    let block_size = sig.as_ref().map(|s| s.block_size);
    let request = match sig {
        Some(signature) => Request::ReadDelta { path: step.path.clone(), entry: new.clone(), signature },
        None => Request::Read { path: step.path.clone(), entry: new.clone() },
    };
    Ok(Some((block_size, client.download(request).await?)))
}

/// Why an operation on the trash failed, for messages.
pub fn trash_reason(reason: Reason) -> &'static str {
    match reason {
        Reason::Overwritten => "overwritten by sync",
        Reason::Deleted => "deleted by sync",
        Reason::ConflictLoser => "lost a conflict",
        Reason::Restored => "replaced by a restore",
    }
}
