//! The `project-files` interface (SDK 1.7): files a plugin keeps under a
//! project's `.sinc/` folder, in the folders its manifest names. Which
//! projects a call may use is decided by what the call is about
//! ([`Scope`]); paths never leave the named folders and never follow a
//! symbolic link.

use std::path::{Component, Path, PathBuf};

/// The folder under a project that holds what plugins keep there.
pub const DOT_SINC: &str = ".sinc";

/// The largest file a plugin may write.
pub const MAX_FILE: usize = 4 << 20;

/// Prefix of the temporary file a write goes through (the sync never
/// carries files named so, so a half-written file never reaches the VPS).
const TEMP_PREFIX: &str = ".sinc-tmp-";

/// The projects the current call may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    /// None: the call is about no project.
    #[default]
    None,
    /// A session's folder on the laptop (its before-start, its end).
    Session(PathBuf),
    /// The folder `sinc` was run in, for a subcommand: it and the folders
    /// above it below the home folder.
    Invocation(PathBuf),
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not allowed; names what would allow it.
    Denied(String),
    /// Allowed, but it failed.
    Failed(String),
}

/// Check a manifest's `project-files` entry: a relative folder, plain names.
pub fn check_folder(folder: &str) -> Result<(), String> {
    let plain = !folder.is_empty()
        && folder.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(['\\', '\0']));
    if plain { Ok(()) } else { Err("give a folder under `.sinc/`, like `handoff` (no `..`, no leading `/`)".into()) }
}

/// The linked git worktree `folder`'s repository's main worktree (where its
/// `.git` folder is), read from the worktree's `.git` file; none for any
/// other folder.
///
/// The link is believed only when both ends agree, as git itself checks:
/// the worktree's `.git` names `<repo>/.git/worktrees/<name>`, whose
/// `gitdir` names the worktree's `.git` back.
pub fn main_worktree(folder: &Path) -> Option<PathBuf> {
    let link = std::fs::read_to_string(folder.join(".git")).ok()?;
    let gitdir = std::fs::canonicalize(folder.join(link.strip_prefix("gitdir:")?.trim())).ok()?;
    let back = std::fs::read_to_string(gitdir.join("gitdir")).ok()?;
    if std::fs::canonicalize(back.trim()).ok()? != std::fs::canonicalize(folder.join(".git")).ok()? {
        return None;
    }
    let common = std::fs::read_to_string(gitdir.join("commondir")).ok()?;
    let common = std::fs::canonicalize(gitdir.join(common.trim())).ok()?;
    let worktrees = gitdir.parent()?;
    if common.file_name()? != ".git" || worktrees.file_name()? != "worktrees" || worktrees.parent()? != common {
        return None;
    }
    common.parent().map(Path::to_path_buf)
}

/// Whether `project` (canonical) is a project `scope` allows, for a user
/// whose home is `home` (canonical).
pub fn in_scope(scope: &Scope, project: &Path, home: &Path) -> bool {
    let is = |folder: &Path| folder == project || main_worktree(folder).is_some_and(|main| main == project);
    match scope {
        Scope::None => false,
        Scope::Session(folder) => std::fs::canonicalize(folder).is_ok_and(|f| is(&f)),
        Scope::Invocation(cwd) => std::fs::canonicalize(cwd)
            .is_ok_and(|cwd| cwd.ancestors().filter(|a| a.parent().is_some() && !home.starts_with(a)).any(is)),
    }
}

/// The relative `path`'s components, when it lies in one of `folders` (or,
/// with `folder_ok`, is one of them).
fn allowed_components<'a>(path: &'a str, folders: &[String], folder_ok: bool) -> Result<Vec<&'a str>, Refusal> {
    let parts: Vec<&str> = path.split('/').collect();
    let plain = Path::new(path).components().all(|c| matches!(c, Component::Normal(_)))
        && parts.iter().all(|c| !c.is_empty() && *c != "." && *c != ".." && !c.contains('\0'));
    if path.is_empty() || !plain {
        return Err(Refusal::Failed(format!("`{path}`: give a path relative to `.sinc/`, without `..`")));
    }
    let inside = folders.iter().any(|folder| {
        let f: Vec<&str> = folder.split('/').collect();
        parts.starts_with(&f) && (parts.len() > f.len() || folder_ok)
    });
    if !inside {
        let declared = if folders.is_empty() { "none".to_owned() } else { folders.join(", ") };
        return Err(Refusal::Denied(format!(
            "`.sinc/{path}` is outside the folders the plugin's manifest names in `project-files` ({declared})"
        )));
    }
    Ok(parts)
}

/// Where `path` is in `project`, once the call's scope, the manifest's
/// folders and the path itself are checked; no symbolic link on the way.
pub fn resolve(
    scope: &Scope,
    folders: &[String],
    home: &Path,
    project: &str,
    path: &str,
    folder_ok: bool,
) -> Result<PathBuf, Refusal> {
    if folders.is_empty() {
        return Err(Refusal::Denied(
            "project files need `project-files = [\"FOLDER\"]` in the plugin's manifest, accepted by the user".into(),
        ));
    }
    let parts = allowed_components(path, folders, folder_ok)?;
    if !project.starts_with('/') {
        return Err(Refusal::Failed(format!("project `{project}`: give an absolute folder")));
    }
    let canonical = std::fs::canonicalize(project).map_err(|e| Refusal::Failed(format!("project {project}: {e}")))?;
    let home = std::fs::canonicalize(home).unwrap_or_else(|_| home.to_path_buf());
    if !in_scope(scope, &canonical, &home) {
        return Err(Refusal::Denied(format!(
            "{project} is not the project this call is about (a session's folder, the folder `sinc` was run in, \
             or their repository)"
        )));
    }
    let mut at = canonical.join(DOT_SINC);
    check_not_link(&at)?;
    for part in parts {
        at.push(part);
        check_not_link(&at)?;
    }
    Ok(at)
}

fn check_not_link(path: &Path) -> Result<(), Refusal> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            Err(Refusal::Failed(format!("{} is a symbolic link; it is not followed", path.display())))
        }
        _ => Ok(()),
    }
}

fn failed(what: &Path) -> impl FnOnce(std::io::Error) -> Refusal + '_ {
    move |e| Refusal::Failed(format!("{}: {e}", what.display()))
}

/// Write `contents` to `file` through a temporary file beside it.
pub fn write(file: &Path, contents: &[u8]) -> Result<(), Refusal> {
    if contents.len() > MAX_FILE {
        return Err(Refusal::Failed(format!(
            "{} bytes is more than a project file may hold ({MAX_FILE})",
            contents.len()
        )));
    }
    let dir = file.parent().ok_or_else(|| Refusal::Failed("no folder".into()))?;
    std::fs::create_dir_all(dir).map_err(failed(dir))?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let temp = dir.join(format!("{TEMP_PREFIX}{name}-{}-{nanos:x}", std::process::id()));
    std::fs::write(&temp, contents).map_err(failed(&temp))?;
    std::fs::rename(&temp, file).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        failed(file)(e)
    })
}

/// The contents of `file` (a regular file of at most [`MAX_FILE`] bytes);
/// none when it does not exist.
pub fn read(file: &Path) -> Result<Option<Vec<u8>>, Refusal> {
    use std::io::Read;
    let meta = match std::fs::symlink_metadata(file) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(file)(e)),
    };
    if !meta.is_file() {
        return Err(Refusal::Failed(format!("{} is not a regular file", file.display())));
    }
    if meta.len() > MAX_FILE as u64 {
        return Err(Refusal::Failed(format!(
            "{} is larger than a project file may be ({MAX_FILE} bytes)",
            file.display()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file).and_then(|f| f.take(MAX_FILE as u64).read_to_end(&mut bytes)).map_err(failed(file))?;
    Ok(Some(bytes))
}

/// The files in `dir`, sorted (temporary files left out).
pub fn list(dir: &Path) -> Result<Vec<String>, Refusal> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(failed(dir)(e)),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(TEMP_PREFIX))
        .collect();
    names.sort();
    Ok(names)
}

/// Remove `file`, if it is there.
pub fn remove(file: &Path) -> Result<(), Refusal> {
    match std::fs::remove_file(file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(failed(file)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-C"])
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(ok.status.success(), "{args:?}: {}", String::from_utf8_lossy(&ok.stderr));
    }

    #[test]
    fn paths_stay_in_the_declared_folders() {
        let folders = vec!["handoff".to_owned()];
        assert_eq!(allowed_components("handoff/a.md", &folders, false).unwrap(), ["handoff", "a.md"]);
        assert!(allowed_components("handoff", &folders, true).is_ok());
        for bad in ["handoff", "other/a.md", "handoffx/a", "/etc/passwd", "handoff/../x", "handoff//a", "./handoff/a"] {
            assert!(allowed_components(bad, &folders, false).is_err(), "{bad}");
        }
        assert!(check_folder("handoff").is_ok() && check_folder("a/b").is_ok());
        for bad in ["", "/abs", "a/../b", ".", "a//b"] {
            assert!(check_folder(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_call_reaches_its_session_its_invocation_and_their_repository_only() {
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.path()).unwrap();
        let home = root.join("home");
        let repo = home.join("repo");
        let other = home.join("other");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        git(&repo, &["init", "-q"]);
        git(&repo, &["commit", "-q", "--allow-empty", "-m", "first"]);
        let task = home.join("repo.tasks/fix");
        git(&repo, &["worktree", "add", "-q", "-b", "sinc/fix", task.to_str().unwrap()]);
        assert_eq!(main_worktree(&task), Some(repo.clone()));
        assert_eq!(main_worktree(&repo), None);

        let session = Scope::Session(task.clone());
        assert!(in_scope(&session, &task, &home) && in_scope(&session, &repo, &home));
        assert!(!in_scope(&session, &other, &home) && !in_scope(&Scope::None, &task, &home));
        let sub = task.join("src");
        std::fs::create_dir(&sub).unwrap();
        let run = Scope::Invocation(sub);
        assert!(in_scope(&run, &task, &home) && in_scope(&run, &repo, &home));
        assert!(!in_scope(&run, &home, &home) && !in_scope(&run, &root, &home) && !in_scope(&run, &other, &home));

        let folders = vec!["handoff".to_owned()];
        let file = resolve(&session, &folders, &home, task.to_str().unwrap(), "handoff/x.md", false).unwrap();
        write(&file, b"hello").unwrap();
        assert_eq!(read(&file).unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(list(file.parent().unwrap()).unwrap(), ["x.md"]);
        remove(&file).unwrap();
        assert_eq!(read(&file).unwrap(), None);
        let denied = resolve(&session, &folders, &home, other.to_str().unwrap(), "handoff/x.md", false);
        assert!(matches!(denied, Err(Refusal::Denied(_))), "{denied:?}");
        assert!(matches!(
            resolve(&session, &[], &home, task.to_str().unwrap(), "handoff/x", false),
            Err(Refusal::Denied(_))
        ));

        // Neither a worktree link one end of which lies, nor a FIFO or a
        // huge file, nor a link planted in the way is followed.
        let liar = home.join("liar");
        std::fs::create_dir_all(&liar).unwrap();
        std::fs::write(liar.join(".git"), format!("gitdir: {}\n", repo.join(".git/worktrees/fix").display())).unwrap();
        assert_eq!(main_worktree(&liar), None, "the worktree's gitdir names another folder back");
        let fifo = task.join(".sinc/handoff/pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(matches!(read(&fifo), Err(Refusal::Failed(ref m)) if m.contains("not a regular file")));
        // A link planted in the way is not followed.
        std::fs::create_dir_all(repo.join(".sinc")).unwrap();
        std::os::unix::fs::symlink(&other, repo.join(".sinc/handoff")).unwrap();
        let linked = resolve(&session, &folders, &home, repo.to_str().unwrap(), "handoff/x.md", false);
        assert!(matches!(linked, Err(Refusal::Failed(ref m)) if m.contains("symbolic link")), "{linked:?}");
        assert!(std::fs::read_dir(&other).unwrap().next().is_none());
    }
}
