//! Session ids and remote folder names, computed exactly as the original
//! sincronizado did so existing users keep their tmux session names.
//!
//! `sinc-<name>-<first 6 hex of sha256(path bytes)>`, where `name` is the
//! folder's base name lowercased, whitespace runs turned into `-`, everything
//! outside `[a-z0-9-]` removed, dashes collapsed and trimmed, `project` if empty.
//!
//! Unlike the original, the remote folder carries the hash too
//! (`<name>-<hash6>`), so two local folders with the same name never share one
//! remote folder.

use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// The prefix every sinc tmux session name starts with.
pub const PREFIX: &str = "sinc-";

/// A project's session id, e.g. `sinc-myproject-f227ec`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId {
    name: String,
    hash6: String,
}

impl SessionId {
    /// The id of the folder at `path`, which must already be absolute and
    /// canonical (see [`project_path`]).
    pub fn for_path(path: &Path) -> SessionId {
        let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
        let hash6 = hex::encode(&digest[..3]);
        let base = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        SessionId { name: project_name(&base), hash6 }
    }

    /// The sanitised project name part (`myproject`).
    pub fn project_name(&self) -> &str {
        &self.name
    }

    /// The folder name used under the remote base: `<name>-<hash6>`.
    pub fn remote_folder_name(&self) -> String {
        format!("{}-{}", self.name, self.hash6)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}-{}", self.name, self.hash6)
    }
}

/// Whether a tmux session name looks like one of ours.
pub fn is_sinc_session(name: &str) -> bool {
    name.starts_with(PREFIX)
}

/// Sanitise a folder name the way the original did.
pub fn project_name(base: &str) -> String {
    let lower = base.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut in_space = false;
    for c in lower.chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push('-');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            out.push(c);
        }
    }
    let mut collapsed = String::with_capacity(out.len());
    for c in out.chars() {
        if c == '-' && collapsed.ends_with('-') {
            continue;
        }
        collapsed.push(c);
    }
    let trimmed = collapsed.trim_matches('-');
    if trimmed.is_empty() { "project".to_owned() } else { trimmed.to_owned() }
}

/// The canonical absolute path of a project folder: symlinks resolved when the
/// folder exists (so two spellings share a session), otherwise the lexically
/// normalised absolute path, like the original's `path.resolve`.
pub fn project_path(path: &Path) -> std::io::Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let abs = std::path::absolute(path)?;
            Ok(normalize_lexically(&abs))
        }
        Err(e) => Err(e),
    }
}

fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_vectors() {
        let cases = [
            ("/home/user/myproject", "sinc-myproject-f227ec"),
            ("/home/user/My Project", "sinc-my-project-78ce1d"),
            ("/home/user/work/myproject", "sinc-myproject-d83886"),
        ];
        for (path, id) in cases {
            assert_eq!(SessionId::for_path(Path::new(path)).to_string(), id, "{path}");
        }
    }

    #[test]
    fn remote_folder_carries_the_hash() {
        let a = SessionId::for_path(Path::new("/home/user/myproject"));
        let b = SessionId::for_path(Path::new("/home/user/work/myproject"));
        assert_eq!(a.remote_folder_name(), "myproject-f227ec");
        assert_ne!(a.remote_folder_name(), b.remote_folder_name());
    }

    #[test]
    fn name_sanitising() {
        assert_eq!(project_name("My  Cool\tApp"), "my-cool-app");
        assert_eq!(project_name("--a__b--"), "ab");
        assert_eq!(project_name("café"), "caf");
        assert_eq!(project_name("日本"), "project");
        assert_eq!(project_name(" - "), "project");
        assert_eq!(project_name("a - b"), "a-b");
    }

    #[test]
    fn missing_folders_resolve_lexically() {
        let p = project_path(Path::new("/nonexistent-sinc/a/../b/./c")).unwrap();
        assert_eq!(p, Path::new("/nonexistent-sinc/b/c"));
    }

    #[test]
    fn symlinked_spellings_share_an_id() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let a = SessionId::for_path(&project_path(&real).unwrap());
        let b = SessionId::for_path(&project_path(&link).unwrap());
        assert_eq!(a, b);
    }
}
