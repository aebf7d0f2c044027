//! The command run when a session's state changes (`[sessions]
//! on_state_change`), e.g. a desktop notification when an agent waits for
//! the user. It runs with `sh -c`, in the background, its output dropped
//! (the screen belongs to the manager), with the change in its
//! environment.

use super::row::{Row, state_name};
use crate::session::agent_state::AgentState;

/// A session whose agent changed state between two looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The VPS.
    pub host: String,
    /// The session.
    pub id: String,
    /// Its project's name.
    pub project: String,
    /// Before.
    pub old: AgentState,
    /// Now.
    pub new: AgentState,
}

/// The changes from `before` to `now` (one host's rows): sessions in both
/// whose state differs. A session that appears or vanishes is not a
/// change of state.
pub fn changes(before: &[Row], now: &[Row]) -> Vec<StateChange> {
    now.iter()
        .filter_map(|n| {
            let b = before.iter().find(|b| b.id == n.id && b.host == n.host)?;
            (b.state != n.state).then(|| StateChange {
                host: n.host.clone(),
                id: n.id.clone(),
                project: n.project.clone(),
                old: b.state,
                new: n.state,
            })
        })
        .collect()
}

/// The hook's environment for `change`.
pub fn environment(change: &StateChange) -> Vec<(&'static str, String)> {
    vec![
        ("SINC_SESSION_ID", change.id.clone()),
        ("SINC_OLD_STATE", state_name(change.old).to_owned()),
        ("SINC_NEW_STATE", state_name(change.new).to_owned()),
        ("SINC_PROJECT", change.project.clone()),
        ("SINC_HOST", change.host.clone()),
    ]
}

/// Start `command` for `change` (not waited for; reaped in the
/// background).
pub fn run(command: &str, change: &StateChange) {
    let spawned = std::process::Command::new("sh")
        .args(["-c", command])
        .envs(environment(change))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::warn!("on_state_change did not start: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, state: AgentState) -> Row {
        Row {
            host: "vps".into(),
            id: id.into(),
            project: format!("p-{id}"),
            local_path: None,
            agent: "opencode".into(),
            state,
            last_line: String::new(),
            attached: 0,
            created: 0,
            sync: None,
            conflicts: 0,
        }
    }

    #[test]
    fn only_sessions_seen_twice_with_another_state_change() {
        let before = [row("a", AgentState::Working), row("b", AgentState::Idle), row("gone", AgentState::Idle)];
        let now = [row("a", AgentState::Waiting), row("b", AgentState::Idle), row("new", AgentState::Working)];
        let found = changes(&before, &now);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].id.as_str(), found[0].old, found[0].new), ("a", AgentState::Working, AgentState::Waiting));
        let env = environment(&found[0]);
        assert!(env.contains(&("SINC_NEW_STATE", "waiting".into())) && env.contains(&("SINC_PROJECT", "p-a".into())));
    }

    #[test]
    fn the_hook_runs_with_the_change_in_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("hook.txt");
        let change = changes(&[row("a", AgentState::Working)], &[row("a", AgentState::Exited)]).remove(0);
        run(&format!("echo \"$SINC_SESSION_ID $SINC_OLD_STATE $SINC_NEW_STATE\" > '{}'", out.display()), &change);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(&out).is_ok_and(|s| s.ends_with('\n')) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "a working exited\n");
    }
}
