//! The remote plugins, hosted by the VPS daemon: exactly the set the
//! laptop's lockfile enables (by sha256, with the permissions the user
//! granted there), each kept running across disconnects, with its ports
//! served on the VPS and the session events the daemon sees. Components
//! arrive from the laptop and are compiled here, by the process that runs
//! them. The plugin runtime (wasmtime) is only built for the first plugin.

use super::session_events::{self, Change, Look};
use super::session_host::TmuxSessions;
use crate::session::tmux;
use crate::sync::wire::{AgentStates, PluginGrant, PluginState, Response};
use sinc_plugin_host::running::{Running, Spec, Status};
use sinc_plugin_host::{Event, FilesSynced, Grants, Manifest, Runtime, Session, Verdict};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The largest component accepted.
pub const MAX_COMPONENT: usize = 64 << 20;

/// The daemon's remote plugins.
pub struct Hosted {
    dir: PathBuf,
    cache: PathBuf,
    home: PathBuf,
    runtime: OnceLock<Arc<Runtime>>,
    sessions: Arc<TmuxSessions>,
    slots: Mutex<BTreeMap<String, Slot>>,
    watcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Hosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hosted").field("dir", &self.dir).finish()
    }
}

/// A session as the last look saw it (kept in `sessions.json`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Seen {
    id: String,
    attached: u32,
    local_path: Option<String>,
    remote_path: Option<String>,
    agent: Option<String>,
}

/// One plugin of the set.
struct Slot {
    grant: PluginGrant,
    /// Running, or why not.
    running: Result<Running, String>,
}

impl Hosted {
    /// Plugins kept under `data/plugins`, compiled into `cache/plugins`;
    /// `~/` in their folders means `home`.
    pub fn new(data: &Path, cache: &Path, home: &Path) -> Arc<Hosted> {
        Arc::new(Hosted {
            dir: data.join("plugins"),
            cache: cache.join("plugins"),
            home: home.to_path_buf(),
            runtime: OnceLock::new(),
            sessions: Arc::new(TmuxSessions::new(home)),
            slots: Mutex::default(),
            watcher: Mutex::default(),
        })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn component_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("components").join(format!("{sha256}.wasm"))
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
        let mut missing = Vec::new();
        {
            let mut slots = self.slots();
            slots.retain(|name, _| set.iter().any(|g| &g.name == name));
            for grant in set {
                if let Some(slot) = slots.get(&grant.name)
                    && slot.grant == grant
                    && slot.running.is_ok()
                {
                    continue;
                }
                // Stop the old build before its replacement binds the ports.
                slots.remove(&grant.name);
                let running = match std::fs::read(self.component_path(&grant.sha256)) {
                    Ok(wasm) => self.start(&grant, wasm, tokio),
                    Err(_) => {
                        missing.push(grant.sha256.clone());
                        Err("missing".into())
                    }
                };
                if let Err(why) = &running {
                    tracing::info!(plugin = %grant.name, "not running: {why}");
                }
                slots.insert(grant.name.clone(), Slot { grant, running });
            }
        }
        self.watch_sessions(tokio);
        Response::Plugins { missing, states: self.states() }
    }

    fn start(&self, grant: &PluginGrant, wasm: Vec<u8>, tokio: &tokio::runtime::Handle) -> Result<Running, String> {
        if sinc_plugin_host::cache::sha256_hex(&wasm) != grant.sha256 {
            return Err("its stored component does not match its sha256".into());
        }
        let mut manifest = Manifest::from_component(&wasm).map_err(|e| e.to_string())?;
        // Only what the user accepted, whatever the component says.
        manifest.permissions = grant.permissions.clone();
        let settings: toml::Table =
            toml::from_str(&grant.settings).map_err(|e| format!("its settings are not valid TOML: {e}"))?;
        let mut grants = Grants::new(self.dir.join(&grant.name).join("data"), self.home.clone());
        grants.settings = settings;
        grants.secrets = grant.secrets.iter().cloned().collect();
        grants.sessions = Some(self.sessions.clone());
        let runtime = match self.runtime.get() {
            Some(r) => r.clone(),
            None => {
                let built = Arc::new(Runtime::new(self.cache.clone()).map_err(|e| format!("{e:#}"))?);
                self.runtime.get_or_init(|| built).clone()
            }
        };
        Running::start(runtime, Spec { manifest, wasm: wasm.into(), grants }, tokio, None).map_err(|e| e.to_string())
    }

    /// Each plugin's state.
    pub fn states(&self) -> Vec<PluginState> {
        self.slots()
            .iter()
            .map(|(name, slot)| PluginState {
                name: name.clone(),
                state: match &slot.running {
                    Err(why) => why.clone(),
                    Ok(running) => match running.status() {
                        Status::Starting => "starting".into(),
                        Status::Running => "running".into(),
                        Status::Restarting { reason, .. } => format!("restarting: {reason}"),
                        Status::Disabled(why) => format!("disabled: {why}"),
                        Status::Stopped => "stopped".into(),
                    },
                },
            })
            .collect()
    }

    /// Whether any plugin is loaded.
    pub fn is_empty(&self) -> bool {
        self.slots().values().all(|s| s.running.is_err())
    }

    /// Run `command` of `plugin`.
    pub async fn command(&self, plugin: &str, command: &str, args: Vec<String>) -> Response {
        let queued = {
            let slots = self.slots();
            match slots.get(plugin).map(|s| &s.running) {
                None => {
                    return Response::Failed { message: format!("no remote plugin `{plugin}` is loaded on the VPS") };
                }
                Some(Err(why)) => {
                    return Response::Failed { message: format!("plugin {plugin} is not running on the VPS: {why}") };
                }
                Some(Ok(running)) => running.command_queued(command, args),
            }
        };
        match queued.await {
            Ok(out) => Response::CommandOutput { status: out.status, stdout: out.stdout, stderr: out.stderr },
            Err(_) => Response::Failed {
                message: format!("plugin {plugin} stopped running `{command}` (see `sinc plugin list`)"),
            },
        }
    }

    /// Ask every plugin's before-start hook, in name order: the first
    /// refusal stops the session; environment variables and prompts add up
    /// (the first plugin to set a variable wins).
    pub async fn before_start(&self, session: Session) -> Response {
        let asked: Vec<_> = self
            .slots()
            .iter()
            .filter_map(|(name, slot)| {
                slot.running.as_ref().ok().map(|r| (name.clone(), r.before_start_queued(session.clone())))
            })
            .collect();
        let mut env: Vec<(String, String)> = Vec::new();
        let mut prompts = Vec::new();
        for (plugin, answer) in asked {
            match answer.await {
                Ok(Some(Verdict::Refuse(reason))) => return Response::Refused { plugin, reason },
                Ok(Some(Verdict::Proceed(launch))) => {
                    for (key, value) in launch.env {
                        if env.iter().any(|(k, _)| *k == key) {
                            tracing::warn!(plugin = %plugin, "{key} is set by another plugin already; keeping that one");
                        } else {
                            env.push((key, value));
                        }
                    }
                    prompts.extend(launch.prompt);
                }
                Ok(None) => {}
                Err(_) => tracing::warn!(plugin = %plugin, "not running; its before-start hook was skipped"),
            }
        }
        Response::Launch { env, prompts }
    }

    /// Files sync wrote on the VPS for `session` (one event per batch).
    pub fn files_synced(&self, session: &str, paths: Vec<String>) {
        if !paths.is_empty() && !self.is_empty() {
            self.deliver(&Event::FilesSynced(FilesSynced { session_id: session.to_owned(), paths }));
        }
    }

    fn deliver(&self, event: &Event) {
        for slot in self.slots().values() {
            if let Ok(running) = &slot.running {
                running.event(event.clone());
            }
        }
    }

    /// Look at the tmux sessions while plugins are loaded; stop looking
    /// when none is.
    fn watch_sessions(self: &Arc<Self>, tokio: &tokio::runtime::Handle) {
        let mut watcher = self.watcher.lock().unwrap_or_else(PoisonError::into_inner);
        let wanted = !self.is_empty();
        match (&*watcher, wanted) {
            (Some(task), false) => {
                task.abort();
                *watcher = None;
            }
            (None, true) => {
                let me = Arc::downgrade(self);
                *watcher = Some(tokio.spawn(async move {
                    let mut before: Option<Look> = None;
                    loop {
                        let Some(hosted) = me.upgrade() else { return };
                        hosted.look_once(&mut before).await;
                        drop(hosted);
                        tokio::time::sleep(session_events::LOOK_EVERY).await;
                    }
                }));
            }
            _ => {}
        }
    }

    /// Where the last look is kept, so a restarted daemon neither repeats
    /// nor misses events.
    fn look_path(&self) -> PathBuf {
        self.dir.join("sessions.json")
    }

    async fn look_once(&self, before: &mut Option<Look>) {
        let sessions = self.sessions.clone();
        let Ok(Ok(now)) = tokio::task::spawn_blocking(move || sessions.look()).await else { return };
        let previous = before.take().unwrap_or_else(|| self.saved_look());
        let changes = session_events::changes(&previous, &now);
        for (change, session) in &changes {
            let s = Session {
                id: session.id.clone(),
                local_path: session.local_path.clone(),
                remote_path: session.remote_path.clone().unwrap_or_default(),
                agent: session.agent.clone().unwrap_or_default(),
            };
            tracing::debug!("session {} {change:?}", s.id);
            self.deliver(&match change {
                Change::Created => Event::SessionCreated(s),
                Change::Attached => Event::SessionAttached(s),
                Change::Detached => Event::SessionDetached(s),
                Change::Ended => Event::SessionEnded(s),
            });
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
                    created: 0,
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
                local_path: s.local_path.clone(),
                remote_path: s.remote_path.clone(),
                agent: s.agent.clone(),
            })
            .collect();
        let path = self.look_path();
        let staged = path.with_extension("json.partial");
        let written = std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&staged, serde_json::to_vec(&saved).unwrap_or_default()))
            .and_then(|()| std::fs::rename(&staged, &path));
        if let Err(e) = written {
            tracing::warn!("saving the sessions plugins heard of: {e}");
        }
    }
}
