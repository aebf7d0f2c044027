//! `sinc uninstall`: what is removed and what is kept on this machine, and
//! the script that does the VPS's part. Project folders are never in the
//! plan, except remote ones named one by one for `--purge-remote-files`; the
//! sync trash (previous versions of project files) is kept unless
//! `--purge-trash`.

use crate::paths::Dirs;
use crate::remote::install::REMOTE_BIN_DIR;
use crate::transport::quote;
use std::path::{Path, PathBuf};

/// The trash's folder inside the data folder (both sides).
pub const TRASH: &str = "trash";

/// The systemd user unit that runs the VPS daemon, where one is installed.
pub const SYSTEMD_UNIT: &str = "sinc-daemon.service";

/// One folder to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// What it holds, for the question.
    pub what: &'static str,
    /// The folder.
    pub path: PathBuf,
    /// Entries of it that stay.
    pub except: Vec<&'static str>,
}

/// What stays, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The folder.
    pub path: PathBuf,
    /// Why.
    pub why: String,
}

/// This machine's part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalPlan {
    /// Folders to remove, each asked about.
    pub removals: Vec<Removal>,
    /// Folders that stay.
    pub kept: Vec<Kept>,
}

fn non_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some())
}

/// What to remove of sinc's folders in `dirs`; a folder holding one of
/// `projects` is kept whole.
pub fn local_plan(dirs: &Dirs, purge_trash: bool, projects: &[PathBuf]) -> LocalPlan {
    let trash = dirs.data.join(TRASH);
    let keep_trash = !purge_trash && non_empty_dir(&trash);
    let candidates = [
        ("the configuration (config.toml, plugins.lock)", &dirs.config, Vec::new()),
        ("sync state, keeper logs and sockets", &dirs.state, Vec::new()),
        ("caches (compiled plugins, hashes)", &dirs.cache, Vec::new()),
        (
            if purge_trash {
                "session records, installed plugins and their data, and the sync trash"
            } else {
                "session records, installed plugins and their data"
            },
            &dirs.data,
            if keep_trash { vec![TRASH] } else { Vec::new() },
        ),
    ];
    let mut plan = LocalPlan::default();
    for (what, path, except) in candidates {
        if !path.exists() {
            continue;
        }
        if let Some(project) = projects.iter().find(|p| p.starts_with(path)) {
            plan.kept.push(Kept { path: path.clone(), why: format!("it holds the project {}", project.display()) });
            continue;
        }
        plan.removals.push(Removal { what, path: path.clone(), except });
    }
    if keep_trash {
        plan.kept.push(Kept {
            path: trash,
            why: "previous versions of synced files (`sinc restore`); --purge-trash deletes them".into(),
        });
    }
    plan
}

/// Remove `removal`'s folder but for its exceptions.
pub fn remove(removal: &Removal) -> std::io::Result<()> {
    if removal.except.is_empty() {
        return match std::fs::remove_dir_all(&removal.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        };
    }
    for entry in std::fs::read_dir(&removal.path)? {
        let entry = entry?;
        if removal.except.iter().any(|e| entry.file_name() == *e) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// What the VPS's part did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteOutcome {
    /// A running daemon was stopped.
    pub daemon_stopped: bool,
    /// The systemd unit was disabled and removed.
    pub unit_removed: bool,
    /// Folders removed.
    pub removed: Vec<String>,
    /// Folders kept, with why.
    pub kept: Vec<(String, String)>,
    /// Project folders deleted (`--purge-remote-files`).
    pub purged: Vec<String>,
}

/// The script for the VPS: stop the daemon, remove its unit, binary, state
/// and caches (not the trash unless `purge_trash`), and delete exactly the
/// folders in `purge`. A sinc folder that holds one of `projects` is kept.
pub fn remote_script(projects: &[String], purge: &[String], purge_trash: bool) -> String {
    let list = |paths: &[String]| paths.iter().map(|p| quote::remote_path(p)).collect::<Vec<_>>().join(" ");
    quote::sh_script(&format!(
        "BIN={REMOTE_BIN_DIR}
DATA=\"${{XDG_DATA_HOME:-$HOME/.local/share}}/sincronizado\"
STATE=\"${{XDG_STATE_HOME:-$HOME/.local/state}}/sincronizado\"
CACHE=\"${{XDG_CACHE_HOME:-$HOME/.cache}}/sincronizado\"
UNIT=\"${{XDG_CONFIG_HOME:-$HOME/.config}}/systemd/user/{SYSTEMD_UNIT}\"
if [ -f \"$UNIT\" ]; then
  systemctl --user disable --now {SYSTEMD_UNIT} >/dev/null 2>&1
  rm -f \"$UNIT\" && echo unit
  systemctl --user daemon-reload >/dev/null 2>&1
fi
if [ -x \"$BIN/sinc\" ] && \"$BIN/sinc\" daemon --stop -q; then echo daemon; fi
for P in {purge}; do
  if [ -e \"$P\" ]; then rm -rf -- \"$P\" && printf 'purged %s\\n' \"$P\"; fi
done
holds_project() {{
  for P in {projects}; do case \"$P/\" in \"$1\"/*) return 0;; esac; done
  return 1
}}
for D in \"$DATA\" \"$STATE\" \"$CACHE\" ${{XDG_RUNTIME_DIR:+\"$XDG_RUNTIME_DIR/sincronizado\"}}; do
  [ -d \"$D\" ] || continue
  if holds_project \"$D\"; then printf 'kept %s\\tit holds a project folder\\n' \"$D\"; continue; fi
  if [ \"$D\" = \"$DATA\" ] && [ {keep_trash} = yes ] && [ -n \"$(ls -A \"$D/{TRASH}\" 2>/dev/null)\" ]; then
    find \"$D\" -mindepth 1 -maxdepth 1 ! -name {TRASH} -exec rm -rf -- {{}} +
    printf 'removed %s\\n' \"$D\"
    printf 'kept %s\\tprevious versions of synced files; --purge-trash deletes them\\n' \"$D/{TRASH}\"
  else
    rm -rf -- \"$D\" && printf 'removed %s\\n' \"$D\"
  fi
done
",
        purge = list(purge),
        projects = list(projects),
        keep_trash = if purge_trash { "no" } else { "yes" },
    ))
}

/// Read what [`remote_script`] printed.
pub fn parse_remote(text: &str) -> RemoteOutcome {
    let mut out = RemoteOutcome::default();
    for line in text.lines() {
        match line.split_once(' ') {
            _ if line == "daemon" => out.daemon_stopped = true,
            _ if line == "unit" => out.unit_removed = true,
            Some(("removed", p)) => out.removed.push(p.to_owned()),
            Some(("purged", p)) => out.purged.push(p.to_owned()),
            Some(("kept", rest)) => {
                let (p, why) = rest.split_once('\t').unwrap_or((rest, ""));
                out.kept.push((p.to_owned(), why.to_owned()));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs_with_trash(root: &Path, trash_file: bool) -> Dirs {
        let dirs = Dirs::under(root);
        for d in [&dirs.config, &dirs.state, &dirs.cache, &dirs.data.join("plugins")] {
            std::fs::create_dir_all(d).unwrap();
        }
        if trash_file {
            std::fs::create_dir_all(dirs.data.join("trash/s1")).unwrap();
            std::fs::write(dirs.data.join("trash/s1/old.rs"), "fn main() {}").unwrap();
        }
        dirs
    }

    #[test]
    fn the_trash_stays_unless_purged() {
        let root = tempfile::tempdir().unwrap();
        let dirs = dirs_with_trash(root.path(), true);
        let plan = local_plan(&dirs, false, &[]);
        assert_eq!(plan.removals.len(), 4);
        let data = plan.removals.iter().find(|r| r.path == dirs.data).unwrap();
        assert_eq!(data.except, vec![TRASH]);
        assert_eq!(plan.kept.len(), 1);
        for r in &plan.removals {
            remove(r).unwrap();
        }
        assert!(dirs.data.join("trash/s1/old.rs").exists());
        assert!(!dirs.data.join("plugins").exists());
        assert!(!dirs.config.exists() && !dirs.state.exists() && !dirs.cache.exists());

        let purge = local_plan(&dirs, true, &[]);
        assert!(purge.kept.is_empty());
        for r in &purge.removals {
            remove(r).unwrap();
        }
        assert!(!dirs.data.exists());
    }

    #[test]
    fn a_folder_holding_a_project_is_kept_whole() {
        let root = tempfile::tempdir().unwrap();
        let dirs = dirs_with_trash(root.path(), false);
        let project = dirs.data.join("my-project");
        let plan = local_plan(&dirs, false, std::slice::from_ref(&project));
        assert!(plan.removals.iter().all(|r| r.path != dirs.data));
        assert!(plan.kept.iter().any(|k| k.path == dirs.data && k.why.contains("my-project")));
    }

    #[test]
    fn the_remote_script_keeps_projects_and_the_trash() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        for d in [".local/share/sincronizado/bin", ".local/share/sincronizado/trash/s1", ".local/state/sincronizado"] {
            std::fs::create_dir_all(h.join(d)).unwrap();
        }
        std::fs::write(h.join(".local/share/sincronizado/trash/s1/x"), "old").unwrap();
        std::fs::create_dir_all(h.join(".cache/sincronizado/projects-inside/p")).unwrap();
        std::fs::create_dir_all(h.join("work/a")).unwrap();
        std::fs::create_dir_all(h.join("work/b")).unwrap();
        let projects =
            vec!["~/work/a".to_owned(), "~/work/b".to_owned(), "~/.cache/sincronizado/projects-inside/p".into()];
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(remote_script(&projects, &["~/work/b".to_owned()], false))
            .env("HOME", h)
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_RUNTIME_DIR")
            .output()
            .unwrap();
        let outcome = parse_remote(&String::from_utf8_lossy(&out.stdout));
        assert!(h.join("work/a").exists(), "project folders stay");
        assert!(!h.join("work/b").exists(), "the one named for purging goes");
        assert_eq!(outcome.purged.len(), 1);
        assert!(h.join(".local/share/sincronizado/trash/s1/x").exists());
        assert!(!h.join(".local/share/sincronizado/bin").exists());
        assert!(!h.join(".local/state/sincronizado").exists());
        assert!(h.join(".cache/sincronizado/projects-inside/p").exists(), "a sinc folder holding a project stays");
        assert_eq!(outcome.kept.len(), 2, "{outcome:?}");
        assert_eq!(outcome.removed.len(), 2, "{outcome:?}");
        assert!(!outcome.daemon_stopped && !outcome.unit_removed);
    }
}
