//! The plugin's settings (`[plugins.mobile]` in config.toml).

use serde::Deserialize;

/// How the page behaves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The port (sinc binds it on the VPS's 127.0.0.1).
    pub port: u16,
    /// `loopback` (the default) or `tailnet`: sinc serves the page on the
    /// VPS's Tailscale address instead.
    pub bind: String,
    /// Show sessions only: no typing, no starting or stopping.
    pub read_only: bool,
    /// Lines above the screen a session view starts with.
    pub scrollback: u32,
    /// The address `sinc mobile pair` links to (default: the port on
    /// 127.0.0.1, as `sinc open mobile` forwards it).
    pub url: Option<String>,
    /// Folders on the VPS offered for new sessions, besides those of the
    /// sessions seen.
    pub projects: Vec<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            port: 3000,
            bind: "loopback".into(),
            read_only: false,
            scrollback: 1000,
            url: None,
            projects: Vec::new(),
        }
    }
}

impl Settings {
    /// The settings in `json` (sinc hands them over as a JSON object).
    pub fn parse(json: &str) -> Result<Settings, String> {
        let s: Settings = serde_json::from_str(json).map_err(|e| format!("[plugins.mobile]: {e}"))?;
        if !matches!(s.bind.as_str(), "loopback" | "tailnet") {
            return Err(format!("[plugins.mobile] bind: `{}`: use \"loopback\" or \"tailnet\"", s.bind));
        }
        if s.scrollback > 10_000 {
            return Err("[plugins.mobile] scrollback: at most 10000 lines".into());
        }
        if let Some(url) = &s.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!("[plugins.mobile] url: `{url}` is not an http(s) URL"));
        }
        if let Some(bad) = s.projects.iter().find(|p| !(p.starts_with('/') || p.starts_with("~/"))) {
            return Err(format!("[plugins.mobile] projects: `{bad}`: give an absolute folder or one under `~/`"));
        }
        Ok(s)
    }

    /// Where the page is, for links.
    pub fn page_url(&self) -> String {
        self.url.clone().unwrap_or_else(|| format!("http://127.0.0.1:{}", self.port)).trim_end_matches('/').to_owned()
    }
}

/// The `host[:port]` of `url`.
pub fn authority(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| authority.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_mistakes() {
        let s = Settings::parse("{}").unwrap();
        assert_eq!(
            (s.port, s.read_only, s.scrollback, s.page_url().as_str()),
            (3000, false, 1000, "http://127.0.0.1:3000")
        );
        let s = Settings::parse(r#"{"port": 3100, "read_only": true, "url": "http://100.64.0.1:3100/"}"#).unwrap();
        assert!(s.read_only && s.page_url() == "http://100.64.0.1:3100");
        assert_eq!(authority(&s.page_url()).as_deref(), Some("100.64.0.1:3100"));
        assert!(Settings::parse(r#"{"scrollback": 20000}"#).is_err());
        assert!(Settings::parse(r#"{"bind": "tailnet"}"#).is_ok());
        assert!(Settings::parse(r#"{"bind": "0.0.0.0"}"#).unwrap_err().contains("loopback"));
        assert!(Settings::parse(r#"{"url": "ftp://x"}"#).is_err());
        assert!(Settings::parse(r#"{"projects": ["rel"]}"#).is_err());
        assert!(Settings::parse(r#"{"colour": 1}"#).unwrap_err().contains("unknown field"));
    }
}
