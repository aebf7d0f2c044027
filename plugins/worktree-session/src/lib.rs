//! worktree-session for sinc: one git worktree per task. `sinc task NAME`
//! makes a worktree on its own branch beside the repository and opens a
//! sinc session in it; when that session ends — the agent exits, `sinc
//! kill`, `sinc task end` — its changes are committed on the branch (and
//! pushed when configured), the worktree is removed and the branch kept.
//! A task never runs on the repository's default branch.
//!
//! The decisions (names, the default branch, the commit message, the
//! command line) are plain functions tested natively; `plugin` and `git`
//! run inside sinc.

pub mod args;
pub mod message;
pub mod names;
pub mod settings;
pub mod task;

#[cfg(target_arch = "wasm32")]
mod plugin;
