//! direnv for sinc: when sinc starts an agent session on the VPS, the
//! project's `.envrc` (found by direnv itself, in the session's folder or
//! one above it) is loaded into the agent's environment — the same
//! variables a shell with direnv's hook would have there. A blocked
//! `.envrc` is not loaded; the user who started the session is told how to
//! allow it. Without direnv on the VPS, the plugin does nothing.

pub mod export;

#[cfg(target_arch = "wasm32")]
mod plugin;
