//! Terminal output made plain text: what an agent's screen or a program's
//! coloured messages say, without the escape sequences that draw them.

/// `text` without ANSI escape sequences (colours, cursor moves, titles)
/// and other control characters but newlines and tabs; a carriage return
/// keeps what was written after it on its line.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut line_start = 0;
    // A carriage return seen: the next visible character starts the line
    // over (a newline first keeps it).
    let mut returned = false;
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek().copied() {
                // CSI: parameter and intermediate bytes, then a final byte;
                // anything else ends it without being eaten.
                Some('[') => {
                    chars.next();
                    while let Some(&c) = chars.peek() {
                        if ('\u{20}'..='\u{3f}').contains(&c) {
                            chars.next();
                            continue;
                        }
                        if ('@'..='~').contains(&c) {
                            chars.next();
                        }
                        break;
                    }
                }
                // OSC (titles, links): up to BEL or ESC \, never past a line.
                Some(']') => {
                    chars.next();
                    while let Some(&c) = chars.peek() {
                        if c == '\n' {
                            break;
                        }
                        chars.next();
                        if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                // Character set selections take one more character.
                Some('(' | ')' | '*' | '+') => {
                    chars.next();
                    chars.next_if(|c| !c.is_control());
                }
                // Two-byte escapes: ESC and one of 0..=~ (keypad modes,
                // resets, cursor saves, …).
                Some(c) if ('0'..='~').contains(&c) => {
                    chars.next();
                }
                _ => {}
            },
            '\n' => {
                out.push('\n');
                line_start = out.len();
                returned = false;
            }
            '\r' => returned = true,
            c if c.is_control() && c != '\t' => {}
            c => {
                if returned {
                    out.truncate(line_start);
                    returned = false;
                }
                out.push(c);
            }
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
    fn a_carriage_return_at_the_end_keeps_its_line() {
        assert_eq!(strip_ansi("abc\r"), "abc");
        assert_eq!(strip_ansi("x\r\r\ny"), "x\ny");
        assert_eq!(strip_ansi("50%\r100%\r\n"), "100%\n");
    }

    #[test]
    fn an_unfinished_sequence_eats_no_text() {
        assert_eq!(strip_ansi("a\u{1b}]0;title\nnext line"), "a\nnext line", "an OSC ends at the line");
        assert_eq!(strip_ansi("a\u{1b}[12\nb"), "a\nb", "a CSI ends at a byte it cannot hold");
        assert_eq!(strip_ansi("a\u{1b}\nb"), "a\nb", "a lone escape keeps the newline");
    }

    #[test]
    fn a_lone_escape_and_control_characters_go() {
        assert_eq!(strip_ansi("a\u{1b}b\u{7}c\u{0}d\te"), "acd\te");
    }
}
