//! The daemon's side of one keeper connection: the protocol served against the
//! VPS's endpoints (one per project, kept watching between connections).

use super::apply::{ApplyError, StageWriter, StagingHint};
use super::batch::{self, Change};
use super::endpoint::{self, EndpointConfig, Shared};
use super::ignore::IgnoreSpec;
use super::transfer::{self, Receiver, Sent};
use super::trash::TrashLimits;
use super::watch::Watcher;
use super::wire::{
    self, Body, Chunk, Message, Notice, RejectKind, Request, Response, WireError, WireReader, WireWriter,
};
use crate::remote::plugins::{Hosted, MAX_COMPONENT};
use futures_util::FutureExt;
use sinc_sync_core::{Entry, RelPath};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;

/// A served project: its endpoint and the watcher keeping it current.
#[derive(Debug)]
pub struct Project {
    /// The endpoint.
    pub ep: Shared,
    _watcher: Watcher,
    root: PathBuf,
    ignore: IgnoreSpec,
    /// Where received content was last staged (a hint for the next file).
    staging: std::sync::Mutex<StagingHint>,
}

/// Every project the daemon serves, by session id.
#[derive(Debug)]
pub struct Projects {
    data_dir: PathBuf,
    home: PathBuf,
    open: std::sync::Mutex<HashMap<String, Arc<Project>>>,
}

impl Projects {
    /// Projects keeping state under `data_dir`; `~/` in roots means `home`.
    pub fn new(data_dir: &Path, home: &Path) -> Arc<Projects> {
        Arc::new(Projects {
            data_dir: data_dir.to_path_buf(),
            home: home.to_path_buf(),
            open: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// How many projects are served.
    pub fn len(&self) -> usize {
        self.open.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether none is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expand(&self, root: &str) -> PathBuf {
        match root.strip_prefix("~/") {
            Some(rest) => self.home.join(rest),
            None if root == "~" => self.home.clone(),
            None => PathBuf::from(root),
        }
    }

    /// Serve `session` at `root` (reusing the running endpoint when the root
    /// and rules are unchanged).
    pub async fn open(
        &self,
        session: &str,
        root: &str,
        ignore: IgnoreSpec,
        trash: TrashLimits,
        verify: Option<Duration>,
    ) -> Result<Arc<Project>, String> {
        if session.is_empty() || session.contains(['/', '\0']) || session.starts_with('.') {
            return Err(format!("invalid session id {session:?}"));
        }
        let root = self.expand(root);
        std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        // A folder linked elsewhere (a dotfiles manager's) is synced where it is.
        let root = std::fs::canonicalize(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        if let Some(p) = self.open.lock().map_err(|e| e.to_string())?.get(session)
            && p.root == root
            && p.ignore == ignore
        {
            return Ok(p.clone());
        }
        let cfg = EndpointConfig {
            root: root.clone(),
            ignore: ignore.clone(),
            state_dir: self.data_dir.join("projects").join(session),
            trash_dir: self.data_dir.join("trash").join(session),
            trash_limits: trash,
        };
        let (ep, watcher) = endpoint::open_watching(cfg, verify).await?;
        let project = Arc::new(Project { ep, _watcher: watcher, root, ignore, staging: Default::default() });
        self.open.lock().map_err(|e| e.to_string())?.insert(session.to_owned(), project.clone());
        Ok(project)
    }

    /// Stop serving `session`.
    pub fn close(&self, session: &str) {
        let gone = self.open.lock().ok().and_then(|mut m| m.remove(session));
        if let Some(p) = gone
            && let Ok(mut ep) = p.ep.lock()
        {
            ep.save();
        }
    }

    /// Save every index (before exiting).
    pub fn save_all(&self) {
        if let Ok(m) = self.open.lock() {
            for p in m.values() {
                if let Ok(mut ep) = p.ep.lock() {
                    ep.save();
                }
            }
        }
    }
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeEnd {
    /// The keeper went away.
    Closed,
    /// The keeper asked the daemon to stop.
    Shutdown,
}

type Writer<W> = Arc<Mutex<WireWriter<W>>>;

/// Most changes applied in one batch (the keeper keeps two batches in
/// flight: `WINDOW` in syncer.rs).
const MAX_BATCH: usize = 256;

/// Entries per snapshot chunk (well under the frame limit).
const SNAPSHOT_BATCH: usize = 2000;

async fn send<W: AsyncWrite + Unpin>(w: &Writer<W>, msg: Message) -> Result<(), WireError> {
    w.lock().await.send(&msg).await
}

/// Answer request `id` with what `answer` gives, when it is done: plugin
/// requests wait on their plugin while sync goes on.
fn answer_later<W, F>(w: &Writer<W>, id: u64, answer: F)
where
    W: AsyncWrite + Unpin + Send + 'static,
    F: std::future::Future<Output = Response> + Send + 'static,
{
    let w = w.clone();
    tokio::spawn(async move {
        let response = answer.await;
        let _ = send(&w, Message::Response { id, response }).await;
    });
}

fn reject(e: &ApplyError, current: Option<Entry>) -> Response {
    let kind = match e {
        ApplyError::Changed { .. } => RejectKind::Changed,
        ApplyError::Ignored { .. } => RejectKind::Ignored,
        ApplyError::NotEmpty { .. } => RejectKind::NotEmpty,
        ApplyError::CaseClash { .. } => RejectKind::CaseClash,
        ApplyError::Corrupt { .. } => RejectKind::Corrupt,
        ApplyError::Io { .. } => RejectKind::Io,
    };
    Response::Rejected { kind, message: e.to_string(), current }
}

/// Serve one connection until it closes.
pub async fn serve<R, W>(
    mut reader: R,
    mut writer: W,
    projects: Arc<Projects>,
    plugins: Arc<Hosted>,
    build: &str,
) -> Result<ServeEnd, WireError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    wire::write_preamble(&mut writer).await?;
    wire::skip_to_preamble(&mut reader).await?;
    let mut reader = WireReader::new(reader);
    let mut w = WireWriter::new(writer);
    wire::handshake(&mut reader, &mut w, build).await?;
    let w: Writer<W> = Arc::new(Mutex::new(w));
    let mut project: Option<(String, Arc<Project>)> = None;
    let mut forwarder: Option<tokio::task::JoinHandle<()>> = None;
    // Changes received but not applied yet: applied when the keeper has
    // nothing more queued, when the batch is full (then in the background,
    // while the next batch arrives), and before any request that could
    // observe them.
    let mut batch: Vec<(u64, Change)> = Vec::new();
    let mut applying = Applying::default();
    let result = loop {
        let next = match reader.next().now_or_never() {
            Some(next) => next,
            None => {
                // Nothing more is queued: apply what arrived, send every
                // answer, then wait.
                let applied = match &project {
                    Some((session, p)) => applying.then_apply(p, &w, &mut batch, session, &plugins).await,
                    None => Ok(()),
                };
                if let Err(e) = applied.and(w.lock().await.flush().await) {
                    break Err(e);
                }
                reader.next().await
            }
        };
        let msg = match next {
            Ok(Some(m)) => m,
            Ok(None) => break Ok(ServeEnd::Closed),
            Err(e) => break Err(e),
        };
        let (id, request) = match msg {
            Message::Request { id, request } => (id, request),
            other => break Err(WireError::Unexpected(format!("{other:?}").chars().take(120).collect())),
        };
        let mutation = matches!(request, Request::Put { .. } | Request::Remove { .. });
        if let Some((session, p)) = &project {
            let ready = if mutation && batch.len() >= MAX_BATCH {
                applying.start(p, &w, &mut batch, session, &plugins).await
            } else if !mutation {
                applying.then_apply(p, &w, &mut batch, session, &plugins).await
            } else {
                Ok(())
            };
            if let Err(e) = ready {
                break Err(e);
            }
        }
        let response = match request {
            Request::Open { session, root, ignore, trash, verify_secs } => {
                let verify = (verify_secs > 0).then(|| Duration::from_secs(verify_secs));
                match projects.open(&session, &root, ignore, trash, verify).await {
                    Ok(p) => {
                        let ep = p.ep.clone();
                        let (epoch, seq, root, case_insensitive, root_state) = endpoint::with(&ep, |e| {
                            let (epoch, seq) = e.cursor();
                            (epoch, seq, e.root().to_string_lossy().into_owned(), e.case_insensitive(), e.root_state())
                        })
                        .await;
                        if let Some(f) = forwarder.take() {
                            f.abort();
                        }
                        forwarder = Some(tokio::spawn(forward_changes(ep, w.clone(), epoch, seq)));
                        project = Some((session, p));
                        Response::Opened { epoch, seq, root, case_insensitive, root_state }
                    }
                    Err(message) => Response::Failed { message },
                }
            }
            Request::Shutdown => {
                send(&w, Message::Response { id, response: Response::Ok }).await?;
                break Ok(ServeEnd::Shutdown);
            }
            Request::PluginSet { plugins: set, states } => {
                plugins.apply(set, &states, &tokio::runtime::Handle::current())
            }
            Request::PluginComponent { sha256 } => match receive_component(id, &mut reader).await {
                Ok(Ok(wasm)) => match plugins.store_component(&sha256, &wasm) {
                    Ok(()) => Response::Ok,
                    Err(message) => Response::Failed { message },
                },
                Ok(Err(message)) => Response::Failed { message },
                Err(e) => break Err(e),
            },
            Request::BeforeStart { session, continuing } => {
                let plugins = plugins.clone();
                answer_later(&w, id, async move { plugins.before_start(session, continuing).await });
                continue;
            }
            Request::SessionEvents { session, journal, after, wait_ms } => {
                // A keeper waits here for news; sync goes on meanwhile.
                let plugins = plugins.clone();
                let cursor = journal.zip(after);
                let wait = Duration::from_millis(u64::from(wait_ms));
                answer_later(&w, id, async move {
                    let handle = tokio::runtime::Handle::current();
                    plugins.session_events(&session, cursor, wait, &handle).await
                });
                continue;
            }
            Request::SessionScreen { session, scrollback } => {
                let plugins = plugins.clone();
                answer_later(&w, id, async move { plugins.screen(session, scrollback).await });
                continue;
            }
            Request::LoopbackHttp { call } => {
                answer_later(&w, id, async move {
                    match sinc_plugin_host::vps_loopback::perform(call).await {
                        Ok(reply) => Response::HttpReply { reply },
                        Err(message) => Response::Failed { message },
                    }
                });
                continue;
            }
            Request::PluginCommand { plugin, command, args } => {
                let plugins = plugins.clone();
                answer_later(&w, id, async move { plugins.command(&plugin, &command, args).await });
                continue;
            }
            Request::Tools { command } => {
                let plugins = plugins.clone();
                answer_later(&w, id, async move { plugins.tools(&command).await });
                continue;
            }
            Request::CallTool { command, tool, arguments } => {
                let plugins = plugins.clone();
                answer_later(&w, id, async move { plugins.call_tool(&command, &tool, arguments).await });
                continue;
            }
            Request::RunCommand { command, args } => {
                let plugins = plugins.clone();
                answer_later(&w, id, async move { plugins.run_command(&command, args).await });
                continue;
            }
            Request::Put { path, expected, new, body, loser } if project.is_some() => {
                let Some((_, p)) = &project else { unreachable!("just checked") };
                match receive_put(id, p, &mut reader, path, expected, new, body, loser).await {
                    Ok(Ok(change)) => {
                        batch.push((id, change));
                        continue;
                    }
                    Ok(Err(refused)) => refused,
                    Err(e) => break Err(e),
                }
            }
            Request::Remove { path, expected, loser } if project.is_some() => {
                batch.push((id, Change::Remove { path, expected, loser }));
                continue;
            }
            other => match &project {
                None => Response::Failed { message: "no project is open on this connection".into() },
                Some((session, p)) => match handle(id, other, p, session, &projects, &w).await {
                    Ok(r) => r,
                    Err(e) => break Err(e),
                },
            },
        };
        if let Err(e) = w.lock().await.feed(&Message::Response { id, response }).await {
            break Err(e);
        }
    };
    if let Some(f) = forwarder {
        f.abort();
    }
    if let Some((session, p)) = project {
        // Content that arrived whole is kept even when the answer cannot be
        // delivered any more.
        let _ = applying.settle().await;
        let _ = apply_batch(&p.ep, &w, &mut batch, &session, &plugins).await;
        let _ = w.lock().await.flush().await;
        let _ = endpoint::with(&p.ep, |e| e.save()).await;
    }
    result
}

/// A full batch being applied in the background while the next one is
/// received and staged (at most one at a time, so batches apply in order).
#[derive(Default)]
struct Applying(Option<tokio::task::JoinHandle<Result<(), WireError>>>);

impl Applying {
    /// Wait until the batch in flight, if any, is applied and answered.
    async fn settle(&mut self) -> Result<(), WireError> {
        match self.0.take() {
            None => Ok(()),
            Some(task) => task.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())),
        }
    }

    /// Apply `batch` now, once the one in flight is done.
    async fn then_apply<W: AsyncWrite + Unpin>(
        &mut self,
        project: &Project,
        w: &Writer<W>,
        batch: &mut Vec<(u64, Change)>,
        session: &str,
        plugins: &Hosted,
    ) -> Result<(), WireError> {
        self.settle().await?;
        apply_batch(&project.ep, w, batch, session, plugins).await
    }

    /// Apply `batch` in the background once the one before it is done.
    async fn start<W: AsyncWrite + Unpin + Send + 'static>(
        &mut self,
        project: &Project,
        w: &Writer<W>,
        batch: &mut Vec<(u64, Change)>,
        session: &str,
        plugins: &Arc<Hosted>,
    ) -> Result<(), WireError> {
        self.settle().await?;
        let mut batch = std::mem::take(batch);
        let (ep, w, session, plugins) = (project.ep.clone(), w.clone(), session.to_owned(), plugins.clone());
        self.0 = Some(tokio::spawn(async move { apply_batch(&ep, &w, &mut batch, &session, &plugins).await }));
        Ok(())
    }
}

/// Apply the pending changes and queue an answer for each; the remote
/// plugins hear which paths of `session` were written.
async fn apply_batch<W: AsyncWrite + Unpin>(
    ep: &Shared,
    w: &Writer<W>,
    batch: &mut Vec<(u64, Change)>,
    session: &str,
    plugins: &Hosted,
) -> Result<(), WireError> {
    if batch.is_empty() {
        return Ok(());
    }
    let (ids, changes): (Vec<u64>, Vec<Change>) = std::mem::take(batch).into_iter().unzip();
    let paths: Vec<String> = changes.iter().map(|c| c.path().as_str().to_owned()).collect();
    let results = endpoint::with(ep, move |e| batch::apply(e, changes)).await;
    let synced: Vec<String> =
        paths.into_iter().zip(&results).filter(|(_, r)| r.is_ok()).map(|(path, _)| path).collect();
    plugins.files_synced(session, synced);
    let mut w = w.lock().await;
    for (id, result) in ids.into_iter().zip(results) {
        let response = match result {
            Ok(()) => Response::Applied,
            Err((err, current)) => reject(&err, current),
        };
        w.feed(&Message::Response { id, response }).await?;
    }
    Ok(())
}

/// Push the endpoint's changes to the keeper as they are logged.
async fn forward_changes<W: AsyncWrite + Unpin + Send + 'static>(ep: Shared, w: Writer<W>, epoch: u64, mut seq: u64) {
    let mut rx = match ep.lock() {
        Ok(e) => e.subscribe(),
        Err(_) => return,
    };
    let mut last_root = None;
    loop {
        let (changes, now, root, warnings) = endpoint::with(&ep, move |e| {
            let changes = e.changes_since(epoch, seq);
            let warnings: Vec<String> =
                e.take_skipped().into_iter().map(|s| format!("{}: {}", s.path, s.reason)).collect();
            (changes, e.cursor().1, e.root_state(), warnings)
        })
        .await;
        for warning in warnings {
            if send(&w, Message::Notice(Notice::Warning(warning))).await.is_err() {
                return;
            }
        }
        if last_root != Some(root) {
            last_root = Some(root);
            if send(&w, Message::Notice(Notice::Root(root))).await.is_err() {
                return;
            }
        }
        if let Some(changes) = changes
            && !changes.is_empty()
        {
            if send(&w, Message::Notice(Notice::Changes { epoch, seq: now, changes })).await.is_err() {
                return;
            }
            seq = now;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Answer a request that reads or inspects the project (changes are
/// batched by the serve loop).
async fn handle<W>(
    id: u64,
    request: Request,
    p: &Arc<Project>,
    session: &str,
    projects: &Arc<Projects>,
    w: &Writer<W>,
) -> Result<Response, WireError>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let ep = &p.ep;
    Ok(match request {
        Request::Snapshot => {
            let all = endpoint::with(ep, |e| e.snapshot()).await;
            for batch in all.chunks(SNAPSHOT_BATCH) {
                let bytes = postcard::to_stdvec(batch).map_err(|e| WireError::Malformed(e.to_string()))?;
                send(w, Message::Data { id, chunk: transfer::pack(bytes) }).await?;
            }
            send(w, Message::Data { id, chunk: Chunk::End }).await?;
            Response::SnapshotDone { count: all.len() as u64 }
        }
        Request::ChangesSince { epoch, seq } => {
            let (changes, (e, s)) = endpoint::with(ep, move |x| (x.changes_since(epoch, seq), x.cursor())).await;
            match changes {
                Some(changes) => Response::Changes { epoch: e, seq: s, changes },
                None => Response::EpochChanged,
            }
        }
        Request::Read { path, entry } => read(id, ep, w, path, entry, None).await?,
        Request::ReadDelta { path, entry, signature } => read(id, ep, w, path, entry, Some(signature)).await?,
        Request::Signature { path, entry } => {
            let checked = endpoint::with(ep, {
                let path = path.clone();
                move |e| e.transition().check(&path, Some(&entry)).map(|_| e.abs(&path))
            })
            .await;
            match checked {
                Err(err) => reject(&err, current(ep, &path).await),
                Ok(abs) => match std::fs::File::open(&abs).and_then(|f| {
                    let len = f.metadata()?.len();
                    super::delta::signature(f, len)
                }) {
                    Ok(sig) => Response::Signature(sig),
                    Err(e) => Response::Failed { message: format!("{path}: {e}") },
                },
            }
        }
        Request::Rescan => {
            let (result, (epoch, seq), root_state) =
                endpoint::with(ep, |e| (e.full_rescan(), e.cursor(), e.root_state())).await;
            match result {
                Ok(_) => Response::Rescanned { epoch, seq, root_state },
                Err(e) => Response::Failed { message: e.to_string() },
            }
        }
        Request::TrashList => Response::TrashItems(endpoint::with(ep, |e| e.trash().list()).await),
        Request::TrashRead { id: item } => {
            let found = endpoint::with(ep, move |e| e.trash().find(&item).map(|i| (e.trash().content(&i), i))).await;
            match found {
                Some((file, item)) => match item.digest() {
                    Some(digest) => stream_file(id, w, &file, &digest).await?,
                    None => Response::Failed { message: "that trash item has no content".into() },
                },
                None => Response::Failed { message: "no such trash item".into() },
            }
        }
        Request::Close => {
            projects.close(session);
            Response::Ok
        }
        // Served by the loop (changes are batched; opening switches projects).
        Request::Put { .. }
        | Request::Remove { .. }
        | Request::Open { .. }
        | Request::Shutdown
        | Request::Forget { .. }
        | Request::PluginSet { .. }
        | Request::PluginComponent { .. }
        | Request::PluginCommand { .. }
        | Request::RunCommand { .. }
        | Request::Tools { .. }
        | Request::CallTool { .. }
        | Request::SessionEvents { .. }
        | Request::SessionScreen { .. }
        | Request::LoopbackHttp { .. }
        | Request::BeforeStart { .. } => Response::Failed { message: "unexpected request".into() },
    })
}

async fn current(ep: &Shared, path: &RelPath) -> Option<Entry> {
    let path = path.clone();
    endpoint::with(ep, move |e| e.index().get(&path).map(|n| n.entry.clone())).await
}

/// Run `produce` on a blocking thread, passing on the chunks it emits as
/// `Data` for request `id` (queued; the serve loop flushes); returns what
/// `produce` returned.
async fn stream<W, T>(
    id: u64,
    w: &Writer<W>,
    produce: impl FnOnce(&dyn Fn(Chunk) -> std::io::Result<()>) -> T + Send + 'static,
) -> Result<Result<T, String>, WireError>
where
    W: AsyncWrite + Unpin,
    T: Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(4);
    let producer =
        tokio::task::spawn_blocking(move || produce(&|c| tx.blocking_send(c).map_err(std::io::Error::other)));
    while let Some(chunk) = rx.recv().await {
        w.lock().await.feed(&Message::Data { id, chunk }).await?;
    }
    Ok(producer.await.map_err(|e| e.to_string()))
}

fn sent(result: Result<std::io::Result<Sent>, String>, current: Option<Entry>) -> Response {
    match result {
        Ok(Ok(Sent::Complete(digest))) => Response::Sent { digest },
        Ok(Ok(Sent::Changed)) => {
            Response::Rejected { kind: RejectKind::Changed, message: "changed while it was read".into(), current }
        }
        Ok(Err(e)) => Response::Failed { message: e.to_string() },
        Err(e) => Response::Failed { message: e },
    }
}

/// Send the content of `file` (a trash item) as `Data` chunks for request `id`.
async fn stream_file<W: AsyncWrite + Unpin>(
    id: u64,
    w: &Writer<W>,
    file: &Path,
    digest: &sinc_sync_core::Digest,
) -> Result<Response, WireError> {
    let (file, digest) = (file.to_path_buf(), *digest);
    let result = stream(id, w, move |emit| transfer::send_file(&file, &digest, emit)).await?;
    Ok(sent(result, None))
}

/// Send a project file, whole or as a delta against `signature`, after
/// checking it is still `entry` (one blocking hop for both).
async fn read<W: AsyncWrite + Unpin>(
    id: u64,
    ep: &Shared,
    w: &Writer<W>,
    path: RelPath,
    entry: Entry,
    signature: Option<super::delta::Signature>,
) -> Result<Response, WireError> {
    let Entry::File { digest, .. } = entry else {
        return Ok(Response::Failed { message: format!("{path} is not a file") });
    };
    let result = stream(id, w, {
        let (ep, path) = (ep.clone(), path.clone());
        move |emit| {
            let abs = {
                let mut e = ep.lock().unwrap_or_else(|p| p.into_inner());
                e.transition().check(&path, Some(&entry)).map(|_| e.abs(&path))
            };
            abs.map(|abs| match &signature {
                Some(sig) => transfer::send_delta(&abs, &digest, sig, emit),
                None => transfer::send_file(&abs, &digest, emit),
            })
        }
    })
    .await?;
    Ok(match result {
        Ok(Err(refused)) => reject(&refused, current(ep, &path).await),
        Ok(Ok(Ok(Sent::Changed))) => sent(Ok(Ok(Sent::Changed)), current(ep, &path).await),
        Ok(Ok(r)) => sent(Ok(r), None),
        Err(e) => sent(Err(e), None),
    })
}

/// A plugin component's content (`Bytes` chunks, then `End`), read whole
/// so the stream stays in step; `Err` inside when it cannot be used.
async fn receive_component<R: AsyncRead + Unpin>(
    id: u64,
    reader: &mut WireReader<R>,
) -> Result<Result<Vec<u8>, String>, WireError> {
    let mut wasm = Vec::new();
    let mut refused = None;
    loop {
        match reader.next().await? {
            Some(Message::Data { id: cid, chunk }) if cid == id => match chunk {
                Chunk::End => break,
                Chunk::Abort { reason } => refused = Some(reason),
                Chunk::Bytes(bytes) if wasm.len() + bytes.len() <= MAX_COMPONENT => wasm.extend(bytes),
                Chunk::Bytes(_) => {
                    refused = Some(format!("the component is larger than {} MiB", MAX_COMPONENT >> 20));
                    wasm = Vec::new();
                }
                other => refused = Some(format!("unexpected content for a component: {other:?}")),
            },
            Some(other) => {
                return Err(WireError::Unexpected(
                    format!("expected content for request {id}, got {other:?}").chars().take(160).collect(),
                ));
            }
            None => return Err(WireError::Closed),
        }
    }
    Ok(refused.map_or(Ok(wasm), Err))
}

/// Receive a `Put`'s content into a staged file; the change is applied later,
/// with its batch. `Err` carries the answer when it cannot be applied.
#[allow(clippy::too_many_arguments)]
async fn receive_put<R: AsyncRead + Unpin>(
    id: u64,
    p: &Project,
    reader: &mut WireReader<R>,
    path: RelPath,
    expected: Option<Entry>,
    new: Entry,
    body: Body,
    loser: bool,
) -> Result<Result<Change, Response>, WireError> {
    let root = &p.root;
    let stage = |path: &RelPath| {
        let mut hint = p.staging.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        StageWriter::create_near(root, path, &mut hint)
    };
    let mut receiver: Option<Result<Receiver, std::io::Error>> = match (body, &expected) {
        (Body::None, _) => None,
        (Body::Full, _) => Some(stage(&path).map(Receiver::full)),
        (Body::Delta { block_size }, Some(Entry::File { .. })) => {
            let base = root.join(path.as_str());
            Some(stage(&path).and_then(|s| Receiver::delta(s, &base, block_size)))
        }
        (Body::Delta { .. }, _) => Some(Err(std::io::Error::other("a delta needs an existing file"))),
    };
    // Content always arrives in full, even when it cannot be used, so the
    // stream stays in step.
    let mut aborted = None;
    if receiver.is_some() {
        loop {
            let chunk = match reader.next().await? {
                Some(Message::Data { id: cid, chunk }) if cid == id => chunk,
                Some(other) => {
                    return Err(WireError::Unexpected(
                        format!("expected content for request {id}, got {other:?}").chars().take(160).collect(),
                    ));
                }
                None => return Err(WireError::Closed),
            };
            match chunk {
                Chunk::End => break,
                Chunk::Abort { reason } => {
                    aborted = Some(reason);
                    break;
                }
                data => {
                    if let Some(Ok(rx)) = &mut receiver
                        && let Err(e) = rx.take(&data)
                    {
                        receiver = Some(Err(e));
                    }
                }
            }
        }
    }
    if let Some(reason) = aborted {
        return Ok(Err(Response::Rejected { kind: RejectKind::Aborted, message: reason, current: None }));
    }
    let staged = match receiver {
        None => None,
        Some(Ok(rx)) => match rx.finish() {
            Ok(s) => Some(s),
            Err(e) => {
                return Ok(Err(Response::Rejected {
                    kind: RejectKind::Io,
                    message: format!("{path}: {e}"),
                    current: None,
                }));
            }
        },
        Some(Err(e)) => {
            return Ok(Err(Response::Rejected {
                kind: RejectKind::Io,
                message: format!("{path}: {e}"),
                current: current(&p.ep, &path).await,
            }));
        }
    };
    Ok(Ok(Change::Put { path, expected, new, staged, loser }))
}
