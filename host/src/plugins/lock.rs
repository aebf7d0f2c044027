//! `plugins.lock`, beside the config: the installed plugins with their exact
//! version and content (sha256), where they came from, whether they are
//! enabled, the permissions the user accepted for that content, and the
//! subcommands they add. Written whole and atomically.

use serde::{Deserialize, Serialize};
use sinc_plugin_host::manifest::{Permissions, RunsOn};
use std::path::{Path, PathBuf};

/// A subcommand a plugin adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedCommand {
    /// The word after `sinc`.
    pub name: String,
    /// Its one-line help.
    pub summary: String,
}

/// One installed plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Locked {
    /// Its name.
    pub name: String,
    /// Its exact version.
    pub version: semver::Version,
    /// The sha256 of its component.
    pub sha256: String,
    /// Where it came from: `path+/abs/file.wasm` or `registry+LOCATION`.
    pub source: String,
    /// For a plugin from the registry, the version request it follows
    /// (`plugin update` picks the newest version matching it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Where it runs.
    pub runs_on: RunsOn,
    /// One line on what it does.
    pub description: String,
    /// Whether it runs.
    pub enabled: bool,
    /// Installed by a tier preset (else by hand).
    #[serde(default)]
    pub from_preset: bool,
    /// What the user accepted for this sha256.
    #[serde(default)]
    pub granted: Permissions,
    /// The subcommands it adds.
    #[serde(default)]
    pub commands: Vec<LockedCommand>,
    /// Calls in a row that ended with the plugin stopped (a trap, its
    /// deadline, its memory); reset by a call that works.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// Why sinc disabled it, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The whole lockfile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    /// The tier last set (`sinc tier set`); none: minimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The plugins, by name.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<Locked>,
}

/// A lockfile that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct LockError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

const HEADER: &str = "# Written by sinc (`sinc plugin …`): the installed plugins, pinned to exact\n# versions and contents. Edit with care.\n\n";

impl Lockfile {
    /// Read `path` (empty when it does not exist).
    pub fn read(path: &Path) -> Result<Lockfile, LockError> {
        let err = |reason: String| LockError { path: path.to_path_buf(), reason };
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| err(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lockfile::default()),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Write it to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let err = |reason: String| LockError { path: path.to_path_buf(), reason };
        let text = toml::to_string(self).map_err(|e| err(e.to_string()))?;
        crate::atomic_file::write(path, format!("{HEADER}{text}").as_bytes(), 0o600).map_err(|e| err(e.to_string()))
    }

    /// The plugin called `name`.
    pub fn get(&self, name: &str) -> Option<&Locked> {
        self.plugins.iter().find(|p| p.name == name)
    }

    /// The plugin called `name`, to change.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Locked> {
        self.plugins.iter_mut().find(|p| p.name == name)
    }

    /// Add or replace a plugin (kept sorted by name).
    pub fn put(&mut self, plugin: Locked) {
        self.plugins.retain(|p| p.name != plugin.name);
        self.plugins.push(plugin);
        self.plugins.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Remove a plugin; whether it was there.
    pub fn remove(&mut self, name: &str) -> Option<Locked> {
        let i = self.plugins.iter().position(|p| p.name == name)?;
        Some(self.plugins.remove(i))
    }

    /// The enabled plugins that run `on` the VPS or on this machine.
    pub fn enabled(&self, on: RunsOn) -> impl Iterator<Item = &Locked> {
        self.plugins.iter().filter(move |p| p.enabled && p.runs_on == on)
    }

    /// The enabled plugin that adds the subcommand `command`.
    pub fn provider_of(&self, command: &str) -> Option<&Locked> {
        self.plugins.iter().find(|p| p.enabled && p.commands.iter().any(|c| c.name == command))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Locked {
        Locked {
            name: "hello".into(),
            version: semver::Version::new(0, 1, 0),
            sha256: "ab".repeat(32),
            source: "path+/tmp/hello.wasm".into(),
            request: None,
            runs_on: RunsOn::Local,
            description: "greets".into(),
            enabled: true,
            from_preset: false,
            granted: Permissions { programs: vec!["git".into()], ..Permissions::default() },
            commands: vec![LockedCommand { name: "hello".into(), summary: "Greet".into() }],
            failures: 0,
            disabled_reason: None,
        }
    }

    #[test]
    fn round_trip_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plugins.lock");
        assert_eq!(Lockfile::read(&path).unwrap(), Lockfile::default());
        let mut lock = Lockfile::default();
        lock.put(hello());
        lock.write(&path).unwrap();
        let back = Lockfile::read(&path).unwrap();
        assert_eq!(back, lock);
        assert_eq!(back.provider_of("hello").map(|p| p.name.as_str()), Some("hello"));
        assert!(back.provider_of("nope").is_none());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Written by sinc") && text.contains("[[plugin]]"), "{text}");
    }

    #[test]
    fn a_broken_lockfile_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plugins.lock");
        std::fs::write(&path, "[[plugin]]\nname = 3\n").unwrap();
        let err = Lockfile::read(&path).unwrap_err().to_string();
        assert!(err.contains("plugins.lock"), "{err}");
    }
}
