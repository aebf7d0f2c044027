//! The session list as the page reads it, and the projects it offers for
//! new sessions.

use serde::{Deserialize, Serialize};
use sinc_plugin_sdk::sessions::{SessionInfo, State};

/// One session, for the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// Its id.
    pub id: String,
    /// The project's name.
    pub project: String,
    /// Its folder on the VPS.
    pub folder: String,
    /// The agent's command line.
    pub agent: String,
    /// `working`, `waiting`, `idle` or `exited`.
    pub state: &'static str,
    /// Terminals attached.
    pub attached: u32,
    /// When it started (seconds since the epoch).
    pub created: u64,
    /// The last line of its screen.
    pub last_line: String,
}

/// A folder a session can be started in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Its name.
    pub name: String,
    /// Its folder on the VPS.
    pub folder: String,
    /// The agent its last session ran, if known.
    pub agent: Option<String>,
}

/// The name of the project of session `id` (`sinc-NAME-HASH`).
pub fn project_name(id: &str) -> String {
    let inner = id.strip_prefix("sinc-").unwrap_or(id);
    inner.rsplit_once('-').map_or(inner, |(name, _)| name).to_owned()
}

fn state_word(state: State) -> &'static str {
    match state {
        State::Working => "working",
        State::Waiting => "waiting",
        State::Idle => "idle",
        State::Exited => "exited",
    }
}

/// `sessions` for the page: those waiting for an answer first, then by
/// project.
pub fn listed(sessions: Vec<SessionInfo>) -> Vec<Listed> {
    let mut out: Vec<Listed> = sessions
        .into_iter()
        .map(|s| Listed {
            project: project_name(&s.session.id),
            id: s.session.id,
            folder: s.session.remote_path,
            agent: s.session.agent,
            state: state_word(s.state),
            attached: s.attached,
            created: s.created,
            last_line: s.last_line,
        })
        .collect();
    out.sort_by(|a, b| (a.state != "waiting", &a.project).cmp(&(b.state != "waiting", &b.project)));
    out
}

/// `known` projects with those of `sessions` and the configured
/// `folders` added, each folder once, by name.
pub fn projects(mut known: Vec<Project>, sessions: &[Listed], folders: &[String]) -> Vec<Project> {
    for s in sessions.iter().filter(|s| !s.folder.is_empty()) {
        known.retain(|p| p.folder != s.folder);
        known.push(Project { name: s.project.clone(), folder: s.folder.clone(), agent: Some(s.agent.clone()) });
    }
    for folder in folders {
        if !known.iter().any(|p| &p.folder == folder) {
            let name = folder.trim_end_matches('/').rsplit('/').next().unwrap_or(folder).to_owned();
            known.push(Project { name, folder: folder.clone(), agent: None });
        }
    }
    known.sort_by(|a, b| a.name.cmp(&b.name).then(a.folder.cmp(&b.folder)));
    known
}

#[cfg(test)]
mod tests {
    use super::*;
    use sinc_plugin_sdk::Session;

    fn info(id: &str, state: State) -> SessionInfo {
        SessionInfo {
            session: Session {
                id: id.into(),
                local_path: None,
                remote_path: format!("/srv/{id}"),
                agent: "opencode".into(),
            },
            state,
            attached: 0,
            created: 5,
            last_line: "$".into(),
        }
    }

    #[test]
    fn waiting_sessions_come_first() {
        let l = listed(vec![
            info("sinc-b-111111", State::Idle),
            info("sinc-c-222222", State::Waiting),
            info("sinc-a-333333", State::Working),
        ]);
        let order: Vec<(&str, &str)> = l.iter().map(|s| (s.project.as_str(), s.state)).collect();
        assert_eq!(order, [("c", "waiting"), ("a", "working"), ("b", "idle")]);
        assert_eq!(project_name("sinc-my-app-abc123"), "my-app");
    }

    #[test]
    fn projects_remember_folders_and_their_agents() {
        let known = vec![Project { name: "old".into(), folder: "/srv/old".into(), agent: Some("claude".into()) }];
        let now = listed(vec![info("sinc-a-333333", State::Working)]);
        let p = projects(known, &now, &["~/code/x/".into(), "/srv/old".into()]);
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "old", "x"]);
        assert_eq!(p[0].agent.as_deref(), Some("opencode"));
    }
}
