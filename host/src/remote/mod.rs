//! What runs on, or is put on, the VPS: the self-install of the `sinc`
//! binary, and the per-user daemon serving the remote side of sync.

pub mod daemon;
pub mod install;

pub use install::{InstallError, Installed, LocalBinary, ensure};
