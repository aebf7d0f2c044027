//! One side of a sync: its root, ignore rules, index, trash, watcher, and a
//! log of which paths changed when. The VPS daemon runs one per project and
//! keeps it watching while the laptop is away; the laptop's keeper runs one
//! for the local folder. The keeper asks each for what changed since a
//! cursor (epoch, sequence), so a reconnect exchanges only what changed.

use super::apply::{Transition, probe_case_insensitive};
use super::changelog::ChangeLog;
use super::ignore::{IgnoreError, IgnoreRules, IgnoreSpec};
use super::index::Index;
use super::scan::{Scanner, Skipped};
use super::trash::{Trash, TrashLimits};
use super::watch::{WatchEvent, WatchKind, Watcher};
use serde::{Deserialize, Serialize};
use sinc_sync_core::{Entry, RelPath};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where an endpoint keeps its files.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The synced folder.
    pub root: PathBuf,
    /// Its ignore settings.
    pub ignore: IgnoreSpec,
    /// Where the index is saved.
    pub state_dir: PathBuf,
    /// Where replaced and deleted content is kept.
    pub trash_dir: PathBuf,
    /// Bounds of the trash.
    pub trash_limits: TrashLimits,
}

/// Whether the sync root is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RootState {
    /// A folder, as expected.
    Ok,
    /// Gone.
    Missing,
    /// Something else than a folder.
    NotADirectory,
}

/// Why an endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Bad ignore patterns.
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    /// A file-system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Changes of one side since a cursor.
pub type Changes = Vec<(RelPath, Option<Entry>)>;

/// One side of a sync.
#[derive(Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    rules: IgnoreRules,
    index: Index,
    trash: Trash,
    case_insensitive: bool,
    epoch: u64,
    seq: u64,
    log: ChangeLog,
    root_state: RootState,
    skipped: Vec<Skipped>,
    unsaved: bool,
    /// The index's size when it was last built with full nodes.
    packed_len: usize,
    /// Index saves taken so far, and the newest one written (see `PendingSave`).
    save_generation: u64,
    saves_written: Arc<Mutex<u64>>,
    notify: tokio::sync::watch::Sender<u64>,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EndpointError {
    let context = context.into();
    move |source| EndpointError::Io { context, source }
}

/// A random-enough epoch: a new one each time an endpoint starts, so a cursor
/// from another run is never mistaken for one of this run.
fn new_epoch() -> u64 {
    let t = crate::clock::since_epoch().as_nanos();
    (t as u64) ^ (u64::from(std::process::id()) << 40)
}

impl Endpoint {
    /// Open the endpoint: load the saved index, then scan the tree so changes
    /// made while nobody watched are found (reusing digests of unchanged files).
    pub fn open(cfg: EndpointConfig) -> Result<Endpoint, EndpointError> {
        std::fs::create_dir_all(&cfg.state_dir).map_err(io_err(format!("creating {}", cfg.state_dir.display())))?;
        let rules = IgnoreRules::load(&cfg.root, &cfg.ignore)?;
        let trash = Trash::open(&cfg.trash_dir, cfg.trash_limits);
        let index = Index::load(&cfg.state_dir.join("index")).unwrap_or_default();
        let case_insensitive = cfg.root.is_dir() && probe_case_insensitive(&cfg.root);
        let (notify, _) = tokio::sync::watch::channel(0);
        let mut ep = Endpoint {
            cfg,
            rules,
            index,
            trash,
            case_insensitive,
            epoch: new_epoch(),
            seq: 0,
            log: ChangeLog::default(),
            root_state: RootState::Ok,
            skipped: Vec::new(),
            unsaved: false,
            packed_len: 0,
            save_generation: 0,
            saves_written: Arc::new(Mutex::new(0)),
            notify,
        };
        ep.full_rescan().map_err(io_err("scanning"))?;
        ep.packed_len = ep.index.len();
        // Nobody can hold a cursor from before this first scan (the epoch
        // is new), so its log would only cost memory.
        ep.log = ChangeLog::default();
        if let Err(e) = ep.trash.prune() {
            tracing::warn!("could not prune the trash: {e}");
        }
        Ok(ep)
    }

    /// The synced folder.
    pub fn root(&self) -> &Path {
        &self.cfg.root
    }

    /// Whether the root is usable.
    pub fn root_state(&self) -> RootState {
        self.root_state
    }

    /// The current index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Rebuild the index with full nodes if it grew by thousands of paths
    /// since it last was (added one at a time, as a first sync receives
    /// them, they leave its nodes half full).
    pub fn repack_if_grown(&mut self) -> bool {
        self.index.repack_if_grown(&mut self.packed_len)
    }

    /// The ignore rules.
    pub fn rules(&self) -> &IgnoreRules {
        &self.rules
    }

    /// The trash.
    pub fn trash(&self) -> &Trash {
        &self.trash
    }

    /// Whether names differing only in case collide here.
    pub fn case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    /// The current cursor.
    pub fn cursor(&self) -> (u64, u64) {
        (self.epoch, self.seq)
    }

    /// Paths skipped by scans so far (warnings), and forget them.
    pub fn take_skipped(&mut self) -> Vec<Skipped> {
        std::mem::take(&mut self.skipped)
    }

    /// Receives the latest sequence number whenever changes are logged.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    fn check_root(&mut self) -> RootState {
        let state = match std::fs::symlink_metadata(&self.cfg.root) {
            Ok(m) if m.is_dir() => RootState::Ok,
            Ok(_) => RootState::NotADirectory,
            Err(_) => RootState::Missing,
        };
        if state != self.root_state {
            self.root_state = state;
            // Wake subscribers so they learn about the root.
            self.notify.send_modify(|_| {});
        }
        state
    }

    fn record(&mut self, changed: BTreeSet<RelPath>) -> usize {
        if changed.is_empty() {
            return 0;
        }
        let reload = changed.iter().any(IgnoreRules::is_rule_file);
        self.seq += 1;
        self.log.record(self.seq, &changed);
        self.unsaved = true;
        let n = changed.len();
        let _ = self.notify.send(self.seq);
        if reload {
            match IgnoreRules::load(&self.cfg.root, &self.cfg.ignore) {
                Ok(r) => {
                    self.rules = r;
                    if let Err(e) = self.full_rescan() {
                        tracing::warn!("rescan after an ignore-rule change failed: {e}");
                    }
                }
                Err(e) => tracing::warn!("keeping the previous ignore rules: {e}"),
            }
        }
        n
    }

    fn load_gitignores(&mut self) {
        let mut dirs = vec![RelPath::root()];
        while let Some(dir) = dirs.pop() {
            self.rules.load_gitignore(&dir);
            let abs = if dir.is_root() { self.cfg.root.clone() } else { self.cfg.root.join(dir.as_str()) };
            let Ok(read) = std::fs::read_dir(&abs) else { continue };
            for item in read.flatten() {
                if item.file_type().is_ok_and(|t| t.is_dir())
                    && let Some(child) = item.file_name().to_str().and_then(|n| dir.join(n).ok())
                    && !self.rules.is_ignored(&child, true)
                {
                    dirs.push(child);
                }
            }
        }
    }

    /// Walk the whole tree (start-up, flush, lost events, periodic verify).
    /// Returns how many paths changed. A missing root changes nothing: it is
    /// reported, never propagated as deletions.
    pub fn full_rescan(&mut self) -> std::io::Result<usize> {
        if self.check_root() != RootState::Ok {
            return Ok(0);
        }
        if self.cfg.ignore.use_gitignore {
            self.load_gitignores();
        }
        let mut scanner = Scanner::new(&self.cfg.root, &self.rules);
        let fresh = match scanner.scan_all(&self.index) {
            Ok(i) => i,
            Err(_) if self.check_root() != RootState::Ok => return Ok(0),
            Err(e) => return Err(e),
        };
        let skipped = std::mem::take(&mut scanner.skipped);
        remove_stale_temp_files(&scanner.temp_files);
        // One merge of the two sorted indexes.
        let mut changed: BTreeSet<RelPath> = BTreeSet::new();
        let mut restatted = false;
        let mut old = self.index.iter().peekable();
        let only_old = |p: &RelPath, changed: &mut BTreeSet<RelPath>| {
            // Still on disk but no longer indexed: newly ignored (or no longer
            // syncable). That is not a deletion to propagate.
            if std::fs::symlink_metadata(self.abs(p)).is_err() {
                changed.insert(p.clone());
            }
        };
        for (p, n) in fresh.iter() {
            while let Some((gone, _)) = old.next_if(|(o, _)| *o < p) {
                restatted = true;
                only_old(gone, &mut changed);
            }
            match old.next_if(|(o, _)| *o == p) {
                Some((_, o)) => {
                    if o.entry != n.entry {
                        changed.insert(p.clone());
                    }
                    restatted |= o != n;
                }
                None => {
                    changed.insert(p.clone());
                    restatted = true;
                }
            }
        }
        for (gone, _) in old {
            restatted = true;
            only_old(gone, &mut changed);
        }
        self.index = fresh;
        self.skipped.extend(skipped);
        if restatted {
            self.unsaved = true;
        }
        Ok(self.record(changed))
    }

    /// Handle watcher events: rescan the named paths (or everything).
    pub fn handle(&mut self, events: Vec<WatchEvent>) -> std::io::Result<usize> {
        if self.check_root() != RootState::Ok {
            return Ok(0);
        }
        let mut paths = BTreeSet::new();
        for e in events {
            match e {
                WatchEvent::Rescan => return self.full_rescan(),
                WatchEvent::Paths(p) => paths.extend(p),
            }
        }
        let mut scanner = Scanner::new(&self.cfg.root, &self.rules);
        let changed = scanner.rescan(&mut self.index, &paths)?;
        let skipped = std::mem::take(&mut scanner.skipped);
        self.skipped.extend(skipped);
        Ok(self.record(changed))
    }

    /// The current entries of every path changed after `(epoch, seq)`, or
    /// `None` when the cursor is from another run (then the caller needs the
    /// whole snapshot).
    pub fn changes_since(&self, epoch: u64, seq: u64) -> Option<Changes> {
        if epoch != self.epoch || seq > self.seq {
            return None;
        }
        Some(self.log.since(seq).into_iter().map(|p| (p.clone(), self.index.get(p).map(|n| n.entry.clone()))).collect())
    }

    /// Every entry.
    pub fn snapshot(&self) -> Vec<(RelPath, Entry)> {
        self.index.iter().map(|(p, n)| (p.clone(), n.entry.clone())).collect()
    }

    /// Apply steps to this side.
    pub fn transition(&mut self) -> Transition<'_> {
        self.unsaved = true;
        Transition {
            root: &self.cfg.root,
            index: &mut self.index,
            trash: &self.trash,
            rules: &self.rules,
            case_insensitive: self.case_insensitive,
        }
    }

    /// The absolute path of `rel`.
    pub fn abs(&self, rel: &RelPath) -> PathBuf {
        if rel.is_root() { self.cfg.root.clone() } else { self.cfg.root.join(rel.as_str()) }
    }

    /// Save the index if it changed.
    pub fn save(&mut self) {
        if let Some(pending) = self.take_save() {
            pending.write();
        }
    }

    /// Wait until no save of the index is being written (one runs in the
    /// background after a batch).
    pub fn wait_for_saves(&self) {
        drop(self.saves_written.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// The index's saved form if it changed since the last save; writing
    /// it ([`PendingSave::write`]) needs no lock on the endpoint.
    pub fn take_save(&mut self) -> Option<PendingSave> {
        if !self.unsaved {
            return None;
        }
        match self.index.encode() {
            Ok(encoded) => {
                self.unsaved = false;
                self.save_generation += 1;
                Some(PendingSave {
                    path: self.cfg.state_dir.join("index"),
                    encoded,
                    generation: self.save_generation,
                    written: self.saves_written.clone(),
                })
            }
            Err(e) => {
                tracing::warn!("could not save the index: {e}");
                None
            }
        }
    }
}

/// An index save taken under the endpoint's lock, written after it.
#[derive(Debug)]
pub struct PendingSave {
    path: PathBuf,
    encoded: Vec<u8>,
    generation: u64,
    /// The newest generation on disk; held while writing, so saves never
    /// interleave, an older one never overwrites a newer one, and a save
    /// waits for the one in flight.
    written: Arc<Mutex<u64>>,
}

impl PendingSave {
    /// Compress and write it (a failure is logged; the next change saves
    /// again, and a lost index only costs a rehash at the next start).
    pub fn write(self) {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if *written >= self.generation {
            return;
        }
        match Index::write_encoded(&self.path, &self.encoded) {
            Ok(()) => *written = self.generation,
            Err(e) => tracing::warn!("could not save the index: {e}"),
        }
    }
}

/// Delete temporary files whose writer is gone (a transfer interrupted by a
/// crash or `kill -9`). Their names carry the writer's process id.
fn remove_stale_temp_files(files: &[PathBuf]) {
    for f in files {
        let Some(name) = f.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let pid = name
            .strip_prefix(super::ignore::TEMP_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<i32>().ok());
        let alive = match pid {
            Some(pid) if pid == std::process::id() as i32 => true,
            Some(pid) => process_alive(pid),
            None => false,
        };
        if !alive {
            tracing::info!("removing {} left by an interrupted transfer", f.display());
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Whether process `pid` runs (a zombie, killed but not yet reaped, does not).
fn process_alive(pid: i32) -> bool {
    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()).is_none_or(|state| state != 'Z'),
        Err(_) => true,
    }
}

/// An endpoint shared between its watcher task and whoever serves it.
pub type Shared = Arc<Mutex<Endpoint>>;

/// Run blocking endpoint work off the async threads.
pub async fn with<T: Send + 'static>(ep: &Shared, f: impl FnOnce(&mut Endpoint) -> T + Send + 'static) -> T {
    let ep = ep.clone();
    match tokio::task::spawn_blocking(move || {
        let mut guard = ep.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    })
    .await
    {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Open an endpoint (its opening scan on a blocking thread), keep what the
/// scan hashed at once — not at the first save after 30 s: a process killed
/// before then would hash it all again — and keep it up to date. Watching
/// starts before the scan: what changes while it runs is queued and looked
/// at again after it, so no second full scan is needed.
pub async fn open_watching(cfg: EndpointConfig, verify_every: Option<Duration>) -> Result<(Shared, Watcher), String> {
    let root = cfg.root.clone();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = super::watch::watch(&root, tx).map_err(|e| format!("cannot watch {}: {e}", root.display()))?;
    let started = std::time::Instant::now();
    let ep = tokio::task::spawn_blocking(move || Endpoint::open(cfg))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    tracing::debug!("scanned {} ({} paths) in {:.1?}", root.display(), ep.index().len(), started.elapsed());
    // The scan of a large tree leaves the index it replaced and its own
    // buffers behind: given back once the index is saved.
    let large = ep.index().len() >= crate::memory::RELEASE_AFTER_PATHS;
    let ep: Shared = Arc::new(Mutex::new(ep));
    let save = with(&ep, |e| e.take_save()).await;
    write_then_release(save, large);
    follow(&ep, &watcher, rx, verify_every);
    Ok((ep, watcher))
}

/// Write `save` (if any), then give freed memory back if `release`, on a
/// blocking thread.
fn write_then_release(save: Option<PendingSave>, release: bool) {
    if save.is_none() && !release {
        return;
    }
    tokio::task::spawn_blocking(move || {
        if let Some(save) = save {
            save.write();
        }
        if release {
            crate::memory::release_freed();
        }
    });
}

/// Quiet time after the last event before a batch is processed.
const DEBOUNCE: Duration = Duration::from_millis(3);
/// Longest a batch waits under a continuous stream of events.
const MAX_BATCH_DELAY: Duration = Duration::from_millis(25);
/// How long changes must have stopped before a grown index is rebuilt.
const QUIET_BEFORE_TIDYING: Duration = Duration::from_secs(2);
/// How often the index is saved while changes keep coming.
const SAVE_EVERY: Duration = Duration::from_secs(30);

/// Process `watcher`'s events for `ep` (and the verify rescans and the
/// periodic saves) until the watcher is dropped.
fn follow(
    ep: &Shared,
    watcher: &Watcher,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<WatchEvent>,
    verify_every: Option<Duration>,
) {
    if watcher.kind == WatchKind::Polling {
        let root = ep.lock().map(|e| e.root().display().to_string()).unwrap_or_default();
        tracing::warn!("watching {root} by polling");
    }
    let ep = ep.clone();
    tokio::spawn(async move {
        let mut last_save = tokio::time::Instant::now();
        let verify = verify_every.unwrap_or(Duration::from_secs(u64::MAX / 4));
        let mut next_verify = tokio::time::Instant::now() + verify;
        // When changes stop: if they grew the index by thousands of paths (a
        // first sync into this side), it is rebuilt compactly and the memory
        // their handling used given back, without waiting for the next save.
        let mut tidy_at: Option<tokio::time::Instant> = None;
        loop {
            let first = tokio::select! {
                e = rx.recv() => match e { Some(e) => e, None => break },
                _ = tokio::time::sleep_until(next_verify) => {
                    next_verify = tokio::time::Instant::now() + verify;
                    WatchEvent::Rescan
                }
                // Changes that came and then stopped are saved too; an
                // index they grew by thousands of paths is rebuilt compactly
                // first, and what that freed given back.
                _ = tokio::time::sleep_until(last_save + SAVE_EVERY) => {
                    last_save = tokio::time::Instant::now();
                    let (pending, repacked) = with(&ep, |e| {
                        let repacked = e.repack_if_grown();
                        (e.take_save(), repacked)
                    })
                    .await;
                    write_then_release(pending, repacked);
                    continue;
                }
                _ = tokio::time::sleep_until(tidy_at.unwrap_or_else(tokio::time::Instant::now)), if tidy_at.is_some() => {
                    tidy_at = None;
                    let repacked = with(&ep, |e| e.repack_if_grown()).await;
                    write_then_release(None, repacked);
                    continue;
                }
            };
            let mut batch = vec![first];
            let started = tokio::time::Instant::now();
            loop {
                let quiet = tokio::time::sleep(DEBOUNCE);
                tokio::select! {
                    e = rx.recv() => match e {
                        Some(e) => batch.push(e),
                        None => break,
                    },
                    _ = quiet => break,
                }
                if started.elapsed() > MAX_BATCH_DELAY {
                    break;
                }
            }
            let save = last_save.elapsed() > SAVE_EVERY;
            if save {
                last_save = tokio::time::Instant::now();
            }
            let pending = with(&ep, move |e| {
                if let Err(err) = e.handle(batch) {
                    tracing::warn!("rescan failed: {err}");
                }
                if save { e.take_save() } else { None }
            })
            .await;
            // Compressing and writing a large index takes a while: not while
            // holding the endpoint, and not before the next events.
            write_then_release(pending, false);
            tidy_at = Some(tokio::time::Instant::now() + QUIET_BEFORE_TIDYING);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn cfg(dir: &Path) -> EndpointConfig {
        EndpointConfig {
            root: dir.join("root"),
            ignore: IgnoreSpec::default(),
            state_dir: dir.join("state"),
            trash_dir: dir.join("trash"),
            trash_limits: TrashLimits::default(),
        }
    }

    #[test]
    fn cursors_changes_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::write(dir.path().join("root/a"), "1").unwrap();
        let mut ep = Endpoint::open(cfg(dir.path())).unwrap();
        let (epoch, seq) = ep.cursor();
        // What the first scan found is in the index, not in the log: no
        // cursor can predate it.
        assert!(ep.changes_since(epoch, 0).unwrap().is_empty());
        assert!(ep.index().get(&p("a")).is_some());
        std::fs::write(dir.path().join("root/b"), "2").unwrap();
        ep.handle(vec![WatchEvent::Paths(vec![p("b")])]).unwrap();
        let since = ep.changes_since(epoch, seq).unwrap();
        assert_eq!(since.len(), 1);
        assert_eq!(since[0].0, p("b"));
        assert!(ep.changes_since(epoch + 1, 0).is_none(), "another run's cursor");
        ep.save();
        drop(ep);
        // Restart: the saved index means only what changed meanwhile is new
        // (one batch of changes), and a new epoch.
        std::fs::write(dir.path().join("root/a"), "changed").unwrap();
        let mut ep = Endpoint::open(cfg(dir.path())).unwrap();
        let (e2, seq2) = ep.cursor();
        assert_ne!(e2, epoch);
        assert_eq!(seq2, 1);
        assert!(matches!(ep.index().get(&p("a")).map(|n| &n.entry), Some(Entry::File { size: 7, .. })));
        ep.save();
        drop(ep);
        let ep = Endpoint::open(cfg(dir.path())).unwrap();
        assert_eq!(ep.cursor().1, 0, "nothing changed since the last run");
    }

    #[test]
    fn temp_files_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root/sub")).unwrap();
        let dead = dir.path().join("root/sub/.sinc-tmp-999999999-1");
        let mine = dir.path().join(format!("root/.sinc-tmp-{}-7", std::process::id()));
        std::fs::write(&dead, "partial").unwrap();
        std::fs::write(&mine, "being written").unwrap();
        let ep = Endpoint::open(cfg(dir.path())).unwrap();
        assert!(!dead.exists());
        assert!(mine.exists());
        assert!(ep.index().get(&p("sub")).is_some());
        assert_eq!(ep.index().len(), 1, "temp files are never indexed");
    }

    #[test]
    fn a_vanished_root_reports_no_deletions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::write(dir.path().join("root/a"), "1").unwrap();
        let mut ep = Endpoint::open(cfg(dir.path())).unwrap();
        let cursor = ep.cursor();
        std::fs::remove_dir_all(dir.path().join("root")).unwrap();
        assert_eq!(ep.handle(vec![WatchEvent::Paths(vec![p("a")])]).unwrap(), 0);
        assert_eq!(ep.full_rescan().unwrap(), 0);
        assert_eq!(ep.root_state(), RootState::Missing);
        assert!(ep.changes_since(cursor.0, cursor.1).unwrap().is_empty());
        assert_eq!(ep.index().len(), 1, "the index still remembers the content");
    }

    #[test]
    fn editing_syncignore_reloads_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::write(dir.path().join("root/build.log"), "x").unwrap();
        let mut ep = Endpoint::open(cfg(dir.path())).unwrap();
        assert!(ep.index().get(&p("build.log")).is_some());
        std::fs::write(dir.path().join("root/.syncignore"), "*.log\n").unwrap();
        let (epoch, seq) = ep.cursor();
        ep.handle(vec![WatchEvent::Paths(vec![p(".syncignore")])]).unwrap();
        assert!(ep.index().get(&p("build.log")).is_none());
        let changes = ep.changes_since(epoch, seq).unwrap();
        assert!(
            !changes.iter().any(|(c, _)| c == &p("build.log")),
            "a newly ignored file is not a deletion: {changes:?}"
        );
        assert!(ep.rules().is_ignored(&p("x.log"), false));
    }
}
