//! The last state both sides agreed on, kept by the laptop's keeper so that a
//! restart (or a crash at any moment) never invents conflicts or re-transfers
//! unchanged files.
//!
//! Stored as a compressed snapshot plus an append-only journal of changes
//! (each batch synced to disk before it counts); the journal is folded into a
//! new snapshot when it grows. A torn last journal line is ignored: the change
//! it described is rediscovered as "both sides already equal".

use serde::{Deserialize, Serialize};
use sinc_sync_core::{Entry, RelPath, TreeView};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Journal lines before the snapshot is rewritten.
const COMPACT_AFTER: usize = 10_000;

/// The persisted ancestor.
#[derive(Debug)]
pub struct Ancestor {
    entries: BTreeMap<RelPath, Entry>,
    dir: PathBuf,
    journal_lines: usize,
    /// The number of entries when the map was last built with full nodes.
    packed_len: usize,
    /// The remote change sequence this state includes (to ask the daemon only
    /// for what came after).
    pub remote_cursor: Option<(u64, u64)>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    entries: Vec<(RelPath, Entry)>,
    remote_cursor: Option<(u64, u64)>,
}

#[derive(Serialize, Deserialize)]
enum Record {
    Set(RelPath, Entry),
    Remove(RelPath),
    Cursor(u64, u64),
}

impl Ancestor {
    /// Load from `dir` (empty when nothing was saved yet).
    pub fn open(dir: &Path) -> std::io::Result<Ancestor> {
        std::fs::create_dir_all(dir)?;
        let mut a = Ancestor {
            entries: BTreeMap::new(),
            dir: dir.to_path_buf(),
            journal_lines: 0,
            packed_len: 0,
            remote_cursor: None,
        };
        if let Ok(packed) = std::fs::read(a.snapshot_path()) {
            let bytes = zstd::stream::decode_all(&packed[..])?;
            let snap: Snapshot = postcard::from_bytes(&bytes).map_err(std::io::Error::other)?;
            a.entries = snap.entries.into_iter().collect();
            a.packed_len = a.entries.len();
            a.remote_cursor = snap.remote_cursor;
        }
        if let Ok(f) = std::fs::File::open(a.journal_path()) {
            for line in std::io::BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                let Ok(record) = serde_json::from_str::<Record>(&line) else {
                    break;
                };
                a.apply(record);
                a.journal_lines += 1;
            }
        }
        Ok(a)
    }

    fn snapshot_path(&self) -> PathBuf {
        self.dir.join("ancestor.snapshot")
    }

    fn journal_path(&self) -> PathBuf {
        self.dir.join("ancestor.journal")
    }

    fn apply(&mut self, record: Record) {
        match record {
            Record::Set(p, e) => {
                self.entries.insert(p, e);
            }
            Record::Remove(p) => {
                self.entries.remove(&p);
            }
            Record::Cursor(epoch, seq) => self.remote_cursor = Some((epoch, seq)),
        }
    }

    /// Record changes (and optionally the remote cursor) durably.
    pub fn update(&mut self, changes: &[(RelPath, Option<Entry>)], cursor: Option<(u64, u64)>) -> std::io::Result<()> {
        if changes.is_empty() && cursor.is_none_or(|c| Some(c) == self.remote_cursor) {
            return Ok(());
        }
        let mut out = Vec::new();
        let mut records: Vec<Record> = changes
            .iter()
            .map(|(p, e)| match e {
                Some(e) => Record::Set(p.clone(), e.clone()),
                None => Record::Remove(p.clone()),
            })
            .collect();
        if let Some((e, s)) = cursor {
            records.push(Record::Cursor(e, s));
        }
        for r in &records {
            out.extend(serde_json::to_vec(r).map_err(std::io::Error::other)?);
            out.push(b'\n');
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(self.journal_path())?;
        f.write_all(&out)?;
        f.sync_data()?;
        self.journal_lines += records.len();
        for r in records {
            self.apply(r);
        }
        if self.journal_lines > COMPACT_AFTER {
            self.compact()?;
        }
        Ok(())
    }

    /// Fold the journal into a fresh snapshot.
    pub fn compact(&mut self) -> std::io::Result<()> {
        let snap = Snapshot {
            entries: self.entries.iter().map(|(p, e)| (p.clone(), e.clone())).collect(),
            remote_cursor: self.remote_cursor,
        };
        let bytes = postcard::to_stdvec(&snap).map_err(std::io::Error::other)?;
        crate::atomic_file::write(&self.snapshot_path(), &zstd::bulk::compress(&bytes, 3)?, 0o600)?;
        std::fs::write(self.journal_path(), b"")?;
        self.journal_lines = 0;
        Ok(())
    }

    /// Forget everything (a new pairing of the two folders).
    pub fn reset(&mut self) -> std::io::Result<()> {
        self.entries.clear();
        self.remote_cursor = None;
        self.compact()
    }

    /// All agreed entries.
    pub fn entries(&self) -> &BTreeMap<RelPath, Entry> {
        &self.entries
    }

    /// Hold each path's text once with `held` (another map's paths, in
    /// order): after a restart the ancestor and the index name the same
    /// files, each loaded on its own.
    pub fn share_paths<'a>(&mut self, held: impl IntoIterator<Item = &'a RelPath>) {
        let mut held = held.into_iter().peekable();
        self.entries = std::mem::take(&mut self.entries)
            .into_iter()
            .map(|(path, entry)| {
                while held.next_if(|h| **h < path).is_some() {}
                match held.next_if(|h| **h == path) {
                    Some(h) => (h.clone(), entry),
                    None => (path, entry),
                }
            })
            .collect();
        self.packed_len = self.entries.len();
    }

    /// Rebuild the map with full nodes when it grew enough since it last
    /// was (see [`crate::memory::repack_if_grown`]).
    pub fn repack_if_grown(&mut self) -> bool {
        crate::memory::repack_if_grown(&mut self.entries, &mut self.packed_len)
    }

    /// Number of agreed entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is agreed yet (first sync).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl TreeView for Ancestor {
    fn get(&self, path: &RelPath) -> Option<&Entry> {
        self.entries.get(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    #[test]
    fn survives_restarts_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Ancestor::open(dir.path()).unwrap();
        a.update(&[(p("a"), Some(Entry::Dir)), (p("a/l"), Some(Entry::Symlink { target: "x".into() }))], Some((7, 3)))
            .unwrap();
        a.update(&[(p("a/l"), None)], None).unwrap();
        drop(a);
        // A crash in the middle of a write leaves half a line.
        let mut j = std::fs::OpenOptions::new().append(true).open(dir.path().join("ancestor.journal")).unwrap();
        j.write_all(b"{\"Set\":[\"b\",").unwrap();
        let mut a = Ancestor::open(dir.path()).unwrap();
        assert_eq!(a.entries().keys().cloned().collect::<Vec<_>>(), vec![p("a")]);
        assert_eq!(a.remote_cursor, Some((7, 3)));
        a.compact().unwrap();
        let a = Ancestor::open(dir.path()).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a.remote_cursor, Some((7, 3)));
    }

    #[test]
    fn shares_the_text_of_paths_held_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Ancestor::open(dir.path()).unwrap();
        let file = Entry::Symlink { target: "t".into() };
        a.update(&[(p("a"), Some(Entry::Dir)), (p("a/x"), Some(file.clone())), (p("c"), Some(Entry::Dir))], None)
            .unwrap();
        let before = a.entries().clone();
        let held = [p("0"), p("a"), p("a/w"), p("a/x"), p("b")];
        a.share_paths(&held);
        assert_eq!(a.entries(), &before);
        let keys: Vec<&RelPath> = a.entries().keys().collect();
        assert!(keys[0].shares_text_with(&held[1]));
        assert!(keys[1].shares_text_with(&held[3]));
        assert!(!keys[2].shares_text_with(&held[4]), "c is held nowhere else");
    }
}
