//! Which paths sync leaves alone: the built-in list, the config's
//! `sync.ignore`, the project's `.syncignore`, and optionally every
//! `.gitignore` (`sync.use_gitignore`), all with gitignore semantics (the
//! `ignore` crate, as ripgrep uses). An ignored path is never read, written or
//! deleted by sync, on either side.

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde::{Deserialize, Serialize};
use sinc_sync_core::RelPath;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Ignored everywhere unless a `!pattern` re-includes them. The one definition
/// of the defaults (the docs show this list).
pub const DEFAULT_IGNORES: [&str; 5] = [".git", "node_modules", ".venv", "__pycache__", ".DS_Store"];

/// Prefix of the temporary files sync writes next to their targets; always
/// ignored so a half-written file is never synced.
pub const TEMP_PREFIX: &str = ".sinc-tmp-";

/// The project's own ignore file (gitignore syntax, at the sync root).
pub const SYNCIGNORE: &str = ".syncignore";

/// What to ignore, as configured (sent to the remote side so both use the
/// same rules).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoreSpec {
    /// `sync.ignore` patterns, after the defaults.
    pub patterns: Vec<String>,
    /// Whether `.gitignore` files apply too.
    pub use_gitignore: bool,
    /// Patterns nothing re-includes — no `!pattern`, `.syncignore` or
    /// `.gitignore` — checked before every other rule (the credentials of
    /// a plugin's sync folder).
    #[serde(default)]
    pub never: Vec<String>,
    /// The rules are exactly these: no `.syncignore` (a plugin's folder,
    /// whose rules the user accepted with the plugin).
    #[serde(default)]
    pub fixed: bool,
}

/// A pattern that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid ignore pattern in {source_name}: {message}")]
pub struct IgnoreError {
    /// Where the pattern came from.
    pub source_name: String,
    /// The parser's message.
    pub message: String,
}

/// The compiled rules for one sync root.
#[derive(Debug)]
pub struct IgnoreRules {
    root: PathBuf,
    never: Gitignore,
    base: Gitignore,
    nested: BTreeMap<RelPath, Gitignore>,
    use_gitignore: bool,
}

impl IgnoreRules {
    /// Compile the defaults, `spec` and the root's `.syncignore` (read now).
    pub fn load(root: &Path, spec: &IgnoreSpec) -> Result<IgnoreRules, IgnoreError> {
        let mut b = GitignoreBuilder::new(root);
        for p in DEFAULT_IGNORES {
            add_line(&mut b, p, "the built-in ignores")?;
        }
        add_line(&mut b, &format!("{TEMP_PREFIX}*"), "the built-in ignores")?;
        for p in &spec.patterns {
            add_line(&mut b, p, "sync.ignore")?;
        }
        if let Some(text) = (!spec.fixed).then(|| std::fs::read_to_string(root.join(SYNCIGNORE)).ok()).flatten() {
            for line in text.lines() {
                add_line(&mut b, line, SYNCIGNORE)?;
            }
        }
        let build = |b: GitignoreBuilder| {
            b.build().map_err(|e| IgnoreError { source_name: "ignore rules".into(), message: e.to_string() })
        };
        let base = build(b)?;
        let mut never = GitignoreBuilder::new(root);
        // `Deploy.PEM` is a key too (and one file on a Mac).
        never
            .case_insensitive(true)
            .map_err(|e| IgnoreError { source_name: "ignore rules".into(), message: e.to_string() })?;
        for p in &spec.never {
            add_line(&mut never, p, "the credentials list")?;
        }
        let never = build(never)?;
        Ok(IgnoreRules {
            root: root.to_path_buf(),
            never,
            base,
            nested: BTreeMap::new(),
            use_gitignore: spec.use_gitignore,
        })
    }

    /// Learn (or forget, when it is gone) the `.gitignore` of folder `dir`.
    pub fn load_gitignore(&mut self, dir: &RelPath) {
        if !self.use_gitignore {
            return;
        }
        let abs = if dir.is_root() { self.root.clone() } else { self.root.join(dir.as_str()) };
        let file = abs.join(".gitignore");
        if !file.is_file() {
            self.nested.remove(dir);
            return;
        }
        let mut b = GitignoreBuilder::new(&abs);
        if b.add(&file).is_some() {
            tracing::warn!("some lines of {} could not be read", file.display());
        }
        match b.build() {
            Ok(g) => {
                self.nested.insert(dir.clone(), g);
            }
            Err(e) => tracing::warn!("ignoring {}: {e}", file.display()),
        }
    }

    /// Whether `path` (a folder when `is_dir`) is ignored, itself or through
    /// one of its folders.
    pub fn is_ignored(&self, path: &RelPath, is_dir: bool) -> bool {
        if path.is_root() {
            return false;
        }
        let mut chain: Vec<(RelPath, bool)> = path.ancestors().filter(|a| !a.is_root()).map(|a| (a, true)).collect();
        chain.reverse();
        chain.push((path.clone(), is_dir));
        let never = |p: &RelPath, dir: bool| self.never.matched(self.root.join(p.as_str()), dir).is_ignore();
        chain.iter().any(|(p, dir)| never(p, *dir)) || chain.iter().any(|(p, dir)| self.matches(p, *dir))
    }

    fn matches(&self, path: &RelPath, is_dir: bool) -> bool {
        let abs = self.root.join(path.as_str());
        // The deepest .gitignore that has an opinion wins, then the base rules.
        for (dir, g) in self.nested.iter().rev() {
            if !path.starts_with(dir) || path == dir {
                continue;
            }
            let m = g.matched(&abs, is_dir);
            if m.is_ignore() {
                return true;
            }
            if m.is_whitelist() {
                return false;
            }
        }
        self.base.matched(&abs, is_dir).is_ignore()
    }

    /// Whether a change to `path` changes the rules themselves.
    pub fn is_rule_file(path: &RelPath) -> bool {
        path.as_str() == SYNCIGNORE || path.name() == ".gitignore"
    }
}

fn add_line(b: &mut GitignoreBuilder, line: &str, source: &str) -> Result<(), IgnoreError> {
    b.add_line(None, line)
        .map(|_| ())
        .map_err(|e| IgnoreError { source_name: source.to_owned(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    #[test]
    fn defaults_config_syncignore_and_reinclusion() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SYNCIGNORE), "# comment\n*.log\n!keep.log\nbuild/\n").unwrap();
        let spec = IgnoreSpec { patterns: vec!["/secret.txt".into()], ..IgnoreSpec::default() };
        let r = IgnoreRules::load(dir.path(), &spec).unwrap();
        assert!(r.is_ignored(&p(".git"), true));
        assert!(r.is_ignored(&p("src/.git/HEAD"), false), "inside an ignored folder");
        assert!(r.is_ignored(&p("a/node_modules"), true));
        assert!(r.is_ignored(&p("x/.sinc-tmp-abc"), false));
        assert!(r.is_ignored(&p("secret.txt"), false));
        assert!(!r.is_ignored(&p("sub/secret.txt"), false), "anchored to the root");
        assert!(r.is_ignored(&p("debug.log"), false));
        assert!(!r.is_ignored(&p("keep.log"), false));
        assert!(r.is_ignored(&p("build"), true));
        assert!(r.is_ignored(&p("build/out.o"), false));
        assert!(!r.is_ignored(&p("src/main.rs"), false));
    }

    #[test]
    fn nested_gitignores_when_enabled() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("web")).unwrap();
        std::fs::write(dir.path().join(".gitignore"), "*.tmp\n").unwrap();
        std::fs::write(dir.path().join("web/.gitignore"), "dist/\n!important.tmp\n").unwrap();
        let spec = IgnoreSpec { use_gitignore: true, ..IgnoreSpec::default() };
        let mut r = IgnoreRules::load(dir.path(), &spec).unwrap();
        r.load_gitignore(&RelPath::root());
        r.load_gitignore(&p("web"));
        assert!(r.is_ignored(&p("a.tmp"), false));
        assert!(r.is_ignored(&p("web/dist"), true));
        assert!(!r.is_ignored(&p("dist"), true), "web/.gitignore applies under web/ only");
        assert!(!r.is_ignored(&p("web/important.tmp"), false), "a deeper file re-includes");
        assert!(r.is_ignored(&p("web/other.tmp"), false));

        let off = IgnoreRules::load(dir.path(), &IgnoreSpec::default()).unwrap();
        assert!(!off.is_ignored(&p("a.tmp"), false));
    }

    #[test]
    fn what_is_never_synced_stays_out_whatever_re_includes_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join(SYNCIGNORE), "!.credentials.json\n!*.pem\n").unwrap();
        std::fs::write(dir.path().join("keys/.gitignore"), "!*\n").unwrap();
        let spec = IgnoreSpec {
            patterns: vec!["!auth.json".into()],
            use_gitignore: true,
            never: vec![".credentials.json".into(), "auth.json".into(), "*.pem".into(), "secrets/".into()],
            fixed: false,
        };
        let mut r = IgnoreRules::load(dir.path(), &spec).unwrap();
        r.load_gitignore(&p("keys"));
        for path in [".credentials.json", "sub/auth.json", "keys/server.pem", "keys/Deploy.PEM", "secrets/a.txt"] {
            assert!(r.is_ignored(&p(path), false), "{path} is never synced");
        }
        assert!(r.is_ignored(&p("secrets"), true));
        assert!(!r.is_ignored(&p("settings.json"), false));
        assert!(!r.is_ignored(&p("secrets"), false), "a file named like the folder pattern is not a folder");
    }

    #[test]
    fn fixed_rules_read_no_syncignore() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SYNCIGNORE), "!/projects\n").unwrap();
        let spec = |fixed| IgnoreSpec {
            patterns: vec!["/*".into(), "!/settings.json".into()],
            fixed,
            ..IgnoreSpec::default()
        };
        let fixed = IgnoreRules::load(dir.path(), &spec(true)).unwrap();
        assert!(fixed.is_ignored(&p("projects"), true) && !fixed.is_ignored(&p("settings.json"), false));
        let open = IgnoreRules::load(dir.path(), &spec(false)).unwrap();
        assert!(!open.is_ignored(&p("projects"), true), "a project's .syncignore applies");
    }

    #[test]
    fn the_docs_list_the_defaults() {
        let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/sync.md"));
        let listed = DEFAULT_IGNORES.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
        assert!(doc.contains(&format!("built in: {listed}")), "docs/sync.md must list {listed}");
    }

    #[test]
    fn bad_patterns_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let spec = IgnoreSpec { patterns: vec!["{a".into()], ..IgnoreSpec::default() };
        let err = IgnoreRules::load(dir.path(), &spec).unwrap_err();
        assert_eq!(err.source_name, "sync.ignore");
    }
}
