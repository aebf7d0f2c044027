//! session-handoff for sinc: when a session ends, what the next session
//! needs to know — the branch, the session's commits and changed files,
//! the agent's last output (ANSI removed, secrets redacted), open todos
//! (from a todo file, and from OpenCode's server on the VPS), the user's
//! note — is written to `.sinc/handoff/<session-id>.md` in the
//! project (for a task worktree: in the repository it came from). `sinc
//! --continue` starts the next agent with it.
//!
//! The decisions (what the hand-off says, redaction, the continuation
//! prompt, the command line) are plain functions tested natively;
//! `plugin` runs inside sinc.

pub mod args;
pub mod handoff;
pub mod opencode;
pub mod redact;
pub mod screen;
pub mod settings;

#[cfg(target_arch = "wasm32")]
mod plugin;
