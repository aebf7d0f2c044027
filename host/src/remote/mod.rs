//! What runs on, or is put on, the VPS: the self-install of the `sinc`
//! binary, and the per-user daemon serving the remote side of sync and
//! hosting the remote plugins.

pub mod daemon;
pub mod install;
pub mod packages;
pub mod pane_watch;
pub mod plugins;
pub mod session_events;
pub mod session_host;
pub mod session_journal;

pub use install::{InstallError, Installed, LocalBinary, ensure};
