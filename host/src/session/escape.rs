//! OpenSSH-style escape sequences typed into an attached session: `~` is
//! special only at the start of a line. `~.` drops the connection (for a hung
//! link), `~~` sends one `~`, `~?` lists the escapes.

/// What the typed bytes asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Escape {
    /// Disconnect now.
    Disconnect,
    /// Show the help text.
    Help,
}

/// The help shown for `~?`.
pub const HELP: &str = "\r\nSupported escape sequences:\r\n ~.  - terminate connection (the remote session keeps running)\r\n ~?  - this message\r\n ~~  - send the escape character by typing it twice\r\n(Note that escapes are only recognized immediately after newline.)\r\n";

/// Tracks whether the next `~` starts an escape.
#[derive(Debug, Clone)]
pub struct EscapeFilter {
    at_line_start: bool,
    pending_tilde: bool,
}

impl Default for EscapeFilter {
    fn default() -> EscapeFilter {
        EscapeFilter { at_line_start: true, pending_tilde: false }
    }
}

impl EscapeFilter {
    /// Feed typed bytes; returns the bytes to send to the remote side and an
    /// escape, if one was typed (bytes after it are dropped).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, Option<Escape>) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.pending_tilde {
                self.pending_tilde = false;
                match b {
                    b'.' => return (out, Some(Escape::Disconnect)),
                    b'?' => {
                        self.at_line_start = false;
                        return (out, Some(Escape::Help));
                    }
                    b'~' => {
                        out.push(b'~');
                        self.at_line_start = false;
                        continue;
                    }
                    _ => out.push(b'~'),
                }
            } else if b == b'~' && self.at_line_start {
                self.pending_tilde = true;
                continue;
            }
            out.push(b);
            self.at_line_start = b == b'\r' || b == b'\n';
        }
        (out, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_dot_after_newline_disconnects() {
        let mut f = EscapeFilter::default();
        assert_eq!(f.feed(b"ls\r~."), (b"ls\r".to_vec(), Some(Escape::Disconnect)));
    }

    #[test]
    fn at_session_start_too() {
        let mut f = EscapeFilter::default();
        assert_eq!(f.feed(b"~."), (vec![], Some(Escape::Disconnect)));
    }

    #[test]
    fn split_across_reads() {
        let mut f = EscapeFilter::default();
        assert_eq!(f.feed(b"\r~"), (b"\r".to_vec(), None));
        assert_eq!(f.feed(b"."), (vec![], Some(Escape::Disconnect)));
    }

    #[test]
    fn mid_line_tilde_is_plain() {
        let mut f = EscapeFilter::default();
        assert_eq!(f.feed(b"a~."), (b"a~.".to_vec(), None));
    }

    #[test]
    fn double_tilde_and_other_chars() {
        let mut f = EscapeFilter::default();
        assert_eq!(f.feed(b"~~."), (b"~.".to_vec(), None));
        let mut f = EscapeFilter::default();
        assert_eq!(f.feed(b"~x"), (b"~x".to_vec(), None));
        let mut f = EscapeFilter::default();
        assert_eq!(f.feed(b"~?"), (vec![], Some(Escape::Help)));
    }
}
