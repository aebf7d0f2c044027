//! Everything sync overwrites or deletes is kept here first, per session and
//! per side, bounded by size and age, so `sinc restore` can bring it back.
//!
//! Layout: `items/<id>` holds a kept file (a hard link to the replaced inode
//! when possible, else a copy); `index.jsonl` lists the items, one JSON
//! object per line, appended and synced before the original is touched.

use crate::clock::unix_secs as now;
use serde::{Deserialize, Serialize};
use sinc_sync_core::{Digest, Entry, RelPath};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why something was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Sync replaced it with the other side's version.
    Overwritten,
    /// Sync deleted it because the other side deleted it.
    Deleted,
    /// It lost a conflict (both sides changed it; the other version won).
    ConflictLoser,
    /// A restore put an older version in its place.
    Restored,
}

/// One kept version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrashItem {
    /// Unique id (also the file name under `items/`).
    pub id: String,
    /// The path it had in the synced folder.
    pub path: RelPath,
    /// What it was.
    pub entry: Entry,
    /// When it was kept, seconds since the epoch.
    pub time: u64,
    /// Why.
    pub reason: Reason,
}

impl TrashItem {
    /// Its content digest, for files.
    pub fn digest(&self) -> Option<Digest> {
        match self.entry {
            Entry::File { digest, .. } => Some(digest),
            _ => None,
        }
    }
}

/// Bounds of one trash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrashLimits {
    /// Total bytes kept before the oldest items are dropped.
    pub max_bytes: u64,
    /// Items older than this many days are dropped.
    pub max_age_days: u64,
}

impl Default for TrashLimits {
    fn default() -> TrashLimits {
        TrashLimits { max_bytes: 1 << 30, max_age_days: 30 }
    }
}

/// A trash folder.
#[derive(Debug)]
pub struct Trash {
    dir: PathBuf,
    limits: TrashLimits,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Trash {
    /// The trash in `dir` (created on first use).
    pub fn open(dir: &Path, limits: TrashLimits) -> Trash {
        Trash { dir: dir.to_path_buf(), limits }
    }

    fn items(&self) -> PathBuf {
        self.dir.join("items")
    }

    fn index(&self) -> PathBuf {
        self.dir.join("index.jsonl")
    }

    fn new_item(&self, path: &RelPath, entry: &Entry, reason: Reason) -> TrashItem {
        let nanos = crate::clock::since_epoch().as_nanos();
        let id = format!("{nanos}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        TrashItem { id, path: path.clone(), entry: entry.clone(), time: now(), reason }
    }

    fn record(&self, item: &TrashItem) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(item).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(self.index())?;
        f.write_all(&line)?;
        f.sync_data()
    }

    /// Keep the file or link at `abs` (which sync is about to replace): a hard
    /// link when possible, else a copy. The original stays in place.
    pub fn keep_copy(&self, abs: &Path, path: &RelPath, entry: &Entry, reason: Reason) -> std::io::Result<TrashItem> {
        std::fs::create_dir_all(self.items())?;
        let item = self.new_item(path, entry, reason);
        if let Entry::File { .. } = entry {
            let dest = self.items().join(&item.id);
            if std::fs::hard_link(abs, &dest).is_err() {
                std::fs::copy(abs, &dest)?;
            }
        }
        self.record(&item)?;
        Ok(item)
    }

    /// Move the file or link at `abs` (which sync is deleting) into the trash.
    pub fn keep_move(&self, abs: &Path, path: &RelPath, entry: &Entry, reason: Reason) -> std::io::Result<TrashItem> {
        std::fs::create_dir_all(self.items())?;
        let item = self.new_item(path, entry, reason);
        if let Entry::File { .. } = entry {
            let dest = self.items().join(&item.id);
            if std::fs::rename(abs, &dest).is_err() {
                std::fs::copy(abs, &dest)?;
            }
        }
        self.record(&item)?;
        if abs.symlink_metadata().is_ok() {
            std::fs::remove_file(abs)?;
        }
        Ok(item)
    }

    /// All kept items, oldest first (unreadable lines are skipped).
    pub fn list(&self) -> Vec<TrashItem> {
        let Ok(text) = std::fs::read_to_string(self.index()) else {
            return Vec::new();
        };
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// The kept versions of `path`, newest first.
    pub fn versions(&self, path: &RelPath) -> Vec<TrashItem> {
        let mut v: Vec<TrashItem> = self.list().into_iter().filter(|i| &i.path == path).collect();
        v.reverse();
        v
    }

    /// The item with `id`.
    pub fn find(&self, id: &str) -> Option<TrashItem> {
        self.list().into_iter().find(|i| i.id == id)
    }

    /// Where a kept file's content is.
    pub fn content(&self, item: &TrashItem) -> PathBuf {
        self.items().join(&item.id)
    }

    /// Drop items beyond the age and size limits, oldest first.
    pub fn prune(&self) -> std::io::Result<usize> {
        let items = self.list();
        let cutoff = now().saturating_sub(self.limits.max_age_days * 86_400);
        let mut total: u64 = items.iter().map(|i| i.entry.size()).sum();
        let mut keep = Vec::new();
        let mut dropped = 0;
        for item in items {
            if item.time < cutoff || total > self.limits.max_bytes {
                total -= item.entry.size();
                let _ = std::fs::remove_file(self.content(&item));
                dropped += 1;
            } else {
                keep.push(item);
            }
        }
        if dropped > 0 {
            let mut text = Vec::new();
            for item in &keep {
                text.extend(serde_json::to_vec(item).map_err(std::io::Error::other)?);
                text.push(b'\n');
            }
            crate::atomic_file::write(&self.index(), &text, 0o600)?;
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn file(size: u64) -> Entry {
        Entry::File { digest: Digest([1; 32]), size, exec: false }
    }

    #[test]
    fn copy_move_list_and_prune() {
        let work = tempfile::tempdir().unwrap();
        let trash = Trash::open(&work.path().join("trash"), TrashLimits { max_bytes: 11, max_age_days: 30 });
        let f = work.path().join("f");
        std::fs::write(&f, "v1").unwrap();
        let kept = trash.keep_copy(&f, &p("f"), &file(2), Reason::Overwritten).unwrap();
        // Sync replaces by renaming a new file over the old one.
        std::fs::write(work.path().join("new"), "v2-new").unwrap();
        std::fs::rename(work.path().join("new"), &f).unwrap();
        assert_eq!(
            std::fs::read(trash.content(&kept)).unwrap(),
            b"v1",
            "a hard link is replaced by rename, not rewritten"
        );
        let gone = trash.keep_move(&f, &p("f"), &file(6), Reason::Deleted).unwrap();
        assert!(!f.exists());
        assert_eq!(std::fs::read(trash.content(&gone)).unwrap(), b"v2-new");
        let versions = trash.versions(&p("f"));
        assert_eq!(versions.iter().map(|i| i.reason).collect::<Vec<_>>(), [Reason::Deleted, Reason::Overwritten]);
        // 2 + 6 bytes fit; a third item of 5 bytes pushes the oldest out.
        std::fs::write(&f, "12345").unwrap();
        trash.keep_move(&f, &p("g"), &file(5), Reason::Deleted).unwrap();
        assert_eq!(trash.prune().unwrap(), 1);
        assert_eq!(trash.list().len(), 2);
        assert!(!trash.content(&kept).exists());
    }
}
