//! sinc: edit code on your laptop while AI coding agents run on a VPS.
//!
//! This crate is the `sinc` binary's library: configuration, session ids, the
//! SSH transport, remote tmux sessions and the remote install of the binary.
//! The CLI (`cli`) is a thin layer over it.

pub mod atomic_file;
pub mod cli;
pub mod clock;
pub mod config;
pub mod doctor;
pub mod error;
pub mod exit;
pub mod keeper;
pub mod manager;
pub mod mcp;
pub mod memory;
pub mod open_files;
pub mod paths;
pub mod plugins;
pub mod progress;
pub mod remote;
pub mod session;
pub mod session_id;
pub mod sync;
pub mod tailnet;
pub mod transport;
pub mod uninstall;
pub mod vps;
