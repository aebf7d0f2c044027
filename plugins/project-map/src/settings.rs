//! The plugin's settings (`[plugins.project-map]` in config.toml), with
//! their defaults; an unknown key or a bad value disables the plugin with a
//! message naming it. Pure.

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde::Deserialize;

fn auto() -> String {
    "auto".into()
}
fn default_max_bytes() -> usize {
    16_000
}
fn default_max_defs() -> usize {
    25
}
fn default_max_files() -> usize {
    5_000
}

/// Everything the plugin can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The instructions file the map goes into, relative to the project
    /// folder; `auto` picks `CLAUDE.md` or `AGENTS.md` by the agent (see
    /// [`crate::target`]).
    #[serde(default = "auto")]
    pub file: String,
    /// The most bytes the map's section takes, markers included.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// The most definitions listed per file.
    #[serde(default = "default_max_defs")]
    pub max_defs_per_file: usize,
    /// The most source files read; the rest are counted, not mapped.
    #[serde(default = "default_max_files")]
    pub max_files: usize,
    /// More paths left out (gitignore patterns), besides each folder's
    /// `.gitignore`, `.ignore` and `.syncignore`.
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl Settings {
    /// The settings in `json` (`{}`: every default).
    pub fn parse(json: &str) -> Result<Settings, String> {
        let json = if json.trim().is_empty() { "{}" } else { json };
        let s: Settings = serde_json::from_str(json).map_err(|e| format!("[plugins.project-map]: {e}"))?;
        if s.file != "auto" && !is_relative_inside(&s.file) {
            return Err(format!(
                "[plugins.project-map] file = {:?}: give a path inside the project (like \"AGENTS.md\"), or \"auto\"",
                s.file
            ));
        }
        if s.max_bytes < 1_000 {
            return Err(format!("[plugins.project-map] max_bytes = {}: give at least 1000", s.max_bytes));
        }
        if s.max_files == 0 {
            return Err("[plugins.project-map] max_files = 0: give at least 1".into());
        }
        s.excluded("/")?;
        Ok(s)
    }

    /// The `exclude` patterns, compiled for the project at `root`.
    pub fn excluded(&self, root: &str) -> Result<Gitignore, String> {
        let mut b = GitignoreBuilder::new(root);
        for p in &self.exclude {
            b.add_line(None, p).map_err(|e| format!("[plugins.project-map] exclude: {e}"))?;
        }
        b.build().map_err(|e| format!("[plugins.project-map] exclude: {e}"))
    }
}

/// Whether `path` is relative and stays inside the folder it is relative
/// to.
fn is_relative_inside(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.ends_with('/')
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_means_the_defaults() {
        let s = Settings::parse("{}").unwrap();
        assert_eq!((s.file.as_str(), s.max_bytes, s.max_defs_per_file, s.max_files), ("auto", 16_000, 25, 5_000));
        assert!(Settings::parse("").is_ok());
    }

    #[test]
    fn bad_settings_are_named() {
        for (json, named) in [
            (r#"{"fiel": "x"}"#, "unknown field `fiel`"),
            (r#"{"file": "../AGENTS.md"}"#, "inside the project"),
            (r#"{"file": "/etc/motd"}"#, "inside the project"),
            (r#"{"file": ""}"#, "inside the project"),
            (r#"{"max_bytes": 10}"#, "at least 1000"),
            (r#"{"max_files": 0}"#, "at least 1"),
            (r#"{"max_bytes": -1}"#, "invalid value"),
            (r#"{"exclude": ["src/{a"]}"#, "unclosed alternate group"),
        ] {
            let e = Settings::parse(json).unwrap_err();
            assert!(e.contains(named), "{json}: {e}");
        }
    }

    #[test]
    fn a_file_in_a_subfolder_is_allowed() {
        let s = Settings::parse(r#"{"file": ".github/copilot-instructions.md", "exclude": ["generated/"]}"#).unwrap();
        assert_eq!(s.file, ".github/copilot-instructions.md");
        assert!(s.excluded("/p").unwrap().matched("/p/generated", true).is_ignore());
    }
}
