//! The map as text for the instructions file: a heading, one line that
//! says what it is, and a plain-text block with a line per file (its path
//! and description) and a line of its definitions (`kind name line`).
//! Bounded: files are listed in path order while they fit; a file whose
//! definitions do not fit is listed without them, and when not even its
//! path fits, the rest are counted instead. Pure.

use crate::outline::Outline;
use crate::section;

/// How much the map may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of the whole section, markers included.
    pub max_bytes: usize,
    /// Definitions listed per file.
    pub max_defs: usize,
}

const HEADING: &str = "## Project map\n\n\
Source files of this project, what each one's header comment says it is for, and its top-level \
definitions as `kind name line`. sinc keeps this section up to date as files change; write your own \
notes outside it.\n";

/// The section's body for `files` (path, outline), already in path order;
/// `unread` more files were found but not read (the `max_files` limit).
pub fn render(files: &[(String, Outline)], unread: usize, limits: Limits) -> String {
    let frame = section::section("").len() + HEADING.len() + "\n```text\n```\n".len();
    let mut budget = limits.max_bytes.saturating_sub(frame + note(files.len() + unread).len());
    let mut block = String::new();
    let mut listed = 0;
    for (path, outline) in files {
        let head = head_line(path, outline);
        let defs = defs_line(outline, limits.max_defs);
        if head.len() + defs.len() <= budget {
            block.push_str(&head);
            block.push_str(&defs);
            budget -= head.len() + defs.len();
        } else if head.len() <= budget {
            block.push_str(&head);
            budget -= head.len();
        } else {
            break;
        }
        listed += 1;
    }
    let left = files.len() - listed + unread;
    let mut body = format!("{HEADING}\n```text\n{block}```\n");
    if left > 0 {
        body.push_str(&note(left));
    }
    if files.is_empty() {
        body = format!("{HEADING}\nNo source files (Rust, TypeScript, JavaScript, Python or Go) were found.\n");
    }
    body
}

/// The line that counts `left` files not listed.
fn note(left: usize) -> String {
    format!("\n{left} more files are not listed: the map is kept within its size limit.\n")
}

/// `path: description` (or just the path).
fn head_line(path: &str, outline: &Outline) -> String {
    match &outline.description {
        Some(d) => format!("{}: {}\n", one_line(path), one_line(d)),
        None => format!("{}\n", one_line(path)),
    }
}

/// `  kind name line, …` (empty without definitions), with a count of
/// those beyond `max`.
fn defs_line(outline: &Outline, max: usize) -> String {
    if outline.defs.is_empty() || max == 0 {
        return String::new();
    }
    let shown: Vec<String> =
        outline.defs.iter().take(max).map(|d| format!("{} {} {}", d.kind, one_line(&d.name), d.line)).collect();
    let more = outline.defs.len().saturating_sub(max);
    let more = if more > 0 { format!(", +{more} more") } else { String::new() };
    format!("  {}{more}\n", shown.join(", "))
}

/// `text` without control characters or a fence's backquotes.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().replace("```", "'''")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outline::Def;

    fn file(path: &str, description: Option<&str>, defs: usize) -> (String, Outline) {
        let defs = (0..defs)
            .map(|i| Def { kind: "fn".into(), name: format!("f{i}"), line: u32::try_from(i).unwrap() + 1 })
            .collect();
        (path.into(), Outline { description: description.map(str::to_owned), defs })
    }

    const ROOMY: Limits = Limits { max_bytes: 100_000, max_defs: 2 };

    #[test]
    fn files_are_listed_with_their_description_and_definitions() {
        let files = [file("src/lib.rs", Some("The library."), 3), file("src/x.rs", None, 0)];
        let body = render(&files, 0, ROOMY);
        assert!(body.starts_with("## Project map\n"), "{body}");
        assert!(
            body.contains("```text\nsrc/lib.rs: The library.\n  fn f0 1, fn f1 2, +1 more\nsrc/x.rs\n```\n"),
            "{body}"
        );
        assert!(!body.contains("more files"));
    }

    #[test]
    fn the_section_stays_within_its_limit_and_counts_what_is_left_out() {
        let files: Vec<_> = (0..500).map(|i| file(&format!("src/m{i:03}.rs"), Some("A module."), 10)).collect();
        for max_bytes in [1_000, 2_000, 8_000] {
            let body = render(&files, 7, Limits { max_bytes, max_defs: 25 });
            let whole = crate::section::section(&body);
            assert!(whole.len() <= max_bytes, "{} > {max_bytes}", whole.len());
            let listed = body.lines().filter(|l| l.starts_with("src/")).count();
            assert!(listed > 0, "{body}");
            assert!(body.contains(&format!("\n{} more files are not listed", 500 - listed + 7)), "{body}");
        }
    }

    #[test]
    fn a_file_whose_definitions_do_not_fit_is_listed_without_them() {
        let files = [file("a.rs", None, 0), file("b.rs", Some("B."), 200)];
        let body = render(&files, 0, Limits { max_bytes: 1_000, max_defs: 200 });
        assert!(body.contains("a.rs\nb.rs: B.\n```"), "{body}");
    }

    #[test]
    fn names_and_descriptions_cannot_break_the_block() {
        let files = [file("a.rs", Some("has ``` fence\nand\u{1b}[2J escape"), 0)];
        let body = render(&files, 0, ROOMY);
        assert!(body.contains("a.rs: has ''' fence and [2J escape\n"), "{body}");
        assert_eq!(body.matches("```").count(), 2);
    }

    #[test]
    fn no_files_says_so() {
        assert!(render(&[], 0, ROOMY).contains("No source files"));
    }
}
