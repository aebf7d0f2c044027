//! The SSH transport, on russh (no `ssh` subprocess): `~/.ssh/config`
//! resolution, known_hosts verification, authentication, keepalive, and
//! channels multiplexed on one connection — ours, or the keeper's through its
//! relay socket. It does not know what flows over its channels.

mod auth;
mod channel;
mod ciphers;
mod connect;
mod connection;
mod deadline;
mod error;
pub mod forward;
mod handler;
mod inbound;
pub mod keys;
pub mod known_hosts;
mod link;
mod prompt;
pub mod quote;
pub mod relay;
mod socket_state;
mod target;
pub mod watchdog;

pub use channel::{ChannelEvent, ChannelGone, ChannelReader, ChannelRequest, ChannelWriter, Pty, RemoteChannel};
pub use connect::{ConnectOptions, connect};
pub use connection::{Connection, Output, RemoteStatus};
pub use error::ConnectError;
pub use forward::{ForwardSpec, Forwarder};
pub use inbound::InboundChannel;
pub use link::Link;
pub use prompt::Prompter;
pub use target::{Defaults, Destination, HostKeyPolicy, Overrides, SshConfigError, SshConfigFile, Target};
