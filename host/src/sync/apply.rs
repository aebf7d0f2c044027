//! Changing one side's tree, safely: new content is written to a temporary
//! file next to its target and renamed into place (a partial file is never
//! visible under the real name); before anything is replaced or removed the
//! path is checked against what was scanned (type, size, times, inode), and
//! whatever is replaced or removed is kept in the trash first.

use super::ignore::{IgnoreRules, TEMP_PREFIX};
use super::index::{Index, Node, Stat};
use super::trash::{Reason, Trash};
use sinc_sync_core::{Digest, Entry, RelPath};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a step was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The path no longer holds what the plan expected (it changed after it
    /// was scanned): nothing was touched; the next scan reports the change.
    #[error("{path} changed since it was scanned; left alone")]
    Changed {
        /// The path.
        path: RelPath,
    },
    /// The path is ignored on this side: sync never writes or deletes it.
    #[error("{path} is ignored on this side; left alone")]
    Ignored {
        /// The path.
        path: RelPath,
    },
    /// A folder to remove still holds files sync does not track.
    #[error("{path} still holds untracked or ignored files; the folder was left in place")]
    NotEmpty {
        /// The path.
        path: RelPath,
    },
    /// Another name differing only in case exists and this file system does
    /// not tell them apart.
    #[error("{path} clashes with {existing} on this case-insensitive file system; neither was touched")]
    CaseClash {
        /// The path.
        path: RelPath,
        /// The name already there.
        existing: String,
    },
    /// The received content does not match its digest.
    #[error("the content received for {path} was damaged in transit (digest mismatch)")]
    Corrupt {
        /// The path.
        path: RelPath,
    },
    /// A file-system error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: RelPath,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// New content being written next to its target.
#[derive(Debug)]
pub struct StageWriter {
    temp: PathBuf,
    file: Option<std::fs::File>,
    hasher: blake3::Hasher,
    size: u64,
}

/// Where content for a folder that does not exist yet was last staged (see
/// [`StageWriter::create_near`]).
#[derive(Debug, Default)]
pub struct StagingHint {
    /// The missing folder, and the ancestor its files' content is staged in.
    missing: Option<(RelPath, RelPath)>,
}

/// Content fully written, waiting to be made durable and renamed into place.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    /// The staged file, open until it is renamed into place (what the index
    /// records of it is then asked of the handle, not of the path).
    file: std::fs::File,
    /// Whether its content is known to be on disk.
    durable: bool,
    /// The executable bit its mode was given, once `prepare`d.
    exec: Option<bool>,
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_name() -> String {
    // Asked once: each ask is a system call.
    static PID: std::sync::LazyLock<u32> = std::sync::LazyLock::new(std::process::id);
    format!("{TEMP_PREFIX}{}-{}", *PID, TEMP_COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl StageWriter {
    /// Start writing new content for `rel` under `root`.
    /// Content is staged in the target's folder, or, when that is not a
    /// folder yet (an earlier change of the same batch creates it, possibly
    /// replacing a file or a link), in its nearest ancestor that is one:
    /// always on the target's file system, never through a link.
    pub fn create(root: &Path, rel: &RelPath) -> std::io::Result<StageWriter> {
        StageWriter::create_near(root, rel, &mut StagingHint::default())
    }

    /// [`StageWriter::create`] for a stream of files: while a target's folder
    /// does not exist yet (an earlier change of the batch creates it), `hint`
    /// remembers the ancestor its content is staged in, so its next files
    /// (a transfer sends a folder's files together) check that one folder
    /// instead of walking up the tree again.
    pub fn create_near(root: &Path, rel: &RelPath, hint: &mut StagingHint) -> std::io::Result<StageWriter> {
        let parent = rel.parent().unwrap_or_else(RelPath::root);
        let is_dir = |dir: &RelPath| std::fs::symlink_metadata(abs(root, dir)).is_ok_and(|m| m.is_dir());
        if let Some((missing, ancestor)) = hint.missing.take()
            && missing == parent
            && is_dir(&ancestor)
        {
            let writer = StageWriter::open_in(root, &ancestor)?;
            hint.missing = Some((missing, ancestor));
            return Ok(writer);
        }
        let mut dir = parent.clone();
        while !dir.is_root() && !is_dir(&dir) {
            dir = dir.parent().unwrap_or_else(RelPath::root);
        }
        let writer = StageWriter::open_in(root, &dir)?;
        if dir != parent {
            hint.missing = Some((parent, dir));
        }
        Ok(writer)
    }

    fn open_in(root: &Path, dir: &RelPath) -> std::io::Result<StageWriter> {
        let temp = abs(root, dir).join(temp_name());
        let file = OpenOptions::new().write(true).create_new(true).mode(0o666).open(&temp)?;
        Ok(StageWriter { temp, file: Some(file), hasher: blake3::Hasher::new(), size: 0 })
    }

    /// Append bytes.
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.hasher.update(data);
        self.size += data.len() as u64;
        match &mut self.file {
            Some(f) => f.write_all(data),
            None => Err(std::io::Error::other("stage already finished")),
        }
    }

    /// The staged content (not yet durable: [`Staged::sync`] or
    /// [`sync_all`] does that, and `put_file` makes sure of it).
    pub fn finish(mut self) -> std::io::Result<Staged> {
        let file = self.file.take().ok_or_else(|| std::io::Error::other("stage already finished"))?;
        let temp = std::mem::take(&mut self.temp);
        let digest = Digest(*self.hasher.finalize().as_bytes());
        Ok(Staged { temp, file, durable: false, exec: None, digest, size: self.size })
    }
}

impl Staged {
    /// Make the content durable (a no-op once done).
    pub fn sync(&mut self) -> std::io::Result<()> {
        if !self.durable {
            self.file.sync_all()?;
            self.durable = true;
        }
        Ok(())
    }
}

/// Make many staged files durable at once: on Linux one `syncfs` per file
/// system they are on (one journal commit instead of one per file), except
/// on FUSE, which does not pass `syncfs` on; elsewhere a `fsync` each. Files
/// that fail stay unsynced; `put_file` retries them alone.
pub fn sync_all<'a>(staged: impl IntoIterator<Item = &'a mut Staged>) {
    let pending: Vec<&mut Staged> = staged.into_iter().filter(|s| !s.durable).collect();
    #[cfg(target_os = "linux")]
    let pending = {
        use std::os::unix::fs::MetadataExt;
        let mut by_device: std::collections::HashMap<u64, Vec<&mut Staged>> = std::collections::HashMap::new();
        let mut alone = Vec::new();
        for s in pending {
            match s.file.metadata().ok().map(|m| m.dev()) {
                Some(dev) => by_device.entry(dev).or_default().push(s),
                None => alone.push(s),
            }
        }
        for (_, mut group) in by_device {
            let flushed = group.len() > 1 && {
                let f = &group[0].file;
                let fuse = nix::sys::statfs::fstatfs(f)
                    .is_ok_and(|st| st.filesystem_type() == nix::sys::statfs::FUSE_SUPER_MAGIC);
                !fuse && nix::unistd::syncfs(f).is_ok()
            };
            if flushed {
                for s in group.iter_mut() {
                    s.durable = true;
                }
            } else {
                alone.append(&mut group);
            }
        }
        alone
    };
    for s in pending {
        let _ = s.sync();
    }
}

impl std::io::Write for StageWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        StageWriter::write(self, buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for StageWriter {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Rename `from` to `to` unless `to` exists (then `Ok(false)`): atomically
/// where the system offers it (Linux's `RENAME_NOREPLACE`, with glibc or
/// musl; macOS's `RENAME_EXCL`), otherwise — and on file systems without
/// it — by looking just before a plain rename.
fn rename_unless_taken(from: &Path, to: &Path) -> std::io::Result<bool> {
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        use rustix::io::Errno;
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(true),
            Err(Errno::EXIST) => return Ok(false),
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if std::fs::symlink_metadata(to).is_ok() {
        return Ok(false);
    }
    std::fs::rename(from, to).map(|()| true)
}

fn abs(root: &Path, rel: &RelPath) -> PathBuf {
    if rel.is_root() { root.to_path_buf() } else { root.join(rel.as_str()) }
}

/// Applies steps to one side.
#[derive(Debug)]
pub struct Transition<'a> {
    /// The sync root.
    pub root: &'a Path,
    /// The side's index (updated as steps succeed).
    pub index: &'a mut Index,
    /// Where replaced and removed content goes.
    pub trash: &'a Trash,
    /// The side's ignore rules.
    pub rules: &'a IgnoreRules,
    /// Whether names differing only in case are the same file here.
    pub case_insensitive: bool,
}

impl Transition<'_> {
    fn io(path: &RelPath) -> impl FnOnce(std::io::Error) -> ApplyError + '_ {
        move |source| ApplyError::Io { path: path.clone(), source }
    }

    /// Check that `rel` holds `expected` now (per the index and a fresh lstat).
    pub fn check(&self, rel: &RelPath, expected: Option<&Entry>) -> Result<(), ApplyError> {
        self.check_not_ignored(rel, expected)?;
        let path = abs(self.root, rel);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(ApplyError::Io { path: rel.clone(), source: e });
            }
        };
        match (expected, meta) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(self.occupied(rel)),
            (Some(_), None) => Err(ApplyError::Changed { path: rel.clone() }),
            (Some(e), Some(meta)) => {
                let node = self.index.get(rel).ok_or_else(|| ApplyError::Changed { path: rel.clone() })?;
                let same_kind = match e {
                    Entry::Dir => meta.is_dir(),
                    Entry::File { .. } => meta.is_file(),
                    Entry::Symlink { .. } => meta.file_type().is_symlink(),
                };
                let unchanged = e.is_dir() || node.stat == Stat::of(&meta);
                if same_kind && &node.entry == e && unchanged {
                    Ok(())
                } else {
                    Err(ApplyError::Changed { path: rel.clone() })
                }
            }
        }
    }

    fn check_not_ignored(&self, rel: &RelPath, expected: Option<&Entry>) -> Result<(), ApplyError> {
        if self.rules.is_ignored(rel, expected.is_some_and(Entry::is_dir)) {
            return Err(ApplyError::Ignored { path: rel.clone() });
        }
        Ok(())
    }

    /// Why `rel`, expected absent, cannot be created: something is there.
    fn occupied(&self, rel: &RelPath) -> ApplyError {
        match self.case_twin(rel) {
            Some(existing) => ApplyError::CaseClash { path: rel.clone(), existing },
            None => ApplyError::Changed { path: rel.clone() },
        }
    }

    /// On a case-insensitive file system, the existing name that `rel` would
    /// collide with, when it differs from `rel` only in case.
    fn case_twin(&self, rel: &RelPath) -> Option<String> {
        if !self.case_insensitive {
            return None;
        }
        let parent = abs(self.root, &rel.parent()?);
        let wanted = rel.name().to_lowercase();
        std::fs::read_dir(parent)
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .find(|n| n.to_lowercase() == wanted && n != rel.name())
    }

    fn refresh(&mut self, rel: &RelPath, entry: Entry) -> Result<(), ApplyError> {
        let meta = std::fs::symlink_metadata(abs(self.root, rel)).map_err(Self::io(rel))?;
        self.index.set(rel.clone(), Node { entry, stat: Stat::of(&meta) });
        Ok(())
    }

    fn keep(&self, rel: &RelPath, old: &Entry, loser: bool, replacing: bool) -> Result<(), ApplyError> {
        let reason = match (loser, replacing) {
            (true, _) => Reason::ConflictLoser,
            (false, true) => Reason::Overwritten,
            (false, false) => Reason::Deleted,
        };
        let path = abs(self.root, rel);
        let kept = if replacing {
            self.trash.keep_copy(&path, rel, old, reason)
        } else {
            self.trash.keep_move(&path, rel, old, reason)
        };
        kept.map(|_| ()).map_err(Self::io(rel))
    }

    /// Make `rel` a folder (it must hold nothing now).
    pub fn put_dir(&mut self, rel: &RelPath) -> Result<(), ApplyError> {
        self.check_not_ignored(rel, Some(&Entry::Dir))?;
        // Creating a folder never replaces anything: no need to look first.
        match std::fs::create_dir(abs(self.root, rel)) {
            Ok(()) => self.refresh(rel, Entry::Dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(self.occupied(rel)),
            Err(e) => Err(ApplyError::Io { path: rel.clone(), source: e }),
        }
    }

    /// Rename staged content into place as `new` (a file entry).
    pub fn put_file(
        &mut self,
        rel: &RelPath,
        expected: Option<&Entry>,
        new: &Entry,
        staged: Staged,
        loser: bool,
    ) -> Result<(), ApplyError> {
        let Entry::File { digest, exec, .. } = new else {
            return Err(ApplyError::Corrupt { path: rel.clone() });
        };
        if staged.digest != *digest {
            return Err(ApplyError::Corrupt { path: rel.clone() });
        }
        // A new file is checked by the rename itself, which refuses to
        // replace anything that appeared meanwhile.
        match expected {
            None => self.check_not_ignored(rel, None)?,
            Some(_) => self.check(rel, expected)?,
        }
        let target = abs(self.root, rel);
        let mut staged = staged;
        self.prepare(rel, expected, *exec, &mut staged)?;
        staged.sync().map_err(Self::io(rel))?;
        if let Some(old) = expected {
            self.keep(rel, old, loser, true)?;
        }
        let temp = std::mem::take(&mut staged.temp);
        let renamed = match expected {
            None => rename_unless_taken(&temp, &target),
            Some(_) => std::fs::rename(&temp, &target).map(|()| true),
        };
        match renamed {
            // Our own file's status, through its handle: what is at the path
            // by now may already be someone else's. The handle is closed at
            // once (a file open for writing cannot be run).
            Ok(true) => {
                let meta = staged.file.metadata();
                drop(staged);
                let meta = meta.map_err(Self::io(rel))?;
                self.index.set(rel.clone(), Node { entry: new.clone(), stat: Stat::of(&meta) });
                Ok(())
            }
            Ok(false) => {
                let _ = std::fs::remove_file(&temp);
                Err(self.occupied(rel))
            }
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(ApplyError::Io { path: rel.clone(), source: e })
            }
        }
    }

    /// Give staged content its final mode (the current file's, or the
    /// default for new files, with `exec` applied) before it is made durable.
    pub fn prepare(
        &self,
        rel: &RelPath,
        expected: Option<&Entry>,
        exec: bool,
        staged: &mut Staged,
    ) -> Result<(), ApplyError> {
        if staged.exec == Some(exec) {
            return Ok(());
        }
        // The staged file's own mode, asked of its open handle (no path
        // lookup); a new file's usually needs no change at all.
        let current = staged.file.metadata().map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644);
        let base_mode = match expected {
            Some(Entry::File { .. }) => {
                std::fs::metadata(abs(self.root, rel)).map(|m| m.permissions().mode()).unwrap_or(0o644)
            }
            _ => current,
        };
        let wanted = with_exec(base_mode, exec) & 0o7777;
        if wanted != current {
            let mode = std::fs::Permissions::from_mode(wanted);
            staged.file.set_permissions(mode).map_err(Self::io(rel))?;
            // Made durable before (a batch's `sync_all` after an earlier
            // attempt failed): the new mode is not yet.
            staged.durable = false;
        }
        staged.exec = Some(exec);
        Ok(())
    }

    /// Change only the executable bit of a file whose content is current.
    pub fn set_exec(&mut self, rel: &RelPath, expected: &Entry, new: &Entry) -> Result<(), ApplyError> {
        let Entry::File { exec, .. } = new else {
            return Err(ApplyError::Corrupt { path: rel.clone() });
        };
        self.check(rel, Some(expected))?;
        let target = abs(self.root, rel);
        let mode = std::fs::metadata(&target).map_err(Self::io(rel))?.permissions().mode();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(with_exec(mode, *exec)))
            .map_err(Self::io(rel))?;
        self.refresh(rel, new.clone())
    }

    /// Make `rel` a symbolic link to `target`.
    pub fn put_symlink(
        &mut self,
        rel: &RelPath,
        expected: Option<&Entry>,
        new: &Entry,
        loser: bool,
    ) -> Result<(), ApplyError> {
        let Entry::Symlink { target } = new else {
            return Err(ApplyError::Corrupt { path: rel.clone() });
        };
        self.check(rel, expected)?;
        let dest = abs(self.root, rel);
        let temp = dest.with_file_name(temp_name());
        std::os::unix::fs::symlink(target, &temp).map_err(Self::io(rel))?;
        if let Some(old) = expected
            && let Err(e) = self.keep(rel, old, loser, true)
        {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        if let Err(e) = std::fs::rename(&temp, &dest) {
            let _ = std::fs::remove_file(&temp);
            return Err(ApplyError::Io { path: rel.clone(), source: e });
        }
        self.refresh(rel, new.clone())
    }

    /// Remove `rel`, which holds `expected` (files and links go to the trash;
    /// a folder must be empty).
    pub fn remove(&mut self, rel: &RelPath, expected: &Entry, loser: bool) -> Result<(), ApplyError> {
        self.check(rel, Some(expected))?;
        if expected.is_dir() {
            match std::fs::remove_dir(abs(self.root, rel)) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOTEMPTY) => {
                    return Err(ApplyError::NotEmpty { path: rel.clone() });
                }
                Err(e) => {
                    return Err(ApplyError::Io { path: rel.clone(), source: e });
                }
            }
        } else {
            self.keep(rel, expected, loser, false)?;
        }
        self.index.remove_tree(rel);
        Ok(())
    }
}

/// `mode` with execute bits set for whoever may read (or all cleared).
fn with_exec(mode: u32, exec: bool) -> u32 {
    let base = mode & 0o7777;
    if exec { base | ((base & 0o444) >> 2) } else { base & !0o111 }
}

/// Whether the file system at `dir` treats names differing only in case as
/// the same file (probed with a temporary file).
pub fn probe_case_insensitive(dir: &Path) -> bool {
    let lower = dir.join(format!("{}case-probe", temp_name()));
    let upper = dir.join(lower.file_name().map(|n| n.to_string_lossy().to_uppercase()).unwrap_or_default());
    if std::fs::write(&lower, b"").is_err() {
        return false;
    }
    let insensitive = upper.exists();
    let _ = std::fs::remove_file(&lower);
    insensitive
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::ignore::IgnoreSpec;
    use crate::sync::scan::Scanner;
    use crate::sync::trash::TrashLimits;

    #[test]
    fn a_new_name_is_never_renamed_over_what_appeared_there() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("staged"), dir.path().join("target"));
        std::fs::write(&from, "new").unwrap();
        std::fs::write(&to, "someone else's").unwrap();
        assert!(!rename_unless_taken(&from, &to).unwrap());
        assert_eq!(std::fs::read_to_string(&to).unwrap(), "someone else's");
        std::fs::remove_file(&to).unwrap();
        assert!(rename_unless_taken(&from, &to).unwrap());
        assert_eq!(std::fs::read_to_string(&to).unwrap(), "new");
        assert!(!from.exists());
    }

    #[test]
    fn staging_follows_the_hint_and_looks_again_when_its_folder_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let p = |s: &str| RelPath::new(s).unwrap();
        let staged_in = |w: &StageWriter| w.temp.parent().unwrap().to_path_buf();
        let mut hint = StagingHint::default();
        // `a/b` does not exist yet: its files are staged in the root, the
        // second without looking again, even once the folder exists.
        assert_eq!(staged_in(&StageWriter::create_near(root, &p("a/b/1"), &mut hint).unwrap()), root);
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        assert_eq!(staged_in(&StageWriter::create_near(root, &p("a/b/2"), &mut hint).unwrap()), root);
        // Another folder is looked up; when it goes away, it is looked up again.
        std::fs::create_dir(root.join("c")).unwrap();
        assert_eq!(staged_in(&StageWriter::create_near(root, &p("c/1"), &mut hint).unwrap()), root.join("c"));
        std::fs::remove_dir(root.join("c")).unwrap();
        assert_eq!(staged_in(&StageWriter::create_near(root, &p("c/2"), &mut hint).unwrap()), root);
        // Never through a link: a folder replaced by one is not staged in.
        std::fs::create_dir(root.join("d")).unwrap();
        std::mem::drop(StageWriter::create_near(root, &p("d/1"), &mut hint).unwrap());
        std::fs::remove_dir(root.join("d")).unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("d")).unwrap();
        assert_eq!(staged_in(&StageWriter::create_near(root, &p("d/2"), &mut hint).unwrap()), root);
    }

    struct Fx {
        dir: tempfile::TempDir,
        rules: IgnoreRules,
        trash: Trash,
        index: Index,
    }

    fn fx() -> Fx {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        let rules = IgnoreRules::load(&dir.path().join("root"), &IgnoreSpec::default()).unwrap();
        let trash = Trash::open(&dir.path().join("trash"), TrashLimits::default());
        Fx { dir, rules, trash, index: Index::default() }
    }

    impl Fx {
        fn root(&self) -> PathBuf {
            self.dir.path().join("root")
        }
        fn rescan(&mut self) {
            let root = self.root();
            self.index = Scanner::new(&root, &self.rules).scan_all(&Index::default()).unwrap();
        }
        fn t(&mut self) -> (PathBuf, Transition<'_>) {
            let root = self.root();
            let root_ref: &Path = Box::leak(root.clone().into_boxed_path());
            (
                root,
                Transition {
                    root: root_ref,
                    index: &mut self.index,
                    trash: &self.trash,
                    rules: &self.rules,
                    case_insensitive: false,
                },
            )
        }
    }

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn stage(root: &Path, rel: &RelPath, data: &[u8]) -> (Staged, Entry) {
        let mut w = StageWriter::create(root, rel).unwrap();
        w.write(data).unwrap();
        let s = w.finish().unwrap();
        let e = Entry::File { digest: s.digest, size: s.size, exec: false };
        (s, e)
    }

    #[test]
    fn replace_keeps_the_old_version_and_leaves_no_temp_files() {
        let mut f = fx();
        std::fs::write(f.root().join("a"), "old").unwrap();
        f.rescan();
        let old = f.index.get(&p("a")).unwrap().entry.clone();
        let (root, mut t) = f.t();
        let (staged, new) = stage(&root, &p("a"), b"new");
        t.put_file(&p("a"), Some(&old), &new, staged, false).unwrap();
        assert_eq!(std::fs::read(root.join("a")).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1, "no temp file left");
        let kept = f.trash.versions(&p("a"));
        assert_eq!(kept.len(), 1);
        assert_eq!(std::fs::read(f.trash.content(&kept[0])).unwrap(), b"old");
    }

    #[test]
    fn what_a_put_file_records_is_what_a_scan_sees() {
        // The status is read through the staged file's handle after the
        // rename (a rename changes its ctime): a rescan finds nothing new,
        // for a new file and for a replaced one with its mode kept.
        let mut f = fx();
        std::fs::write(f.root().join("old"), "old").unwrap();
        std::fs::set_permissions(f.root().join("old"), std::fs::Permissions::from_mode(0o751)).unwrap();
        f.rescan();
        let old = f.index.get(&p("old")).unwrap().entry.clone();
        let (root, mut t) = f.t();
        for (rel, expected) in [(p("new"), None), (p("old"), Some(&old))] {
            let (staged, entry) = stage(&root, &rel, b"content");
            let entry = match entry {
                Entry::File { digest, size, .. } => Entry::File { digest, size, exec: expected.is_some() },
                e => e,
            };
            t.put_file(&rel, expected, &entry, staged, false).unwrap();
        }
        let recorded = f.index.clone();
        f.rescan();
        assert_eq!(f.index, recorded);
        assert_eq!(std::fs::metadata(f.root().join("old")).unwrap().permissions().mode() & 0o777, 0o751);
    }

    #[test]
    fn a_mode_given_after_the_content_was_made_durable_is_made_durable_too() {
        // A batch makes its staged files durable after preparing them; one
        // whose preparing failed is prepared again by `put_file`, and the
        // mode it then gets must be synced as well.
        let mut f = fx();
        let (root, t) = f.t();
        let (mut staged, _) = stage(&root, &p("tool"), b"#!/bin/sh\n");
        sync_all([&mut staged]);
        assert!(staged.durable);
        t.prepare(&p("tool"), None, true, &mut staged).unwrap();
        assert!(!staged.durable, "the new mode is not durable yet");
        staged.sync().unwrap();
        assert!(staged.durable);
        // Preparing again changes nothing and needs no sync.
        t.prepare(&p("tool"), None, true, &mut staged).unwrap();
        assert!(staged.durable);
    }

    #[test]
    fn a_file_changed_after_the_scan_is_not_clobbered() {
        let mut f = fx();
        std::fs::write(f.root().join("a"), "scanned").unwrap();
        f.rescan();
        let old = f.index.get(&p("a")).unwrap().entry.clone();
        std::fs::write(f.root().join("a"), "edited after the scan").unwrap();
        let (root, mut t) = f.t();
        let (staged, new) = stage(&root, &p("a"), b"incoming");
        assert!(matches!(t.put_file(&p("a"), Some(&old), &new, staged, false), Err(ApplyError::Changed { .. })));
        assert_eq!(std::fs::read(root.join("a")).unwrap(), b"edited after the scan");
        assert!(matches!(t.remove(&p("a"), &old, false), Err(ApplyError::Changed { .. })));
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1, "the staged temp file is gone");
    }

    #[test]
    fn what_appeared_where_a_new_file_or_folder_goes_is_not_clobbered() {
        let mut f = fx();
        let (root, mut t) = f.t();
        let (staged, new) = stage(&root, &p("a"), b"incoming");
        std::fs::write(root.join("a"), "written meanwhile").unwrap();
        assert!(matches!(t.put_file(&p("a"), None, &new, staged, false), Err(ApplyError::Changed { .. })));
        assert_eq!(std::fs::read(root.join("a")).unwrap(), b"written meanwhile");
        assert!(matches!(t.put_dir(&p("a")), Err(ApplyError::Changed { .. })));
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1, "the staged temp file is gone");
        t.put_dir(&p("d")).unwrap();
        assert!(t.index.get(&p("d")).is_some_and(|n| n.entry.is_dir()));
    }

    #[test]
    fn remove_moves_to_trash_and_folders_must_be_empty() {
        let mut f = fx();
        std::fs::create_dir(f.root().join("d")).unwrap();
        std::fs::write(f.root().join("d/x"), "x").unwrap();
        std::fs::create_dir(f.root().join("d/.git")).unwrap();
        f.rescan();
        let x = f.index.get(&p("d/x")).unwrap().entry.clone();
        let (root, mut t) = f.t();
        t.remove(&p("d/x"), &x, false).unwrap();
        assert!(matches!(t.remove(&p("d"), &Entry::Dir, false), Err(ApplyError::NotEmpty { .. })));
        assert!(root.join("d/.git").exists(), "ignored content is never deleted");
        assert_eq!(f.trash.versions(&p("d/x"))[0].reason, Reason::Deleted);
    }

    #[test]
    fn ignored_paths_are_never_written() {
        let mut f = fx();
        let (root, mut t) = f.t();
        let (staged, new) = stage(&root, &p("x"), b"data");
        assert!(matches!(t.put_file(&p("node_modules"), None, &new, staged, false), Err(ApplyError::Ignored { .. })));
    }

    #[test]
    fn exec_bits_links_and_corruption() {
        let mut f = fx();
        let (root, mut t) = f.t();
        let (staged, mut new) = stage(&root, &p("run"), b"#!/bin/sh");
        if let Entry::File { exec, .. } = &mut new {
            *exec = true;
        }
        t.put_file(&p("run"), None, &new, staged, false).unwrap();
        assert_eq!(std::fs::metadata(root.join("run")).unwrap().permissions().mode() & 0o111, 0o111);
        let mut plain = new.clone();
        if let Entry::File { exec, .. } = &mut plain {
            *exec = false;
        }
        t.set_exec(&p("run"), &new, &plain).unwrap();
        assert_eq!(std::fs::metadata(root.join("run")).unwrap().permissions().mode() & 0o111, 0);
        t.put_symlink(&p("l"), None, &Entry::Symlink { target: "run".into() }, false).unwrap();
        assert_eq!(std::fs::read_link(root.join("l")).unwrap(), Path::new("run"));
        let (staged, _) = stage(&root, &p("c"), b"abc");
        let wrong = Entry::File { digest: Digest([0; 32]), size: 3, exec: false };
        assert!(matches!(t.put_file(&p("c"), None, &wrong, staged, false), Err(ApplyError::Corrupt { .. })));
        assert!(!root.join("c").exists());
    }

    #[test]
    fn case_only_clashes_are_refused_where_case_does_not_count() {
        let mut f = fx();
        std::fs::write(f.root().join("readme.md"), "lower").unwrap();
        f.rescan();
        // What a case-insensitive file system shows: the new name already
        // "exists", as the old file under another case.
        std::fs::write(f.root().join("README.md"), "lower").unwrap();
        let root = f.root();
        let root_ref: &Path = Box::leak(root.clone().into_boxed_path());
        let mut t = Transition {
            root: root_ref,
            index: &mut f.index,
            trash: &f.trash,
            rules: &f.rules,
            case_insensitive: true,
        };
        let (staged, new) = stage(&root, &p("README.md"), b"upper");
        match t.put_file(&p("README.md"), None, &new, staged, false) {
            Err(ApplyError::CaseClash { existing, .. }) => assert_eq!(existing, "readme.md"),
            other => panic!("expected a case clash, got {other:?}"),
        }
        assert_eq!(std::fs::read(root.join("readme.md")).unwrap(), b"lower", "nothing was clobbered");
        t.case_insensitive = false;
        assert!(t.case_twin(&p("README.md")).is_none(), "case-sensitive: no twin");
    }

    #[test]
    fn mode_helper() {
        assert_eq!(with_exec(0o100644, true), 0o755);
        assert_eq!(with_exec(0o600, true), 0o700);
        assert_eq!(with_exec(0o755, false), 0o644);
        assert!(!probe_case_insensitive(&std::env::temp_dir()), "tmpfs/ext4 are case-sensitive");
    }
}
