//! The configuration model and its loading. Files are read only here.
//!
//! Layers, lowest precedence first: built-in defaults, the user file
//! (`$XDG_CONFIG_HOME/sincronizado/config.toml`), the active profile
//! (`[profiles.NAME]`), the project's `.sinc.toml`, `SINC_*` environment
//! variables, command-line flags.

mod edit;
mod env;
mod error;
mod layer;
mod legacy;
mod load;
mod model;
mod reload;

pub use edit::{set_values, with_values};
pub use env::{ENV_FLAGS, ENV_VARS, EnvVar, Kind as EnvKind};
pub use error::{ConfigError, Origin};
pub use layer::{FlatValues, flatten};
pub use legacy::LegacyImport;
pub use load::{FlagValue, LoadRequest, Loaded, PROJECT_FILE, load};
pub use model::{
    Agent, Config, DEFAULT_AGENT, DEFAULT_RELEASE_URL, DEFAULT_REMOTE_BASE, Percent, Port, Seconds, SshConfig,
    SyncConfig, SyncMode, VpsConfig,
};
pub use reload::Reloading;
