//! Finding and reading a project's source files: walked as ripgrep walks
//! (each folder's `.gitignore` — also outside a git repository, since
//! `.git` is not synced — `.ignore` and sinc's `.syncignore`; hidden files
//! and build and dependency folders skipped), each file read again only
//! when its size or modification time changed since the last scan.

use crate::outline::{Language, Outline, outline};
use ignore::WalkBuilder;
use ignore::gitignore::Gitignore;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Folders never mapped: dependencies and build output.
pub const SKIPPED_FOLDERS: [&str; 6] = ["node_modules", "target", "vendor", "dist", "__pycache__", "venv"];

/// Files larger than this are generated or data, not mapped.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// A file as last read.
#[derive(Debug)]
struct Cached {
    len: u64,
    modified: Option<SystemTime>,
    outline: Outline,
}

/// One project's files, remembered between scans.
#[derive(Debug)]
pub struct Scanner {
    root: PathBuf,
    cache: HashMap<String, Cached>,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The mapped files in path order (`/`-separated, relative) with their
    /// outlines.
    pub files: Vec<(String, Outline)>,
    /// Source files found beyond the `max_files` limit.
    pub unread: usize,
    /// Files read this time (the rest came from the last scan).
    pub read: usize,
}

impl Scanner {
    /// A scanner for the project at `root`.
    pub fn new(root: &Path) -> Scanner {
        Scanner { root: root.to_path_buf(), cache: HashMap::new() }
    }

    /// Walk the project; read at most `max_files` source files, leaving out
    /// what `excluded` matches.
    pub fn scan(&mut self, max_files: usize, excluded: &Gitignore) -> Scan {
        let mut scan = Scan::default();
        let mut seen = HashMap::new();
        for (rel, path, language) in self.sources(excluded) {
            if scan.files.len() >= max_files {
                scan.unread += 1;
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if meta.len() > MAX_FILE_BYTES {
                continue;
            }
            let modified = meta.modified().ok();
            let cached = self.cache.remove(&rel).filter(|c| c.len == meta.len() && c.modified == modified);
            let entry = match cached {
                Some(c) => c,
                None => {
                    let Ok(bytes) = std::fs::read(&path) else { continue };
                    scan.read += 1;
                    Cached { len: meta.len(), modified, outline: outline(language, &String::from_utf8_lossy(&bytes)) }
                }
            };
            scan.files.push((rel.clone(), entry.outline.clone()));
            seen.insert(rel, entry);
        }
        self.cache = seen;
        scan
    }

    /// The project's source files in path order: relative path, full path,
    /// language.
    fn sources(&self, excluded: &Gitignore) -> Vec<(String, PathBuf, Language)> {
        let root = self.root.clone();
        let excluded = excluded.clone();
        let walk = WalkBuilder::new(&self.root)
            .hidden(true)
            .parents(false)
            .git_global(false)
            .git_exclude(false)
            .require_git(false)
            .add_custom_ignore_filename(".syncignore")
            .sort_by_file_path(Path::cmp)
            .filter_entry(move |e| {
                let is_dir = e.file_type().is_some_and(|t| t.is_dir());
                let skipped = is_dir && e.depth() > 0 && SKIPPED_FOLDERS.iter().any(|s| e.file_name() == *s);
                !skipped && !excluded.matched(e.path(), is_dir).is_ignore()
            })
            .build();
        walk.filter_map(Result::ok)
            .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
            .filter_map(|e| {
                let rel = e.path().strip_prefix(&root).ok()?.to_str()?.replace('\\', "/");
                let language = Language::of(&rel)?;
                (!rel.contains(char::is_control)).then(|| (rel, e.path().to_path_buf(), language))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let path = dir.path().join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        };
        write("src/main.rs", "//! Entry.\nfn main() {}\n");
        write("src/lib/util.py", "def helper():\n    pass\n");
        write("web/app.ts", "export function start() {}\n");
        write("web/node_modules/dep/index.js", "function dep() {}\n");
        write("target/debug/build.rs", "fn generated() {}\n");
        write(".hidden/secret.rs", "fn hidden() {}\n");
        write("generated/api.go", "package api\nfunc Gen() {}\n");
        write("ignored_by_git.rs", "fn x() {}\n");
        write(".gitignore", "ignored_by_git.rs\n");
        write(".syncignore", "local-only/\n");
        write("local-only/x.rs", "fn y() {}\n");
        write("README.md", "# Readme\n");
        dir
    }

    fn nothing_excluded() -> Gitignore {
        Gitignore::empty()
    }

    #[test]
    fn source_files_are_found_as_ripgrep_would_and_outlined() {
        let dir = project();
        let mut scanner = Scanner::new(dir.path());
        let scan = scanner.scan(100, &nothing_excluded());
        let paths: Vec<&str> = scan.files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["generated/api.go", "src/lib/util.py", "src/main.rs", "web/app.ts"]);
        assert_eq!((scan.read, scan.unread), (4, 0));
        assert_eq!(scan.files[2].1.description.as_deref(), Some("Entry."));
        assert_eq!(scan.files[3].1.defs[0].name, "start");
    }

    #[test]
    fn only_changed_files_are_read_again() {
        let dir = project();
        let mut scanner = Scanner::new(dir.path());
        scanner.scan(100, &nothing_excluded());
        let again = scanner.scan(100, &nothing_excluded());
        assert_eq!((again.read, again.files.len()), (0, 4));
        fs::write(dir.path().join("src/main.rs"), "//! Entry point.\nfn main() {}\nfn more() {}\n").unwrap();
        fs::remove_file(dir.path().join("web/app.ts")).unwrap();
        let changed = scanner.scan(100, &nothing_excluded());
        assert_eq!((changed.read, changed.files.len()), (1, 3));
        assert_eq!(changed.files[2].1.defs.len(), 2);
    }

    #[test]
    fn limits_and_exclusions_apply() {
        let dir = project();
        let mut scanner = Scanner::new(dir.path());
        let scan = scanner.scan(2, &nothing_excluded());
        assert_eq!((scan.files.len(), scan.unread), (2, 2));
        let settings = crate::settings::Settings::parse(r#"{"exclude": ["generated/", "*.py"]}"#).unwrap();
        let excluded = settings.excluded(&dir.path().to_string_lossy()).unwrap();
        let scan = scanner.scan(100, &excluded);
        let paths: Vec<&str> = scan.files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["src/main.rs", "web/app.ts"]);
    }
}
