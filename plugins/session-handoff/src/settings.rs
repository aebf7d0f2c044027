//! The plugin's settings (`[plugins.session-handoff]` in config.toml).

use serde::Deserialize;

/// What goes into a hand-off, and when the next session gets it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Give every new session the last hand-off, as `sinc --continue` does.
    #[serde(rename = "continue")]
    pub always_continue: bool,
    /// How many lines of the agent's last output the hand-off keeps.
    pub output_lines: usize,
    /// Todo files looked for in the project (relative paths), first found
    /// wins.
    pub todo_files: Vec<String>,
    /// OpenCode's server on the VPS (`opencode serve`), asked for the
    /// session's todos when the agent is OpenCode; empty: never asked.
    pub opencode_url: String,
    /// The user its Basic auth names (`OPENCODE_SERVER_USERNAME`), when
    /// the secret `opencode_password` is set.
    pub opencode_user: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            always_continue: false,
            output_lines: 40,
            todo_files: vec!["TODO.md".into(), "todo.md".into(), ".sinc/todo.md".into()],
            opencode_url: "http://127.0.0.1:4096".into(),
            opencode_user: "opencode".into(),
        }
    }
}

impl Settings {
    /// The settings in `json` (sinc hands them over as a JSON object).
    pub fn parse(json: &str) -> Result<Settings, String> {
        let s: Settings = serde_json::from_str(json).map_err(|e| format!("[plugins.session-handoff]: {e}"))?;
        if s.output_lines > 2000 {
            return Err("[plugins.session-handoff] output_lines: at most 2000 (what the VPS keeps)".into());
        }
        if let Some(bad) = s.todo_files.iter().find(|f| f.starts_with('/') || f.split('/').any(|c| c == "..")) {
            return Err(format!("[plugins.session-handoff] todo_files: `{bad}` must be relative to the project"));
        }
        if !(s.opencode_url.is_empty() || on_loopback(&s.opencode_url)) {
            return Err(format!(
                "[plugins.session-handoff] opencode_url: `{}`: give OpenCode's server on the VPS as http://127.0.0.1:PORT, or \"\" for none",
                s.opencode_url
            ));
        }
        Ok(s)
    }
}

/// Whether `url` is `http://` to a loopback address and a port (where
/// sinc carries calls to the VPS).
fn on_loopback(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let Some((host, port)) = authority.rsplit_once(':') else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback && port.parse::<u16>().is_ok_and(|p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_mistakes() {
        assert_eq!(Settings::parse("{}").unwrap(), Settings::default());
        let s = Settings::parse(r#"{"continue": true, "output_lines": 10, "todo_files": ["NOTES.md"]}"#).unwrap();
        assert!(s.always_continue && s.output_lines == 10 && s.todo_files == ["NOTES.md"]);
        assert!(Settings::parse(r#"{"contine": true}"#).unwrap_err().contains("unknown field"));
        assert!(Settings::parse(r#"{"output_lines": 5000}"#).is_err());
        assert!(Settings::parse(r#"{"todo_files": ["../x"]}"#).is_err());
        for bad in ["ftp://x", "http://10.0.0.1:4096", "http://127.0.0.1", "https://127.0.0.1:4096"] {
            assert!(Settings::parse(&format!(r#"{{"opencode_url": "{bad}"}}"#)).is_err(), "{bad}");
        }
        assert!(Settings::parse(r#"{"opencode_url": "http://[::1]:4096/"}"#).is_ok());
        assert_eq!(Settings::parse(r#"{"opencode_url": ""}"#).unwrap().opencode_url, "");
    }
}
