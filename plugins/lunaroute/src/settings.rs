//! The plugin's settings (`[plugins.lunaroute]` in config.toml), with their
//! defaults; an unknown key or a bad value disables the plugin with a
//! message naming it. Pure.

use crate::prices::Price;
use serde::Deserialize;
use std::collections::BTreeMap;

fn default_proxy_port() -> u16 {
    8081
}
fn default_dashboard_port() -> u16 {
    8082
}
fn default_openai() -> String {
    "https://api.openai.com/v1".into()
}
fn default_anthropic() -> String {
    "https://api.anthropic.com".into()
}
fn yes() -> bool {
    true
}
fn default_retention_days() -> u32 {
    30
}
fn default_retention_mb() -> u64 {
    1024
}
fn default_connect_ms() -> u32 {
    10_000
}
fn default_response_ms() -> u32 {
    600_000
}
fn default_inspect_mb() -> u32 {
    8
}

/// Everything the plugin can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the agents reach the proxy (on the VPS's 127.0.0.1).
    #[serde(default = "default_proxy_port")]
    pub proxy_port: u16,
    /// Where the dashboard is.
    #[serde(default = "default_dashboard_port")]
    pub dashboard_port: u16,
    /// OpenAI's API (or a compatible server), ending in `/v1` as OpenAI's
    /// SDKs expect.
    #[serde(default = "default_openai")]
    pub openai_base_url: String,
    /// Anthropic's API (or a compatible server), without `/v1`.
    #[serde(default = "default_anthropic")]
    pub anthropic_base_url: String,
    /// Whether request and response bodies are recorded (the numbers always
    /// are).
    #[serde(default = "yes")]
    pub record_bodies: bool,
    /// Built-in redactions for recorded bodies: `email`, `phone`, `card`.
    #[serde(default)]
    pub redact: Vec<String>,
    /// Regular expressions masked in recorded bodies.
    #[serde(default)]
    pub redact_patterns: Vec<String>,
    /// Days of recordings kept.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// MiB of recordings kept (the oldest files go first).
    #[serde(default = "default_retention_mb")]
    pub retention_mb: u64,
    /// Prices of the user's own (per model, dollars per million tokens),
    /// over the bundled table.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// Milliseconds to connect to a provider (then 504).
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u32,
    /// Milliseconds until a provider's response head (then 504).
    #[serde(default = "default_response_ms")]
    pub response_timeout_ms: u32,
    /// Request bodies up to this many MiB are read for the model and the
    /// stream flag (and recorded); larger ones stream through untouched.
    #[serde(default = "default_inspect_mb")]
    pub inspect_limit_mb: u32,
}

impl Settings {
    /// Read the JSON object sinc passes to `init`.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let settings: Settings = serde_json::from_str(if json.trim().is_empty() { "{}" } else { json })
            .map_err(|e| format!("[plugins.lunaroute]: {e}"))?;
        for (key, url) in
            [("openai_base_url", &settings.openai_base_url), ("anthropic_base_url", &settings.anthropic_base_url)]
        {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("[plugins.lunaroute] {key} = {url:?}: give an http:// or https:// URL"));
            }
        }
        if settings.connect_timeout_ms == 0 || settings.response_timeout_ms == 0 {
            return Err("[plugins.lunaroute]: timeouts must be longer than 0 ms".into());
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refusals() {
        let s = Settings::parse("").unwrap();
        assert_eq!((s.proxy_port, s.dashboard_port, s.retention_days), (8081, 8082, 30));
        assert_eq!(s.openai_base_url, "https://api.openai.com/v1");
        let s = Settings::parse(r#"{"proxy_port": 9000, "prices": {"local": {"input": 0.1, "output": 0.2}}}"#).unwrap();
        assert_eq!((s.proxy_port, s.prices["local"].output), (9000, 0.2));
        let e = Settings::parse(r#"{"proxy_prot": 1}"#).unwrap_err();
        assert!(e.contains("unknown field `proxy_prot`"), "{e}");
        let e = Settings::parse(r#"{"openai_base_url": "api.openai.com"}"#).unwrap_err();
        assert!(e.contains("give an http:// or https:// URL"), "{e}");
    }
}
