//! Which instructions file the map goes into. Claude Code reads only
//! `CLAUDE.md`; OpenCode reads `AGENTS.md` and, when there is none,
//! `CLAUDE.md`; Codex and most other agents read `AGENTS.md`. So `auto`
//! writes `CLAUDE.md` for Claude Code, and for any other agent the
//! `AGENTS.md` that exists, else the `CLAUDE.md` that exists (creating
//! `AGENTS.md` there would hide it from OpenCode), else a new `AGENTS.md`.
//! Pure.

/// The file (relative to the project folder) for `setting` (`auto` or a
/// path) and a session running `agent`; `exists` says whether a file is
/// there.
pub fn instructions_file(setting: &str, agent: &str, exists: impl Fn(&str) -> bool) -> String {
    if setting != "auto" {
        return setting.to_owned();
    }
    if is_claude(agent) {
        return "CLAUDE.md".into();
    }
    if !exists("AGENTS.md") && exists("CLAUDE.md") { "CLAUDE.md".into() } else { "AGENTS.md".into() }
}

/// Whether `agent` (a command line) runs Claude Code.
fn is_claude(agent: &str) -> bool {
    let program = agent.split_whitespace().find(|w| !w.contains('=') && *w != "env").unwrap_or("");
    let name = program.rsplit('/').next().unwrap_or(program);
    name == "claude" || name.starts_with("claude-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_code_gets_claude_md() {
        assert_eq!(instructions_file("auto", "claude", |_| false), "CLAUDE.md");
        assert_eq!(instructions_file("auto", "/usr/local/bin/claude --continue", |f| f == "AGENTS.md"), "CLAUDE.md");
        assert_eq!(instructions_file("auto", "env FOO=1 claude", |_| false), "CLAUDE.md");
    }

    #[test]
    fn other_agents_get_the_agents_md_or_the_claude_md_they_would_read() {
        assert_eq!(instructions_file("auto", "opencode", |_| false), "AGENTS.md");
        assert_eq!(instructions_file("auto", "opencode", |f| f == "CLAUDE.md"), "CLAUDE.md");
        assert_eq!(instructions_file("auto", "opencode", |_| true), "AGENTS.md");
        assert_eq!(instructions_file("auto", "sh -c 'claudette'", |_| false), "AGENTS.md");
    }

    #[test]
    fn a_configured_file_is_used_as_it_is() {
        assert_eq!(instructions_file("docs/AI.md", "claude", |_| true), "docs/AI.md");
    }
}
