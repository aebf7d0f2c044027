//! What `sinc doctor` learns about this machine: the inotify limit and how
//! many folders the project would watch, free disk space, and Tailscale.

use super::remote_probe::Disk;
use crate::sync::watch::WATCH_LIMIT_FILE;
use crate::tailnet::TailscaleNode;
use std::path::Path;

/// This machine's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFacts {
    /// `fs.inotify.max_user_watches` (`None` off Linux or unreadable).
    pub watch_limit: Option<u64>,
    /// Folders under the project (each takes one watch).
    pub folders: u64,
    /// The file system the project is on.
    pub disk: Option<Disk>,
    /// Tailscale here, if installed.
    pub tailscale: Option<TailscaleNode>,
}

/// Folders under `root`, itself included (symbolic links not followed).
pub fn count_folders(root: &Path) -> u64 {
    ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .follow_links(false)
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_dir()))
        .count() as u64
}

/// Free and total space of the file system holding `path`.
pub fn disk_of(path: &Path) -> Option<Disk> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    let unit = s.fragment_size();
    Some(Disk { free: s.blocks_available() * unit, total: s.blocks() * unit })
}

/// Everything, for the project at `project_dir`.
pub async fn gather(project_dir: &Path) -> LocalFacts {
    let dir = project_dir.to_path_buf();
    let counted = tokio::task::spawn_blocking(move || (count_folders(&dir), disk_of(&dir)));
    let tailscale = crate::tailnet::local_status().await;
    let (folders, disk) = counted.await.unwrap_or((0, None));
    LocalFacts {
        watch_limit: std::fs::read_to_string(WATCH_LIMIT_FILE).ok().and_then(|t| t.trim().parse().ok()),
        folders,
        disk,
        tailscale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_folders_including_hidden_and_ignored_ones() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a/b", ".git/objects", "node_modules/x"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join(".gitignore"), "node_modules\n").unwrap();
        std::fs::write(dir.path().join("a/file"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("link")).unwrap();
        assert_eq!(count_folders(dir.path()), 7);
        assert!(disk_of(dir.path()).is_some_and(|d| d.total >= d.free && d.total > 0));
    }
}
