//! Agent configuration sync for sinc. The folders themselves are synced by
//! sinc (this plugin's manifest names them and what in them syncs; sinc's
//! credentials list keeps logins and keys out, whatever the folders hold).
//! What a file list cannot see is a key written *into* a synced settings
//! file — `"ANTHROPIC_API_KEY": "sk-…"` in Claude Code's `env`, an
//! `apiKey` in an OpenCode provider: the plugin finds those, names them
//! (never their values) when a session starts and in `sinc agent-config
//! check`, and says how to keep the key out of the file.

pub mod check;
pub mod inline;

#[cfg(target_arch = "wasm32")]
mod plugin;
