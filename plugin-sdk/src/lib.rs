//! Write sinc plugins in ordinary Rust.
//!
//! A plugin is a `cdylib` crate built with `cargo build --target
//! wasm32-wasip2`. It implements [`Plugin`] on a type, exports it with
//! [`export_plugin!`], and embeds its manifest (name, version, where it runs,
//! what it may do) with [`manifest!`]:
//!
//! ```ignore
//! use sinc_plugin_sdk::prelude::*;
//!
//! sinc_plugin_sdk::manifest!("../sinc-plugin.toml");
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn init(_config: String) -> Result<(), String> { Ok(()) }
//!     fn on_event(event: Event) -> Result<(), String> { info!("got {event:?}"); Ok(()) }
//!     fn commands() -> Vec<Command> { vec![] }
//!     fn run_command(_name: String, _args: Vec<String>) -> CommandOutput { CommandOutput::ok("") }
//!     fn shutdown() {}
//! }
//!
//! sinc_plugin_sdk::export_plugin!(Hello);
//! ```
//!
//! The guide is `plugin-sdk/README.md`.

/// The generated bindings of the `sinc:plugin` world.
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "sinc-plugin",
        pub_export_macro: true,
        export_macro_name: "export_plugin",
        default_bindings_module: "sinc_plugin_sdk::bindings",
    });
}

/// The version of the `sinc:plugin` package this SDK builds against.
pub const WIT_VERSION: &str = "1.0.0";

pub use bindings::export_plugin;
pub use bindings::exports::sinc::plugin::plugin::Guest as Plugin;
pub use bindings::sinc::plugin::kv;
pub use bindings::sinc::plugin::log::{Level, log};
pub use bindings::sinc::plugin::process;
pub use bindings::sinc::plugin::secrets;
pub use bindings::sinc::plugin::types::{Command, CommandOutput, Event, FilesSynced, HostError, Session};

impl CommandOutput {
    /// Success, printing `stdout`.
    pub fn ok(stdout: impl Into<String>) -> CommandOutput {
        CommandOutput { status: 0, stdout: stdout.into(), stderr: String::new() }
    }

    /// Failure (status 1), printing `message` on stderr.
    pub fn fail(message: impl Into<String>) -> CommandOutput {
        CommandOutput { status: 1, stdout: String::new(), stderr: message.into() }
    }

    /// A usage error (status 2), printing `message` on stderr.
    pub fn usage(message: impl Into<String>) -> CommandOutput {
        CommandOutput { status: 2, stdout: String::new(), stderr: message.into() }
    }
}

impl HostError {
    /// The host's explanation: `denied: …` (naming the missing permission)
    /// or `failed: …`.
    pub fn reason(&self) -> String {
        match self {
            HostError::Denied(why) => format!("denied: {why}"),
            HostError::Failed(why) => format!("failed: {why}"),
        }
    }
}

/// Embed the plugin's manifest (a TOML file, path relative to the calling
/// source file) in the component, where `sinc plugin add` reads it.
#[macro_export]
macro_rules! manifest {
    ($path:literal) => {
        #[unsafe(link_section = "sinc-manifest")]
        #[used]
        static SINC_PLUGIN_MANIFEST: [u8; include_bytes!($path).len()] = *include_bytes!($path);
    };
}

/// Log through the host at a level: `sinc_plugin_sdk::info!("{} files", n)`.
#[macro_export]
macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => { $crate::log($level, &format!($($arg)*)) };
}

/// Log at `info`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log_at!($crate::Level::Info, $($arg)*) };
}

/// Log at `warn`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log_at!($crate::Level::Warn, $($arg)*) };
}

/// Log at `debug`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log_at!($crate::Level::Debug, $($arg)*) };
}

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::{
        Command, CommandOutput, Event, FilesSynced, HostError, Level, Plugin, Session, kv, process, secrets,
    };
    pub use crate::{debug, info, warn};
}
