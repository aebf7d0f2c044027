//! The agent sessions as the VPS daemon serves them to remote plugins (the
//! `sessions` interface): tmux on this machine, run directly (the daemon
//! lives where the sessions are), with each agent's state read from its
//! screen.

use super::session_events::{self, Look};
use crate::config::Agent;
use crate::session::SessionSpec;
use crate::session::agent_state::{self, AgentState, PatternBook};
use crate::session::tmux::{self, Size};
use crate::session_id::SessionId;
use crate::sync::wire::AgentStates;
use sinc_plugin_host::Session;
use sinc_plugin_host::sessions::{SessionHost, SessionInfo, Sink, State, StopWatching};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// The size a session started by a plugin gets (a terminal that attaches
/// later resizes it).
const START_SIZE: Size = Size { cols: 120, rows: 40 };

/// How long an ended session's output is kept for the end hooks of a
/// laptop that is away (they normally read it within seconds).
pub const OUTPUT_KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(14 * 24 * 3600);

/// How many lines a screen is taken to have, reading an ended session's
/// kept output.
const SCREEN_LINES: usize = 50;

/// tmux on this machine.
#[derive(Debug)]
pub struct TmuxSessions {
    home: PathBuf,
    /// The VPS user's state folder (ended sessions' output is kept there).
    state: PathBuf,
    /// The user's extra state patterns.
    patterns: Mutex<PatternBook>,
}

impl TmuxSessions {
    /// Sessions of this user; `~/` in folders means `home`; ended
    /// sessions' output is kept under `state` (what is older than
    /// [`OUTPUT_KEPT_FOR`] is removed now).
    pub fn new(home: &Path, state: &Path) -> TmuxSessions {
        prune_kept_output(&tmux::kept_output_dir(state), OUTPUT_KEPT_FOR);
        TmuxSessions { home: home.to_path_buf(), state: state.to_path_buf(), patterns: Mutex::default() }
    }

    /// The last output of ended session `id`: the screen it ended with and
    /// up to `scrollback` lines above it (the screen taken as
    /// [`SCREEN_LINES`] lines), trailing empty lines removed.
    fn kept_output(&self, id: &str, scrollback: u32) -> Option<String> {
        if !tmux::keeps_output(id) {
            return None;
        }
        prune_kept_output(&tmux::kept_output_dir(&self.state), OUTPUT_KEPT_FOR);
        let text = std::fs::read(tmux::kept_output_file(&self.state, id)).ok()?;
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.trim_end().lines().collect();
        let wanted = usize::try_from(scrollback).unwrap_or(usize::MAX).saturating_add(SCREEN_LINES);
        Some(lines[lines.len().saturating_sub(wanted)..].join("\n"))
    }

    /// Use the user's extra state patterns (an invalid one is skipped and
    /// logged: the laptop checked them already).
    pub fn set_patterns(&self, states: &[AgentStates]) {
        let (book, bad) =
            PatternBook::compile(states.iter().map(|s| (s.agent.as_str(), s.waiting.as_slice(), s.working.as_slice())));
        for e in bad {
            tracing::warn!("{e}");
        }
        *self.patterns.lock().unwrap_or_else(PoisonError::into_inner) = book;
    }

    fn sh(&self, script: &str) -> Result<String, String> {
        let out = Command::new("sh")
            .args(["-c", script])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("running tmux: {e}"))?;
        if !out.status.success() {
            let code = out.status.code().unwrap_or(1);
            return Err(match u32::try_from(code) {
                Ok(tmux::status::NO_TMUX) => "tmux is not installed on the VPS".into(),
                _ => format!("tmux failed ({code}): {}", String::from_utf8_lossy(&out.stderr).trim()),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn tmux(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("tmux")
            .arg("-u")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("running tmux: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The agent sessions now, by id (the daemon's session events diff
    /// these looks).
    pub fn look(&self) -> Result<Look, String> {
        Ok(session_events::look(tmux::parse_list(&self.sh(&tmux::list_script())?)))
    }

    fn sessions(&self) -> Result<Vec<tmux::RemoteSession>, String> {
        Ok(self.look()?.into_values().collect())
    }

    /// `id` when it names an agent session, with tmux's exact-name target.
    fn target(&self, id: &str) -> Result<String, String> {
        if !crate::session_id::is_sinc_session(id) || !self.sessions()?.iter().any(|s| s.id == id) {
            return Err(format!("no agent session `{id}` on the VPS"));
        }
        Ok(format!("={id}:"))
    }

    fn state_of(&self, id: &str, agent: &str) -> (AgentState, String) {
        let target = format!("={id}:");
        let dead = self.tmux(&["display-message", "-p", "-t", &target, "#{pane_dead}"]).is_ok_and(|o| o.trim() == "1");
        let screen = self.tmux(&["capture-pane", "-p", "-J", "-t", &target]).unwrap_or_default();
        let state = self.patterns.lock().unwrap_or_else(PoisonError::into_inner).detect(agent, &screen, dead);
        (state, agent_state::last_line(&screen))
    }
}

fn wit_state(state: AgentState) -> State {
    match state {
        AgentState::Working => State::Working,
        AgentState::Waiting => State::Waiting,
        AgentState::Idle => State::Idle,
        AgentState::Exited => State::Exited,
    }
}

/// A key name tmux understands, and nothing that could be read as a flag.
fn valid_key(key: &str) -> bool {
    (1..=32).contains(&key.len())
        && key.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+'))
}

impl SessionHost for TmuxSessions {
    fn list(&self) -> Result<Vec<SessionInfo>, String> {
        Ok(self
            .sessions()?
            .into_iter()
            .map(|s| {
                let (state, last_line) = self.state_of(&s.id, s.agent.as_deref().unwrap_or(""));
                SessionInfo {
                    session: Session {
                        id: s.id.clone(),
                        local_path: s.local_path.clone(),
                        remote_path: s.remote_path.clone().unwrap_or_default(),
                        agent: s.agent.clone().unwrap_or_default(),
                    },
                    state: wit_state(state),
                    attached: s.attached,
                    created: s.created,
                    last_line,
                }
            })
            .collect())
    }

    fn screen(&self, id: &str, scrollback: u32) -> Result<String, String> {
        let target = match self.target(id) {
            Ok(target) => target,
            Err(e) => return self.kept_output(id, scrollback).ok_or(e),
        };
        let start = format!("-{}", scrollback.min(100_000));
        self.tmux(&["capture-pane", "-p", "-e", "-J", "-S", &start, "-t", &target])
    }

    fn send(&self, id: &str, text: &str, enter: bool) -> Result<(), String> {
        let target = self.target(id)?;
        if !text.is_empty() {
            self.tmux(&["send-keys", "-t", &target, "-l", "--", text])?;
        }
        if enter {
            self.tmux(&["send-keys", "-t", &target, "Enter"])?;
        }
        Ok(())
    }

    fn keys(&self, id: &str, keys: &[String]) -> Result<(), String> {
        let target = self.target(id)?;
        if let Some(bad) = keys.iter().find(|k| !valid_key(k)) {
            return Err(format!("`{bad}` is not a key name (such as Escape, C-c, Tab, Up, Enter, y)"));
        }
        let mut args = vec!["send-keys", "-t", target.as_str()];
        args.extend(keys.iter().map(String::as_str));
        self.tmux(&args).map(drop)
    }

    fn start(&self, folder: &str, agent: Option<&str>) -> Result<String, String> {
        let path = match folder.strip_prefix("~/") {
            Some(rest) => self.home.join(rest),
            None if folder.starts_with('/') => PathBuf::from(folder),
            None => return Err(format!("`{folder}`: give an absolute folder or one under `~/`")),
        };
        if path.components().any(|c| c == std::path::Component::ParentDir) {
            return Err(format!("`{folder}`: no `..` please"));
        }
        let existing = self.sessions()?;
        let same_folder = existing.iter().find(|s| s.remote_path.as_deref().map(Path::new) == Some(path.as_path()));
        if let Some(s) = same_folder {
            return Ok(s.id.clone());
        }
        let line = match agent {
            Some(a) => a.to_owned(),
            None => std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into()),
        };
        let spec = SessionSpec {
            id: SessionId::for_path(&path),
            local_path: PathBuf::new(),
            remote_path: path.to_string_lossy().into_owned(),
            agent: Agent::new(&line)?,
        };
        self.sh(&tmux::start_script(&spec, START_SIZE, "vps", &tmux::Extras::default()))
            .map_err(|e| format!("starting the session: {e}"))?;
        Ok(spec.id.to_string())
    }

    fn watch(&self, id: &str, scrollback: u32, sink: Sink) -> Result<StopWatching, String> {
        self.target(id)?;
        // It goes into tmux commands: plain names only.
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            return Err(format!("`{id}` is not a session sinc can watch"));
        }
        super::pane_watch::watch(id, scrollback, sink)
    }

    fn stop(&self, id: &str) -> Result<(), String> {
        self.target(id)?;
        self.sh(&tmux::kill_script(id)).map(drop).map_err(|e| format!("stopping {id}: {e}"))
    }
}

/// Remove the kept outputs in `dir` last written more than `age` ago.
fn prune_kept_output(dir: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|e| e > age));
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_names_never_flags() {
        for good in ["Escape", "C-c", "Tab", "Up", "Enter", "y", "M-x", "F12"] {
            assert!(super::valid_key(good), "{good}");
        }
        for bad in ["", "-t", "a b", "x;y", "=sinc:", &"k".repeat(40)] {
            assert!(!super::valid_key(bad), "{bad}");
        }
    }
}
