//! The SSH transport, on russh (no `ssh` subprocess): `~/.ssh/config`
//! resolution, known_hosts verification, authentication, keepalive, and
//! channels multiplexed on one connection. It does not know what flows over its
//! channels.

mod auth;
mod connect;
mod connection;
mod deadline;
mod error;
mod handler;
pub mod known_hosts;
mod prompt;
pub mod quote;
mod target;

pub use connect::{ConnectOptions, connect};
pub use connection::{Connection, Output, RemoteStatus};
pub use error::ConnectError;
pub use prompt::Prompter;
pub use target::{Defaults, HostKeyPolicy, Overrides, SshConfigError, SshConfigFile, Target};
