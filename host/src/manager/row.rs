//! One line of the manager: a session, what its agent is doing, and its
//! sync as this laptop's keeper reports it. Pure.

use crate::session::agent_state::{AgentState, PatternBook, last_line, program_name};
use crate::session::tmux::{RemoteSession, Screen};
use std::collections::BTreeMap;

/// A session as the manager shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The VPS it runs on.
    pub host: String,
    /// Its id.
    pub id: String,
    /// The project's name (its folder's).
    pub project: String,
    /// The laptop folder it syncs with, when known.
    pub local_path: Option<String>,
    /// The agent's program.
    pub agent: String,
    /// What the agent is doing.
    pub state: AgentState,
    /// The last non-empty line of its screen.
    pub last_line: String,
    /// Terminals attached.
    pub attached: u32,
    /// When it started (seconds since the epoch).
    pub created: u64,
    /// Its sync, when this laptop's keeper runs it (`watching`, …).
    pub sync: Option<String>,
    /// Conflicts its sync kept.
    pub conflicts: usize,
}

/// The rows of `host`'s project sessions with their `screens`, states read
/// with `book` (sync not filled in).
pub fn rows(
    host: &str,
    sessions: Vec<RemoteSession>,
    screens: &BTreeMap<String, Screen>,
    book: &PatternBook,
) -> Vec<Row> {
    sessions
        .into_iter()
        .filter(|s| !s.is_shell())
        .map(|s| {
            let screen = screens.get(&s.id).cloned().unwrap_or_default();
            let agent_line = s.agent.clone().unwrap_or_default();
            let state = book.detect(&agent_line, &screen.text, screen.dead);
            let folder = s.local_path.as_deref().or(s.remote_path.as_deref()).unwrap_or(&s.id);
            Row {
                host: host.to_owned(),
                project: folder.trim_end_matches('/').rsplit('/').next().unwrap_or(folder).to_owned(),
                local_path: s.local_path.clone(),
                agent: program_name(&agent_line),
                state,
                last_line: last_line(&screen.text),
                attached: s.attached,
                created: s.created,
                sync: None,
                conflicts: 0,
                id: s.id,
            }
        })
        .collect()
}

/// The word shown for `state`.
pub fn state_name(state: AgentState) -> &'static str {
    match state {
        AgentState::Working => "working",
        AgentState::Waiting => "waiting",
        AgentState::Idle => "idle",
        AgentState::Exited => "exited",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tmux::parse_snapshot;

    #[test]
    fn rows_carry_each_agents_state_from_its_screen() {
        let output = "sinc-app-abc123\t1\t1700000000\t/home/me/code/app\t/r/app\t/usr/bin/opencode --x\tlaptop\t\n\
                      sinc-ssh-box\t0\t1\t\t\t\t\tssh\n\
                      sinc-lib-def456\t0\t1700000001\t\t/srv/w/lib-def456\tclaude\tother\t\n\
                      \u{1e}sinc-screen sinc-app-abc123 0\nworking on it\nDo you want to proceed? (y/n)\n\
                      \u{1e}sinc-screen sinc-lib-def456 1\nDone.\n";
        let (sessions, screens) = parse_snapshot(output);
        let rows = rows("vps", sessions, &screens, &PatternBook::default());
        assert_eq!(rows.len(), 2, "sinc ssh terminals are not agent sessions: {rows:?}");
        let app = &rows[0];
        assert_eq!((app.project.as_str(), app.agent.as_str(), app.state), ("app", "opencode", AgentState::Waiting));
        assert_eq!((app.last_line.as_str(), app.attached), ("Do you want to proceed? (y/n)", 1));
        let lib = &rows[1];
        assert_eq!(
            (lib.project.as_str(), lib.state, lib.local_path.as_deref()),
            ("lib-def456", AgentState::Exited, None)
        );
    }

    #[test]
    fn the_users_patterns_apply_per_agent() {
        let waiting = vec!["^Ready for orders$".to_owned()];
        let (book, bad) = PatternBook::compile([("opencode", waiting.as_slice(), &[][..])]);
        assert!(bad.is_empty());
        let output = "sinc-app-abc123\t0\t1\t/l/app\t/r/app\topencode\t\t\n\u{1e}sinc-screen sinc-app-abc123 0\nReady for orders\n";
        let (sessions, screens) = parse_snapshot(output);
        assert_eq!(rows("vps", sessions, &screens, &book)[0].state, AgentState::Waiting);
    }
}
