//! Running plugins: one wasmtime engine per process, a store and an instance
//! per plugin (reused for every call), with a memory cap, a deadline per
//! call, and nothing reachable that the plugin's grants do not allow.

use crate::bindings::exports::sinc::plugin::ending::{Ended, Stage};
use crate::bindings::exports::sinc::plugin::hooks::Verdict;
use crate::bindings::exports::sinc::plugin::{
    ending, forward_handler, hooks, http_handler, plugin as plugin_api, tools, websocket_events,
};
use crate::bindings::sinc::plugin::http_types::{Exchange, Message, Reply, Request, Response};
use crate::bindings::sinc::plugin::types::Session;
use crate::bindings::sinc::plugin::types::{Command, CommandOutput, Event, HostError};
use crate::bindings::sinc::plugin::{
    forwarding as forwarding_api, http_server as http_server_api, invocation as invocation_api, kv as kv_api,
    live_sessions as live_sessions_api, log as log_api, notices as notices_api, process as process_api,
    project_files as project_files_api, secrets as secrets_api, sessions as sessions_api,
    start_options as start_options_api, websockets as websockets_api,
};
use crate::cache::Cache;
use crate::kv;
use crate::manifest::SessionAccess;
use crate::manifest::{Access, Manifest};
use crate::project_files::{self, Refusal, Scope};
use crate::serving::Connections;
use crate::sessions::{SessionHost, SessionInfo};
use invocation_api::FollowUp;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The most time spent waiting for the host (programs, session commands)
/// that one call gets back on top of its deadline: past it, the call is
/// stopped like one that ran too long.
pub const MAX_GIVEN_BACK: Duration = Duration::from_secs(600);

/// How often the engine's clock ticks (the resolution of call deadlines).
const TICK: Duration = Duration::from_millis(10);

/// Limits for one plugin.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory, in bytes (default 64 MiB).
    pub memory: usize,
    /// How long one call may run (default 1 s).
    pub call: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { memory: 64 << 20, call: Duration::from_secs(1) }
    }
}

/// Why a plugin could not be loaded or called.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// It could not be compiled or instantiated (not a sinc plugin, or one
    /// for an SDK this host cannot link).
    #[error("cannot load plugin {name}: {reason}")]
    Load {
        /// The plugin.
        name: String,
        /// Why.
        reason: String,
    },
    /// It trapped, ran past its deadline or out of memory; its instance is
    /// gone.
    #[error("plugin {name} was stopped: {reason}")]
    Stopped {
        /// The plugin.
        name: String,
        /// Why.
        reason: String,
    },
}

/// What a before-start hook answered.
#[derive(Debug, Clone)]
pub struct HookAnswer {
    /// Whether the session may start, and how.
    pub verdict: Verdict,
    /// What it asked to show the user (`notices.warn`).
    pub notices: Vec<String>,
}

/// The wasmtime engine and the linker every plugin is instantiated with.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    cache: Cache,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("cache", &self.cache).finish()
    }
}

/// What one plugin's store holds: its WASI context (empty but for granted
/// folders), its limits and its key-value store.
pub struct State {
    name: String,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    kv: kv::Store,
    permissions: crate::manifest::Permissions,
    home: PathBuf,
    data_dir: PathBuf,
    http: wasmtime_wasi_http::WasiHttpCtx,
    outbound: crate::outbound::Outbound,
    secrets: std::collections::BTreeMap<String, String>,
    /// Its connections (requests and WebSockets on its ports, WebSockets
    /// it opened), when the host keeps it running.
    connections: Option<Arc<Connections>>,
    /// Where its connections' messages go (its instance's queue).
    callbacks: Option<Arc<dyn crate::serving::Handler>>,
    /// Time the current call spent waiting in the host (reading a request
    /// body, a session command), added to its deadline.
    grace: Duration,
    /// Time given back to the current call so far (bounded by
    /// [`MAX_GIVEN_BACK`]).
    given_back: Duration,
    /// The agent sessions, where this host knows them.
    sessions: Option<Arc<dyn SessionHost>>,
    /// What it asked to tell the user during the current before-start
    /// call (`None` outside one: notices go to the log).
    notices: Option<Vec<String>>,
    /// The subcommand being run, if one is (`None` outside one).
    invocation: Option<Invocation>,
    /// Where it runs.
    runs_on: crate::RunsOn,
    /// The projects the current call may keep files in.
    scope: Scope,
    /// During a before-start call: whether the user asked the session to
    /// carry on from the last one.
    continuing: bool,
}

/// The `sinc` running a subcommand, as the plugin sees it.
#[derive(Debug, Default)]
struct Invocation {
    /// The folder it was run in.
    cwd: Option<String>,
    /// What it is to do afterwards.
    then: Option<FollowUp>,
}

/// What a subcommand answered.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// What it printed, and its status.
    pub output: CommandOutput,
    /// What the `sinc` that ran it is to do next (local plugins).
    pub then: Option<FollowUp>,
}

impl wasmtime_wasi_http::WasiHttpView for State {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("name", &self.name).field("kv", &self.kv).finish()
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl log_api::Host for State {
    fn log(&mut self, level: log_api::Level, message: String) {
        let plugin = self.name.as_str();
        match level {
            log_api::Level::Trace => tracing::trace!(plugin, "{message}"),
            log_api::Level::Debug => tracing::debug!(plugin, "{message}"),
            log_api::Level::Info => tracing::info!(plugin, "{message}"),
            log_api::Level::Warn => tracing::warn!(plugin, "{message}"),
            log_api::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl kv_api::Host for State {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, HostError> {
        self.kv.get(&key).map_err(HostError::Failed)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), HostError> {
        self.kv.set(&key, &value).map_err(HostError::Failed)
    }

    fn delete(&mut self, key: String) -> Result<(), HostError> {
        self.kv.delete(&key).map_err(HostError::Failed)
    }

    fn keys(&mut self, prefix: String) -> Result<Vec<String>, HostError> {
        self.kv.keys(&prefix).map_err(HostError::Failed)
    }
}

impl process_api::Host for State {
    fn run(
        &mut self,
        program: String,
        args: Vec<String>,
        cwd: Option<String>,
        stdin: Vec<u8>,
    ) -> Result<process_api::Output, HostError> {
        let started = Instant::now();
        let ran =
            crate::process::run(&self.permissions, &self.home, &self.data_dir, &program, &args, cwd.as_deref(), &stdin)
                .map_err(|refusal| match refusal {
                    crate::process::Refusal::Denied(why) => {
                        tracing::warn!(plugin = %self.name, "denied: {why}");
                        HostError::Denied(why)
                    }
                    crate::process::Refusal::Failed(why) => HostError::Failed(why),
                });
        // Waiting for the program is the host's time, given back.
        self.grace += started.elapsed();
        let ran = ran?;
        Ok(process_api::Output { status: ran.status, stdout: ran.stdout, stderr: ran.stderr })
    }
}

impl secrets_api::Host for State {
    fn get(&mut self, name: String) -> Result<String, HostError> {
        if !self.permissions.secrets.contains(&name) {
            let why = format!(
                "reading the secret `{name}` needs `secrets = [\"{name}\"]` in the plugin's manifest, accepted by the user"
            );
            tracing::warn!(plugin = %self.name, "denied: {why}");
            return Err(HostError::Denied(why));
        }
        self.secrets.get(&name).cloned().ok_or_else(|| {
            HostError::Failed(format!(
                "the secret `{name}` is not set: add `{name} = \"…\"` under [secrets] in config.toml"
            ))
        })
    }
}

impl State {
    fn connections(&self) -> Result<&Arc<Connections>, HostError> {
        self.connections.as_ref().ok_or_else(|| {
            HostError::Denied("serving HTTP needs `ports = [{ port = N }]` in the plugin's manifest".into())
        })
    }
}

impl http_server_api::Host for State {
    fn body(&mut self, request: u64) -> Result<Vec<u8>, HostError> {
        let connections = self.connections()?.clone();
        let started = Instant::now();
        let body = connections.body(request);
        self.grace += started.elapsed();
        body.map(|b| b.to_vec()).map_err(HostError::Failed)
    }

    fn send(&mut self, connection: u64, data: Vec<u8>) -> Result<(), HostError> {
        self.connections()?.send(connection, data.into()).map_err(HostError::Failed)
    }

    fn finish(&mut self, connection: u64) {
        if let Some(c) = &self.connections {
            c.finish(connection);
        }
    }

    fn send_message(&mut self, connection: u64, message: Message) -> Result<(), HostError> {
        self.connections()?.send_message(connection, message).map_err(HostError::Failed)
    }
}

impl forwarding_api::Host for State {
    fn replace_body(&mut self, request: u64, body: Vec<u8>) -> Result<(), HostError> {
        self.connections()?.replace_body(request, body.into()).map_err(HostError::Failed)
    }

    fn filter_response(&mut self, request: u64) -> Result<(), HostError> {
        self.connections()?.filter_response(request).map_err(HostError::Failed)
    }

    fn set_timeouts(&mut self, request: u64, connect_ms: u32, response_ms: u32) -> Result<(), HostError> {
        let timeouts = crate::serving::Timeouts {
            connect: Duration::from_millis(connect_ms.into()),
            response: Duration::from_millis(response_ms.into()),
        };
        self.connections()?.set_timeouts(request, timeouts).map_err(HostError::Failed)
    }
}

impl State {
    /// The session host, if `needed` access was granted (a denial names
    /// the permission, and is logged).
    fn session_host(&mut self, needed: SessionAccess) -> Result<Arc<dyn SessionHost>, HostError> {
        let granted = self.permissions.sessions;
        let enough = match needed {
            SessionAccess::Read => granted.is_some(),
            SessionAccess::Control => granted == Some(SessionAccess::Control),
        };
        if !enough {
            let word = if needed == SessionAccess::Read { "read" } else { "control" };
            let why = format!("this needs `sessions = \"{word}\"` in the plugin's manifest, accepted by the user");
            tracing::warn!(plugin = %self.name, "denied: {why}");
            return Err(HostError::Denied(why));
        }
        self.sessions.clone().ok_or_else(|| {
            HostError::Failed(
                "sessions are served to plugins on the VPS (`runs-on = \"remote\"`); this one runs on the laptop"
                    .into(),
            )
        })
    }

    /// Run `call` on the session host, its time given back to the deadline.
    fn timed<T>(
        &mut self,
        needed: SessionAccess,
        call: impl FnOnce(&dyn SessionHost) -> Result<T, String>,
    ) -> Result<T, HostError> {
        let host = self.session_host(needed)?;
        let started = Instant::now();
        let outcome = call(host.as_ref());
        self.grace += started.elapsed();
        outcome.map_err(HostError::Failed)
    }
}

impl sessions_api::Host for State {
    fn list(&mut self) -> Result<Vec<SessionInfo>, HostError> {
        self.timed(SessionAccess::Read, |h| h.list())
    }

    fn screen(&mut self, id: String, scrollback: u32) -> Result<String, HostError> {
        self.timed(SessionAccess::Read, |h| h.screen(&id, scrollback))
    }

    fn send(&mut self, id: String, text: String, enter: bool) -> Result<(), HostError> {
        self.timed(SessionAccess::Control, |h| h.send(&id, &text, enter))
    }

    fn keys(&mut self, id: String, keys: Vec<String>) -> Result<(), HostError> {
        self.timed(SessionAccess::Control, |h| h.keys(&id, &keys))
    }

    fn start(&mut self, folder: String, agent: Option<String>) -> Result<String, HostError> {
        self.timed(SessionAccess::Control, |h| h.start(&folder, agent.as_deref()))
    }
}

impl live_sessions_api::Host for State {
    fn watch(&mut self, id: String, connection: u64, scrollback: u32) -> Result<(), HostError> {
        let host = self.session_host(SessionAccess::Read)?;
        let Some(connections) = self.connections.clone() else {
            return Err(HostError::Failed("only a plugin serving a port has WebSockets to watch sessions on".into()));
        };
        let socket = connections.socket(connection).map_err(HostError::Failed)?;
        let (queue, sockets) = (socket.clone(), connections.clone());
        let sink: crate::sessions::Sink = Box::new(move |frame| {
            let ended = frame == crate::sessions::Frame::Ended;
            let Some(queue) = queue.upgrade() else { return false };
            let sent = match queue.try_send(Message::Binary(frame.encode())) {
                Ok(()) => !ended,
                // Behind: the client reconnects and starts from a snapshot.
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => false,
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return false,
            };
            if !sent {
                sockets.close(connection);
            }
            sent
        });
        let started = Instant::now();
        let stop = host.watch(&id, scrollback, sink);
        self.grace += started.elapsed();
        connections.when_closed(socket, stop.map_err(HostError::Failed)?);
        Ok(())
    }

    fn stop(&mut self, id: String) -> Result<(), HostError> {
        self.timed(SessionAccess::Control, |h| h.stop(&id))
    }
}

impl websockets_api::Host for State {
    fn connect(&mut self, url: String, headers: Vec<(String, String)>) -> Result<u64, HostError> {
        let (Some(connections), Some(callbacks)) = (self.connections.clone(), self.callbacks.clone()) else {
            return Err(HostError::Failed(
                "WebSockets are for plugins the host keeps running (the VPS daemon's, the keeper's), not for a \
                 subcommand"
                    .into(),
            ));
        };
        let request = crate::websockets::request(&self.outbound, &url, &headers).inspect_err(|e| {
            if let HostError::Denied(why) = e {
                tracing::warn!(plugin = %self.name, "denied: {why}");
            }
        })?;
        let started = Instant::now();
        let opened = crate::websockets::open(&connections, callbacks, request);
        self.grace += started.elapsed();
        opened.map_err(HostError::Failed)
    }
}

/// The most notices kept from one call.
pub const MAX_NOTICES: usize = 10;
/// The longest notice, in characters.
pub const MAX_NOTICE_CHARS: usize = 1000;

impl notices_api::Host for State {
    fn warn(&mut self, text: String) {
        match &mut self.notices {
            Some(kept) if kept.len() < MAX_NOTICES => kept.push(text.chars().take(MAX_NOTICE_CHARS).collect()),
            Some(_) => tracing::warn!(plugin = %self.name, "notice dropped (more than {MAX_NOTICES}): {text}"),
            None => tracing::warn!(plugin = %self.name, "{text}"),
        }
    }
}

impl invocation_api::Host for State {
    fn cwd(&mut self) -> Option<String> {
        self.invocation.as_ref().and_then(|i| i.cwd.clone())
    }

    fn then(&mut self, follow_up: FollowUp) -> Result<(), HostError> {
        if self.runs_on != crate::RunsOn::Local {
            return Err(HostError::Failed(
                "follow-ups are for local plugins: a remote plugin's subcommand runs on the VPS".into(),
            ));
        }
        if self.permissions.sessions != Some(SessionAccess::Control) {
            let why = "opening, starting or ending a session needs `sessions = \"control\"` in the plugin's manifest, \
                       accepted by the user";
            tracing::warn!(plugin = %self.name, "denied: {why}");
            return Err(HostError::Denied(why.into()));
        }
        let Some(invocation) = &mut self.invocation else {
            return Err(HostError::Failed("a follow-up can only be asked for while running a subcommand".into()));
        };
        invocation.then = Some(follow_up);
        Ok(())
    }
}

impl State {
    /// Where `path` of `project` is, for this plugin and the current call.
    fn project_file(&self, project: &str, path: &str, folder_ok: bool) -> Result<PathBuf, HostError> {
        if self.runs_on != crate::RunsOn::Local {
            return Err(HostError::Failed(
                "project files are for local plugins: the projects and their repositories are on the laptop".into(),
            ));
        }
        let folders = &self.permissions.project_files;
        project_files::resolve(&self.scope, folders, &self.home, project, path, folder_ok).map_err(|r| self.refused(r))
    }

    fn refused(&self, refusal: Refusal) -> HostError {
        match refusal {
            Refusal::Denied(why) => {
                tracing::warn!(plugin = %self.name, "denied: {why}");
                HostError::Denied(why)
            }
            Refusal::Failed(why) => HostError::Failed(why),
        }
    }
}

impl project_files_api::Host for State {
    fn write(&mut self, project: String, path: String, contents: Vec<u8>) -> Result<(), HostError> {
        let file = self.project_file(&project, &path, false)?;
        project_files::write(&file, &contents).map_err(|r| self.refused(r))
    }

    fn read(&mut self, project: String, path: String) -> Result<Option<Vec<u8>>, HostError> {
        let file = self.project_file(&project, &path, false)?;
        project_files::read(&file).map_err(|r| self.refused(r))
    }

    fn list(&mut self, project: String, path: String) -> Result<Vec<String>, HostError> {
        let dir = self.project_file(&project, &path, true)?;
        project_files::list(&dir).map_err(|r| self.refused(r))
    }

    fn remove(&mut self, project: String, path: String) -> Result<(), HostError> {
        let file = self.project_file(&project, &path, false)?;
        project_files::remove(&file).map_err(|r| self.refused(r))
    }
}

impl start_options_api::Host for State {
    fn continuing(&mut self) -> bool {
        self.continuing
    }
}

impl crate::bindings::sinc::plugin::types::Host for State {}
impl crate::bindings::sinc::plugin::http_types::Host for State {}

/// What a plugin gets when it is loaded.
#[derive(Clone)]
pub struct Grants {
    /// Its data folder (its key-value store lives in `kv/` there).
    pub data_dir: PathBuf,
    /// The home folder `~/` in declared folders means.
    pub home: PathBuf,
    /// Limits.
    pub limits: Limits,
    /// Its settings (`[plugins.NAME]`): the hosts its URL settings name are
    /// allowed.
    pub settings: toml::Table,
    /// The user's secrets; it gets only those its manifest names.
    pub secrets: std::collections::BTreeMap<String, String>,
    /// Its connections (requests and WebSockets on its ports, WebSockets
    /// it opens), when a long-lived host keeps it running (see
    /// [`crate::running`]).
    pub connections: Option<Arc<Connections>>,
    /// Where those connections' messages go.
    pub callbacks: Option<Arc<dyn crate::serving::Handler>>,
    /// The agent sessions, where this host knows them (the VPS daemon).
    pub sessions: Option<Arc<dyn SessionHost>>,
    /// Who carries calls to services on a session's VPS (the laptop).
    pub vps: Option<Arc<dyn crate::vps_loopback::VpsLoopback>>,
}

// Secrets never reach logs: only their names are shown.
impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants")
            .field("data_dir", &self.data_dir)
            .field("home", &self.home)
            .field("limits", &self.limits)
            .field("settings", &self.settings)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Grants {
    /// Its data folder and the home folder, default limits, no settings,
    /// no secrets, no ports served.
    pub fn new(data_dir: PathBuf, home: PathBuf) -> Grants {
        Grants {
            data_dir,
            home,
            limits: Limits::default(),
            settings: toml::Table::new(),
            secrets: Default::default(),
            connections: None,
            callbacks: None,
            sessions: None,
            vps: None,
        }
    }
}

/// A loaded plugin: its instance, reused for every call.
pub struct Plugin {
    manifest: Manifest,
    store: Store<State>,
    plugin: plugin_api::Guest,
    http: Option<http_handler::Guest>,
    hooks: Option<hooks::Guest>,
    forwards: Option<forward_handler::Guest>,
    tools: Option<tools::Guest>,
    ending: Option<ending::Guest>,
    socket_events: Option<websocket_events::Guest>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("name", &self.manifest.name).finish()
    }
}

impl Runtime {
    /// An engine with deadlines (epoch interruption, ticked by a thread that
    /// ends with the engine) and a compiled-plugin cache in `cache_dir`.
    pub fn new(cache_dir: PathBuf) -> wasmtime::Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.max_wasm_stack(1 << 20);
        let engine = Engine::new(&config)?;
        let weak = engine.weak();
        std::thread::Builder::new().name("plugin-clock".into()).spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
        crate::bindings::SincPlugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        Ok(Runtime { engine, linker, cache: Cache::new(cache_dir) })
    }

    /// Compile `wasm` (or take it from the cache) and instantiate it with
    /// `grants`; `manifest` is the one read from it and accepted.
    pub fn load(&self, manifest: &Manifest, wasm: &[u8], grants: &Grants) -> Result<Plugin, PluginError> {
        let name = manifest.name.clone();
        let fail = |e: wasmtime::Error| PluginError::Load { name: name.clone(), reason: format!("{e:#}") };
        let (component, compiled) = self.cache.component(&self.engine, wasm).map_err(fail)?;
        if compiled {
            tracing::info!(plugin = %name, "compiled");
        }
        let wasi = wasi_for(manifest, grants).map_err(fail)?;
        let state = State {
            name: name.clone(),
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(grants.limits.memory)
                .instances(16)
                .trap_on_grow_failure(true)
                .build(),
            kv: kv::Store::new(grants.data_dir.join("kv")),
            permissions: manifest.permissions.clone(),
            home: grants.home.clone(),
            data_dir: grants.data_dir.join("files"),
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            outbound: crate::outbound::Outbound::of(manifest, &grants.settings, grants.vps.clone()),
            // Only what it declared ever enters its store.
            secrets: grants
                .secrets
                .iter()
                .filter(|(k, _)| manifest.permissions.secrets.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            connections: grants.connections.clone(),
            callbacks: grants.callbacks.clone(),
            grace: Duration::ZERO,
            given_back: Duration::ZERO,
            sessions: grants.sessions.clone(),
            notices: None,
            invocation: None,
            runs_on: manifest.runs_on,
            scope: Scope::None,
            continuing: false,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Past its deadline a call traps, unless it spent that time waiting
        // for the host, which it gets back.
        store.epoch_deadline_callback(|mut store| {
            let state = store.data_mut();
            let grace = std::mem::take(&mut state.grace) + state.outbound.take_waited();
            state.given_back += grace;
            if grace.is_zero() || state.given_back > MAX_GIVEN_BACK {
                return Err(wasmtime::Trap::Interrupt.into());
            }
            Ok(UpdateDeadline::Continue(deadline_ticks(grace)))
        });
        store.set_epoch_deadline(deadline_ticks(grants.limits.call));
        // Every 1.x component links: the linker and the export lookups
        // match semver-compatible versions, and interfaces added after
        // 1.0 (`http-handler`) are optional.
        let pre = self.linker.instantiate_pre(&component).map_err(fail)?;
        let instance = pre.instantiate(&mut store).map_err(fail)?;
        let plugin = plugin_api::GuestIndices::new(&pre).and_then(|i| i.load(&mut store, &instance)).map_err(fail)?;
        let http = match http_handler::GuestIndices::new(&pre) {
            Ok(indices) => Some(indices.load(&mut store, &instance).map_err(fail)?),
            Err(_) => None,
        };
        let hooks = match hooks::GuestIndices::new(&pre) {
            Ok(indices) => Some(indices.load(&mut store, &instance).map_err(fail)?),
            Err(_) => None,
        };
        let forwards = match forward_handler::GuestIndices::new(&pre) {
            Ok(indices) => Some(indices.load(&mut store, &instance).map_err(fail)?),
            Err(_) => None,
        };
        let tools = match tools::GuestIndices::new(&pre) {
            Ok(indices) => Some(indices.load(&mut store, &instance).map_err(fail)?),
            Err(_) => None,
        };
        let ending = match ending::GuestIndices::new(&pre) {
            Ok(indices) => Some(indices.load(&mut store, &instance).map_err(fail)?),
            Err(_) => None,
        };
        let socket_events = match websocket_events::GuestIndices::new(&pre) {
            Ok(indices) => Some(indices.load(&mut store, &instance).map_err(fail)?),
            Err(_) => None,
        };
        Ok(Plugin { manifest: manifest.clone(), store, plugin, http, hooks, forwards, tools, ending, socket_events })
    }
}

impl State {
    /// A call about `session` begins: the projects it may keep files in
    /// are its laptop folder (and that folder's repository), and its calls
    /// to services on the VPS go to that session's.
    fn enter(&mut self, session: &Session) {
        self.scope = session.local_path.as_ref().map_or(Scope::None, |folder| Scope::Session(folder.into()));
        self.outbound.set_session(Some(&session.id));
    }

    /// The call about a session is over.
    fn leave(&mut self) {
        self.scope = Scope::None;
        self.outbound.set_session(None);
    }
}

fn no_http_handler(name: &str) -> PluginError {
    PluginError::Load {
        name: name.to_owned(),
        reason: "it was built against sinc:plugin 1.0, which cannot serve HTTP (rebuild it with SDK 1.1)".into(),
    }
}

fn deadline_ticks(limit: Duration) -> u64 {
    (limit.as_millis() / TICK.as_millis()).max(1) as u64
}

/// Where a plugin sees its own folder (`files/` in its data folder).
pub const OWN_FOLDER: &str = "/data";

/// The WASI context: no environment, no arguments, no stdio, no network;
/// its own folder at [`OWN_FOLDER`], and the declared folders, as the same
/// paths inside.
fn wasi_for(manifest: &Manifest, grants: &Grants) -> wasmtime::Result<WasiCtx> {
    let mut b = WasiCtxBuilder::new();
    let own = grants.data_dir.join("files");
    std::fs::create_dir_all(&own)?;
    b.preopened_dir(&own, OWN_FOLDER, FsPerms::ReadWrite)?;
    for folder in &manifest.permissions.folders {
        let host = crate::process::folder_path(&folder.path, &grants.home);
        if !host.is_dir() {
            tracing::warn!(plugin = %manifest.name, "declared folder {} does not exist; not mounted", host.display());
            continue;
        }
        let perms = match folder.access {
            Access::Read => FsPerms::ReadOnly,
            Access::ReadWrite => FsPerms::ReadWrite,
        };
        let guest = host.to_string_lossy().into_owned();
        b.preopened_dir(&host, &guest, perms)?;
    }
    Ok(b.build())
}

impl Plugin {
    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn stopped(&self, e: wasmtime::Error) -> PluginError {
        let reason = match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => "it ran past its deadline".to_owned(),
            Some(wasmtime::Trap::UnreachableCodeReached) => "it panicked or aborted".to_owned(),
            Some(trap) => format!("it trapped: {trap}"),
            None if format!("{e:#}").contains("growing memory") => "it used more memory than allowed".to_owned(),
            None => format!("{e:#}"),
        };
        PluginError::Stopped { name: self.manifest.name.clone(), reason }
    }

    fn arm(&mut self, limit: Duration) {
        self.store.data_mut().grace = Duration::ZERO;
        self.store.data_mut().given_back = Duration::ZERO;
        self.store.data_mut().outbound.take_waited();
        self.store.set_epoch_deadline(deadline_ticks(limit));
    }

    /// Whether it exports the HTTP handler (built against SDK 1.1 or later).
    pub fn serves_http(&self) -> bool {
        self.http.is_some()
    }

    /// Answer a request to one of its ports.
    pub fn handle(&mut self, request: &Request, limit: Duration) -> Result<Reply, PluginError> {
        self.arm(limit);
        let Some(http) = &self.http else { return Err(no_http_handler(&self.manifest.name)) };
        let outcome = http.call_handle(&mut self.store, request);
        outcome.map_err(|e| self.stopped(e))
    }

    /// Tell it how a forwarded request went.
    pub fn forwarded(&mut self, exchange: &Exchange, limit: Duration) -> Result<(), PluginError> {
        self.arm(limit);
        let Some(http) = &self.http else { return Err(no_http_handler(&self.manifest.name)) };
        let outcome = http.call_forwarded(&mut self.store, exchange);
        outcome.map_err(|e| self.stopped(e))
    }

    /// Deliver a WebSocket message.
    pub fn on_message(&mut self, connection: u64, message: &Message, limit: Duration) -> Result<(), PluginError> {
        self.arm(limit);
        let Some(http) = &self.http else { return Err(no_http_handler(&self.manifest.name)) };
        let outcome = http.call_on_message(&mut self.store, connection, message);
        outcome.map_err(|e| self.stopped(e))
    }

    /// Ask it about a session about to start; `None` when it was built
    /// before hooks existed (SDK 1.0, 1.1).
    /// `continuing`: the user asked it to carry on from the last session.
    pub fn before_start(
        &mut self,
        session: &Session,
        continuing: bool,
        limit: Duration,
    ) -> Result<Option<HookAnswer>, PluginError> {
        self.arm(limit);
        let Some(hooks) = &self.hooks else { return Ok(None) };
        let state = self.store.data_mut();
        state.notices = Some(Vec::new());
        state.continuing = continuing;
        state.enter(session);
        let outcome = hooks.call_before_start(&mut self.store, session);
        let state = self.store.data_mut();
        state.continuing = false;
        state.leave();
        let notices = state.notices.take().unwrap_or_default();
        outcome.map(|verdict| Some(HookAnswer { verdict, notices })).map_err(|e| self.stopped(e))
    }

    /// Its MCP tools (none for a plugin built before SDK 1.5).
    pub fn tools(&mut self, limit: Duration) -> Result<Vec<crate::Tool>, PluginError> {
        self.arm(limit);
        let Some(tools) = &self.tools else { return Ok(Vec::new()) };
        let outcome = tools.call_list(&mut self.store);
        outcome.map_err(|e| self.stopped(e))
    }

    /// Call its tool `name` with `arguments` (JSON text).
    pub fn call_tool(
        &mut self,
        name: &str,
        arguments: &str,
        limit: Duration,
    ) -> Result<Result<String, String>, PluginError> {
        self.arm(limit);
        let Some(tools) = &self.tools else { return Ok(Err(format!("{} offers no tools", self.manifest.name))) };
        let outcome = tools.call_call(&mut self.store, name, arguments);
        outcome.map_err(|e| self.stopped(e))
    }

    /// Pass a piece of a forwarded response through its filter; a plugin
    /// built before filters existed (SDK 1.0–1.2) passes it on unchanged.
    pub fn filter(&mut self, request: u64, chunk: &[u8], last: bool, limit: Duration) -> Result<Vec<u8>, PluginError> {
        self.arm(limit);
        let Some(forwards) = &self.forwards else { return Ok(chunk.to_vec()) };
        let outcome = forwards.call_filter(&mut self.store, request, chunk, last);
        outcome.map_err(|e| self.stopped(e))
    }

    /// Ask it what the client gets when forwarding failed (`None`: the
    /// host's own error; always for a plugin built before SDK 1.3).
    pub fn failed(
        &mut self,
        request: u64,
        status: u16,
        reason: &str,
        limit: Duration,
    ) -> Result<Option<Response>, PluginError> {
        self.arm(limit);
        let Some(forwards) = &self.forwards else { return Ok(None) };
        let outcome = forwards.call_failed(&mut self.store, request, status, reason);
        outcome.map_err(|e| self.stopped(e))
    }

    /// Tell it a streamed reply's or WebSocket's client went away.
    pub fn closed(&mut self, connection: u64, limit: Duration) -> Result<(), PluginError> {
        self.arm(limit);
        let Some(http) = &self.http else { return Err(no_http_handler(&self.manifest.name)) };
        let outcome = http.call_closed(&mut self.store, connection);
        outcome.map_err(|e| self.stopped(e))
    }

    /// Tell it how a WebSocket's peer closed it (nothing for a plugin built
    /// before SDK 1.10).
    pub fn on_close(&mut self, connection: u64, code: u16, reason: &str, limit: Duration) -> Result<(), PluginError> {
        self.arm(limit);
        let Some(events) = &self.socket_events else { return Ok(()) };
        let outcome = events.call_on_close(&mut self.store, connection, code, reason);
        outcome.map_err(|e| self.stopped(e))
    }

    /// `init` with its settings as JSON; `Ok(Err(_))` is the plugin's own refusal.
    pub fn init(&mut self, config_json: &str, limit: Duration) -> Result<Result<(), String>, PluginError> {
        self.arm(limit);
        self.plugin.call_init(&mut self.store, config_json).map_err(|e| self.stopped(e))
    }

    /// Deliver an event.
    pub fn on_event(&mut self, event: &Event, limit: Duration) -> Result<Result<(), String>, PluginError> {
        self.arm(limit);
        self.plugin.call_on_event(&mut self.store, event).map_err(|e| self.stopped(e))
    }

    /// The subcommands it adds.
    pub fn commands(&mut self, limit: Duration) -> Result<Vec<Command>, PluginError> {
        self.arm(limit);
        self.plugin.call_commands(&mut self.store).map_err(|e| self.stopped(e))
    }

    /// Run one of its subcommands.
    pub fn run_command(&mut self, name: &str, args: &[String], limit: Duration) -> Result<CommandOutput, PluginError> {
        self.run_command_in(name, args, None, limit).map(|invoked| invoked.output)
    }

    /// Run one of its subcommands for a `sinc` run in folder `cwd`; with
    /// what the plugin asked that `sinc` to do next.
    pub fn run_command_in(
        &mut self,
        name: &str,
        args: &[String],
        cwd: Option<&str>,
        limit: Duration,
    ) -> Result<Invoked, PluginError> {
        self.arm(limit);
        let state = self.store.data_mut();
        state.invocation = Some(Invocation { cwd: cwd.map(str::to_owned), then: None });
        state.scope = cwd.map_or(Scope::None, |cwd| Scope::Invocation(cwd.into()));
        let outcome = self.plugin.call_run_command(&mut self.store, name, args);
        let state = self.store.data_mut();
        state.scope = Scope::None;
        let then = state.invocation.take().and_then(|i| i.then);
        outcome.map(|output| Invoked { output, then }).map_err(|e| self.stopped(e))
    }

    /// The stages of `session`'s end it takes part in (none for a plugin
    /// built before SDK 1.6).
    pub fn end_stages(&mut self, session: &Session, limit: Duration) -> Result<Vec<Stage>, PluginError> {
        self.arm(limit);
        let Some(ending) = &self.ending else { return Ok(Vec::new()) };
        self.store.data_mut().enter(session);
        let outcome = ending.call_stages(&mut self.store, session);
        self.store.data_mut().leave();
        outcome.map_err(|e| self.stopped(e))
    }

    /// Its part of `stage` of a session's end; `Ok(Err(_))` is its own
    /// failure.
    pub fn on_end(&mut self, ended: &Ended, stage: Stage, limit: Duration) -> Result<Result<(), String>, PluginError> {
        self.arm(limit);
        let Some(ending) = &self.ending else { return Ok(Ok(())) };
        self.store.data_mut().enter(&ended.session);
        let outcome = ending.call_on_end(&mut self.store, ended, stage);
        self.store.data_mut().leave();
        outcome.map_err(|e| self.stopped(e))
    }

    /// Tell it it is being unloaded.
    pub fn shutdown(&mut self, limit: Duration) -> Result<(), PluginError> {
        self.arm(limit);
        self.plugin.call_shutdown(&mut self.store).map_err(|e| self.stopped(e))
    }
}
