//! Terminal output made plain text: what an agent's screen or a program's
//! coloured messages say, without the escape sequences that draw them.

/// `text` without ANSI escape sequences (colours, cursor moves, titles)
/// and other control characters but newlines and tabs; a carriage return
/// keeps what was written after it on its line.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut line_start = 0;
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters, then one final byte in @..~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC (titles, links): up to BEL or ESC \.
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                // Character set selections take one more character.
                Some('(' | ')' | '*' | '+') => {
                    chars.next();
                }
                _ => {}
            },
            '\n' => {
                out.push('\n');
                line_start = out.len();
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' => out.truncate(line_start),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_cursor_moves_and_titles_go_carriage_returns_overwrite() {
        let raw = "\u{1b}[1;32mgreen\u{1b}[0m plain\u{1b}]0;title\u{7}\r\n\u{1b}[2K\rprogress 10%\rprogress 100%\n\u{1b}(Bdone\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\";
        assert_eq!(strip_ansi(raw), "green plain\nprogress 100%\ndonelink");
    }

    #[test]
    fn a_lone_escape_and_control_characters_go() {
        assert_eq!(strip_ansi("a\u{1b}b\u{7}c\u{0}d\te"), "acd\te");
    }
}
