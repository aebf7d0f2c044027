//! Printing: human text (styled only on a terminal and without `NO_COLOR`),
//! JSON for `--json`, and errors.

use crate::error::Error;
use anstyle::{AnsiColor, Style};
use std::io::Write;

/// Style for errors.
pub const ERROR: Style = AnsiColor::Red.on_default().bold();
/// Style for passed checks.
pub const PASS: Style = AnsiColor::Green.on_default().bold();
/// Style for warnings.
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();
/// Style for headings.
pub const HEADING: Style = Style::new().bold();

/// Print a JSON value on stdout.
pub fn json(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, value);
    let _ = writeln!(out);
}

/// Print a line on stdout.
pub fn line(text: &str) {
    anstream::println!("{text}");
}

/// A notice on stderr (suppressed by `-q`).
pub fn notice(quiet: bool, text: &str) {
    if !quiet {
        anstream::eprintln!("{text}");
    }
}

/// A warning on stderr (always shown).
pub fn warn(text: &str) {
    anstream::eprintln!("{WARN}warning:{WARN:#} {text}");
}

/// Report a failure: one clear message on stderr, or a JSON object on stdout
/// with `--json`.
pub fn error(err: &Error, as_json: bool) {
    let code = err.exit_code();
    if as_json {
        json(&serde_json::json!({
            "error": { "code": code.code(), "kind": code.name(), "message": err.to_string() }
        }));
    } else {
        anstream::eprintln!("{ERROR}sinc:{ERROR:#} {err}");
    }
}

/// Left-aligned columns for a table with a header row.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let render = |cells: Vec<String>| -> String {
        let last = cells.len().saturating_sub(1);
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| if i == last { c } else { format!("{c:<w$}", w = widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = format!("{HEADING}{}{HEADING:#}\n", render(header.iter().map(|s| (*s).to_owned()).collect()));
    for row in rows {
        out.push_str(&render(row.clone()));
        out.push('\n');
    }
    out
}

/// "3m ago", "2h ago", "4d ago".
pub fn age(seconds_since_epoch: u64) -> String {
    crate::clock::ago(crate::clock::unix_secs(), seconds_since_epoch)
}

/// RFC 3339 UTC time of a Unix timestamp.
pub fn rfc3339(seconds_since_epoch: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds_since_epoch))
        .to_string()
}

/// Go ahead only with `--yes` or a "yes" typed at the terminal: without a
/// terminal and without `--yes`, a usage error saying to pass it; a "no" is
/// a failure saying nothing changed.
pub fn confirm(yes: bool, message: &str, question: &str, what: &str) -> Result<(), Error> {
    if ask(yes, message, question, what)? {
        Ok(())
    } else {
        Err(Error::Failure("cancelled; nothing was changed".into()))
    }
}

/// Like [`confirm`], for a question whose "no" only skips a step: whether
/// the answer was yes.
pub fn ask(yes: bool, message: &str, question: &str, what: &str) -> Result<bool, Error> {
    use std::io::IsTerminal;
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(format!("pass --yes to {what} without a confirmation")));
    }
    Ok(crate::transport::Prompter::detect().confirm(message, question))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(&["A", "BB"], &[vec!["xyz".into(), "1".into()]]);
        let plain: String = anstream::adapter::strip_str(&t).to_string();
        assert_eq!(plain, "A    BB\nxyz  1\n");
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
