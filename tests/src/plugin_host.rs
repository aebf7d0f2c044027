//! A long-lived plugin host for tests, like the keeper's or the VPS
//! daemon's: a runtime, a tokio runtime to await the plugins' answers on,
//! and a folder for their data.

use crate::{plugin_component, wait_until};
use sinc_plugin_host::running::{Running, Spec, Status};
use sinc_plugin_host::{Grants, Manifest, Runtime};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Keeps plugins running.
pub struct PluginHost {
    /// Its folder: each plugin's data in `<name>/`, the compiled cache in
    /// `cache/`; also the plugins' home.
    pub dir: tempfile::TempDir,
    /// The plugin runtime.
    pub runtime: Arc<Runtime>,
    /// Where the plugins' answers are awaited (each plugin serves its
    /// ports on a runtime of its own).
    pub tokio: tokio::runtime::Runtime,
}

impl Default for PluginHost {
    fn default() -> PluginHost {
        PluginHost::new()
    }
}

impl PluginHost {
    /// A host with a fresh folder.
    pub fn new() -> PluginHost {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Arc::new(Runtime::new(dir.path().join("cache")).unwrap());
        let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        PluginHost { dir, runtime, tokio }
    }

    /// Where plugin `name` keeps its data.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Start first-party plugin `name` with `settings` and wait until it runs.
    pub fn start(&self, name: &str, settings: toml::Table) -> Running {
        self.start_with_secrets(name, settings, &[])
    }

    /// [`PluginHost::start`], with `secrets` (name, value) in the user's config.
    pub fn start_with_secrets(&self, name: &str, settings: toml::Table, secrets: &[(&str, &str)]) -> Running {
        let running = self.launch(name, settings, secrets);
        wait_until(Duration::from_secs(30), "the plugin to start", || {
            (running.status() == Status::Running).then_some(())
        });
        running
    }

    /// Start first-party plugin `name` with `settings` and `secrets` without
    /// waiting for it (it may fail to start).
    pub fn launch(&self, name: &str, settings: toml::Table, secrets: &[(&str, &str)]) -> Running {
        let wasm: Arc<[u8]> = std::fs::read(plugin_component(name)).unwrap().into();
        let manifest = Manifest::from_component(&wasm).unwrap();
        let mut grants = Grants::new(self.data_dir(name), self.dir.path().to_path_buf());
        grants.settings = settings;
        grants.secrets = secrets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let spec = Spec { manifest, wasm, grants };
        Running::start(self.runtime.clone(), spec, None).unwrap()
    }

    /// Run subcommand `name` of `running`, which must succeed; its output.
    pub fn command(&self, running: &Running, name: &str, args: &[&str]) -> String {
        let args = args.iter().map(|a| a.to_string()).collect();
        let out = self.tokio.block_on(running.command(name, args)).expect("the plugin answers");
        assert_eq!(out.status, 0, "{}", out.stderr);
        out.stdout
    }
}
