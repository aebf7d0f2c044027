//! mobile for sinc: a phone-first page on the VPS (port 3000) to watch
//! and steer every agent session — the list with each agent's state, a
//! session's live screen (its snapshot and output pushed by sinc's host
//! over a WebSocket), a key bar and a line box, starting and stopping
//! sessions — for devices paired with `sinc mobile pair`.
//!
//! The decisions (pairing, routes, the list, the command line) are plain
//! functions tested natively; `plugin` runs inside sinc.

pub mod args;
pub mod assets;
pub mod auth;
pub mod listing;
pub mod qr;
pub mod routes;
pub mod settings;

#[cfg(target_arch = "wasm32")]
mod plugin;
