//! The plugin's settings (`[plugins.worktree-session]` in config.toml).

use serde::Deserialize;

/// The default commit message: the task, a one-line summary, the files.
pub const DEFAULT_MESSAGE: &str = "{task}: {summary}\n\n{files}\n\n{stat}\nCommitted by sinc when the session of task {task} (branch {branch}) ended.";

/// How tasks are made and ended.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Put before a task's name to make its branch.
    pub branch_prefix: String,
    /// Where task worktrees go: absolute, or relative to the folder that
    /// holds the repository; `{repo}` is the repository's folder name.
    pub worktrees: String,
    /// The commit message, with `{task}`, `{branch}`, `{summary}`,
    /// `{files}` and `{stat}` filled in.
    pub commit_message: String,
    /// Push the branch when the task ends.
    pub push: bool,
    /// The remote pushed to.
    pub remote: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            branch_prefix: "sinc/".into(),
            worktrees: "{repo}.tasks".into(),
            commit_message: DEFAULT_MESSAGE.into(),
            push: false,
            remote: "origin".into(),
        }
    }
}

impl Settings {
    /// The settings in `json` (sinc hands them over as a JSON object).
    pub fn parse(json: &str) -> Result<Settings, String> {
        let settings: Settings = serde_json::from_str(json).map_err(|e| format!("[plugins.worktree-session]: {e}"))?;
        if settings.worktrees.trim().is_empty() {
            return Err("[plugins.worktree-session] worktrees: give a folder".into());
        }
        if settings.remote.is_empty() || settings.remote.starts_with('-') {
            return Err(format!("[plugins.worktree-session] remote: `{}` is not a remote's name", settings.remote));
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(Settings::parse("{}").unwrap(), Settings::default());
        let s = Settings::parse(r#"{"branch_prefix":"task/","push":true,"worktrees":"/srv/tasks"}"#).unwrap();
        assert_eq!((s.branch_prefix.as_str(), s.push, s.worktrees.as_str()), ("task/", true, "/srv/tasks"));
        assert!(Settings::parse(r#"{"pusj":true}"#).unwrap_err().contains("unknown field `pusj`"));
        assert!(Settings::parse(r#"{"push":"yes"}"#).is_err());
        assert!(Settings::parse(r#"{"remote":"--upload-pack=x"}"#).is_err());
        assert!(Settings::parse(r#"{"worktrees":" "}"#).is_err());
    }
}
