//! Native recursive watching (inotify on Linux, FSEvents on macOS, through the
//! `notify` crate): events become paths relative to the root. When the
//! kernel's event queue overflows, a rescan of the tree is requested; when
//! the inotify watch limit is too low, a warning with the fix is logged and a
//! polling watcher takes over.

use super::ignore::TEMP_PREFIX;
use notify::event::CreateKind;
use notify::{Config, Event, EventKind, EventKindMask, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher as _};
use sinc_sync_core::RelPath;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// What the watcher reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// These paths (relative to the root) may have changed.
    Paths(Vec<RelPath>),
    /// Events were lost: rescan everything.
    Rescan,
}

/// How the tree is being watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchKind {
    /// Kernel notifications.
    Native,
    /// Periodic polling (fallback).
    Polling,
}

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    // In a mutex only to make the watcher shareable between threads.
    _inner: std::sync::Mutex<Box<dyn notify::Watcher + Send>>,
    /// How it watches.
    pub kind: WatchKind,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("kind", &self.kind).finish()
    }
}

/// The polling interval of the fallback watcher.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Linux's per-user limit on inotify watches; a recursive watch takes one
/// per folder.
pub const WATCH_LIMIT_FILE: &str = "/proc/sys/fs/inotify/max_user_watches";

/// The command that raises [`WATCH_LIMIT_FILE`]'s limit for good.
pub const RAISE_WATCH_LIMIT: &str =
    "echo fs.inotify.max_user_watches=524288 | sudo tee /etc/sysctl.d/60-sinc.conf && sudo sysctl --system";

/// A wait for the next event shorter than this means a stream of events.
const STREAM_GAP: Duration = Duration::from_millis(1);
/// A wait shorter than this cannot have been a sleep (the kernel had the
/// event queued already); longer ones are checked.
const WOKEN: Duration = Duration::from_micros(10);
/// How long the thread rests, in a stream, once it was woken for an event.
const REST: Duration = Duration::from_millis(1);

/// When the native watcher's thread should rest. Every event the kernel
/// queues while that thread sleeps waiting for events also wakes it, and the
/// process that wrote pays for the wake-up: with the daemon receiving 100k
/// files on a VM, a fifth of its writing thread's time. In a stream, once
/// the thread slept and was woken for an event, it rests 1 ms: the kernel
/// queues what comes meanwhile without waking anyone, and the thread then
/// takes it all in without resting, since it does not sleep while events
/// are queued. (Only a real sleep counts: a wait that was the thread being
/// preempted, or busy with a previous event, must not make it rest while
/// events queue up, or it would fall behind a fast stream.) The first event
/// after a quiet moment is never held back; in a stream an event waits at
/// most one rest.
#[derive(Debug, Default)]
struct Pacer {
    /// When the thread was done with the event before.
    done_at: Option<Instant>,
    /// The thread's count of sleeps when last asked.
    sleeps: u64,
}

impl Pacer {
    /// An event arrived at `now`: how long to rest after passing it on.
    /// `sleeps` counts the thread's sleeps so far (asked only when the wait
    /// could have been one).
    fn rest_after(&mut self, now: Instant, sleeps: impl FnOnce() -> u64) -> Option<Duration> {
        let waited = now.saturating_duration_since(self.done_at?);
        if waited < WOKEN {
            return None;
        }
        // Asked after a quiet moment too, so that a sleep long past cannot
        // count for a later wait that was no sleep.
        let count = sleeps();
        let slept = count > self.sleeps;
        self.sleeps = count;
        (slept && waited < STREAM_GAP).then_some(REST)
    }

    /// The thread is done with an event; `rested_sleeps` is its count of
    /// sleeps after a rest (the rest is not a wait for events).
    fn done(&mut self, now: Instant, rested_sleeps: Option<u64>) {
        self.done_at = Some(now);
        if let Some(count) = rested_sleeps {
            self.sleeps = count;
        }
    }
}

/// How many times this thread has slept (given up its core to wait), as
/// the kernel counts them; 0 where it cannot say (no pacing then).
fn sleeps_of_this_thread() -> u64 {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::resource::{UsageWho, getrusage};
        getrusage(UsageWho::RUSAGE_THREAD).map_or(0, |u| u64::try_from(u.voluntary_context_switches()).unwrap_or(0))
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// The native watcher's handler: `handler`'s, resting as [`Pacer`] says.
fn paced(root: PathBuf, tx: UnboundedSender<WatchEvent>) -> impl FnMut(notify::Result<Event>) + Send + 'static {
    let pass_on = handler(root, tx);
    let mut pacer = Pacer::default();
    move |res| {
        let arrived = Instant::now();
        // notify adds the watch of a new folder once it has taken in every
        // queued event: no rest may delay that (files created in the folder
        // before it is watched are seen only by the rescan of the folder).
        // Nor after an error or a lost-events report.
        let may_rest = matches!(&res, Ok(e) if !e.need_rescan() && e.kind != EventKind::Create(CreateKind::Folder));
        pass_on(res);
        let rested = pacer.rest_after(arrived, sleeps_of_this_thread).filter(|_| may_rest).map(|rest| {
            std::thread::sleep(rest);
            sleeps_of_this_thread()
        });
        pacer.done(Instant::now(), rested);
    }
}

fn handler(root: PathBuf, tx: UnboundedSender<WatchEvent>) -> impl Fn(notify::Result<Event>) + Send + 'static {
    move |res: notify::Result<Event>| match res {
        Ok(event) => {
            if event.need_rescan() {
                let _ = tx.send(WatchEvent::Rescan);
                return;
            }
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            // sinc's own temporary files come and go with every transfer;
            // only the rename that ends one matters (its target is reported).
            let paths: Vec<RelPath> = event
                .paths
                .iter()
                .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(TEMP_PREFIX)))
                .filter_map(|p| relative(&root, p))
                .collect();
            if !paths.is_empty() {
                let _ = tx.send(WatchEvent::Paths(paths));
            }
        }
        Err(e) => {
            tracing::warn!("file watcher error: {e}; rescanning");
            let _ = tx.send(WatchEvent::Rescan);
        }
    }
}

/// `path` relative to `root`, when it is inside and has a UTF-8 name.
pub fn relative(root: &Path, path: &Path) -> Option<RelPath> {
    let rel = path.strip_prefix(root).ok()?;
    RelPath::new(rel.to_str()?).ok()
}

/// Start watching `root` recursively.
pub fn watch(root: &Path, tx: UnboundedSender<WatchEvent>) -> notify::Result<Watcher> {
    // Access events (every open of a file or folder, our own scans included)
    // say nothing about content; not asking for them keeps the watcher asleep.
    let config = Config::default().with_event_kinds(EventKindMask::CORE);
    let mut native = RecommendedWatcher::new(paced(root.to_path_buf(), tx.clone()), config)?;
    match native.watch(root, RecursiveMode::Recursive) {
        Ok(()) => Ok(Watcher { _inner: std::sync::Mutex::new(Box::new(native)), kind: WatchKind::Native }),
        Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
            let limit = std::fs::read_to_string(WATCH_LIMIT_FILE).unwrap_or_default();
            tracing::warn!(
                "the inotify watch limit ({}) is too low to watch {}; sync falls back to polling every {}s. Raise it: {RAISE_WATCH_LIMIT}",
                limit.trim(),
                root.display(),
                POLL_INTERVAL.as_secs()
            );
            drop(native);
            let mut poll =
                PollWatcher::new(handler(root.to_path_buf(), tx), Config::default().with_poll_interval(POLL_INTERVAL))?;
            poll.watch(root, RecursiveMode::Recursive)?;
            Ok(Watcher { _inner: std::sync::Mutex::new(Box::new(poll)), kind: WatchKind::Polling })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_rests_when_woken_in_a_stream_and_never_for_a_lone_event() {
        let t0 = Instant::now();
        let at = |us: u64| t0 + Duration::from_micros(us);
        let never = || -> u64 { panic!("asked about sleeps for a wait too short or too long to be one") };
        let mut p = Pacer::default();
        assert_eq!(p.rest_after(at(0), never), None, "the first event");
        p.done(at(2), None);
        // Taken in with the one before (queued meanwhile): no rest.
        assert_eq!(p.rest_after(at(5), never), None);
        p.done(at(7), None);
        // Slept and was woken for it, in a stream: rest once it is passed on…
        assert_eq!(p.rest_after(at(60), || 1), Some(REST));
        p.done(at(1_100), Some(2));
        // …then take in what queued during the rest without resting…
        for t in [1_103, 1_106, 1_109] {
            assert_eq!(p.rest_after(at(t), never), None);
            p.done(at(t + 1), None);
        }
        // …also when a wait was long but no sleep (preempted, or busy)…
        assert_eq!(p.rest_after(at(1_200), || 2), None);
        p.done(at(1_201), None);
        // …until it slept and was woken again.
        assert_eq!(p.rest_after(at(1_300), || 3), Some(REST));
        p.done(at(2_350), Some(4));
        // An event after a quiet moment is never held back (the count is
        // asked, so that the sleep before it cannot count later)…
        assert_eq!(p.rest_after(at(20_000), || 9), None);
        p.done(at(20_001), None);
        // …and a later wait that was no sleep does not rest.
        assert_eq!(p.rest_after(at(20_100), || 9), None);
    }

    #[tokio::test]
    async fn reports_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let w = watch(&root, tx).unwrap();
        assert_eq!(w.kind, WatchKind::Native);
        // A file in a watched folder is reported itself; a new folder is
        // reported as a folder (files created in it before its watch exists
        // are found by the rescan of that folder).
        std::fs::write(root.join("f"), "x").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let wanted = [RelPath::new("f").unwrap(), RelPath::new("sub").unwrap()];
        while !wanted.iter().all(|w| seen.contains(w)) {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(WatchEvent::Paths(p))) => seen.extend(p),
                Ok(Some(WatchEvent::Rescan)) => {}
                _ => panic!("missing events; saw {seen:?}"),
            }
        }
    }
}
