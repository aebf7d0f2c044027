//! Project map for sinc: a compact map of the project — its source files,
//! what each says it is for, and their top-level definitions with line
//! numbers — kept in a clearly marked section of the agent's instructions
//! file (`AGENTS.md` or `CLAUDE.md`) in the session's folder on the VPS.
//! Written before the agent starts; refreshed when files arrive from the
//! laptop and, every 15 s, when the agent changed files on the VPS. The
//! section syncs back to the laptop like any other edit.

pub mod outline;
pub mod project;
pub mod render;
pub mod scan;
pub mod section;
pub mod settings;
pub mod target;

#[cfg(target_arch = "wasm32")]
mod plugin;
