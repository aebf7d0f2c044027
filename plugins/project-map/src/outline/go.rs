//! Go: the package comment (or the header comment), and the top-level
//! functions, methods (`Type.Method`), types, and exported constants and
//! variables — also inside `type (…)`, `const (…)` and `var (…)` groups
//! as gofmt lays them out.

use super::comments::{self, Style};
use super::{Def, Outline, def, ident, keyword};

const STYLE: Style =
    Style { line: "//", file_doc: None, item_doc: None, block: Some(("/*", "*/")), preamble: is_directive };

/// `//go:build`, `// +build` and other `//go:` directives.
fn is_directive(t: &str) -> bool {
    t.starts_with("//go:") || t.starts_with("// +build")
}

/// The declaration group a line is in.
#[derive(Clone, Copy)]
enum Group {
    Type,
    Const,
    Var,
}

pub(super) fn outline(text: &str) -> Outline {
    let mut group: Option<Group> = None;
    comments::c_like(text, &STYLE, |line, index| {
        if let Some(g) = group {
            if line.starts_with(')') {
                group = None;
            }
            let inner = line.strip_prefix('\t').filter(|l| !l.starts_with(char::is_whitespace))?;
            return grouped(g, inner, index);
        }
        if let Some(rest) = keyword(line, "func") {
            return function(rest, index);
        }
        let (g, rest) = [("type", Group::Type), ("const", Group::Const), ("var", Group::Var)]
            .into_iter()
            .find_map(|(word, g)| keyword(line, word).map(|rest| (g, rest)))?;
        if rest.starts_with('(') {
            group = Some(g);
            return None;
        }
        grouped(g, rest, index)
    })
}

/// A function or method from what follows `func`.
fn function(rest: &str, index: usize) -> Option<Def> {
    let Some(receiver) = rest.strip_prefix('(') else {
        return ident(rest, false).map(|name| def("func", name, index));
    };
    let (receiver, after) = receiver.split_once(')')?;
    let name = ident(after.trim_start(), false)?;
    // `(s *Server[T])` → `Server`.
    let ty = receiver.split_whitespace().last()?.trim_start_matches('*');
    let ty = ty.split('[').next().unwrap_or(ty);
    Some(def("func", format!("{ty}.{name}"), index))
}

/// A declaration in group `g` (or after its keyword): every type, and the
/// exported constants and variables.
fn grouped(g: Group, text: &str, index: usize) -> Option<Def> {
    let name = ident(text, false)?;
    match g {
        Group::Type => {
            let after = text[name.len()..].trim_start();
            let after = after.strip_prefix('[').and_then(|a| a.split_once(']')).map_or(after, |(_, r)| r.trim_start());
            let kind = ["struct", "interface"].into_iter().find(|k| keyword(after, k).is_some()).unwrap_or("type");
            Some(def(kind, name, index))
        }
        Group::Const | Group::Var if name.starts_with(|c: char| c.is_uppercase()) => {
            Some(def(if matches!(g, Group::Const) { "const" } else { "var" }, name, index))
        }
        Group::Const | Group::Var => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "// Copyright 2026 Example Authors. All rights reserved.

//go:build linux

// Package relay forwards TCP connections.
package relay

import \"net\"

const Version = \"1\"
const internal = 2

type (
\tConn struct {
\t\tinner net.Conn
\t}
\tHandler interface{ Serve() }
\tID = string
)

var (
\tDefault = New()
\tcache   = map[string]int{}
)

type Server[T any] struct{}

func New() *Server[int] { return nil }

func (s *Server[T]) Serve() {}

func (Conn) Close() error { return nil }
";

    #[test]
    fn a_go_file_maps_its_package_comment_and_declarations() {
        let o = outline(FILE);
        assert_eq!(o.description.as_deref(), Some("Package relay forwards TCP connections."));
        let got = crate::outline::listed(&o);
        assert_eq!(
            got,
            [
                "const Version 10",
                "struct Conn 14",
                "interface Handler 17",
                "type ID 18",
                "var Default 22",
                "struct Server 26",
                "func New 28",
                "func Server.Serve 30",
                "func Conn.Close 32",
            ]
        );
    }
}
