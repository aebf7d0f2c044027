//! The remote plugins, hosted by the VPS daemon: exactly the set the
//! laptop's lockfile enables (by sha256, with the permissions the user
//! granted there), each kept running across disconnects, with its ports
//! served on the VPS and the session events the daemon sees. Components
//! arrive from the laptop and are compiled here, by the process that runs
//! them. The daemon also journals the session events, for the laptop's
//! local plugins (see `session_journal`).

use super::session_events::{self, Look};
use super::session_host::TmuxSessions;
use super::session_journal::Journal;
use crate::plugins::events;
use crate::plugins::hosting::{Hosting, Source};
use crate::session::tmux;
use crate::sync::wire::{AgentStates, PluginGrant, PluginState, Response, SessionRef};
use sinc_plugin_host::{Event, FilesSynced, Grants};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The largest component accepted.
pub const MAX_COMPONENT: usize = 64 << 20;

/// The longest a keeper's request for session events waits for news.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The daemon's remote plugins and session journal.
pub struct Hosted {
    dir: PathBuf,
    home: PathBuf,
    hosting: Hosting,
    sessions: Arc<TmuxSessions>,
    journal: Mutex<Journal>,
    /// The last look at tmux (one look at a time).
    before: tokio::sync::Mutex<Option<Look>>,
    /// Keepers waiting for session events.
    followers: AtomicUsize,
    watcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Hosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hosted").field("dir", &self.dir).finish()
    }
}

/// Counts a keeper waiting for session events while it lives.
struct Following<'a>(&'a AtomicUsize);

impl<'a> Following<'a> {
    fn new(followers: &'a AtomicUsize) -> Following<'a> {
        followers.fetch_add(1, Ordering::SeqCst);
        Following(followers)
    }
}

impl Drop for Following<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The last plugin set, as kept in `set.json`.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedSet {
    grants: Vec<PluginGrant>,
    states: Vec<AgentStates>,
}

/// A session as the last look saw it (kept in `sessions.json`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Seen {
    id: String,
    attached: u32,
    /// When tmux created it (0: not recorded, by an older build).
    #[serde(default)]
    created: u64,
    local_path: Option<String>,
    remote_path: Option<String>,
    agent: Option<String>,
}

impl Hosted {
    /// Plugins kept under `data/plugins`, compiled into `cache/plugins`;
    /// `~/` in their folders means `home`; ended sessions' output is kept
    /// under `state`.
    pub fn new(data: &Path, cache: &Path, home: &Path, state: &Path) -> Arc<Hosted> {
        Arc::new(Hosted {
            dir: data.join("plugins"),
            home: home.to_path_buf(),
            hosting: Hosting::new("on the VPS", cache.join("plugins")),
            sessions: Arc::new(TmuxSessions::new(home, state)),
            journal: Mutex::default(),
            before: tokio::sync::Mutex::const_new(None),
            followers: AtomicUsize::new(0),
            watcher: Mutex::default(),
        })
    }

    fn component_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("components").join(format!("{sha256}.wasm"))
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Store a component that arrived, if it is the one named.
    pub fn store_component(&self, sha256: &str, wasm: &[u8]) -> Result<(), String> {
        let actual = sinc_plugin_host::cache::sha256_hex(wasm);
        if actual != sha256 {
            return Err(format!("the component's sha256 is {actual}, not {sha256}; it was not stored"));
        }
        let path = self.component_path(sha256);
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let staged = dir.join(format!(".{sha256}.partial"));
        std::fs::write(&staged, wasm)
            .and_then(|()| std::fs::rename(&staged, &path))
            .map_err(|e| format!("storing {}: {e}", path.display()))
    }

    /// Run exactly `set`: start what is new or changed, stop what left.
    /// Answers with the components still needed and every plugin's state.
    pub fn apply(
        self: &Arc<Self>,
        set: Vec<PluginGrant>,
        states: &[AgentStates],
        tokio: &tokio::runtime::Handle,
    ) -> Response {
        self.sessions.set_patterns(states);
        self.save_set(&set, states);
        let source = |grant: &PluginGrant| {
            let mut grants = Grants::new(self.dir.join(&grant.name).join("data"), self.home.clone());
            grants.sessions = Some(self.sessions.clone());
            Source { wasm: std::fs::read(self.component_path(&grant.sha256)).ok(), grants }
        };
        let missing = self.hosting.apply(set, source);
        self.watch_sessions(tokio);
        Response::Plugins { missing, states: self.states() }
    }

    /// Where the last set is kept (without its secrets), so a daemon that
    /// starts again runs the same plugins before a laptop connects.
    fn set_path(&self) -> PathBuf {
        self.dir.join("set.json")
    }

    fn save_set(&self, set: &[PluginGrant], states: &[AgentStates]) {
        let kept: Vec<PluginGrant> = set.iter().map(|g| PluginGrant { secrets: Vec::new(), ..g.clone() }).collect();
        let json = serde_json::to_vec(&SavedSet { grants: kept, states: states.to_vec() }).unwrap_or_default();
        if let Err(e) = crate::atomic_file::write(&self.set_path(), &json, 0o600) {
            tracing::warn!("saving the plugin set: {e}");
        }
    }

    /// Run the set last applied (its plugins without their secrets, which
    /// are never written on the VPS: they come back with the next laptop),
    /// when there is one and nothing runs yet.
    pub fn restore(self: &Arc<Self>, tokio: &tokio::runtime::Handle) {
        if !self.hosting.is_empty() {
            return;
        }
        let Ok(text) = std::fs::read(self.set_path()) else { return };
        match serde_json::from_slice::<SavedSet>(&text) {
            Ok(saved) => {
                tracing::info!("running the {} plugins of the last set", saved.grants.len());
                self.apply(saved.grants, &saved.states, tokio);
            }
            Err(e) => tracing::warn!("the saved plugin set is unreadable ({e}); waiting for a laptop"),
        }
    }

    /// Whether a plugin set was ever applied here.
    pub fn has_saved_set(data: &Path) -> bool {
        data.join("plugins").join("set.json").is_file()
    }

    /// Each plugin's state.
    pub fn states(&self) -> Vec<PluginState> {
        self.hosting.states()
    }

    /// Whether no plugin is loaded.
    pub fn is_empty(&self) -> bool {
        self.hosting.is_empty()
    }

    /// Run `command` of the plugin that adds it.
    pub async fn run_command(&self, command: &str, args: Vec<String>) -> Response {
        self.hosting.run_command(command, args).await
    }

    /// The MCP tools of the plugin that adds `command`.
    pub async fn tools(&self, command: &str) -> Response {
        self.hosting.tools(command).await
    }

    /// Call `tool` of the plugin that adds `command`.
    pub async fn call_tool(&self, command: &str, tool: &str, arguments: String) -> Response {
        self.hosting.call_tool(command, tool, arguments).await
    }

    /// Run `command` of `plugin`.
    pub async fn command(&self, plugin: &str, command: &str, args: Vec<String>) -> Response {
        self.hosting.command(plugin, command, args).await
    }

    /// Ask every plugin's before-start hook (see [`Hosting::before_start`]),
    /// with the session's folder as plugins see every other session's: an
    /// absolute path on the VPS (`~/` expanded).
    pub async fn before_start(&self, mut session: SessionRef, continuing: bool) -> Response {
        session.remote_path =
            sinc_plugin_host::process::folder_path(&session.remote_path, &self.home).to_string_lossy().into_owned();
        self.hosting.before_start(events::plugin_session(session), continuing).await
    }

    /// Session `id`'s screen and up to `scrollback` lines above it (after
    /// it ended: its kept output), for a laptop's local plugins.
    pub async fn screen(&self, id: String, scrollback: u32) -> Response {
        let sessions = self.sessions.clone();
        use sinc_plugin_host::sessions::SessionHost;
        match tokio::task::spawn_blocking(move || sessions.screen(&id, scrollback)).await {
            Ok(Ok(text)) => Response::Screen { text },
            Ok(Err(message)) => Response::Failed { message },
            Err(e) => Response::Failed { message: format!("reading the screen: {e}") },
        }
    }

    /// Files sync wrote on the VPS for `session` (one event per batch).
    pub fn files_synced(&self, session: &str, paths: Vec<String>) {
        if !paths.is_empty() && !self.hosting.is_empty() {
            self.hosting.deliver(&Event::FilesSynced(FilesSynced { session_id: session.to_owned(), paths }));
        }
    }

    /// The journaled events of `session` after the keeper's cursor
    /// (`journal`, `after`), waiting up to `wait` for some.
    pub async fn session_events(
        self: &Arc<Self>,
        session: &str,
        cursor: Option<(String, u64)>,
        wait: Duration,
        tokio: &tokio::runtime::Handle,
    ) -> Response {
        // Subscribed before the first look at the journal: an event recorded
        // after that look wakes the wait below.
        let mut news = self.journal().news();
        let mut waited = false;
        loop {
            let (journal, last, events) = {
                let j = self.journal();
                let events = j.since(session, cursor.as_ref().map(|(id, after)| (id.as_str(), *after)));
                (j.id().to_owned(), j.last(), events)
            };
            if !events.is_empty() || waited || cursor.is_none() || wait.is_zero() {
                return Response::SessionEvents { journal, last, events };
            }
            let _following = Following::new(&self.followers);
            self.watch_sessions(tokio);
            let _ = tokio::time::timeout(wait.min(MAX_WAIT), news.changed()).await;
            waited = true;
        }
    }

    fn watching_wanted(&self) -> bool {
        !self.hosting.is_empty() || self.followers.load(Ordering::SeqCst) > 0
    }

    /// Look at the tmux sessions while plugins are loaded or a keeper
    /// waits for events; the watcher stops by itself when neither is.
    fn watch_sessions(self: &Arc<Self>, tokio: &tokio::runtime::Handle) {
        let mut watcher = self.watcher.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.watching_wanted() || watcher.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let me = Arc::downgrade(self);
        *watcher = Some(tokio.spawn(async move {
            loop {
                let Some(hosted) = me.upgrade() else { return };
                {
                    // Decided under the lock `watch_sessions` takes, so a
                    // follower arriving now either sees this task running
                    // on or starts another.
                    let mut slot = hosted.watcher.lock().unwrap_or_else(PoisonError::into_inner);
                    if !hosted.watching_wanted() {
                        *slot = None;
                        return;
                    }
                }
                hosted.look_once().await;
                drop(hosted);
                tokio::time::sleep(session_events::LOOK_EVERY).await;
            }
        }));
    }

    /// Where the last look is kept, so a restarted daemon neither repeats
    /// nor misses events.
    fn look_path(&self) -> PathBuf {
        self.dir.join("sessions.json")
    }

    async fn look_once(&self) {
        let mut before = self.before.lock().await;
        let sessions = self.sessions.clone();
        let Ok(Ok(now)) = tokio::task::spawn_blocking(move || sessions.look()).await else { return };
        let previous = before.take().unwrap_or_else(|| self.saved_look());
        let changes = session_events::changes(&previous, &now);
        for (change, session) in &changes {
            let s = SessionRef {
                id: session.id.clone(),
                local_path: session.local_path.clone(),
                remote_path: session.remote_path.clone().unwrap_or_default(),
                agent: session.agent.clone().unwrap_or_default(),
                created: session.created,
            };
            tracing::debug!("session {} {change:?}", s.id);
            self.journal().record(*change, s.clone());
            if !self.hosting.is_empty() {
                self.hosting.deliver(&events::event(*change, events::plugin_session(s)));
            }
        }
        if !changes.is_empty() {
            self.save_look(&now);
        }
        *before = Some(now);
    }

    fn saved_look(&self) -> Look {
        let Ok(text) = std::fs::read_to_string(self.look_path()) else { return Look::new() };
        let saved: Vec<Seen> = serde_json::from_str(&text).unwrap_or_default();
        saved
            .into_iter()
            .map(|s| {
                let session = tmux::RemoteSession {
                    id: s.id.clone(),
                    attached: s.attached,
                    created: s.created,
                    local_path: s.local_path,
                    remote_path: s.remote_path,
                    agent: s.agent,
                    client: None,
                    kind: None,
                };
                (s.id, session)
            })
            .collect()
    }

    fn save_look(&self, look: &Look) {
        let saved: Vec<Seen> = look
            .values()
            .map(|s| Seen {
                id: s.id.clone(),
                attached: s.attached,
                created: s.created,
                local_path: s.local_path.clone(),
                remote_path: s.remote_path.clone(),
                agent: s.agent.clone(),
            })
            .collect();
        let written =
            crate::atomic_file::write(&self.look_path(), &serde_json::to_vec(&saved).unwrap_or_default(), 0o600);
        if let Err(e) = written {
            tracing::warn!("saving the sessions plugins heard of: {e}");
        }
    }
}
