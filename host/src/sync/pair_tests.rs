//! The keeper's sync loop against the daemon's serving code, in one process,
//! over an in-memory stream: every protocol path without SSH in the way.

use super::client::RemoteClient;
use super::endpoint::{self, EndpointConfig};
use super::ignore::IgnoreSpec;
use super::serve::{self, Projects};
use super::syncer::{Command, Keep, SyncState, SyncStatus, Syncer, SyncerConfig};
use super::trash::TrashLimits;
use super::watch::Watcher;
use sinc_sync_core::{DeleteLimits, Mode, RelPath, Side};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::{mpsc, oneshot, watch};

/// Counts the bytes read through it (what crossed the "wire" towards the keeper).
struct Counting<S> {
    inner: S,
    read: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.read.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        r
    }
}

struct Pair {
    _dir: tempfile::TempDir,
    local: PathBuf,
    remote: PathBuf,
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<SyncStatus>,
    _watcher: Watcher,
    received: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
}

async fn pair(mode: Mode, setup: impl FnOnce(&Path, &Path)) -> Pair {
    pair_with(mode, DeleteLimits::default(), setup).await
}

async fn pair_with(mode: Mode, limits: DeleteLimits, setup: impl FnOnce(&Path, &Path)) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    let remote = dir.path().join("home/remote");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::create_dir_all(&remote).unwrap();
    setup(&local, &remote);
    let projects = Projects::new(&dir.path().join("remote-data"), &dir.path().join("home"));
    let (a, b) = tokio::io::duplex(256 * 1024);
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    let received = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let ar = Counting { inner: ar, read: sent.clone() };
    let data = dir.path().join("remote-data");
    tokio::spawn(async move {
        let plugins = crate::remote::plugins::Hosted::new(&data, &data, &data, &data);
        let _ = serve::serve(ar, aw, projects, plugins, "test daemon").await;
    });
    let br = Counting { inner: br, read: received.clone() };
    let (client, _, _, mut notices) =
        RemoteClient::connect(br, bw, "test keeper", std::future::pending()).await.unwrap();
    let (ep, watcher) = endpoint::open_watching(
        EndpointConfig {
            root: local.clone(),
            ignore: IgnoreSpec::default(),
            state_dir: dir.path().join("keeper/local"),
            trash_dir: dir.path().join("keeper/trash"),
            trash_limits: TrashLimits::default(),
        },
        None,
    )
    .await
    .unwrap();
    let (status_tx, status) = watch::channel(SyncStatus::default());
    let cfg = SyncerConfig {
        session: "sinc-test-000000".into(),
        mode,
        limits,
        remote_root: "~/remote".into(),
        ignore: IgnoreSpec::default(),
        trash: TrashLimits::default(),
        verify: None,
        state_dir: dir.path().join("keeper/state"),
    };
    let mut syncer = Syncer::new(cfg, ep, status_tx).unwrap();
    let (commands, mut rx) = mpsc::channel(8);
    tokio::spawn(async move {
        let r = syncer.run_connected(&client, &mut notices, &mut rx).await;
        tracing::debug!("syncer ended: {r:?}");
    });
    Pair { _dir: dir, local, remote, commands, status, _watcher: watcher, received, sent }
}

impl Pair {
    async fn flush(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Flush(tx)).await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), rx).await.expect("flush timed out").unwrap()
    }

    async fn wait(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; status {:?}",
                *self.status.borrow()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn status(&self) -> SyncStatus {
        self.status.borrow().clone()
    }
}

/// Everything under `root` except sinc's temporary files: path → content
/// (`dir`, `-> target` for links, or the bytes).
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                out.insert(rel, format!("-> {}", std::fs::read_link(&p).unwrap().display()));
            } else if ft.is_dir() {
                out.insert(rel, "dir".into());
                walk(root, &p, out);
            } else {
                out.insert(rel, String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned());
            }
        }
    }
    walk(root, root, &mut out);
    out
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_merges_both_sides_then_edits_flow_both_ways() {
    let p = pair(Mode::TwoWayResolved, |l, r| {
        write(l, "src/main.rs", "fn main() {}");
        write(l, "README.md", "local readme");
        write(r, "data/remote.txt", "from the vps");
        std::os::unix::fs::symlink("src/main.rs", l.join("link")).unwrap();
        std::fs::create_dir_all(l.join("empty/dir")).unwrap();
        write(l, ".git/HEAD", "ref: main");
    })
    .await;
    p.flush().await.unwrap();
    let mut expected = tree(&p.local);
    expected.retain(|k, _| !k.starts_with(".git"));
    let mut remote = tree(&p.remote);
    remote.retain(|k, _| !k.starts_with(".git"));
    assert_eq!(remote, expected);
    assert!(!p.remote.join(".git").exists(), ".git is never synced");
    assert!(p.status().first_sync_done);

    write(&p.local, "src/lib.rs", "pub fn x() {}");
    p.wait("local edit on the remote side", || {
        std::fs::read_to_string(p.remote.join("src/lib.rs")).is_ok_and(|t| t == "pub fn x() {}")
    })
    .await;
    write(&p.remote, "data/remote.txt", "agent wrote this");
    p.wait("remote edit on the local side", || {
        std::fs::read_to_string(p.local.join("data/remote.txt")).is_ok_and(|t| t == "agent wrote this")
    })
    .await;
    std::fs::remove_file(p.local.join("README.md")).unwrap();
    p.wait("deletion on the remote side", || !p.remote.join("README.md").exists()).await;
    p.flush().await.unwrap();
    assert_eq!(
        tree(&p.local).into_iter().filter(|(k, _)| !k.starts_with(".git")).collect::<BTreeMap<_, _>>(),
        tree(&p.remote)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edit_in_resolved_mode_keeps_the_remote_loser() {
    let p = pair(Mode::TwoWayResolved, |l, r| {
        write(l, "f.txt", "local version");
        write(r, "f.txt", "remote version");
    })
    .await;
    p.flush().await.unwrap();
    assert_eq!(std::fs::read_to_string(p.remote.join("f.txt")).unwrap(), "local version");
    let (tx, rx) = oneshot::channel();
    p.commands.send(Command::Versions { path: RelPath::new("f.txt").unwrap(), reply: tx }).await.unwrap();
    let versions = rx.await.unwrap().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].side, Side::Remote);
    assert_eq!(versions[0].item.reason, super::trash::Reason::ConflictLoser);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_mode_leaves_conflicts_alone_until_resolved() {
    let p = pair(Mode::TwoWaySafe, |l, r| {
        write(l, "f.txt", "local version");
        write(r, "f.txt", "remote version");
        write(l, "g.txt", "same");
        write(r, "g.txt", "same");
    })
    .await;
    p.flush().await.unwrap();
    assert_eq!(std::fs::read_to_string(p.local.join("f.txt")).unwrap(), "local version");
    assert_eq!(std::fs::read_to_string(p.remote.join("f.txt")).unwrap(), "remote version");
    assert_eq!(p.status().conflicts, 1);
    let (tx, rx) = oneshot::channel();
    p.commands.send(Command::Resolve { paths: vec![], keep: Keep::Both, reply: tx }).await.unwrap();
    assert_eq!(rx.await.unwrap().unwrap(), vec!["f.txt".to_owned()]);
    p.flush().await.unwrap();
    let local = tree(&p.local);
    assert_eq!(local["f.txt"], "local version");
    let copy = local.iter().find(|(k, _)| k.contains("sync-conflict")).expect("a conflict copy");
    assert_eq!(copy.1, "remote version");
    assert!(copy.0.ends_with("-remote.txt"), "{}", copy.0);
    assert_eq!(tree(&p.remote), local);
    assert_eq!(p.status().conflicts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modification_beats_deletion_and_folder_moves_sync() {
    let p = pair(Mode::TwoWayResolved, |l, _| {
        write(l, "doc.md", "v1");
        for i in 0..150 {
            write(l, &format!("old/sub/f{i}.txt"), &format!("file {i}"));
        }
    })
    .await;
    p.flush().await.unwrap();
    std::fs::rename(p.local.join("old"), p.local.join("new")).unwrap();
    p.wait("the moved folder on the remote side", || {
        p.remote.join("new/sub/f149.txt").exists() && !p.remote.join("old").exists()
    })
    .await;
    p.flush().await.unwrap();
    assert_eq!(tree(&p.local), tree(&p.remote));

    // The agent edits doc.md while the laptop deletes it: the edit wins.
    // (The keeper is told about both before it reconciles, via a pause.)
    p.commands.send(Command::Pause).await.unwrap();
    std::fs::remove_file(p.local.join("doc.md")).unwrap();
    write(&p.remote, "doc.md", "v2 from the agent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.commands.send(Command::Resume { confirm: false }).await.unwrap();
    p.flush().await.unwrap();
    assert_eq!(std::fs::read_to_string(p.local.join("doc.md")).unwrap(), "v2 from the agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_delete_halts_until_confirmed() {
    let limits = DeleteLimits { max_count: 1000, max_percent: 50, percent_floor: 5 };
    let p = pair_with(Mode::TwoWayResolved, limits, |l, _| {
        for i in 0..20 {
            write(l, &format!("f{i}"), "x");
        }
    })
    .await;
    p.flush().await.unwrap();
    for i in 0..15 {
        std::fs::remove_file(p.local.join(format!("f{i}"))).unwrap();
    }
    let err = p.flush().await.unwrap_err();
    assert!(err.contains("halted") && err.contains("15 of 20"), "{err}");
    assert_eq!(p.status().state, SyncState::Halted);
    assert!(p.remote.join("f0").exists(), "nothing was deleted remotely");
    p.commands.send(Command::Resume { confirm: true }).await.unwrap();
    p.flush().await.unwrap();
    assert!(!p.remote.join("f0").exists());
    assert_eq!(tree(&p.local), tree(&p.remote));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_root_halts_instead_of_deleting_the_other_side() {
    let p = pair(Mode::TwoWayResolved, |l, _| {
        write(l, "a", "1");
        write(l, "b", "2");
    })
    .await;
    p.flush().await.unwrap();
    std::fs::remove_dir_all(&p.remote).unwrap();
    let err = p.flush().await.unwrap_err();
    assert!(err.contains("remote sync folder was deleted"), "{err}");
    assert!(p.local.join("a").exists() && p.local.join("b").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_brings_back_a_deleted_file_on_both_sides() {
    let p = pair(Mode::TwoWayResolved, |l, _| write(l, "notes/keep.txt", "precious")).await;
    p.flush().await.unwrap();
    std::fs::remove_dir_all(p.remote.join("notes")).unwrap();
    p.wait("the deletion to reach the laptop", || !p.local.join("notes/keep.txt").exists()).await;
    p.flush().await.unwrap();
    let (tx, rx) = oneshot::channel();
    p.commands
        .send(Command::Restore { path: RelPath::new("notes/keep.txt").unwrap(), number: 1, reply: tx })
        .await
        .unwrap();
    let v = rx.await.unwrap().unwrap();
    assert_eq!(v.side, Side::Local);
    p.flush().await.unwrap();
    assert_eq!(std::fs::read_to_string(p.local.join("notes/keep.txt")).unwrap(), "precious");
    assert_eq!(std::fs::read_to_string(p.remote.join("notes/keep.txt")).unwrap(), "precious");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_push_plans_then_applies() {
    let p = pair(Mode::TwoWaySafe, |l, r| {
        write(l, "same.txt", "local");
        write(r, "same.txt", "remote");
        write(l, "only-local.txt", "y");
    })
    .await;
    p.flush().await.unwrap();
    // While paused, the VPS gains a file: a push deletes it there.
    p.commands.send(Command::Pause).await.unwrap();
    write(&p.remote, "only-remote.txt", "x");
    let (tx, rx) = oneshot::channel();
    p.commands.send(Command::Plan { winner: Side::Local, reply: tx }).await.unwrap();
    let plan = rx.await.unwrap().unwrap();
    assert_eq!(plan.target, Side::Remote);
    assert_eq!(plan.overwritten, vec!["same.txt".to_owned()]);
    assert_eq!(plan.deleted, vec!["only-remote.txt".to_owned()]);
    let (tx, rx) = oneshot::channel();
    p.commands.send(Command::Apply { id: plan.id, reply: tx }).await.unwrap();
    rx.await.unwrap().unwrap();
    assert_eq!(tree(&p.remote), tree(&p.local));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_change_to_a_big_file_sends_a_delta() {
    let mut big = vec![0u8; 8 << 20];
    blake3::Hasher::new().update(b"big").finalize_xof().fill(&mut big);
    let content = big.clone();
    let p = pair(Mode::TwoWayResolved, move |_, r| std::fs::write(r.join("big.bin"), &content).unwrap()).await;
    p.flush().await.unwrap();
    assert_eq!(std::fs::read(p.local.join("big.bin")).unwrap(), big);
    let before = p.received.load(Ordering::Relaxed);
    big[4_000_000] ^= 1;
    // Written beside the synced folder, then moved in: one atomic change.
    let outside = p.remote.parent().unwrap().join("big.tmp");
    std::fs::write(&outside, &big).unwrap();
    std::fs::rename(&outside, p.remote.join("big.bin")).unwrap();
    p.flush().await.unwrap();
    assert_eq!(std::fs::read(p.local.join("big.bin")).unwrap(), big);
    let wire = p.received.load(Ordering::Relaxed) - before;
    assert!(wire < 300_000, "{wire} bytes crossed for a one-byte change");

    // And the other way.
    let before = p.sent.load(Ordering::Relaxed);
    big[100] ^= 1;
    let outside = p.local.parent().unwrap().join("big.tmp");
    std::fs::write(&outside, &big).unwrap();
    std::fs::rename(&outside, p.local.join("big.bin")).unwrap();
    p.flush().await.unwrap();
    assert_eq!(std::fs::read(p.remote.join("big.bin")).unwrap(), big);
    let wire = p.sent.load(Ordering::Relaxed) - before;
    assert!(wire < 300_000, "{wire} bytes crossed for a one-byte change");
}
