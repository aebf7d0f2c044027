//! Kimaki for sinc: a Discord bot on the VPS that drives the agent
//! sessions. Each channel is a project folder, each thread a session:
//! messages in a thread are typed into its agent, the agent's new output
//! comes back to the thread, voice messages are transcribed, attachments
//! saved into the project; slash commands start, list and stop sessions;
//! only members with the Kimaki role, administrators and the server owner
//! are listened to. The Gateway (over the host's WebSockets) and the REST
//! API are Discord's real ones.

pub mod access;
pub mod attachments;
pub mod commands;
pub mod gateway;
pub mod links;
pub mod multipart;
pub mod ratelimit;
pub mod screen;
pub mod settings;
pub mod text;

#[cfg(target_arch = "wasm32")]
mod discord;
#[cfg(target_arch = "wasm32")]
mod inbound;
#[cfg(target_arch = "wasm32")]
mod plugin;
#[cfg(target_arch = "wasm32")]
mod share;
#[cfg(target_arch = "wasm32")]
mod slash;
#[cfg(target_arch = "wasm32")]
mod status;
