//! What runs on, or is put on, the VPS: the self-install of the `sinc` binary.
//! (The per-user daemon and the sync endpoint join it with the sync issue.)

pub mod install;

pub use install::{InstallError, Installed, LocalBinary, ensure};
