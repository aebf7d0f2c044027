//! Configuration errors that name the file, line, column, the setting and what
//! is wrong with it.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value or error came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A built-in default.
    Default,
    /// The user config file.
    File(PathBuf),
    /// A `[profiles.NAME]` table of the user config file.
    Profile {
        /// Profile name.
        name: String,
        /// The file it is in.
        file: PathBuf,
    },
    /// A project's `.sinc.toml`.
    Project(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Profile { name, file } => write!(f, "profile {name} ({})", file.display()),
            Origin::Project(p) => write!(f, "{}", p.display()),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// An invalid or unreadable configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, variable or flag at fault.
    pub origin: Origin,
    /// 1-based line and column in a file, when known.
    pub position: Option<(usize, usize)>,
    /// The dotted setting name (`vps.port`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration in {}", self.origin)?;
        if let Some((line, col)) = self.position {
            write!(f, " at line {line}, column {col}")?;
        }
        if let Some(key) = &self.key {
            write!(f, " ({key})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl ConfigError {
    /// A problem not tied to a position.
    pub fn new(origin: Origin, message: impl Into<String>) -> ConfigError {
        ConfigError { origin, position: None, key: None, message: message.into() }
    }

    /// Convert a TOML parse or schema error, locating it in `text`.
    pub fn from_toml(origin: Origin, text: &str, err: &toml::de::Error) -> ConfigError {
        let (position, key) = match err.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                (Some((line, col)), key_at(text, line))
            }
            None => (None, None),
        };
        ConfigError { origin, position, key, message: err.message().trim().to_owned() }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The dotted key assigned on `line`, qualified by the table header above it.
fn key_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let current = lines.get(line.checked_sub(1)?)?.trim();
    let header_of = |l: &str| -> Option<String> {
        let l = l.trim();
        let inner = l.strip_prefix('[')?.split(']').next()?;
        Some(inner.trim_matches(['[', ' ']).to_owned())
    };
    if let Some(h) = header_of(current) {
        return Some(h);
    }
    let (lhs, _) = current.split_once('=')?;
    let key = lhs.trim().trim_matches('"');
    let section = lines[..line - 1].iter().rev().find_map(|l| header_of(l));
    Some(match section {
        Some(s) if !s.is_empty() => format!("{s}.{key}"),
        _ => key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_keys() {
        let text = "agent = \"x\"\n[vps]\nhost = \"a\"\nport = \"nope\"\n";
        assert_eq!(line_col(text, text.find("\"nope\"").unwrap()), (4, 8));
        assert_eq!(key_at(text, 4).as_deref(), Some("vps.port"));
        assert_eq!(key_at(text, 1).as_deref(), Some("agent"));
        assert_eq!(key_at(text, 2).as_deref(), Some("vps"));
    }
}
