//! Where sinc keeps its files on this machine, by the XDG base-directory rules
//! on every platform (`$XDG_CONFIG_HOME`, else `~/.config`, and so on), so the
//! layout is the same on Linux and macOS and matches the original tool.

use etcetera::BaseStrategy;
use std::path::PathBuf;

/// The folder name under each XDG base directory.
pub const APP_DIR: &str = "sincronizado";

/// The local XDG directories for sinc.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// `config.toml` lives here.
    pub config: PathBuf,
    /// Session records and other durable state.
    pub data: PathBuf,
    /// Caches that can be deleted at any time.
    pub cache: PathBuf,
    /// Runtime state (logs, sockets' fallbacks).
    pub state: PathBuf,
    /// The user's home directory.
    pub home: PathBuf,
}

/// Failure to find the home directory.
#[derive(Debug, thiserror::Error)]
#[error("cannot find your home directory (set HOME): {0}")]
pub struct NoHome(String);

impl Dirs {
    /// Resolve from the environment.
    pub fn from_env() -> Result<Dirs, NoHome> {
        let xdg = etcetera::base_strategy::Xdg::new().map_err(|e| NoHome(e.to_string()))?;
        Ok(Dirs {
            config: xdg.config_dir().join(APP_DIR),
            data: xdg.data_dir().join(APP_DIR),
            cache: xdg.cache_dir().join(APP_DIR),
            state: xdg.state_dir().unwrap_or_else(|| xdg.home_dir().join(".local/state")).join(APP_DIR),
            home: xdg.home_dir().to_path_buf(),
        })
    }

    /// Every folder under `root` (`root/config`, …, `root/home`), for tests.
    #[cfg(test)]
    pub fn under(root: &std::path::Path) -> Dirs {
        Dirs {
            config: root.join("config"),
            data: root.join("data"),
            cache: root.join("cache"),
            state: root.join("state"),
            home: root.join("home"),
        }
    }

    /// The user config file.
    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    /// The original tool's JSON config, imported on first run.
    pub fn legacy_config_file(&self) -> PathBuf {
        self.config.join("config.json")
    }

    /// Expand a leading `~/` against the local home directory.
    pub fn expand_tilde(&self, path: &str) -> PathBuf {
        match path.strip_prefix("~/") {
            Some(rest) => self.home.join(rest),
            None if path == "~" => self.home.clone(),
            None => PathBuf::from(path),
        }
    }
}
