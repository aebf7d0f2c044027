//! Reading the tree on disk into the index: a full walk (reusing digests of
//! files whose metadata did not change) and targeted rescans of the paths a
//! watcher reported, proportional to what changed.

use super::ignore::{IgnoreRules, TEMP_PREFIX};
use super::index::{Index, Node, Stat};
use sinc_sync_core::{Digest, Entry, RelPath};
use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// Something the scan skipped and the user should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The path (lossy for names that are not UTF-8).
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Reads one sync root.
#[derive(Debug)]
pub struct Scanner<'a> {
    root: &'a Path,
    rules: &'a IgnoreRules,
    /// Paths that were skipped, with the reason (reported as warnings).
    pub skipped: Vec<Skipped>,
    /// sinc's own temporary files met during a walk (left by an interrupted
    /// transfer, or being written now).
    pub temp_files: Vec<PathBuf>,
}

/// What one walk found: entries, skipped paths, sinc's temporary files.
type Scanned = (Vec<(RelPath, Node)>, Vec<Skipped>, Vec<PathBuf>);

/// A file that kept changing while it was hashed.
const HASH_ATTEMPTS: usize = 3;

impl<'a> Scanner<'a> {
    /// A scanner for `root` with `rules`.
    pub fn new(root: &'a Path, rules: &'a IgnoreRules) -> Scanner<'a> {
        Scanner { root, rules, skipped: Vec::new(), temp_files: Vec::new() }
    }

    fn abs(&self, rel: &RelPath) -> PathBuf {
        if rel.is_root() { self.root.to_path_buf() } else { self.root.join(rel.as_str()) }
    }

    /// Walk the whole tree. Digests are reused from `previous` for files whose
    /// metadata is unchanged.
    pub fn scan_all(&mut self, previous: &Index) -> std::io::Result<Index> {
        let mut found = Vec::with_capacity(previous.len());
        let folders = self.visit(&RelPath::root(), previous, &mut found)?;
        // The folders under the root are walked on every core: a scan
        // spends its time in `stat`, which the kernel serves in parallel.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        let (root, rules) = (self.root, self.rules);
        let walked: Vec<std::io::Result<Scanned>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut scanner = Scanner::new(root, rules);
                        let mut out = Vec::new();
                        while let Some(dir) = folders.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                            scanner.walk(dir, previous, &mut out)?;
                        }
                        Ok((out, scanner.skipped, scanner.temp_files))
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
        for result in walked {
            let (out, skipped, temp_files) = result?;
            found.extend(out);
            self.skipped.extend(skipped);
            self.temp_files.extend(temp_files);
        }
        Ok(found.into_iter().collect())
    }

    /// Look at the entries of `dir` and the folders under it.
    fn walk(&mut self, dir: &RelPath, previous: &Index, out: &mut Vec<(RelPath, Node)>) -> std::io::Result<()> {
        for folder in self.visit(dir, previous, out)? {
            self.walk(&folder, previous, out)?;
        }
        Ok(())
    }

    /// Look at the entries of `dir` (into `out`); returns its folders.
    fn visit(
        &mut self,
        dir: &RelPath,
        previous: &Index,
        out: &mut Vec<(RelPath, Node)>,
    ) -> std::io::Result<Vec<RelPath>> {
        let abs = self.abs(dir);
        let read = match std::fs::read_dir(&abs) {
            Ok(r) => r,
            Err(e) if dir.is_root() => return Err(e),
            Err(e) => {
                self.skip(&abs, &format!("cannot list: {e}"));
                return Ok(Vec::new());
            }
        };
        let mut names: Vec<(RelPath, PathBuf, Option<std::fs::Metadata>)> = Vec::new();
        for item in read.flatten() {
            let name = item.file_name();
            let Some(name_str) = name.to_str() else {
                self.skip(&item.path(), "the name is not valid UTF-8");
                continue;
            };
            if name_str.starts_with(TEMP_PREFIX) {
                self.temp_files.push(item.path());
                continue;
            }
            let Ok(rel) = dir.join(name_str) else {
                self.skip(&item.path(), "the name cannot be synced");
                continue;
            };
            // Paths travel in Unicode NFC. Where the file system does not
            // find a decomposed name by its composed form (Linux), syncing it
            // would duplicate it: skip it and say how to fix it.
            if rel.name() != name_str && !same_file(&item.path(), &self.abs(&rel)) {
                self.skip(
                    &item.path(),
                    "the name is not in Unicode NFC form; rename it (e.g. `convmv -f utf8 -t utf8 --nfc`) to sync it",
                );
                continue;
            }
            // Looked up relative to the open folder: no walk of the full path.
            let meta = item.metadata().ok();
            names.push((rel, item.path(), meta));
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let mut last: Option<RelPath> = None;
        let mut folders = Vec::new();
        for (rel, path, meta) in names {
            if last.as_ref() == Some(&rel) {
                self.skip(&path, "another name in this folder differs only in Unicode normalisation");
                continue;
            }
            // A path the previous index knew keeps its text (so a rescan
            // does not copy every path of the tree again).
            let known = previous.get_key_value(&rel);
            let rel = known.map_or(rel, |(held, _)| held.clone());
            last = Some(rel.clone());
            if let Some(node) = self.probe_at(&rel, &path, known.map(|(_, n)| n), meta)? {
                if node.entry.is_dir() {
                    folders.push(rel.clone());
                }
                out.push((rel, node));
            }
        }
        Ok(folders)
    }

    /// Look at one path; `None` when it is absent, ignored, or not syncable.
    pub fn probe(&mut self, rel: &RelPath, previous: Option<&Node>) -> std::io::Result<Option<Node>> {
        let path = self.abs(rel);
        self.probe_at(rel, &path, previous, None)
    }

    /// `known` is fresh `lstat` metadata of `path` when the caller has it.
    fn probe_at(
        &mut self,
        rel: &RelPath,
        path: &Path,
        previous: Option<&Node>,
        mut known: Option<std::fs::Metadata>,
    ) -> std::io::Result<Option<Node>> {
        for _ in 0..HASH_ATTEMPTS {
            let meta = match known.take().map_or_else(|| std::fs::symlink_metadata(path), Ok) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    self.skip(path, &format!("cannot read: {e}"));
                    return Ok(None);
                }
            };
            let ft = meta.file_type();
            if self.rules.is_ignored(rel, ft.is_dir()) {
                return Ok(None);
            }
            let stat = Stat::of(&meta);
            if ft.is_dir() {
                return Ok(Some(Node { entry: Entry::Dir, stat }));
            }
            if ft.is_symlink() {
                let target = std::fs::read_link(path)?;
                return Ok(match link_inside_root(rel, &target) {
                    Some(t) => Some(Node { entry: Entry::Symlink { target: t }, stat }),
                    None => {
                        self.skip(
                            path,
                            &format!("symlink to {} points outside the synced folder; not followed", target.display()),
                        );
                        None
                    }
                });
            }
            if !ft.is_file() {
                let kind = if ft.is_fifo() {
                    "a FIFO"
                } else if ft.is_socket() {
                    "a socket"
                } else {
                    "a device"
                };
                self.skip(path, &format!("{kind} cannot be synced"));
                return Ok(None);
            }
            let exec = meta.mode() & 0o111 != 0;
            if let Some(prev) = previous
                && prev.stat == stat
                && let Entry::File { digest, size, .. } = prev.entry
            {
                return Ok(Some(Node { entry: Entry::File { digest, size, exec }, stat }));
            }
            let digest = match hash_file(path) {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    self.skip(path, &format!("cannot read: {e}"));
                    return Ok(None);
                }
            };
            // Only trust the digest if the file did not change while hashing.
            match std::fs::symlink_metadata(path) {
                Ok(after) if Stat::of(&after) == stat => {
                    return Ok(Some(Node { entry: Entry::File { digest, size: stat.size, exec }, stat }));
                }
                Ok(_) => continue,
                Err(_) => return Ok(None),
            }
        }
        self.skip(path, "kept changing while it was read; will retry on its next change");
        Ok(None)
    }

    /// Rescan `paths` (reported by a watcher) and update `index`. Returns the
    /// paths whose entry changed (added, modified, removed).
    pub fn rescan(&mut self, index: &mut Index, paths: &BTreeSet<RelPath>) -> std::io::Result<BTreeSet<RelPath>> {
        let mut changed = BTreeSet::new();
        for path in paths {
            if path.is_root() {
                self.reconcile_children(&RelPath::root(), index, &mut changed)?;
                continue;
            }
            // A path inside a folder that is gone or ignored is handled there.
            if path.ancestors().any(|a| !a.is_root() && index.get(&a).is_none_or(|n| !n.entry.is_dir())) {
                let parent_missing = path.ancestors().filter(|a| !a.is_root()).any(|a| !self.abs(&a).is_dir());
                if parent_missing {
                    changed.extend(index.remove_tree(path));
                    continue;
                }
            }
            let previous = index.get(path).cloned();
            match self.probe(path, previous.as_ref())? {
                None => {
                    let gone = index.remove_tree(path);
                    // Still on disk: ignored or not syncable now, not deleted.
                    if std::fs::symlink_metadata(self.abs(path)).is_err() {
                        changed.extend(gone);
                    }
                }
                Some(node) => {
                    let is_dir = node.entry.is_dir();
                    let was_dir = previous.as_ref().is_some_and(|p| p.entry.is_dir());
                    if !is_dir && was_dir {
                        changed.extend(index.remove_tree(path));
                    }
                    if index.set(path.clone(), node) {
                        changed.insert(path.clone());
                    }
                    if is_dir {
                        self.reconcile_children(path, index, &mut changed)?;
                    }
                }
            }
        }
        Ok(changed)
    }

    /// Make the index's children of `dir` match the disk: drop the gone ones,
    /// scan new ones (a folder moved in arrives with its contents).
    fn reconcile_children(
        &mut self,
        dir: &RelPath,
        index: &mut Index,
        changed: &mut BTreeSet<RelPath>,
    ) -> std::io::Result<()> {
        let mut on_disk: BTreeSet<RelPath> = BTreeSet::new();
        if let Ok(read) = std::fs::read_dir(self.abs(dir)) {
            for item in read.flatten() {
                if let Some(rel) = item.file_name().to_str().and_then(|n| dir.join(n).ok()) {
                    on_disk.insert(rel);
                }
            }
        }
        let known: Vec<RelPath> = index.children(dir).cloned().collect();
        for child in &known {
            if !on_disk.contains(child) {
                changed.extend(index.remove_tree(child));
            }
        }
        for child in on_disk {
            if index.get(&child).is_some() {
                continue;
            }
            let empty = Index::default();
            if let Some(node) = self.probe(&child, None)? {
                let is_dir = node.entry.is_dir();
                index.set(child.clone(), node);
                changed.insert(child.clone());
                if is_dir {
                    let mut sub = Vec::new();
                    self.walk(&child, &empty, &mut sub)?;
                    for (p, n) in sub {
                        changed.insert(p.clone());
                        index.set(p, n);
                    }
                }
            }
        }
        Ok(())
    }

    fn skip(&mut self, path: &Path, reason: &str) {
        let rel = path.strip_prefix(self.root).unwrap_or(path).to_string_lossy().into_owned();
        tracing::warn!("skipping {rel}: {reason}");
        self.skipped.push(Skipped { path: rel, reason: reason.to_owned() });
    }
}

/// Whether two paths name the same file (same device and inode).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::symlink_metadata(a), std::fs::symlink_metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// BLAKE3 of a file, streamed.
pub fn hash_file(path: &Path) -> std::io::Result<Digest> {
    thread_local! {
        // One read buffer per scanning thread, not one zeroed per file.
        static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 256 * 1024]);
    }
    let mut hasher = blake3::Hasher::new();
    let mut file = std::fs::File::open(path)?;
    BUFFER.with_borrow_mut(|buf| {
        loop {
            let n = file.read(buf)?;
            if n == 0 {
                return Ok(Digest(*hasher.finalize().as_bytes()));
            }
            hasher.update(&buf[..n]);
        }
    })
}

/// The link target as stored, if following it from the link's folder stays
/// inside the root (an absolute target never does).
fn link_inside_root(link: &RelPath, target: &Path) -> Option<String> {
    if target.is_absolute() {
        return None;
    }
    let text = target.to_str()?.to_owned();
    let mut depth = link.depth().checked_sub(1)?;
    for c in target.components() {
        match c {
            Component::ParentDir => depth = depth.checked_sub(1)?,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::ignore::IgnoreSpec;
    use std::os::unix::fs::PermissionsExt;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn rules(root: &Path) -> IgnoreRules {
        IgnoreRules::load(root, &IgnoreSpec::default()).unwrap()
    }

    #[test]
    fn full_scan_kinds_exec_links_and_ignores() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/HEAD"), "x").unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
        std::fs::write(root.join("run.sh"), "#!/bin/sh").unwrap();
        std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("../main.rs", root.join("src/deep/link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("outside")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("src/escape")).unwrap();
        let r = rules(root);
        let mut s = Scanner::new(root, &r);
        let idx = s.scan_all(&Index::default()).unwrap();
        let paths: Vec<&str> = idx.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["run.sh", "src", "src/deep", "src/deep/link", "src/main.rs"]);
        assert!(matches!(idx.get(&p("run.sh")).unwrap().entry, Entry::File { exec: true, .. }));
        assert!(matches!(idx.get(&p("src/main.rs")).unwrap().entry, Entry::File { exec: false, size: 12, .. }));
        assert_eq!(s.skipped.len(), 2, "{:?}", s.skipped);
    }

    #[test]
    fn unchanged_files_are_not_rehashed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "one").unwrap();
        let r = rules(dir.path());
        let first = Scanner::new(dir.path(), &r).scan_all(&Index::default()).unwrap();
        // A forged previous digest with the same stat is trusted: proof of reuse.
        let mut forged = first.clone();
        let mut node = forged.get(&p("f")).unwrap().clone();
        node.entry = Entry::File { digest: Digest([9; 32]), size: 3, exec: false };
        forged.set(p("f"), node);
        let again = Scanner::new(dir.path(), &r).scan_all(&forged).unwrap();
        assert_eq!(again.get(&p("f")).unwrap().entry, forged.get(&p("f")).unwrap().entry);
        // The path keeps the previous index's copy of its text.
        let (held, _) = forged.get_key_value(&p("f")).unwrap();
        assert!(again.get_key_value(&p("f")).unwrap().0.shares_text_with(held));
    }

    #[test]
    fn rescan_sees_edits_deletes_and_moved_in_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("a")).unwrap();
        std::fs::write(root.join("a/x"), "1").unwrap();
        std::fs::write(root.join("y"), "1").unwrap();
        let r = rules(root);
        let mut index = Scanner::new(root, &r).scan_all(&Index::default()).unwrap();

        std::fs::write(root.join("y"), "2").unwrap();
        std::fs::remove_dir_all(root.join("a")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(outside.path().join("m/n")).unwrap();
        std::fs::write(outside.path().join("m/n/z"), "z").unwrap();
        std::fs::rename(outside.path().join("m"), root.join("m")).unwrap();

        let events: BTreeSet<RelPath> = [p("y"), p("a"), p("m")].into();
        let changed = Scanner::new(root, &r).rescan(&mut index, &events).unwrap();
        let changed: Vec<&str> = changed.iter().map(RelPath::as_str).collect();
        assert_eq!(changed, ["a", "a/x", "m", "m/n", "m/n/z", "y"]);
        assert!(index.get(&p("m/n/z")).is_some());
        assert!(index.get(&p("a/x")).is_none());
        // Nothing changed: nothing reported.
        assert!(Scanner::new(root, &r).rescan(&mut index, &events).unwrap().is_empty());
    }

    #[test]
    fn links_inside_and_outside() {
        assert_eq!(link_inside_root(&p("a/l"), Path::new("../b")), Some("../b".into()));
        assert_eq!(link_inside_root(&p("a/l"), Path::new("../../b")), None);
        assert_eq!(link_inside_root(&p("l"), Path::new("x/../y")), Some("x/../y".into()));
        assert_eq!(link_inside_root(&p("l"), Path::new("/abs")), None);
    }
}
