//! A task as the plugin keeps it (in its key-value store, so it survives
//! the laptop restarting): where its worktree is, its branch, how its
//! session and its end are going.

use serde::{Deserialize, Serialize};

/// The key-value store's key of the task whose worktree is `worktree`.
pub fn key(worktree: &str) -> String {
    format!("task:{worktree}")
}

/// One task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Its name.
    pub name: String,
    /// The repository's main worktree.
    pub repo: String,
    /// Its worktree (the session's folder).
    pub worktree: String,
    /// Its branch.
    pub branch: String,
    /// What the branch started from (a new one), or `None` (reused).
    pub from: Option<String>,
    /// When it was made (seconds since the epoch).
    pub created: u64,
    /// Its session, as last heard.
    pub session: SessionState,
    /// Its end, once it began.
    pub end: Option<End>,
}

/// What was last heard of a task's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionState {
    /// Not started yet (or nothing heard).
    NotStarted,
    /// Running, no terminal attached.
    Detached,
    /// Running, a terminal attached.
    Attached,
    /// Ended.
    Ended,
}

/// How a task's end is going.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct End {
    /// Whether the sync was flushed first.
    pub synced: bool,
    /// The commit made (none: nothing to commit, or not yet).
    pub commit: Option<String>,
    /// Whether its changes are safe on the branch (committed, or none).
    pub saved: bool,
    /// How the push went, when one was tried.
    pub push: Option<String>,
    /// What stopped it, if anything did.
    pub problem: Option<String>,
}

impl SessionState {
    /// As `sinc task list` shows it.
    pub fn word(self) -> &'static str {
        match self {
            SessionState::NotStarted => "not started",
            SessionState::Detached => "running",
            SessionState::Attached => "attached",
            SessionState::Ended => "ended",
        }
    }
}

impl Task {
    /// Its state in a word or two, for `sinc task list`.
    pub fn state(&self) -> String {
        match &self.end {
            None if self.session == SessionState::Ended => {
                format!("ended, its end not run yet: `sinc task end {}` runs it", self.name)
            }
            None => self.session.word().to_owned(),
            Some(End { problem: Some(p), .. }) => format!("end stopped: {p}"),
            Some(End { saved: true, .. }) => "ending: changes saved, worktree not removed yet".into(),
            Some(_) => "ending (interrupted)".into(),
        }
    }

    /// Whether its worktree may be removed: its changes are on the branch
    /// and the VPS's last changes had arrived.
    pub fn removable(&self) -> Result<(), String> {
        match &self.end {
            Some(End { saved: true, synced: true, .. }) => Ok(()),
            Some(End { saved: true, synced: false, .. }) => Err(format!(
                "the sync did not finish before the end, so the VPS may have changes the worktree lacks: \
                 kept {} (run `sinc task end {}` when the VPS is reachable)",
                self.worktree, self.name
            )),
            _ => Err(format!(
                "its changes are not committed: kept {} (fix what stopped it, then `sinc task end {}`)",
                self.worktree, self.name
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        Task {
            name: "fix".into(),
            repo: "/r".into(),
            worktree: "/r.tasks/fix".into(),
            branch: "sinc/fix".into(),
            from: Some("main".into()),
            created: 1,
            session: SessionState::Attached,
            end: None,
        }
    }

    #[test]
    fn a_worktree_goes_only_once_its_work_is_safe() {
        let mut t = task();
        assert_eq!(t.state(), "attached");
        assert!(t.removable().is_err());
        t.end = Some(End { synced: true, ..End::default() });
        assert_eq!(t.state(), "ending (interrupted)");
        assert!(t.removable().unwrap_err().contains("not committed"));
        t.end = Some(End { synced: false, saved: true, ..End::default() });
        assert!(t.removable().unwrap_err().contains("sync did not finish"));
        t.end = Some(End { synced: true, saved: true, commit: Some("abc".into()), ..End::default() });
        assert_eq!(t.removable(), Ok(()));
        let back: Task = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}
