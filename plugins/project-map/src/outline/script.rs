//! TypeScript and JavaScript: the header comment, and the top-level
//! functions, classes, interfaces, types, enums and namespaces, plus
//! constants that are exported or hold a function (arrow functions
//! included).

use super::comments::{self, Style};
use super::{Def, Outline, def, ident, keyword, skip_keywords};

const STYLE: Style =
    Style { line: "//", file_doc: None, item_doc: None, block: Some(("/*", "*/")), preamble: is_directive };

/// `"use strict";`, `'use client'` and the like.
fn is_directive(t: &str) -> bool {
    t.starts_with("\"use ") || t.starts_with("'use ")
}

/// Declarations always mapped, and the kind each is shown as.
const DECLARATIONS: [(&str, &str); 6] = [
    ("function", "function"),
    ("class", "class"),
    ("interface", "interface"),
    ("type", "type"),
    ("enum", "enum"),
    ("namespace", "namespace"),
];

pub(super) fn outline(text: &str) -> Outline {
    comments::c_like(text, &STYLE, declaration)
}

/// The declaration `line` starts, if any.
fn declaration(line: &str, index: usize) -> Option<Def> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let exported = keyword(line, "export");
    let rest = exported.unwrap_or(line);
    let default = keyword(rest, "default");
    let rest = skip_keywords(default.unwrap_or(rest), &["declare", "abstract", "async"]);
    let rest = match keyword(rest, "const") {
        Some(after) if keyword(after, "enum").is_some() => after,
        _ => rest,
    };
    for (word, kind) in DECLARATIONS {
        let Some(after) =
            keyword(rest, word).or_else(|| (word == "function").then(|| rest.strip_prefix("function*")).flatten())
        else {
            continue;
        };
        let after = after.trim_start_matches(['*', ' ']);
        return match ident(after, true) {
            Some(name) => Some(def(kind, name, index)),
            None if default.is_some() && matches!(word, "function" | "class") => Some(def(kind, "default", index)),
            None => None,
        };
    }
    let after = ["const", "let", "var"].iter().find_map(|w| keyword(rest, w))?;
    let name = ident(after, true)?;
    let value = after.split_once('=').map(|(_, v)| v.trim_start()).unwrap_or("");
    let holds_function = value.starts_with("function")
        || value.starts_with("async")
        || (value.contains("=>") && (value.starts_with('(') || ident(value, true).is_some()));
    if holds_function {
        Some(def("function", name, index))
    } else if exported.is_some() {
        Some(def("const", name, index))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"#!/usr/bin/env node
"use strict";
/**
 * HTTP client for the sessions API.
 */
import { x } from "./x";

export interface Session {
  id: string;
}
export type Id = string;
export const enum Mode { A }
enum Local { B }
export default class Client {
  method() {}
}
export async function fetchAll(): Promise<void> {}
function* ids() {}
export const LIMIT = 3;
const helper = (a: number) => a + 1;
const handler = async (req) => {};
const plain = 5;
let legacy = function () {};
export { helper };
declare namespace Api {}
/*
function commented() {}
*/
export default function () {}
const { a, b } = x;
"#;

    #[test]
    fn a_script_maps_its_header_and_declarations() {
        let o = outline(FILE);
        assert_eq!(o.description.as_deref(), Some("HTTP client for the sessions API."));
        let got = crate::outline::listed(&o);
        assert_eq!(
            got,
            [
                "interface Session 8",
                "type Id 11",
                "enum Mode 12",
                "enum Local 13",
                "class Client 14",
                "function fetchAll 17",
                "function ids 18",
                "const LIMIT 19",
                "function helper 20",
                "function handler 21",
                "function legacy 23",
                "namespace Api 25",
                "function default 29",
            ]
        );
    }
}
