//! A set of long-lived plugins kept running by one process — the VPS
//! daemon's remote plugins, or the local ones in the laptop keeper that
//! hosts them: exactly the set asked for, each restarted or disabled by
//! `sinc_plugin_host::running`, asked in name order. The plugin runtime
//! (wasmtime) is only built for the first plugin.

use crate::sync::wire::{PluginGrant, PluginState, Response, ToolInfo};
use sinc_plugin_host::running::{Running, Spec, Status};
use sinc_plugin_host::{Ended, Event, Grants, Invoked, Manifest, Runtime, Session, Stage, Verdict};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The plugins one process runs.
pub struct Hosting {
    /// Where they run, for messages ("on the VPS").
    place: &'static str,
    /// The compiled-component cache.
    cache: PathBuf,
    runtime: OnceLock<Arc<Runtime>>,
    slots: Mutex<BTreeMap<String, Slot>>,
}

impl std::fmt::Debug for Hosting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hosting").field("place", &self.place).field("plugins", &self.slots().len()).finish()
    }
}

/// One plugin of the set.
struct Slot {
    grant: PluginGrant,
    /// Running, or why not.
    running: Result<Running, String>,
}

/// Where a plugin of the set comes from.
pub struct Source {
    /// Its component, or `None` when this process does not have it.
    pub wasm: Option<Vec<u8>>,
    /// What it is granted besides its settings and secrets (its data
    /// folder, the sessions it may reach).
    pub grants: Grants,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("wasm", &self.wasm.as_ref().map(Vec::len)).field("grants", &self.grants).finish()
    }
}

impl Hosting {
    /// No plugins yet; components compile into `cache`.
    pub fn new(place: &'static str, cache: PathBuf) -> Hosting {
        Hosting { place, cache, runtime: OnceLock::new(), slots: Mutex::default() }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run exactly `set`: start what is new or changed (`source` gives
    /// each one's component and grants), stop what left. Answers the
    /// sha256 of the components `source` did not have.
    pub fn apply(&self, set: Vec<PluginGrant>, source: impl Fn(&PluginGrant) -> Source) -> Vec<String> {
        let mut missing = Vec::new();
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
            let running = match source(&grant) {
                Source { wasm: Some(wasm), grants } => self.start(&grant, wasm, grants),
                Source { wasm: None, .. } => {
                    missing.push(grant.sha256.clone());
                    Err("missing".into())
                }
            };
            if let Err(why) = &running {
                tracing::info!(plugin = %grant.name, "not running {}: {why}", self.place);
            }
            slots.insert(grant.name.clone(), Slot { grant, running });
        }
        missing
    }

    fn start(&self, grant: &PluginGrant, wasm: Vec<u8>, mut grants: Grants) -> Result<Running, String> {
        if sinc_plugin_host::cache::sha256_hex(&wasm) != grant.sha256 {
            return Err("its stored component does not match its sha256".into());
        }
        let mut manifest = Manifest::from_component(&wasm).map_err(|e| e.to_string())?;
        // Only what the user accepted, whatever the component says.
        manifest.permissions = grant.permissions.clone();
        grants.settings =
            toml::from_str(&grant.settings).map_err(|e| format!("its settings are not valid TOML: {e}"))?;
        grants.secrets = grant.secrets.iter().cloned().collect();
        if let Some(bind) = grants.settings.get("bind") {
            let address = bind_address(bind)?;
            for port in &mut manifest.permissions.ports {
                port.bind = address.clone();
            }
        }
        let runtime = match self.runtime.get() {
            Some(r) => r.clone(),
            None => {
                let built = Arc::new(Runtime::new(self.cache.clone()).map_err(|e| format!("{e:#}"))?);
                self.runtime.get_or_init(|| built).clone()
            }
        };
        Running::start(runtime, Spec { manifest, wasm: wasm.into(), grants }, None).map_err(|e| e.to_string())
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

    /// Whether no plugin is loaded.
    pub fn is_empty(&self) -> bool {
        self.slots().values().all(|s| s.running.is_err())
    }

    /// Whether `plugin` is loaded.
    pub fn has(&self, plugin: &str) -> bool {
        self.slots().get(plugin).is_some_and(|s| s.running.is_ok())
    }

    /// Run `command` of `plugin`.
    pub async fn command(&self, plugin: &str, command: &str, args: Vec<String>) -> Response {
        match self.command_in(plugin, command, args, None).await {
            Ok(Invoked { output: out, then }) => {
                if then.is_some() {
                    tracing::warn!(plugin = %plugin, "asked for a follow-up, which only a local subcommand has");
                }
                Response::CommandOutput { status: out.status, stdout: out.stdout, stderr: out.stderr }
            }
            Err(message) => Response::Failed { message },
        }
    }

    /// Run `command` of `plugin` for a `sinc` run in folder `cwd`: what it
    /// printed and what it asked that `sinc` to do next, or why it did not
    /// run.
    pub async fn command_in(
        &self,
        plugin: &str,
        command: &str,
        args: Vec<String>,
        cwd: Option<String>,
    ) -> Result<Invoked, String> {
        let place = self.place;
        let queued = {
            let slots = self.slots();
            match slots.get(plugin).map(|s| &s.running) {
                None => return Err(format!("no plugin `{plugin}` is loaded {place}")),
                Some(Err(why)) => return Err(format!("plugin {plugin} is not running {place}: {why}")),
                Some(Ok(running)) => running.command_queued(command, args, cwd),
            }
        };
        queued.await.map_err(|_| format!("plugin {plugin} stopped running `{command}` (see `sinc plugin list`)"))
    }

    /// Queue `ask` at every running plugin, in name order: each one's name
    /// and the answer to come.
    fn ask_each<T>(
        &self,
        ask: impl Fn(&Running) -> tokio::sync::oneshot::Receiver<T>,
    ) -> Vec<(String, tokio::sync::oneshot::Receiver<T>)> {
        self.slots()
            .iter()
            .filter_map(|(name, slot)| slot.running.as_ref().ok().map(|r| (name.clone(), ask(r))))
            .collect()
    }

    /// The running plugins that take part in `session`'s end, with their
    /// stages.
    pub async fn end_stages(&self, session: &Session) -> Vec<(String, Vec<Stage>)> {
        let asked = self.ask_each(|r| r.end_stages_queued(session.clone()));
        let mut out = Vec::new();
        for (name, answer) in asked {
            if let Ok(stages) = answer.await
                && !stages.is_empty()
            {
                out.push((name, stages));
            }
        }
        out
    }

    /// Run `takers`' parts of the session's end, stage by stage (see
    /// [`super::ending::order`]); what failed, one line each.
    pub async fn end(&self, ended: &Ended, takers: &[(String, Vec<Stage>)]) -> Vec<String> {
        let mut failures = Vec::new();
        for (stage, plugin) in super::ending::order(takers) {
            let queued = match self.slots().get(&plugin).map(|s| &s.running) {
                Some(Ok(running)) => running.end_queued(ended.clone(), stage),
                _ => {
                    failures.push(super::ending::failure(&plugin, stage, "it is not running"));
                    continue;
                }
            };
            match queued.await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => failures.push(super::ending::failure(&plugin, stage, &why)),
                Err(_) => failures.push(super::ending::failure(&plugin, stage, "it stopped (see `sinc plugin list`)")),
            }
        }
        failures
    }

    /// The running plugin that adds `command`, if one does.
    pub async fn provider_of(&self, command: &str) -> Option<String> {
        for (name, answer) in self.ask_each(Running::commands_queued) {
            if answer.await.is_ok_and(|commands| commands.iter().any(|c| c.name == command)) {
                return Some(name);
            }
        }
        None
    }

    /// Queue `ask` at the running plugin that adds `command`: that plugin's
    /// name and the answer to come, or the answer when no plugin adds it.
    async fn ask_provider<T>(
        &self,
        command: &str,
        ask: impl FnOnce(&Running) -> tokio::sync::oneshot::Receiver<T>,
    ) -> Result<(String, tokio::sync::oneshot::Receiver<T>), Response> {
        let plugin = self.provider_of(command).await.ok_or_else(|| no_provider(command, self.place))?;
        let queued = match self.slots().get(&plugin).map(|s| &s.running) {
            Some(Ok(running)) => ask(running),
            _ => return Err(no_provider(command, self.place)),
        };
        Ok((plugin, queued))
    }

    /// Run `command` of the plugin that adds it.
    pub async fn run_command(&self, command: &str, args: Vec<String>) -> Response {
        match self.provider_of(command).await {
            Some(plugin) => self.command(&plugin, command, args).await,
            None => no_provider(command, self.place),
        }
    }

    /// The MCP tools of the plugin that adds `command`.
    pub async fn tools(&self, command: &str) -> Response {
        let (plugin, queued) = match self.ask_provider(command, Running::tools_queued).await {
            Ok(asked) => asked,
            Err(response) => return response,
        };
        match queued.await {
            Ok(tools) => Response::Tools {
                tools: tools
                    .into_iter()
                    .map(|t| ToolInfo { name: t.name, description: t.description, input_schema: t.input_schema })
                    .collect(),
            },
            Err(_) => Response::Failed { message: format!("plugin {plugin} stopped listing its tools") },
        }
    }

    /// Call `tool` of the plugin that adds `command`.
    pub async fn call_tool(&self, command: &str, tool: &str, arguments: String) -> Response {
        let (plugin, queued) = match self.ask_provider(command, |r| r.call_tool_queued(tool, arguments)).await {
            Ok(asked) => asked,
            Err(response) => return response,
        };
        match queued.await {
            Ok(Ok(text)) => Response::ToolResult { ok: true, text },
            Ok(Err(text)) => Response::ToolResult { ok: false, text },
            Err(_) => Response::Failed { message: format!("plugin {plugin} stopped during the call of {tool}") },
        }
    }

    /// Ask every plugin's before-start hook, in name order: the first
    /// refusal stops the session; environment variables and prompts add up
    /// (the first plugin to set a variable wins). `continuing`: the user
    /// asked the session to carry on from the last one.
    pub async fn before_start(&self, session: Session, continuing: bool) -> Response {
        let asked = self.ask_each(|r| r.before_start_queued(session.clone(), continuing));
        let mut env: Vec<(String, String)> = Vec::new();
        let mut prompts = Vec::new();
        let mut notices = Vec::new();
        for (plugin, answer) in asked {
            let Ok(Some(answer)) = answer.await.inspect_err(|_| {
                tracing::warn!(plugin = %plugin, "not running; its before-start hook was skipped");
            }) else {
                continue;
            };
            notices.extend(answer.notices.into_iter().map(|text| (plugin.clone(), text)));
            match answer.verdict {
                Verdict::Refuse(reason) => return Response::Refused { plugin, reason },
                Verdict::Proceed(launch) => {
                    for (key, value) in launch.env {
                        if env.iter().any(|(k, _)| *k == key) {
                            tracing::warn!(plugin = %plugin, "{key} is set by another plugin already; keeping that one");
                        } else {
                            env.push((key, value));
                        }
                    }
                    prompts.extend(launch.prompt);
                }
            }
        }
        Response::Launch { env, prompts, notices }
    }

    /// Hand `event` to every running plugin.
    pub fn deliver(&self, event: &Event) {
        for slot in self.slots().values() {
            if let Ok(running) = &slot.running {
                running.event(event.clone());
            }
        }
    }
}

/// The answer for a command no running plugin adds.
pub fn no_provider(command: &str, place: &str) -> Response {
    Response::Failed { message: format!("{NO_PROVIDER} `{command}` {place}") }
}

/// How the answer to a command no plugin adds starts.
pub const NO_PROVIDER: &str = "no plugin adds";

/// Where a plugin's ports are served, by its `bind` setting: `loopback`
/// (127.0.0.1, as manifests say), or `tailnet`: this machine's Tailscale
/// IPv4 address, so the user's other devices on the tailnet reach it
/// (Tailscale must be up here).
fn bind_address(bind: &toml::Value) -> Result<String, String> {
    match bind.as_str() {
        Some("loopback") => Ok("127.0.0.1".into()),
        Some("tailnet") => match crate::tailnet::local_status_blocking() {
            Some(node) if node.is_up() => node
                .addresses
                .iter()
                .find(|a| a.is_ipv4())
                .map(ToString::to_string)
                .ok_or_else(|| "bind = \"tailnet\": Tailscale has no IPv4 address on the VPS".into()),
            Some(_) => Err("bind = \"tailnet\": Tailscale is not connected on the VPS (`tailscale up`)".into()),
            None => Err("bind = \"tailnet\": Tailscale is not installed on the VPS, or does not answer".into()),
        },
        _ => Err(format!("bind = {bind}: use \"loopback\" or \"tailnet\"")),
    }
}
