//! The keeper's record of conflicts: those still waiting for the user
//! (two-way-safe) and a bounded history of those resolved automatically, with
//! where the losing version is kept. Saved as JSON next to the ancestor.

use crate::clock::unix_secs as now;
use serde::{Deserialize, Serialize};
use sinc_sync_core::{Conflict, RelPath, Resolution};
use std::path::{Path, PathBuf};

/// History entries kept.
const HISTORY: usize = 200;

/// A conflict and when it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// The conflict.
    pub conflict: Conflict,
    /// When, seconds since the epoch.
    pub time: u64,
}

/// Unresolved conflicts and recent resolutions.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConflictStore {
    /// Waiting for the user, by path.
    pub unresolved: Vec<Recorded>,
    /// Resolved, newest last.
    pub history: Vec<Recorded>,
    #[serde(skip)]
    file: PathBuf,
}

impl ConflictStore {
    /// Load from `dir` (empty when missing or unreadable).
    pub fn open(dir: &Path) -> ConflictStore {
        let file = dir.join("conflicts.json");
        let mut store: ConflictStore =
            std::fs::read(&file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        store.file = file;
        store
    }

    fn save(&self) {
        match serde_json::to_vec_pretty(self) {
            Ok(bytes) => {
                if let Err(e) = crate::atomic_file::write(&self.file, &bytes, 0o600) {
                    tracing::warn!("could not save conflicts: {e}");
                }
            }
            Err(e) => tracing::warn!("could not save conflicts: {e}"),
        }
    }

    /// Take the conflicts found by a reconciliation.
    pub fn record(&mut self, found: &[Conflict]) {
        if found.is_empty() {
            return;
        }
        for c in found {
            self.unresolved.retain(|r| r.conflict.path != c.path);
            let rec = Recorded { conflict: c.clone(), time: now() };
            match c.resolution {
                Resolution::Unresolved => self.unresolved.push(rec),
                Resolution::Kept { .. } => self.history.push(rec),
            }
        }
        let excess = self.history.len().saturating_sub(HISTORY);
        self.history.drain(..excess);
        self.save();
    }

    /// Paths reconciled without a conflict are no longer conflicted.
    pub fn settle<'a>(&mut self, paths: impl IntoIterator<Item = &'a RelPath>) {
        let before = self.unresolved.len();
        for p in paths {
            self.unresolved.retain(|r| &r.conflict.path != p);
        }
        if self.unresolved.len() != before {
            self.save();
        }
    }

    /// Mark a conflict resolved by the user.
    pub fn resolved(&mut self, path: &RelPath, winner: sinc_sync_core::Side) {
        if let Some(i) = self.unresolved.iter().position(|r| &r.conflict.path == path) {
            let mut rec = self.unresolved.remove(i);
            rec.conflict.resolution = Resolution::Kept { winner };
            rec.time = now();
            self.history.push(rec);
            self.save();
        }
    }

    /// Whether `path` is an unresolved conflict (or inside one).
    pub fn is_unresolved(&self, path: &RelPath) -> bool {
        self.unresolved.iter().any(|r| path.starts_with(&r.conflict.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sinc_sync_core::{Entry, Side};

    #[test]
    fn record_resolve_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ConflictStore::open(dir.path());
        let c = Conflict {
            path: RelPath::new("a").unwrap(),
            ancestor: None,
            local: Some(Entry::Dir),
            remote: None,
            resolution: Resolution::Unresolved,
        };
        s.record(std::slice::from_ref(&c));
        assert!(s.is_unresolved(&RelPath::new("a/b").unwrap()));
        let s2 = ConflictStore::open(dir.path());
        assert_eq!(s2.unresolved.len(), 1);
        let mut s = s2;
        s.resolved(&c.path, Side::Remote);
        assert!(s.unresolved.is_empty());
        assert_eq!(s.history[0].conflict.resolution, Resolution::Kept { winner: Side::Remote });
    }
}
