//! The versioned, framed protocol between the laptop's keeper and the VPS
//! daemon: [`message`] defines what is said, [`codec`] how it is framed.

pub mod codec;
pub mod message;

pub use codec::{PREAMBLE, WireError, WireReader, WireWriter, handshake, skip_to_preamble, write_preamble};
pub use message::{
    AgentStates, Body, Chunk, Hello, Message, Notice, PluginGrant, PluginState, RejectKind, Request, Response,
    SessionChange, SessionEvent, SessionRef, ToolInfo,
};
