//! The comments a file starts with, and the description they give: the
//! first paragraph of the first block that is not a licence header.

use super::{Def, Outline};

/// How a language writes comments.
pub(super) struct Style {
    /// A line comment (`//`, `#`).
    pub line: &'static str,
    /// A line comment that documents the file itself (Rust's `//!`).
    pub file_doc: Option<&'static str>,
    /// A line comment that documents the next item (Rust's `///`): the
    /// header has ended.
    pub item_doc: Option<&'static str>,
    /// A block comment's opener and closer.
    pub block: Option<(&'static str, &'static str)>,
    /// Lines that are not comments but may come before or among them
    /// (a shebang, `"use strict"`, `//go:build`, `#![…]`).
    pub preamble: fn(&str) -> bool,
}

/// One comment block: its lines without the comment markers.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Block {
    /// The text.
    pub lines: Vec<String>,
    /// Whether it documents the file (`//!`, `/*!`).
    pub file_doc: bool,
}

/// Lines scanned for the header.
const SCANNED: usize = 200;

/// Characters kept of a description.
const DESCRIPTION_CHARS: usize = 200;

/// The comment blocks before the first line of code (blank lines and a
/// change of kind separate them).
pub(super) fn leading_blocks(lines: &[&str], style: &Style) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    let mut rest = lines.iter().take(SCANNED).enumerate();
    while let Some((index, line)) = rest.next() {
        let t = line.trim();
        let item_doc = style.item_doc.is_some_and(|d| t.starts_with(d) && !t.starts_with(&format!("{d}/")));
        if item_doc {
            break;
        }
        let file_doc = style.file_doc.and_then(|d| t.strip_prefix(d));
        let plain = style.line_text(t);
        if let Some(text) = file_doc.or(plain) {
            let is_doc = file_doc.is_some();
            if current.as_ref().is_some_and(|b| b.file_doc != is_doc) {
                blocks.extend(current.take());
            }
            let block = current.get_or_insert_with(|| Block { lines: Vec::new(), file_doc: is_doc });
            block.lines.push(strip_one_space(text).to_owned());
            continue;
        }
        blocks.extend(current.take());
        if t.is_empty() || (index == 0 && t.starts_with("#!")) || (style.preamble)(t) {
            continue;
        }
        let Some((open, close)) = style.block.filter(|(open, _)| t.starts_with(open)) else {
            break;
        };
        let body = &t[open.len()..];
        let file_doc = body.starts_with('!');
        let body = body.trim_start_matches(['!', '*']);
        let mut text = Vec::new();
        let mut push = |line: &str| {
            let line = line.trim();
            let line = line.strip_prefix('*').unwrap_or(line);
            text.push(strip_one_space(line).trim_end().to_owned());
        };
        match body.split_once(close) {
            Some((inside, _)) => push(inside),
            None => {
                push(body);
                for (_, line) in rest.by_ref() {
                    match line.split_once(close) {
                        Some((inside, _)) => {
                            push(inside);
                            break;
                        }
                        None => push(line),
                    }
                }
            }
        }
        blocks.push(Block { lines: text, file_doc });
    }
    blocks.extend(current);
    blocks
}

/// The outline of `text`, a file in a language with `/* … */` comments:
/// its description, and the definitions `item` finds on each line (given
/// its 0-based index) outside block comments that start a line.
pub(super) fn c_like(text: &str, style: &Style, mut item: impl FnMut(&str, usize) -> Option<Def>) -> Outline {
    let lines: Vec<&str> = text.lines().collect();
    let description = describe(&leading_blocks(&lines, style));
    let mut defs = Vec::new();
    let mut in_comment = false;
    for (index, line) in lines.iter().enumerate() {
        if in_comment || line.starts_with("/*") {
            in_comment = !line.contains("*/");
            continue;
        }
        defs.extend(item(line, index));
    }
    Outline { description, defs }
}

impl Style {
    /// The text of `t` when it is a plain line comment.
    fn line_text<'a>(&self, t: &'a str) -> Option<&'a str> {
        // `//go:build`, `# -*- coding`, `#!` are not prose.
        if (self.preamble)(t) || t.starts_with("#!") {
            return None;
        }
        t.strip_prefix(self.line)
    }
}

fn strip_one_space(text: &str) -> &str {
    text.strip_prefix(' ').unwrap_or(text)
}

/// The description `blocks` give: the first file-documenting block's first
/// paragraph, else the first paragraph of the first block that is not a
/// licence header.
pub(super) fn describe(blocks: &[Block]) -> Option<String> {
    let doc = blocks.iter().find(|b| b.file_doc);
    let chosen = doc.into_iter().chain(blocks.iter()).find_map(|b| {
        let paragraph = first_paragraph(&b.lines)?;
        (!is_licence(&paragraph)).then_some(paragraph)
    })?;
    Some(shorten(&chosen))
}

/// The first paragraph of `lines`, on one line with single spaces.
pub(super) fn first_paragraph(lines: &[String]) -> Option<String> {
    let text: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.is_empty() || !l.chars().all(|c| "-=*/#~_".contains(c)))
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    let joined = text.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    (!joined.is_empty()).then_some(joined)
}

fn is_licence(paragraph: &str) -> bool {
    let lower = paragraph.to_lowercase();
    ["copyright", "spdx-license-identifier", "licensed under", "all rights reserved", "license"]
        .iter()
        .any(|w| lower.starts_with(w) || (w.len() > 7 && lower.contains(w)))
}

/// `text` cut at [`DESCRIPTION_CHARS`], at a word when it can be.
fn shorten(text: &str) -> String {
    if text.chars().count() <= DESCRIPTION_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(DESCRIPTION_CHARS).collect();
    let at_word = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{}…", at_word.trim_end_matches([',', ';', ':']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slashes() -> Style {
        Style {
            line: "//",
            file_doc: Some("//!"),
            item_doc: Some("///"),
            block: Some(("/*", "*/")),
            preamble: |_| false,
        }
    }

    fn described(text: &str) -> Option<String> {
        let lines: Vec<&str> = text.lines().collect();
        describe(&leading_blocks(&lines, &slashes()))
    }

    #[test]
    fn the_file_doc_wins_over_a_licence_before_it() {
        let text = "// Copyright 2024 Someone\n// SPDX-License-Identifier: MIT\n\n//! Parses the config.\n//! Second line.\n//!\n//! Details.\nuse x;\n";
        assert_eq!(described(text).as_deref(), Some("Parses the config. Second line."));
    }

    #[test]
    fn a_block_comment_header_is_read_without_its_stars() {
        let text = "/**\n * The router: maps paths to handlers.\n *\n * More.\n */\nexport function x() {}\n";
        assert_eq!(described(text).as_deref(), Some("The router: maps paths to handlers."));
        assert_eq!(described("/* one line */\ncode();\n").as_deref(), Some("one line"));
        assert_eq!(described("/*! inner\n   doc */\nfn x() {}\n").as_deref(), Some("inner doc"));
    }

    #[test]
    fn item_docs_and_code_end_the_header() {
        assert_eq!(described("/// Documents main.\nfn main() {}\n"), None);
        assert_eq!(described("fn main() {}\n// later comment\n"), None);
        assert_eq!(described("\n\n// after blank lines\nx\n").as_deref(), Some("after blank lines"));
    }

    #[test]
    fn a_licence_alone_describes_nothing() {
        assert_eq!(described("// Licensed under the Apache License, Version 2.0\nfn x() {}\n"), None);
        assert_eq!(described("/* Copyright (c) 2020 */\n// The real one.\n").as_deref(), Some("The real one."));
    }

    #[test]
    fn long_descriptions_are_cut_at_a_word() {
        let long = format!("// {}\n", "word ".repeat(100));
        let d = described(&long).unwrap();
        assert!(d.ends_with("word…") && d.chars().count() <= DESCRIPTION_CHARS + 1, "{d}");
    }

    #[test]
    fn rulers_before_the_text_are_skipped() {
        assert_eq!(described("// -----\n// Title text\n// -----\n").as_deref(), Some("Title text"));
        assert_eq!(first_paragraph(&["".into(), "===".into(), "a".into(), "b".into()]).as_deref(), Some("a b"));
    }
}
