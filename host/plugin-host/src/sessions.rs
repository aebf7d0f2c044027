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
}
