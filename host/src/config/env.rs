//! `SINC_*` environment overrides: one table, used by the loader and the docs.

use super::error::{ConfigError, Origin};

/// How an environment variable's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Taken as is.
    Text,
    /// A whole number.
    Integer,
    /// `1/true/yes/on` or `0/false/no/off`.
    Bool,
    /// Comma-separated list.
    List,
}

/// One environment override.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// Variable name.
    pub name: &'static str,
    /// The dotted setting it overrides.
    pub key: &'static str,
    /// How its text is read.
    pub kind: Kind,
}

/// Every setting that can be overridden from the environment.
#[rustfmt::skip]
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar { name: "SINC_HOST", key: "vps.host", kind: Kind::Text },
    EnvVar { name: "SINC_USER", key: "vps.user", kind: Kind::Text },
    EnvVar { name: "SINC_PORT", key: "vps.port", kind: Kind::Integer },
    EnvVar { name: "SINC_IDENTITY_FILE", key: "vps.identity_file", kind: Kind::Text },
    EnvVar { name: "SINC_AGENT", key: "agent", kind: Kind::Text },
    EnvVar { name: "SINC_SYNC_MODE", key: "sync.mode", kind: Kind::Text },
    EnvVar { name: "SINC_IGNORE", key: "sync.ignore", kind: Kind::List },
    EnvVar { name: "SINC_REMOTE_BASE", key: "sync.remote_base", kind: Kind::Text },
    EnvVar { name: "SINC_REMOTE_PATH", key: "sync.remote_path", kind: Kind::Text },
    EnvVar { name: "SINC_USE_GITIGNORE", key: "sync.use_gitignore", kind: Kind::Bool },
    EnvVar { name: "SINC_MAX_DELETE", key: "sync.max_delete", kind: Kind::Integer },
    EnvVar { name: "SINC_MAX_DELETE_PERCENT", key: "sync.max_delete_percent", kind: Kind::Integer },
    EnvVar { name: "SINC_TRASH_MAX_MB", key: "sync.trash_max_mb", kind: Kind::Integer },
    EnvVar { name: "SINC_TRASH_MAX_DAYS", key: "sync.trash_max_days", kind: Kind::Integer },
    EnvVar { name: "SINC_VERIFY_MINUTES", key: "sync.verify_minutes", kind: Kind::Integer },
    EnvVar { name: "SINC_CONNECT_TIMEOUT", key: "ssh.connect_timeout", kind: Kind::Integer },
    EnvVar { name: "SINC_KEEPALIVE_INTERVAL", key: "ssh.keepalive_interval", kind: Kind::Integer },
    EnvVar { name: "SINC_ACCEPT_NEW_HOST", key: "ssh.accept_new_host", kind: Kind::Bool },
    EnvVar { name: "SINC_GIVE_UP_AFTER", key: "ssh.give_up_after", kind: Kind::Integer },
    EnvVar { name: "SINC_REGISTRY", key: "registry", kind: Kind::Text },
    EnvVar { name: "SINC_REGISTRY_KEY", key: "registry_key", kind: Kind::Text },
];

/// Variables read by clap rather than by the loader (listed for the docs).
pub const ENV_FLAGS: &[(&str, &str)] = &[
    ("SINC_CONFIG", "the config file to use instead of the default (`--config`)"),
    ("SINC_PROFILE", "the profile to use (`--profile`)"),
];

impl EnvVar {
    /// Turn the variable's text into a config value.
    pub fn parse(&self, text: &str) -> Result<toml::Value, ConfigError> {
        let bad = |what: &str| ConfigError {
            origin: Origin::Env(self.name),
            position: None,
            key: Some(self.key.to_owned()),
            message: format!("expected {what}, found {text:?}"),
        };
        Ok(match self.kind {
            Kind::Text => toml::Value::String(text.to_owned()),
            Kind::Integer => toml::Value::Integer(text.trim().parse().map_err(|_| bad("a whole number"))?),
            Kind::Bool => match text.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
                "0" | "false" | "no" | "off" => toml::Value::Boolean(false),
                _ => return Err(bad("true or false")),
            },
            Kind::List => toml::Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_documents_every_variable() {
        let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md"));
        for var in ENV_VARS {
            let row = doc.lines().find(|l| l.starts_with(&format!("| `{}` |", var.key)));
            let row = row.unwrap_or_else(|| panic!("docs/configuration.md has no row for {}", var.key));
            assert!(row.contains(&format!("`{}`", var.name)), "the row for {} does not name {}", var.key, var.name);
        }
        for (name, _) in ENV_FLAGS {
            assert!(doc.contains(&format!("`{name}`")), "docs/configuration.md does not mention {name}");
        }
    }

    #[test]
    fn parsing_by_kind() {
        let port = ENV_VARS.iter().find(|v| v.name == "SINC_PORT").unwrap();
        assert_eq!(port.parse(" 22 ").unwrap(), toml::Value::Integer(22));
        assert!(port.parse("x").is_err());
        let accept = ENV_VARS.iter().find(|v| v.name == "SINC_ACCEPT_NEW_HOST").unwrap();
        assert_eq!(accept.parse("YES").unwrap(), toml::Value::Boolean(true));
        assert!(accept.parse("maybe").is_err());
        let ignore = ENV_VARS.iter().find(|v| v.name == "SINC_IGNORE").unwrap();
        assert_eq!(ignore.parse("a, b,,").unwrap().as_array().unwrap().len(), 2);
    }
}
