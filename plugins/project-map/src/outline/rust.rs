//! Rust: the `//!` documentation (or the header comment), and the items
//! that start a line: functions, types, traits, modules, constants,
//! statics, macros and `impl` blocks.

use super::comments::{self, Style};
use super::{Def, Outline, def, ident, keyword, skip_keywords};

const STYLE: Style = Style {
    line: "//",
    file_doc: Some("//!"),
    item_doc: Some("///"),
    block: Some(("/*", "*/")),
    preamble: is_inner_attribute,
};

fn is_inner_attribute(t: &str) -> bool {
    t.starts_with("#![")
}

/// Item keywords, and the kind each is shown as.
const ITEMS: [(&str, &str); 11] = [
    ("fn", "fn"),
    ("struct", "struct"),
    ("enum", "enum"),
    ("trait", "trait"),
    ("union", "union"),
    ("type", "type"),
    ("mod", "mod"),
    ("const", "const"),
    ("static", "static"),
    ("impl", "impl"),
    ("macro_rules!", "macro"),
];

pub(super) fn outline(text: &str) -> Outline {
    comments::c_like(text, &STYLE, item)
}

/// The item `line` starts, if it starts one at the top level.
fn item(line: &str, index: usize) -> Option<Def> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = modifiers(visibility(line));
    let (word, kind) = ITEMS.iter().find(|(word, _)| keyword(rest, word).is_some() || rest.starts_with(word))?;
    let after = rest[word.len()..].trim_start();
    if *word == "impl" {
        return impl_target(after).map(|name| def(kind, name, index));
    }
    let after = if *word == "static" { keyword(after, "mut").unwrap_or(after) } else { after };
    let name = ident(after, false)?;
    (name != "_").then(|| def(kind, name, index))
}

/// `line` without `pub`, `pub(crate)`, `pub(in path)`…
fn visibility(line: &str) -> &str {
    let Some(rest) = keyword(line, "pub") else { return line };
    match rest.strip_prefix('(') {
        Some(inner) => inner.split_once(')').map_or(rest, |(_, after)| after.trim_start()),
        None => rest,
    }
}

/// `text` without the qualifiers an item may have before its keyword:
/// `async`, `unsafe`, `default`, `auto`, `const` (of a function),
/// `extern "ABI"` (of a function).
fn modifiers(text: &str) -> &str {
    let mut text = text;
    loop {
        let next = skip_keywords(text, &["async", "unsafe", "safe", "default", "auto"]);
        let next = match keyword(next, "extern") {
            Some(rest) if keyword(rest, "crate").is_none() => skip_abi(rest),
            _ => next,
        };
        let next = match keyword(next, "const") {
            Some(rest) if ["fn", "unsafe", "async", "extern"].iter().any(|w| keyword(rest, w).is_some()) => rest,
            _ => next,
        };
        if next.len() == text.len() {
            return text;
        }
        text = next;
    }
}

/// `text` after an ABI string (`"C" fn …` → `fn …`).
fn skip_abi(text: &str) -> &str {
    text.strip_prefix('"').and_then(|r| r.split_once('"')).map_or(text, |(_, after)| after.trim_start())
}

/// What an `impl` line implements: `Trait for Type` or `Type`, without the
/// impl's own generic parameters, its `where` clause or its brace.
fn impl_target(after: &str) -> Option<String> {
    let after = skip_generics(after);
    let end = [" where", "{"].iter().filter_map(|s| after.find(s)).min().unwrap_or(after.len());
    let target = after[..end].split_whitespace().collect::<Vec<_>>().join(" ");
    (!target.is_empty()).then_some(target)
}

/// `text` after a leading `<…>` (nested brackets counted).
fn skip_generics(text: &str) -> &str {
    if !text.starts_with('<') {
        return text;
    }
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => {
                depth -= 1;
                if depth == 0 {
                    return text[i + 1..].trim_start();
                }
            }
            _ => {}
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"// Copyright 2026 The sinc authors
//! The keeper: one per session on the laptop.
//! It owns the sync.

#![forbid(unsafe_code)]

use std::io;

/// A keeper.
pub struct Keeper {
    inner: u8,
}

pub(crate) enum State { Idle }
pub(in crate::x) trait Watch {}
pub const fn limit() -> usize { 3 }
pub const LIMIT: usize = 3;
const _: () = ();
static mut COUNT: u32 = 0;
pub unsafe extern "C" fn callback() {}
extern crate alloc;
extern "C" {
    fn inner_decl();
}
impl<T: Clone> From<T> for Keeper where T: Copy {
    fn from(_: T) -> Self { todo!() }
}
impl Keeper {}
unsafe impl Send for Keeper {}
pub type Result<T> = std::result::Result<T, Error>;
pub mod wire;
macro_rules! ensure {
    () => {};
}
/*
fn commented_out() {}
*/
#[cfg(test)]
mod tests {
    fn nested() {}
}
async fn run() {}
"#;

    #[test]
    fn a_rust_file_maps_its_doc_and_top_level_items() {
        let o = outline(FILE);
        assert_eq!(o.description.as_deref(), Some("The keeper: one per session on the laptop. It owns the sync."));
        let got = crate::outline::listed(&o);
        assert_eq!(
            got,
            [
                "struct Keeper 10",
                "enum State 14",
                "trait Watch 15",
                "fn limit 16",
                "const LIMIT 17",
                "static COUNT 19",
                "fn callback 20",
                "impl From<T> for Keeper 25",
                "impl Keeper 28",
                "impl Send for Keeper 29",
                "type Result 30",
                "mod wire 31",
                "macro ensure 32",
                "mod tests 39",
                "fn run 42",
            ]
        );
    }

    #[test]
    fn a_header_comment_stands_in_for_missing_docs() {
        let o = outline("// Small helpers for paths.\n\nfn a() {}\n");
        assert_eq!(o.description.as_deref(), Some("Small helpers for paths."));
        assert_eq!(outline("fn a() {}\n").description, None);
        assert_eq!(outline("").defs, []);
    }
}
