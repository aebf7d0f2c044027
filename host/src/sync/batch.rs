//! Changes applied together: the staged content of a batch is made durable
//! with one flush, then every change is applied in order under one lock of
//! the endpoint. Transfers of many small files (a first sync, a branch
//! switch) spend their time here, not in a flush and a thread hop per file.

use super::apply::{ApplyError, Staged, Transition, sync_all};
use super::endpoint::Endpoint;
use sinc_sync_core::{Entry, RelPath};

/// One change to apply.
#[derive(Debug)]
pub enum Change {
    /// Make `path` hold `new` (`staged` carries a file's new content; none
    /// when only the executable bit changes, or for folders and links).
    Put {
        /// Where.
        path: RelPath,
        /// What must be there now.
        expected: Option<Entry>,
        /// What it becomes.
        new: Entry,
        /// A file's new content.
        staged: Option<Staged>,
        /// Whether the replaced version lost a conflict.
        loser: bool,
    },
    /// Remove `path`, which must hold `expected`.
    Remove {
        /// Where.
        path: RelPath,
        /// What must be there now.
        expected: Entry,
        /// Whether the removed version lost a conflict.
        loser: bool,
    },
}

impl Change {
    /// The path it changes.
    pub fn path(&self) -> &RelPath {
        match self {
            Change::Put { path, .. } | Change::Remove { path, .. } => path,
        }
    }
}

/// A change that was refused: why, and what the path holds now.
pub type Refused = (ApplyError, Option<Entry>);

/// Apply `changes` in order; one result per change.
pub fn apply(ep: &mut Endpoint, mut changes: Vec<Change>) -> Vec<Result<(), Refused>> {
    let mut t = ep.transition();
    // Modes are part of what must be durable; a failure here is reported by
    // the change's own apply below.
    for change in &mut changes {
        if let Change::Put { path, expected, new: Entry::File { exec, .. }, staged: Some(staged), .. } = change {
            let _ = t.prepare(path, expected.as_ref(), *exec, staged);
        }
    }
    sync_all(changes.iter_mut().filter_map(|c| match c {
        Change::Put { staged: Some(s), .. } => Some(s),
        _ => None,
    }));
    changes
        .into_iter()
        .map(|change| {
            let path = change.path().clone();
            apply_one(&mut t, change).map_err(|e| (e, t.index.get(&path).map(|n| n.entry.clone())))
        })
        .collect()
}

fn apply_one(t: &mut Transition<'_>, change: Change) -> Result<(), ApplyError> {
    match change {
        Change::Remove { path, expected, loser } => t.remove(&path, &expected, loser),
        Change::Put { path, expected, new, staged, loser } => match (&new, staged) {
            (Entry::Dir, _) => t.put_dir(&path),
            (Entry::Symlink { .. }, _) => t.put_symlink(&path, expected.as_ref(), &new, loser),
            (Entry::File { .. }, Some(staged)) => t.put_file(&path, expected.as_ref(), &new, staged, loser),
            (Entry::File { .. }, None) => match &expected {
                Some(old) => t.set_exec(&path, old, &new),
                None => Err(ApplyError::Corrupt { path: path.clone() }),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::apply::StageWriter;
    use crate::sync::endpoint::EndpointConfig;
    use crate::sync::ignore::IgnoreSpec;
    use crate::sync::trash::TrashLimits;
    use sinc_sync_core::Digest;
    use std::os::unix::fs::PermissionsExt;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn staged(root: &std::path::Path, rel: &RelPath, data: &[u8]) -> (Staged, Entry) {
        let mut w = StageWriter::create(root, rel).unwrap();
        w.write(data).unwrap();
        let entry = Entry::File { digest: Digest(*blake3::hash(data).as_bytes()), size: data.len() as u64, exec: true };
        (w.finish().unwrap(), entry)
    }

    fn endpoint(dir: &std::path::Path) -> Endpoint {
        Endpoint::open(EndpointConfig {
            root: dir.join("root"),
            ignore: IgnoreSpec::default(),
            state_dir: dir.join("state"),
            trash_dir: dir.join("trash"),
            trash_limits: TrashLimits::default(),
        })
        .unwrap()
    }

    #[test]
    fn a_batch_creates_folders_before_the_files_staged_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("taken"), "someone else's").unwrap();
        let mut ep = endpoint(dir.path());
        // Staged while `a/b` does not exist yet: the content waits in the root.
        let (inner, inner_entry) = staged(&root, &p("a/b/f"), b"inner");
        let (clash, clash_entry) = staged(&root, &p("taken"), b"mine");
        let changes = vec![
            Change::Put { path: p("a"), expected: None, new: Entry::Dir, staged: None, loser: false },
            Change::Put { path: p("a/b"), expected: None, new: Entry::Dir, staged: None, loser: false },
            Change::Put { path: p("a/b/f"), expected: None, new: inner_entry, staged: Some(inner), loser: false },
            Change::Put { path: p("taken"), expected: None, new: clash_entry, staged: Some(clash), loser: false },
        ];
        let results = apply(&mut ep, changes);
        assert!(results[..3].iter().all(Result::is_ok), "{results:?}");
        assert_eq!(std::fs::read(root.join("a/b/f")).unwrap(), b"inner");
        assert!(std::fs::metadata(root.join("a/b/f")).unwrap().permissions().mode() & 0o111 != 0);
        // The unexpected file is refused, reported with what is there now,
        // and left alone; no temporary file remains.
        assert!(matches!(&results[3], Err((ApplyError::Changed { .. }, Some(Entry::File { size: 14, .. })))));
        assert_eq!(std::fs::read(root.join("taken")).unwrap(), b"someone else's");
        let leftovers: Vec<_> = ["", "a", "a/b"]
            .iter()
            .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap().flatten())
            .filter(|e| e.file_name().to_string_lossy().starts_with(crate::sync::ignore::TEMP_PREFIX))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_file_or_link_becoming_a_folder_in_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::fs::write(root.join("a"), "a file").unwrap();
        std::os::unix::fs::symlink("real", root.join("l")).unwrap();
        let mut ep = endpoint(dir.path());
        let old_a = ep.index().get(&p("a")).unwrap().entry.clone();
        let old_l = ep.index().get(&p("l")).unwrap().entry.clone();
        // Staged while `a` is a file and `l` a link to a folder: neither may
        // hold the content (nor lead it into `real/`).
        let (in_a, in_a_entry) = staged(&root, &p("a/f"), b"in a");
        let (in_l, in_l_entry) = staged(&root, &p("l/f"), b"in l");
        let put_dir =
            |path: &str| Change::Put { path: p(path), expected: None, new: Entry::Dir, staged: None, loser: false };
        let changes = vec![
            Change::Remove { path: p("a"), expected: old_a, loser: false },
            put_dir("a"),
            Change::Put { path: p("a/f"), expected: None, new: in_a_entry, staged: Some(in_a), loser: false },
            Change::Remove { path: p("l"), expected: old_l, loser: false },
            put_dir("l"),
            Change::Put { path: p("l/f"), expected: None, new: in_l_entry, staged: Some(in_l), loser: false },
        ];
        let results = apply(&mut ep, changes);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(std::fs::read(root.join("a/f")).unwrap(), b"in a");
        assert_eq!(std::fs::read(root.join("l/f")).unwrap(), b"in l");
        assert!(std::fs::symlink_metadata(root.join("l")).unwrap().is_dir());
        assert_eq!(std::fs::read_dir(root.join("real")).unwrap().count(), 0, "nothing went through the old link");
    }
}
