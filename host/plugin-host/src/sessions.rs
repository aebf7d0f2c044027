//! The `sessions` interface: the host that knows the agent sessions (the VPS
//! daemon) provides a [`SessionHost`]; each call is checked against the
//! plugin's `sessions` permission first (`read`: list and screen;
//! `control`: also typing, keys and starting sessions).

pub use crate::bindings::sinc::plugin::sessions::{SessionInfo, State};

/// Where the sessions are.
pub trait SessionHost: Send + Sync + std::fmt::Debug {
    /// Every agent session.
    fn list(&self) -> Result<Vec<SessionInfo>, String>;
    /// A session's screen and up to `scrollback` lines above it.
    fn screen(&self, id: &str, scrollback: u32) -> Result<String, String>;
    /// Type `text`, then Enter when `enter`.
    fn send(&self, id: &str, text: &str, enter: bool) -> Result<(), String>;
    /// Press keys (tmux key names).
    fn keys(&self, id: &str, keys: &[String]) -> Result<(), String>;
    /// Start (or find) the session for `folder`; its id.
    fn start(&self, folder: &str, agent: Option<&str>) -> Result<String, String>;
    /// Hand `sink` session `id`'s screen (with `scrollback` lines above it),
    /// then its output as it comes, until `sink` answers `false` or the
    /// returned stop is called.
    fn watch(&self, id: &str, scrollback: u32, sink: Sink) -> Result<StopWatching, String>;
    /// Stop session `id` (its last output kept first).
    fn stop(&self, id: &str) -> Result<(), String>;
}

/// What a watched session shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Its screen now: `text` (scrollback and screen, lines separated by
    /// `\r\n`) for a terminal of `cols` × `rows`, the cursor at
    /// (`x`, `y`).
    Snapshot {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
        /// Cursor column, 0-based.
        x: u16,
        /// Cursor row from the screen's top, 0-based.
        y: u16,
        /// What it shows.
        text: String,
    },
    /// Bytes its agent wrote since.
    Output(Vec<u8>),
    /// It ended.
    Ended,
}

impl Frame {
    /// As a `live-sessions.watch` WebSocket message.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Frame::Snapshot { cols, rows, x, y, text } => {
                let mut out = format!("s{cols} {rows} {x} {y}\n").into_bytes();
                out.extend_from_slice(text.as_bytes());
                out
            }
            Frame::Output(bytes) => {
                let mut out = Vec::with_capacity(bytes.len() + 1);
                out.push(b'o');
                out.extend_from_slice(bytes);
                out
            }
            Frame::Ended => b"x".to_vec(),
        }
    }
}

/// Where a watched session's frames go; `false` ends the watch.
pub type Sink = Box<dyn FnMut(Frame) -> bool + Send>;

/// Ends a watch.
pub type StopWatching = Box<dyn FnOnce() + Send>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_one_byte_of_kind_then_their_data() {
        let snapshot = Frame::Snapshot { cols: 80, rows: 24, x: 2, y: 3, text: "a\r\nb".into() };
        assert_eq!(snapshot.encode(), b"s80 24 2 3\na\r\nb");
        assert_eq!(Frame::Output(vec![0x1b, b'[', b'm']).encode(), b"o\x1b[m");
        assert_eq!(Frame::Ended.encode(), b"x");
    }
}
