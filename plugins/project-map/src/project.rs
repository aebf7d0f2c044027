//! One project's map, brought up to date: scan the files (reading only the
//! changed ones), render the map, and write it into the instructions file's
//! section — replaced through a temporary file sync ignores, and only when
//! it changed.

use crate::render::{Limits, render};
use crate::scan::Scanner;
use crate::section::{has_section, section, splice};
use crate::settings::Settings;
use crate::target::instructions_file;
use std::path::{Path, PathBuf};

/// Prefix sync never copies (a half-written file is never synced).
const TEMP_PREFIX: &str = ".sinc-tmp-project-map-";

/// A project folder on the VPS and the agent working in it.
#[derive(Debug)]
pub struct Project {
    root: PathBuf,
    agent: String,
    scanner: Scanner,
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// The section in `file` was written, listing `files` source files.
    Written { file: String, files: usize },
    /// The section was already up to date.
    Unchanged,
    /// No source files and no section yet: nothing written.
    Nothing,
}

impl Project {
    /// The project at `root` (absolute), worked on by `agent`.
    pub fn new(root: &Path, agent: &str) -> Project {
        Project { root: root.to_path_buf(), agent: agent.to_owned(), scanner: Scanner::new(root) }
    }

    /// Its folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Bring the map up to date.
    pub fn refresh(&mut self, settings: &Settings) -> Result<Refreshed, String> {
        if !self.root.is_dir() {
            return Err(format!("{} is not a folder", self.root.display()));
        }
        let excluded = settings.excluded(&self.root.to_string_lossy())?;
        let scan = self.scanner.scan(settings.max_files, &excluded);
        let file = instructions_file(&settings.file, &self.agent, |f| self.root.join(f).is_file());
        let path = self.root.join(&file);
        let existing = match std::fs::read(&path) {
            Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| format!("{file} is not UTF-8 text; not changed"))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("reading {file}: {e}")),
        };
        if scan.files.is_empty() && scan.unread == 0 && !existing.as_deref().is_some_and(has_section) {
            return Ok(Refreshed::Nothing);
        }
        let limits = Limits { max_bytes: settings.max_bytes, max_defs: settings.max_defs_per_file };
        let body = render(&scan.files, scan.unread, limits);
        let updated = splice(existing.as_deref(), &section(&body)).map_err(|e| format!("{file}: {e}"))?;
        let Some(updated) = updated else { return Ok(Refreshed::Unchanged) };
        replace(&path, updated.as_bytes()).map_err(|e| format!("writing {file}: {e}"))?;
        Ok(Refreshed::Written { file, files: scan.files.len() })
    }
}

/// Write `path` whole: a temporary file beside it, renamed over it.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!("{TEMP_PREFIX}{name}"));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::section::{BEGIN, END};
    use std::fs;

    fn settings(json: &str) -> Settings {
        Settings::parse(json).unwrap()
    }

    #[test]
    fn the_map_goes_into_the_agents_file_beside_the_users_text_and_follows_changes() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/main.rs"), "//! The tool's entry point.\nfn main() {}\n").unwrap();
        fs::write(dir.path().join("AGENTS.md"), "# House rules\nRun the tests.\n").unwrap();
        let mut project = Project::new(dir.path(), "opencode");
        let s = settings("{}");

        assert_eq!(project.refresh(&s).unwrap(), Refreshed::Written { file: "AGENTS.md".into(), files: 1 });
        let text = fs::read_to_string(dir.path().join("AGENTS.md")).unwrap();
        assert!(text.starts_with("# House rules\nRun the tests.\n\n"), "{text}");
        assert!(text.contains("src/main.rs: The tool's entry point.\n  fn main 2\n"), "{text}");
        assert!(text.ends_with(&format!("{END}\n")), "{text}");
        assert_eq!(project.refresh(&s).unwrap(), Refreshed::Unchanged);

        fs::write(dir.path().join("src/lib.py"), "class Store:\n    pass\n").unwrap();
        assert_eq!(project.refresh(&s).unwrap(), Refreshed::Written { file: "AGENTS.md".into(), files: 2 });
        let text = fs::read_to_string(dir.path().join("AGENTS.md")).unwrap();
        assert!(text.contains("src/lib.py\n  class Store 1\nsrc/main.rs"), "{text}");
        assert_eq!(text.matches(BEGIN).count(), 1);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".sinc-tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn claude_code_gets_a_claude_md_and_an_empty_project_gets_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut project = Project::new(dir.path(), "claude");
        assert_eq!(project.refresh(&settings("{}")).unwrap(), Refreshed::Nothing);
        assert!(!dir.path().join("CLAUDE.md").exists());
        fs::write(dir.path().join("app.go"), "package main\nfunc main() {}\n").unwrap();
        assert_eq!(
            project.refresh(&settings("{}")).unwrap(),
            Refreshed::Written { file: "CLAUDE.md".into(), files: 1 }
        );
        fs::remove_file(dir.path().join("app.go")).unwrap();
        project.refresh(&settings("{}")).unwrap();
        let text = fs::read_to_string(dir.path().join("CLAUDE.md")).unwrap();
        assert!(text.contains("No source files"), "a map that was there says the files are gone: {text}");
    }

    #[test]
    fn unpaired_markers_and_non_text_files_are_left_alone_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.rs"), "fn a() {}\n").unwrap();
        let broken = format!("mine\n{BEGIN}\nhalf\n");
        fs::write(dir.path().join("AGENTS.md"), &broken).unwrap();
        let mut project = Project::new(dir.path(), "opencode");
        let e = project.refresh(&settings("{}")).unwrap_err();
        assert!(e.starts_with("AGENTS.md: ") && e.contains("do not pair up"), "{e}");
        assert_eq!(fs::read_to_string(dir.path().join("AGENTS.md")).unwrap(), broken);

        fs::write(dir.path().join("AGENTS.md"), [0xff, 0xfe, 0x00]).unwrap();
        let e = project.refresh(&settings("{}")).unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
        assert_eq!(fs::read(dir.path().join("AGENTS.md")).unwrap(), [0xff, 0xfe, 0x00]);

        let gone = Project::new(&dir.path().join("missing"), "opencode").refresh(&settings("{}")).unwrap_err();
        assert!(gone.contains("is not a folder"), "{gone}");
    }

    #[test]
    fn a_configured_file_in_a_subfolder_is_created() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("index.js"), "export function go() {}\n").unwrap();
        let mut project = Project::new(dir.path(), "opencode");
        let written = project.refresh(&settings(r#"{"file": ".github/copilot-instructions.md"}"#)).unwrap();
        assert_eq!(written, Refreshed::Written { file: ".github/copilot-instructions.md".into(), files: 1 });
        assert!(dir.path().join(".github/copilot-instructions.md").is_file());
    }
}
