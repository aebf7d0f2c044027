//! Python: the module docstring (or the header comment), and the functions
//! and classes defined at the top level.

use super::comments::{self, Style};
use super::{Outline, def, ident, keyword};

const STYLE: Style = Style { line: "#", file_doc: None, item_doc: None, block: None, preamble: is_encoding };

/// `# -*- coding: utf-8 -*-` and `# vim: set fileencoding=…` lines.
fn is_encoding(t: &str) -> bool {
    t.starts_with('#') && (t.contains("coding:") || t.contains("coding="))
}

const QUOTES: [&str; 2] = ["\"\"\"", "'''"];

pub(super) fn outline(text: &str) -> Outline {
    let lines: Vec<&str> = text.lines().collect();
    let blocks = comments::leading_blocks(&lines, &STYLE);
    let description = docstring(&lines).or_else(|| comments::describe(&blocks));
    let mut defs = Vec::new();
    let mut open_quote: Option<&str> = None;
    for (index, line) in lines.iter().enumerate() {
        let starts_in_string = open_quote.is_some();
        open_quote = string_state(line, open_quote);
        if starts_in_string || line.starts_with(char::is_whitespace) {
            continue;
        }
        let rest = keyword(line, "async").unwrap_or(line);
        let found = [("def", "def"), ("class", "class")].iter().find_map(|(word, kind)| {
            keyword(rest, word).and_then(|r| ident(r, false)).map(|name| def(kind, name, index))
        });
        defs.extend(found);
    }
    Outline { description, defs }
}

/// Which triple quote is still open after `line`, given the one open
/// before it.
fn string_state<'a>(line: &str, mut open: Option<&'a str>) -> Option<&'a str> {
    let mut rest = line;
    loop {
        match open {
            Some(q) => match rest.find(q) {
                Some(i) => {
                    rest = &rest[i + q.len()..];
                    open = None;
                }
                None => return open,
            },
            None => {
                let next = QUOTES.iter().filter_map(|q| rest.find(q).map(|i| (i, *q))).min();
                match next {
                    Some((i, q)) => {
                        rest = &rest[i + q.len()..];
                        open = Some(q);
                    }
                    None => return None,
                }
            }
        }
    }
}

/// The first paragraph of the module docstring: the first statement, after
/// blank lines, comments and the encoding line.
fn docstring(lines: &[&str]) -> Option<String> {
    let (start, first) = lines.iter().enumerate().find(|(_, l)| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    })?;
    let t = first.trim_start_matches(['r', 'R', 'u', 'U']);
    let quote = QUOTES.iter().find(|q| t.starts_with(**q))?;
    let body = &t[quote.len()..];
    let mut text = Vec::new();
    if let Some((inside, _)) = body.split_once(quote) {
        text.push(inside.to_owned());
    } else {
        text.push(body.to_owned());
        for line in &lines[start + 1..] {
            if let Some((inside, _)) = line.split_once(quote) {
                text.push(inside.to_owned());
                break;
            }
            text.push((*line).to_owned());
        }
    }
    comments::first_paragraph(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Fetch and cache the price list.

Longer text.
"""

import os

PRICES = {}

def load(path):
    """Not a module docstring."""
    def inner():
        pass

async def refresh():
    pass

class Cache(dict):
    def get(self, key):
        pass

TEMPLATE = """
def not_a_function():
class NotAClass:
"""

@decorator
def decorated():
    pass
"""
def inside_a_string():
"""
"#;

    #[test]
    fn a_python_file_maps_its_docstring_and_top_level_defs() {
        let o = outline(FILE);
        assert_eq!(o.description.as_deref(), Some("Fetch and cache the price list."));
        let got = crate::outline::listed(&o);
        assert_eq!(got, ["def load 12", "def refresh 17", "class Cache 20", "def decorated 30"]);
    }

    #[test]
    fn comments_describe_a_module_without_a_docstring() {
        let o = outline("#!/usr/bin/env python3\n# Command-line entry point.\nimport sys\n");
        assert_eq!(o.description.as_deref(), Some("Command-line entry point."));
        assert_eq!(outline("'''One line.'''\n").description.as_deref(), Some("One line."));
        assert_eq!(outline("r\"\"\"Raw doc.\"\"\"\n").description.as_deref(), Some("Raw doc."));
        assert_eq!(outline("import x\n\"\"\"Not first.\"\"\"\n").description, None);
    }
}
