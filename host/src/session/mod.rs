//! Sessions: project ids, the remote tmux session running the agent,
//! attaching a terminal to it, `sinc ssh`'s plain terminals, and the local
//! record of sessions. Knows nothing about sync internals.

pub mod agent_state;
pub mod attach;
pub mod control_mode;
pub mod escape;
pub mod registry;
pub mod shell;
pub mod spec;
pub mod terminal;
pub mod tmux;

pub use attach::{AttachEnd, AttachError, Reattach, attach};
pub use registry::{Registry, SessionRecord};
pub use spec::SessionSpec;
