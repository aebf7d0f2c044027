//! The plugins installed on this machine: the lockfile, where their
//! components and data live, and running them through the plugin runtime
//! (`sinc-plugin-host`, the only crate with wasmtime). The runtime is only
//! built when a plugin is used, so other commands pay nothing for it.

pub mod ending;
pub mod events;
pub mod hosting;
pub mod invocation;
pub mod lock;
pub mod registry;
pub mod scaffold;

pub use lock::{LockError, Locked, LockedCommand, Lockfile};

use crate::paths::Dirs;

/// Calls in a row that may end with a plugin stopped before it is disabled.
pub const MAX_FAILURES: u32 = 3;
use sinc_plugin_host::manifest::RunsOn;
use sinc_plugin_host::{Grants, Manifest, Plugin, PluginError, Runtime};
use std::path::{Path, PathBuf};

/// Where this machine's plugins live.
#[derive(Debug, Clone)]
pub struct Installed {
    /// `plugins.lock`, beside the config file.
    pub lock_path: PathBuf,
    /// `<data>/plugins`: each plugin's components and its data.
    pub root: PathBuf,
    cache: PathBuf,
    home: PathBuf,
    /// `<state>/plugins`: the local plugin host's lock and socket, and the
    /// session events the local plugins heard.
    state: PathBuf,
    /// Sessions' screens and VPS services, as local plugins reach them.
    relay: std::sync::Arc<crate::keeper::session_relay::SessionRelay>,
}

impl Installed {
    /// The plugins of this user, with the lockfile beside `config_file`.
    pub fn new(dirs: &Dirs, config_file: &Path) -> Installed {
        let beside = config_file.parent().map_or_else(|| dirs.config.clone(), Path::to_path_buf);
        Installed {
            lock_path: beside.join("plugins.lock"),
            root: dirs.data.join("plugins"),
            cache: dirs.cache.join("plugins"),
            home: dirs.home.clone(),
            state: dirs.state.join("plugins"),
            relay: std::sync::Arc::new(crate::keeper::session_relay::SessionRelay::new(dirs)),
        }
    }

    /// The user's home (`~/` in plugins' folders).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Where components are compiled to.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache.clone()
    }

    /// Held by the keeper that hosts the local plugins.
    pub fn host_lock(&self) -> PathBuf {
        self.state.join("host.lock")
    }

    /// Where the keeper that hosts the local plugins answers.
    pub fn host_socket(&self) -> PathBuf {
        self.state.join("host.sock")
    }

    /// The last session event the local plugins heard of each session.
    pub fn heard_path(&self) -> PathBuf {
        self.state.join("heard.json")
    }

    /// The sessions whose end the local plugin host has yet to run (kept
    /// so an end interrupted by the laptop stopping runs when a keeper
    /// hosts the plugins again).
    pub fn ending_path(&self) -> PathBuf {
        self.state.join("ending.json")
    }

    /// The lockfile.
    pub fn lockfile(&self) -> Result<Lockfile, LockError> {
        Lockfile::read(&self.lock_path)
    }

    /// Where an installed plugin's component is kept.
    pub fn component_path(&self, name: &str, sha256: &str) -> PathBuf {
        self.root.join(name).join(format!("{sha256}.wasm"))
    }

    /// A plugin's own data (its key-value store).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join("data")
    }

    /// The plugin runtime (an engine and the compiled-plugin cache).
    pub fn runtime(&self) -> Result<Runtime, PluginError> {
        Runtime::new(self.cache.clone())
            .map_err(|e| PluginError::Load { name: "(runtime)".into(), reason: format!("{e:#}") })
    }

    /// What a local plugin called `name` is granted on this machine: its
    /// data folder, the home folder, the sessions' screens and their VPS's
    /// loopback services; no settings, no secrets.
    pub fn local_grants(&self, name: &str) -> Grants {
        Grants {
            sessions: Some(self.relay.clone()),
            vps: Some(self.relay.clone()),
            ..Grants::new(self.data_dir(name), self.home.clone())
        }
    }

    /// What a plugin called `name` is granted, with the user's `config`
    /// (its settings; the secrets, of which it sees only those it declared).
    pub fn grants(&self, name: &str, config: &crate::config::Config) -> Grants {
        Grants {
            settings: config.plugins.get(name).cloned().unwrap_or_default(),
            secrets: config.secrets.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
            ..self.local_grants(name)
        }
    }

    /// The folders the enabled plugins keep the same on both machines, as
    /// the user accepted them: `(plugin, folder)`.
    pub fn sync_roots(&self) -> Result<Vec<(String, sinc_plugin_host::manifest::SyncRoot)>, LockError> {
        Ok(self
            .lockfile()?
            .plugins
            .iter()
            .filter(|p| p.enabled)
            .flat_map(|p| p.granted.sync.iter().map(|root| (p.name.clone(), root.clone())))
            .collect())
    }

    /// Whether any enabled plugin runs `on` the VPS or here (an unreadable
    /// lockfile: none).
    pub fn any_enabled(&self, on: RunsOn) -> bool {
        self.lockfile().is_ok_and(|l| l.enabled(on).next().is_some())
    }

    /// The enabled plugins that run `on` the VPS or here, as their host is
    /// to run them, with where each component is on this machine.
    pub fn set(
        &self,
        config: &crate::config::Config,
        on: RunsOn,
    ) -> Result<Vec<(crate::sync::wire::PluginGrant, PathBuf)>, LockError> {
        let lock = self.lockfile()?;
        Ok(lock
            .enabled(on)
            .map(|p| {
                let settings = config.plugins.get(&p.name).cloned().unwrap_or_default();
                let grant = crate::sync::wire::PluginGrant {
                    name: p.name.clone(),
                    sha256: p.sha256.clone(),
                    permissions: p.granted.clone(),
                    settings: toml::to_string(&settings).unwrap_or_default(),
                    secrets: config
                        .secrets
                        .iter()
                        .filter(|(name, _)| p.granted.secrets.contains(name))
                        .map(|(name, value)| (name.clone(), value.0.clone()))
                        .collect(),
                };
                (grant, self.component_path(&p.name, &p.sha256))
            })
            .collect())
    }

    /// Note how a call to `name` went: a plugin stopped [`MAX_FAILURES`]
    /// times in a row is disabled (with the reason, for `plugin list`); a
    /// call that works resets the count. Returns a message when this call
    /// disabled it.
    pub fn record(&self, name: &str, outcome: Result<(), &PluginError>) -> Option<String> {
        let mut lock = self.lockfile().ok()?;
        let entry = lock.get_mut(name)?;
        let message = match outcome {
            Ok(()) if entry.failures == 0 => return None,
            Ok(()) => {
                entry.failures = 0;
                None
            }
            Err(PluginError::Load { .. }) => return None,
            Err(e @ PluginError::Stopped { .. }) => {
                entry.failures += 1;
                (entry.failures >= MAX_FAILURES).then(|| {
                    entry.enabled = false;
                    entry.disabled_reason = Some(format!("stopped {} times in a row; last: {e}", entry.failures));
                    format!(
                        "plugin {name} was disabled after {} failures in a row ({e}); `sinc plugin enable {name}` turns it back on",
                        entry.failures
                    )
                })
            }
        };
        if let Err(e) = lock.write(&self.lock_path) {
            tracing::warn!("cannot record how plugin {name} did: {e}");
        }
        message
    }

    /// Load an installed plugin and initialise it with its settings
    /// (`limit` for the call); its own refusal to start is a load error.
    pub fn start(
        &self,
        runtime: &Runtime,
        locked: &Locked,
        config: &crate::config::Config,
        limit: std::time::Duration,
    ) -> Result<Plugin, PluginError> {
        let mut plugin = self.load(runtime, locked, config)?;
        let settings = config.plugins.get(&locked.name).cloned().unwrap_or_default();
        let json = serde_json::to_string(&settings).unwrap_or_else(|_| "{}".into());
        plugin.init(&json, limit)?.map_err(|reason| PluginError::Load {
            name: locked.name.clone(),
            reason: format!("it refused to start: {reason}"),
        })?;
        Ok(plugin)
    }

    /// Load an installed plugin with what the user accepted for it.
    pub fn load(
        &self,
        runtime: &Runtime,
        locked: &Locked,
        config: &crate::config::Config,
    ) -> Result<Plugin, PluginError> {
        let load_err = |reason: String| PluginError::Load { name: locked.name.clone(), reason };
        let path = self.component_path(&locked.name, &locked.sha256);
        let wasm = std::fs::read(&path).map_err(|e| load_err(format!("reading {}: {e}", path.display())))?;
        let sha256 = sinc_plugin_host::cache::sha256_hex(&wasm);
        if sha256 != locked.sha256 {
            return Err(load_err(format!(
                "{} changed since it was installed (sha256 {sha256}, locked {}); add it again",
                path.display(),
                locked.sha256
            )));
        }
        let mut manifest = Manifest::from_component(&wasm).map_err(|e| load_err(e.to_string()))?;
        // Only what was accepted, whatever the component says now.
        manifest.permissions = locked.granted.clone();
        runtime.load(&manifest, &wasm, &self.grants(&locked.name, config))
    }
}
