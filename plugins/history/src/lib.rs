//! Past agent sessions for sinc: the session logs Claude Code
//! (`~/.claude/projects/*/*.jsonl`) and OpenCode (its storage folder,
//! `~/.local/share/opencode/storage`) write on the VPS, read as they are,
//! searched and shown by `sinc history` — from the laptop (through the
//! project's session) and on the VPS — and offered to the agents as MCP
//! tools (`sinc history mcp`).

pub mod claude;
pub mod command;
pub mod opencode;
pub mod search;
pub mod tools;
pub mod transcript;

#[cfg(target_arch = "wasm32")]
mod plugin;

/// The sessions in the fixtures (`fixtures/`: one of each agent).
#[cfg(test)]
pub(crate) fn fixture_sessions() -> Vec<transcript::Transcript> {
    let mut all = opencode::read_all(&opencode::tests::storage());
    all.extend(claude::read_all(&claude::tests::projects()));
    all
}
