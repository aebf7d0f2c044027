//! An endpoint's view of its own tree: each path's entry plus the file-system
//! metadata it was computed from, so an unchanged file is never hashed twice
//! (also across restarts: the index is saved and reloaded).

use serde::{Deserialize, Serialize};
use sinc_sync_core::{Entry, RelPath, TreeView};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The metadata that says whether a path may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Status-change time, ns since the epoch (catches chmod and restored mtimes).
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
    /// Mode bits including the file type.
    pub mode: u32,
}

impl Stat {
    /// From `lstat` metadata.
    pub fn of(meta: &std::fs::Metadata) -> Stat {
        Stat {
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            ino: meta.ino(),
            mode: meta.mode(),
        }
    }
}

/// One indexed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// What sync knows about it.
    pub entry: Entry,
    /// The metadata it was computed from.
    pub stat: Stat,
}

/// Path → node for one tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    nodes: BTreeMap<RelPath, Node>,
}

impl FromIterator<(RelPath, Node)> for Index {
    fn from_iter<I: IntoIterator<Item = (RelPath, Node)>>(iter: I) -> Index {
        Index { nodes: iter.into_iter().collect() }
    }
}

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    nodes: Vec<(RelPath, Node)>,
}

/// `Saved`, borrowed (the same bytes).
#[derive(Serialize)]
struct SavedRef<'a> {
    format: u32,
    nodes: Vec<(&'a RelPath, &'a Node)>,
}

impl Index {
    /// The node at `path`.
    pub fn get(&self, path: &RelPath) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// The node at `path` with the path as this index holds it (a clone of
    /// it shares its text).
    pub fn get_key_value(&self, path: &RelPath) -> Option<(&RelPath, &Node)> {
        self.nodes.get_key_value(path)
    }

    /// Set the node at `path`; returns whether its entry changed.
    pub fn set(&mut self, path: RelPath, node: Node) -> bool {
        let changed = self.nodes.get(&path).map(|n| &n.entry) != Some(&node.entry);
        self.nodes.insert(path, node);
        changed
    }

    /// Remove `path` and everything under it; returns the removed paths.
    pub fn remove_tree(&mut self, path: &RelPath) -> Vec<RelPath> {
        let gone: Vec<RelPath> = self.subtree(path).map(|(p, _)| p.clone()).collect();
        for p in &gone {
            self.nodes.remove(p);
        }
        gone
    }

    /// `path` and everything under it, parents first.
    pub fn subtree<'a>(&'a self, path: &'a RelPath) -> impl Iterator<Item = (&'a RelPath, &'a Node)> + 'a {
        self.nodes.range(path.clone()..).take_while(move |(p, _)| p.starts_with(path))
    }

    /// The direct children of folder `path`.
    pub fn children<'a>(&'a self, path: &'a RelPath) -> impl Iterator<Item = &'a RelPath> + 'a {
        let depth = path.depth() + 1;
        self.subtree(path).map(|(p, _)| p).filter(move |p| p.depth() == depth)
    }

    /// Every path and node, parents first.
    pub fn iter(&self) -> impl Iterator<Item = (&RelPath, &Node)> {
        self.nodes.iter()
    }

    /// Rebuild the map with full nodes when it grew enough since it had
    /// `packed_len` paths (see [`crate::memory::repack_if_grown`]).
    pub fn repack_if_grown(&mut self, packed_len: &mut usize) -> bool {
        crate::memory::repack_if_grown(&mut self.nodes, packed_len)
    }

    /// Number of paths.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Files and total bytes.
    pub fn totals(&self) -> (usize, u64) {
        self.nodes.values().fold((0, 0), |(n, b), node| match node.entry {
            Entry::File { size, .. } => (n + 1, b + size),
            _ => (n, b),
        })
    }

    /// Save to `path` (compressed, atomically replaced).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        Index::write_encoded(path, &self.encode()?)
    }

    /// The saved form before compression: the quick part of saving, done
    /// while the index cannot change (no copy of the nodes is made).
    pub fn encode(&self) -> std::io::Result<Vec<u8>> {
        let saved = SavedRef { format: FORMAT, nodes: self.nodes.iter().collect() };
        postcard::to_stdvec(&saved).map_err(std::io::Error::other)
    }

    /// Compress and write what [`Index::encode`] produced: the slow part,
    /// done without holding up the index.
    pub fn write_encoded(path: &Path, encoded: &[u8]) -> std::io::Result<()> {
        let packed = zstd::bulk::compress(encoded, 3)?;
        crate::atomic_file::write(path, &packed, 0o600)
    }

    /// Load from `path`; `None` when missing or unreadable (then a full scan
    /// rebuilds it).
    pub fn load(path: &Path) -> Option<Index> {
        let packed = std::fs::read(path).ok()?;
        let bytes = zstd::stream::decode_all(&packed[..]).ok()?;
        let saved: Saved = postcard::from_bytes(&bytes).ok()?;
        (saved.format == FORMAT).then(|| Index { nodes: saved.nodes.into_iter().collect() })
    }
}

impl TreeView for Index {
    fn get(&self, path: &RelPath) -> Option<&Entry> {
        self.nodes.get(path).map(|n| &n.entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn node(entry: Entry) -> Node {
        Node { entry, stat: Stat { size: 0, mtime_ns: 0, ctime_ns: 0, ino: 0, mode: 0 } }
    }

    #[test]
    fn subtrees_children_and_persistence() {
        let mut i = Index::default();
        for d in ["a", "a/b", "a-c"] {
            i.set(p(d), node(Entry::Dir));
        }
        i.set(p("a/b/f"), node(Entry::Symlink { target: "x".into() }));
        assert_eq!(i.children(&p("a")).cloned().collect::<Vec<_>>(), vec![p("a/b")]);
        assert_eq!(i.children(&RelPath::root()).count(), 2);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("index");
        i.save(&file).unwrap();
        assert_eq!(Index::load(&file), Some(i.clone()));
        let mut repacked = i.clone();
        let mut packed_len = 0;
        repacked.repack_if_grown(&mut packed_len);
        assert_eq!(repacked, i);
        assert_eq!(i.remove_tree(&p("a")), vec![p("a"), p("a/b"), p("a/b/f")]);
        assert_eq!(i.len(), 1);
        std::fs::write(&file, b"garbage").unwrap();
        assert_eq!(Index::load(&file), None);
    }
}
