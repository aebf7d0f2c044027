//! A session's screen made plain: escape sequences removed, trailing blank
//! lines and tmux's own "Pane is dead" line dropped, the last lines kept.

pub use sinc_plugin_sdk::terminal::strip_ansi;

/// The last `lines` lines of `screen` worth reading: plain text, right
/// ends trimmed, without tmux's note that the program ended, without the
/// blank lines at the end.
pub fn last_lines(screen: &str, lines: usize) -> Vec<String> {
    let plain = strip_ansi(screen);
    let mut kept: Vec<String> = plain
        .lines()
        .map(|l| l.trim_end().to_owned())
        .filter(|l| !(l.starts_with("Pane is dead (") && l.ends_with(')')))
        .collect();
    while kept.last().is_some_and(String::is_empty) {
        kept.pop();
    }
    let skip = kept.len().saturating_sub(lines);
    kept.drain(..skip);
    while kept.first().is_some_and(String::is_empty) {
        kept.remove(0);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_titles_and_cursor_moves_go_and_the_text_stays() {
        let raw = "\x1b[1;31mError:\x1b[0m build failed\x1b]0;title\x07\r\n\x1b[2K\x1b[Gdone\ttab";
        assert_eq!(strip_ansi(raw), "Error: build failed\ndone\ttab");
    }

    #[test]
    fn the_last_lines_worth_reading() {
        let screen = "one\n\ntwo  \nthree\n\n\nPane is dead (status 0, Sun Nov 29 05:47:35 2026)\n\n";
        assert_eq!(last_lines(screen, 2), ["two", "three"]);
        assert_eq!(last_lines(screen, 10), ["one", "", "two", "three"]);
        assert!(last_lines("\n\n", 5).is_empty());
    }
}
