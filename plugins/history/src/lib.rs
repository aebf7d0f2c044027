//! Past agent sessions for sinc: the session logs Claude Code
//! (`~/.claude/projects/*/*.jsonl`) and OpenCode (its storage folder,
//! `~/.local/share/opencode/storage`) write on the VPS, read as they are,
//! searched and shown by `sinc history` — from the laptop (through the
//! project's session) and on the VPS.

pub mod claude;
pub mod command;
pub mod opencode;
pub mod search;
pub mod transcript;

#[cfg(target_arch = "wasm32")]
mod plugin;
