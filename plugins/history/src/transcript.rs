//! One agent session as the logs tell it: who, where, when, and its
//! messages as text. Pure.

use serde::Serialize;

/// Which agent wrote a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agent {
    /// Claude Code.
    Claude,
    /// OpenCode.
    Opencode,
}

impl Agent {
    /// Its name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Opencode => "opencode",
        }
    }

    /// The agent named `name`.
    pub fn parse(name: &str) -> Result<Agent, String> {
        match name {
            "claude" => Ok(Agent::Claude),
            "opencode" => Ok(Agent::Opencode),
            other => Err(format!("unknown agent `{other}`: give claude or opencode")),
        }
    }
}

/// One message: its author's role and its text (tool calls as
/// `[tool NAME]`, tool results as their text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    /// When, in milliseconds since the epoch (0: not recorded).
    pub time: u64,
    /// What it said.
    pub text: String,
}

/// One session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transcript {
    /// The agent.
    pub agent: Agent,
    /// The agent's own id for it.
    pub id: String,
    /// The folder it worked in.
    pub project: String,
    /// Its title (the agent's summary, else its first user message).
    pub title: String,
    /// First and last message, in milliseconds since the epoch.
    pub started: u64,
    /// See `started`.
    pub updated: u64,
    /// Its messages, in order.
    pub messages: Vec<Message>,
}

impl Transcript {
    /// Set `title` from the first user message when the log gave none, and
    /// `started`/`updated` from the messages when missing.
    pub fn complete(mut self) -> Transcript {
        if self.title.trim().is_empty() {
            let first = self.messages.iter().find(|m| m.role == "user" && !m.text.starts_with('['));
            self.title = first.map(|m| one_line(&m.text, 80)).unwrap_or_default();
        }
        let times = self.messages.iter().map(|m| m.time).filter(|t| *t > 0);
        if self.started == 0 {
            self.started = times.clone().min().unwrap_or(0);
        }
        if self.updated == 0 {
            self.updated = times.max().unwrap_or(self.started);
        }
        self
    }
}

/// `text` on one line, cut at `max` characters (with `…`).
pub fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    format!("{}…", flat.chars().take(max).collect::<String>())
}

/// `ms` as an RFC 3339 time (seconds), or `-` for none.
pub fn time_text(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_title_and_times_come_from_the_messages() {
        let m = |role: &str, time, text: &str| Message { role: role.into(), time, text: text.into() };
        let t = Transcript {
            agent: Agent::Claude,
            id: "x".into(),
            project: "/p".into(),
            title: String::new(),
            started: 0,
            updated: 0,
            messages: vec![
                m("user", 0, "[tool result] x"),
                m("user", 2_000, "Fix   the\nlogin bug"),
                m("assistant", 5_000, "ok"),
            ],
        }
        .complete();
        assert_eq!((t.title.as_str(), t.started, t.updated), ("Fix the login bug", 2_000, 5_000));
        assert_eq!(time_text(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert!(Agent::parse("gemini").unwrap_err().contains("claude or opencode"));
    }
}
