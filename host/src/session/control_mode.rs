//! Reading tmux control mode (`tmux -C attach`) for a watched pane: the
//! lines tmux writes, turned into what a watcher shows — a snapshot (the
//! pane's size, cursor and contents, asked for with the commands
//! [`SNAPSHOT_COMMANDS`] names), the pane's output after it, its end.
//! Pure: the process is run elsewhere.
//!
//! tmux answers each command in a `%begin … %end` (or `%error`) block, in
//! the order the commands were sent, and writes `%output %PANE BYTES`
//! (bytes below 32 and `\` as octal escapes) as the pane produces them,
//! never inside a block: output before the snapshot's capture block is in
//! the snapshot, output after it is not — which is how the two join
//! without a gap or a repeat. But only once the client is attached: tmux
//! may run the commands a client sends before its own `attach-session`
//! (seen under load), and output made before the client is attached is
//! never sent to it — so the snapshot is asked for when tmux says the
//! client is in the session (`%session-changed`), not sooner.

use sinc_plugin_host::sessions::Frame;

/// The commands (one per line) that make tmux answer with a snapshot of
/// session `id`'s pane: its id, size and cursor, then its contents with
/// up to `scrollback` lines above the screen, with colours.
pub fn snapshot_commands(id: &str, scrollback: u32) -> String {
    let target = format!("={id}:");
    format!(
        "display-message -p -t '{target}' '#{{pane_id}} #{{pane_width}} #{{pane_height}} #{{cursor_x}} #{{cursor_y}}'\n\
         capture-pane -p -e -S -{} -t '{target}'\n",
        scrollback.min(100_000)
    )
}

/// Where the reader is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Waiting for the client to be attached to the session.
    Attaching,
    /// Waiting for the pane's geometry (other blocks, such as the attach
    /// command's own, are passed over; output is dropped: the snapshot
    /// will have it).
    Geometry,
    /// Waiting for the capture.
    Capture { pane: String, cols: u16, rows: u16, x: u16, y: u16 },
    /// Passing output on.
    Live,
}

/// A control-mode reader for one pane.
#[derive(Debug)]
pub struct Reader {
    /// The session watched.
    session: String,
    phase: Phase,
    /// The pane whose output is passed on (learnt from the geometry).
    pane: Option<String>,
    /// Whether the first snapshot was made (output is passed on from then
    /// on, also while a later one is asked for).
    live: bool,
    /// The block being read: the `TIME NUMBER FLAGS` its `%end` repeats,
    /// and its lines.
    block: Option<(Vec<u8>, Vec<Vec<u8>>)>,
}

/// What one line means to the watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// Something to show.
    Frame(Frame),
    /// Send [`snapshot_commands`] now: the client is attached, or the pane
    /// changed size (the reader now waits for their answers).
    AskForSnapshot,
    /// Nothing yet.
    Nothing,
}

impl Reader {
    /// A reader of session `session`, waiting for the client to attach.
    pub fn new(session: &str) -> Reader {
        Reader { session: session.to_owned(), phase: Phase::Attaching, pane: None, live: false, block: None }
    }

    fn ask_for_snapshot(&mut self) -> Read {
        self.phase = Phase::Geometry;
        Read::AskForSnapshot
    }

    /// Read one line (without its `\n`).
    pub fn line(&mut self, line: &[u8]) -> Read {
        if let Some((tag, lines)) = &mut self.block {
            // A pane's text can hold "%end …" too: only the line that
            // repeats the `%begin`'s time, number and flags ends it.
            let end = line.strip_prefix(b"%end ").map(|rest| (rest, false));
            let end = end.or_else(|| line.strip_prefix(b"%error ").map(|rest| (rest, true)));
            if let Some((rest, failed)) = end
                && rest == tag.as_slice()
            {
                let (_, lines) = self.block.take().unwrap_or_default();
                return self.block_done(lines, failed);
            }
            lines.push(line.to_vec());
            return Read::Nothing;
        }
        if let Some(tag) = line.strip_prefix(b"%begin ") {
            self.block = Some((tag.to_vec(), Vec::new()));
            return Read::Nothing;
        }
        if line.starts_with(b"%exit") {
            return Read::Frame(Frame::Ended);
        }
        // Its session gone, tmux may move the client to another one
        // (`detach-on-destroy off`): that is the end too.
        if let Some(rest) = line.strip_prefix(b"%session-changed ") {
            let name = split_word(rest).1;
            return match (name == self.session.as_bytes(), &self.phase) {
                (false, _) => Read::Frame(Frame::Ended),
                (true, Phase::Attaching) => self.ask_for_snapshot(),
                (true, _) => Read::Nothing,
            };
        }
        if line.starts_with(b"%layout-change ") {
            // One snapshot at a time: a later one has every change.
            return if self.live && self.phase == Phase::Live { self.ask_for_snapshot() } else { Read::Nothing };
        }
        if let Some(rest) = line.strip_prefix(b"%output ") {
            let (pane, data) = split_word(rest);
            if self.live && self.pane.as_deref().map(str::as_bytes) == Some(pane) {
                return Read::Frame(Frame::Output(unescape(data)));
            }
        }
        Read::Nothing
    }

    fn block_done(&mut self, lines: Vec<Vec<u8>>, failed: bool) -> Read {
        if self.phase == Phase::Attaching {
            return Read::Nothing;
        }
        match std::mem::replace(&mut self.phase, Phase::Live) {
            Phase::Attaching => Read::Nothing,
            Phase::Geometry => {
                match (failed, lines.as_slice()) {
                    (false, [one]) => match geometry(one) {
                        Some((pane, cols, rows, x, y)) => {
                            self.pane = Some(pane.clone());
                            self.phase = Phase::Capture { pane, cols, rows, x, y };
                        }
                        None => self.phase = Phase::Geometry,
                    },
                    _ => self.phase = Phase::Geometry,
                }
                Read::Nothing
            }
            Phase::Capture { cols, rows, x, y, .. } if !failed => {
                self.live = true;
                let text: Vec<String> = lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
                Read::Frame(Frame::Snapshot { cols, rows, x, y, text: text.join("\r\n") })
            }
            Phase::Capture { .. } => {
                self.phase = Phase::Geometry;
                Read::Nothing
            }
            Phase::Live => Read::Nothing,
        }
    }
}

/// `%PANE COLS ROWS X Y`.
fn geometry(line: &[u8]) -> Option<(String, u16, u16, u16, u16)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut words = text.split(' ');
    let pane = words.next().filter(|p| p.starts_with('%'))?.to_owned();
    let mut number = || words.next()?.parse::<u16>().ok();
    let (cols, rows, x, y) = (number()?, number()?, number()?, number()?);
    Some((pane, cols, rows, x, y))
}

fn split_word(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|&b| b == b' ') {
        Some(at) => (&line[..at], &line[at + 1..]),
        None => (line, &[]),
    }
}

/// `%output`'s data as the bytes the pane wrote: `\ooo` is one byte.
fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let octal = data.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (data[i], octal) {
            (b'\\', Some(d)) => {
                out.push(((d[0] - b'0') << 6) | ((d[1] - b'0') << 3) | (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(reader: &mut Reader, text: &str) -> Vec<Read> {
        text.lines().map(|l| reader.line(l.as_bytes())).filter(|r| *r != Read::Nothing).collect()
    }

    #[test]
    fn output_before_the_capture_is_in_the_snapshot_and_after_it_is_passed_on() {
        let mut r = Reader::new("s");
        let got = feed(
            &mut r,
            "%begin 1 1 0\n%end 1 1 0\n%output %3 early\\015\\012\n%session-changed $1 s\n\
             %begin 1 2 1\n%3 80 24 5 1\n%end 1 2 1\n%output %3 between\n\
             %begin 1 3 1\n\u{1b}[1mhello\u{1b}[0m\n%end 9 9 9\n%exit\n$ \n%end 1 3 1\n\
             %output %3 a\\134b\\033[m\n%output %4 other pane\n%exit\n",
        );
        assert_eq!(
            got,
            [
                Read::AskForSnapshot,
                Read::Frame(Frame::Snapshot {
                    cols: 80,
                    rows: 24,
                    x: 5,
                    y: 1,
                    text: "\u{1b}[1mhello\u{1b}[0m\r\n%end 9 9 9\r\n%exit\r\n$ ".into()
                }),
                Read::Frame(Frame::Output(b"a\\b\x1b[m".to_vec())),
                Read::Frame(Frame::Ended),
            ]
        );
    }

    #[test]
    fn a_resize_asks_again_and_output_goes_on_meanwhile() {
        let mut r = Reader::new("s");
        feed(&mut r, "%session-changed $1 s\n%begin 1 2 1\n%3 80 24 0 0\n%end 1 2 1\n%begin 1 3 1\nx\n%end 1 3 1\n");
        assert_eq!(feed(&mut r, "%layout-change @1 abcd,100x30,0,0,3 abcd,100x30,0,0,3 *\n"), [Read::AskForSnapshot]);
        let got =
            feed(&mut r, "%output %3 more\n%begin 2 4 1\n%3 100 30 1 2\n%end 2 4 1\n%begin 2 5 1\ny\n%end 2 5 1\n");
        assert_eq!(got[0], Read::Frame(Frame::Output(b"more".to_vec())));
        assert!(matches!(&got[1], Read::Frame(Frame::Snapshot { cols: 100, rows: 30, text, .. }) if text == "y"));
    }

    #[test]
    fn a_failed_command_or_odd_geometry_waits_for_the_next_answer() {
        let mut r = Reader::new("s");
        assert_eq!(feed(&mut r, "%session-changed $1 s\n"), [Read::AskForSnapshot]);
        let got = feed(
            &mut r,
            "%begin 1 1 1\ncan't find pane\n%error 1 1 1\n%begin 1 2 1\nnot geometry\n%end 1 2 1\n\
             %begin 1 3 1\n%0 10 5 0 0\n%end 1 3 1\n%begin 1 4 1\n%error 1 4 1\n",
        );
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(unescape(b"\\01"), b"\\01", "a short escape is kept as it is");
    }

    /// tmux can answer a client's commands before its own attach (seen
    /// under load): output made between such a capture and the attach
    /// never reaches the client, so nothing before the attach counts.
    #[test]
    fn answers_before_the_client_is_attached_are_passed_over() {
        let mut r = Reader::new("s");
        let early = feed(
            &mut r,
            "%begin 1 1 1\n%3 80 24 0 0\n%end 1 1 1\n%begin 1 2 1\nstale\n%end 1 2 1\n\
             %begin 1 3 0\n%end 1 3 0\n%output %3 lost\n",
        );
        assert!(early.is_empty(), "{early:?}");
        let got = feed(
            &mut r,
            "%session-changed $1 s\n%output %3 in the capture\n%begin 1 4 1\n%3 80 24 0 1\n%end 1 4 1\n\
             %begin 1 5 1\nfresh\n%end 1 5 1\n%output %3 after\n",
        );
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], Read::AskForSnapshot);
        assert!(matches!(&got[1], Read::Frame(Frame::Snapshot { text, y: 1, .. }) if text == "fresh"));
        assert_eq!(got[2], Read::Frame(Frame::Output(b"after".to_vec())));
    }

    #[test]
    fn moved_to_another_session_is_the_end() {
        let mut r = Reader::new("sinc-a-1");
        assert_eq!(feed(&mut r, "%session-changed $1 sinc-a-1\n"), [Read::AskForSnapshot]);
        assert!(feed(&mut r, "%session-changed $1 sinc-a-1\n").is_empty(), "asked once");
        assert_eq!(feed(&mut r, "%session-changed $2 other\n"), [Read::Frame(Frame::Ended)]);
    }

    #[test]
    fn commands_name_the_session_exactly() {
        let c = snapshot_commands("sinc-app-abc123", 500);
        assert!(c.contains("-t '=sinc-app-abc123:'") && c.contains("-S -500") && c.ends_with('\n'), "{c}");
        assert_eq!(c.lines().count(), 2);
    }
}
