//! Import of the original tool's `config.json` on first run.

use super::error::{ConfigError, Origin};
use super::layer::{self, FlatValues};
use serde_json::Value;
use std::path::Path;

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyImport {
    /// Settings carried over, as `old → new` descriptions.
    pub imported: Vec<String>,
    /// Old settings that have no equivalent, with the reason.
    pub skipped: Vec<String>,
}

/// The ignore patterns the original tool wrote by default; sinc has them
/// built in, so they are not copied into `sync.ignore`.
const ORIGINAL_DEFAULT_IGNORES: [&str; 5] = ["node_modules", ".venv", ".git", "__pycache__", ".DS_Store"];

/// Convert the JSON text of a legacy config into sinc settings.
pub fn convert(path: &Path, json: &str) -> Result<(FlatValues, LegacyImport), ConfigError> {
    let origin = Origin::File(path.to_path_buf());
    let root: Value = serde_json::from_str(json).map_err(|e| ConfigError {
        origin: origin.clone(),
        position: Some((e.line(), e.column())),
        key: None,
        message: format!("not valid JSON: {e}"),
    })?;
    let Value::Object(root) = root else {
        return Err(ConfigError::new(origin, "expected a JSON object"));
    };
    let mut values = FlatValues::new();
    let mut report = LegacyImport { imported: Vec::new(), skipped: Vec::new() };

    for (section, body) in &root {
        let fields: Vec<(String, &Value)> = match body {
            Value::Object(map) => map.iter().map(|(k, v)| (format!("{section}.{k}"), v)).collect(),
            other => vec![(section.clone(), other)],
        };
        for (old, value) in fields {
            let Some(new) = map_key(&old) else {
                let why = if old.starts_with("connection.") {
                    "sinc has its own resilient transport"
                } else {
                    "no equivalent setting"
                };
                report.skipped.push(format!("{old} ({why})"));
                continue;
            };
            let Some(converted) = convert_value(new, value) else {
                report.skipped.push(format!("{old} (value not understood)"));
                continue;
            };
            layer::validate_value(&origin, new, &converted).map_err(|mut e| {
                e.key = Some(old.clone());
                e
            })?;
            report.imported.push(format!("{old} → {new}"));
            values.insert(new.to_owned(), converted);
        }
    }
    Ok((values, report))
}

fn map_key(old: &str) -> Option<&'static str> {
    Some(match old {
        "vps.hostname" | "vps.host" => "vps.host",
        "vps.user" => "vps.user",
        "vps.port" => "vps.port",
        "vps.keyPath" | "ssh.identityFile" => "vps.identity_file",
        "sync.mode" => "sync.mode",
        "sync.ignore" => "sync.ignore",
        "sync.remoteBase" => "sync.remote_base",
        "agent" => "agent",
        "ssh.connectTimeout" => "ssh.connect_timeout",
        "ssh.keepaliveInterval" => "ssh.keepalive_interval",
        _ => return None,
    })
}

fn convert_value(key: &str, value: &Value) -> Option<toml::Value> {
    Some(match (key, value) {
        ("sync.mode", Value::String(m)) => toml::Value::String(
            match m.as_str() {
                "both" => "two-way-resolved",
                other => other,
            }
            .to_owned(),
        ),
        ("sync.ignore", Value::Array(items)) => toml::Value::Array(
            items
                .iter()
                .filter_map(Value::as_str)
                .filter(|p| !ORIGINAL_DEFAULT_IGNORES.contains(p))
                .map(|p| toml::Value::String(p.to_owned()))
                .collect(),
        ),
        (_, Value::String(s)) => toml::Value::String(s.clone()),
        (_, Value::Number(n)) => toml::Value::Integer(n.as_i64()?),
        (_, Value::Bool(b)) => toml::Value::Boolean(*b),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_the_original_schema() {
        let json = r#"{
          "vps": {"hostname": "box", "user": "dev", "port": 2200},
          "sync": {"mode": "both", "ignore": ["node_modules", ".git", "dist"], "remoteBase": "~/code"},
          "agent": "claude",
          "ssh": {"connectTimeout": 5, "keepaliveInterval": 30, "identityFile": "~/.ssh/k"},
          "connection": {"protocols": ["ssh", "et"]}
        }"#;
        let (values, report) = convert(Path::new("config.json"), json).unwrap();
        assert_eq!(values["vps.host"].as_str(), Some("box"));
        assert_eq!(values["vps.port"].as_integer(), Some(2200));
        assert_eq!(values["sync.mode"].as_str(), Some("two-way-resolved"));
        assert_eq!(values["sync.ignore"].as_array().unwrap().len(), 1);
        assert_eq!(values["vps.identity_file"].as_str(), Some("~/.ssh/k"));
        assert_eq!(values["agent"].as_str(), Some("claude"));
        assert!(report.skipped.iter().any(|s| s.starts_with("connection.protocols")));
        assert_eq!(report.imported.len(), 10);
    }

    #[test]
    fn bad_values_name_the_old_key() {
        let err = convert(Path::new("c.json"), r#"{"vps": {"port": 70000}}"#).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("vps.port"));
        assert!(err.message.contains("65535"), "{}", err.message);
    }
}
