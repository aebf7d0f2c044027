//! What one source file says about itself: its leading description comment
//! and its top-level definitions with their line numbers. Read line by line
//! — top-level definitions start a line in every language mapped here, the
//! way ctags-style tools find them — so a file that does not compile still
//! maps. Pure.

mod comments;
mod go;
mod python;
mod rust;
mod script;

use serde::{Deserialize, Serialize};

/// The languages mapped, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `.rs`
    Rust,
    /// `.py`, `.pyi`
    Python,
    /// `.go`
    Go,
    /// TypeScript and JavaScript: `.ts`, `.tsx`, `.mts`, `.cts`, `.js`,
    /// `.jsx`, `.mjs`, `.cjs`.
    Script,
}

impl Language {
    /// The language of the file at `path`, when it is one mapped (minified
    /// scripts and TypeScript declaration files are not).
    pub fn of(path: &str) -> Option<Language> {
        let name = path.rsplit('/').next()?;
        if name.ends_with(".min.js") || name.ends_with(".d.ts") {
            return None;
        }
        match name.rsplit_once('.')?.1 {
            "rs" => Some(Language::Rust),
            "py" | "pyi" => Some(Language::Python),
            "go" => Some(Language::Go),
            "ts" | "tsx" | "mts" | "cts" | "js" | "jsx" | "mjs" | "cjs" => Some(Language::Script),
            _ => None,
        }
    }
}

/// One top-level definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Def {
    /// What it is, in the language's own word (`fn`, `struct`, `class`,
    /// `def`, `func`, `interface`…).
    pub kind: String,
    /// Its name (`Type.Method` for a Go method; the implemented type for a
    /// Rust `impl`).
    pub name: String,
    /// Where it starts (1-based).
    pub line: u32,
}

/// What a file says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outline {
    /// The first paragraph of its leading comment (or docstring), on one
    /// line.
    pub description: Option<String>,
    /// Its top-level definitions, in order.
    pub defs: Vec<Def>,
}

/// The outline of `text`, a file in `language`.
pub fn outline(language: Language, text: &str) -> Outline {
    match language {
        Language::Rust => rust::outline(text),
        Language::Python => python::outline(text),
        Language::Go => go::outline(text),
        Language::Script => script::outline(text),
    }
}

/// A definition of `kind` named `name` on line `index` (0-based).
fn def(kind: &str, name: impl Into<String>, index: usize) -> Def {
    Def { kind: kind.to_owned(), name: name.into(), line: u32::try_from(index + 1).unwrap_or(u32::MAX) }
}

/// The identifier `text` starts with (letters, digits, `_`, and `$` where
/// `dollar`), if any.
fn ident(text: &str, dollar: bool) -> Option<&str> {
    let end = text
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || (dollar && c == '$')))
        .map_or(text.len(), |(i, _)| i);
    let name = &text[..end];
    (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
}

/// `text` without the keyword `word` and the whitespace after it, when it
/// starts with that word (not merely with those letters).
fn keyword<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(word)?;
    if rest.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
        return None;
    }
    Some(rest.trim_start())
}

/// `text` after any of `words` it starts with, in any order and number.
fn skip_keywords<'a>(mut text: &'a str, words: &[&str]) -> &'a str {
    while let Some(rest) = words.iter().find_map(|w| keyword(text, w)) {
        text = rest;
    }
    text
}

/// `kind name line` for each of `outline`'s definitions (for tests).
#[cfg(test)]
pub(crate) fn listed(outline: &Outline) -> Vec<String> {
    outline.defs.iter().map(|d| format!("{} {} {}", d.kind, d.name, d.line)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_come_from_extensions() {
        assert_eq!(Language::of("src/main.rs"), Some(Language::Rust));
        assert_eq!(Language::of("a/b.tsx"), Some(Language::Script));
        assert_eq!(Language::of("tool.py"), Some(Language::Python));
        assert_eq!(Language::of("cmd/x/main.go"), Some(Language::Go));
        assert_eq!(Language::of("dist/app.min.js"), None);
        assert_eq!(Language::of("types/index.d.ts"), None);
        assert_eq!(Language::of("README.md"), None);
        assert_eq!(Language::of("Makefile"), None);
        assert_eq!(Language::of(".rs"), Some(Language::Rust));
    }

    #[test]
    fn keywords_are_whole_words() {
        assert_eq!(keyword("fn main()", "fn"), Some("main()"));
        assert_eq!(keyword("fnord()", "fn"), None);
        assert_eq!(skip_keywords("pub async unsafe fn x", &["pub", "async", "unsafe"]), "fn x");
        assert_eq!(ident("foo_bar(1)", false), Some("foo_bar"));
        assert_eq!(ident("$el = 1", true), Some("$el"));
        assert_eq!(ident("1abc", false), None);
        assert_eq!(ident("(x)", false), None);
    }
}
