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

pub mod fetch;
pub mod git;
pub mod terminal;

/// The generated bindings of the `sinc:plugin` world.
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "sinc-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "sinc_plugin_sdk::bindings",
    });
}

/// The version of the `sinc:plugin` package this SDK builds against.
pub const WIT_VERSION: &str = "1.10.0";

pub use bindings::exports::sinc::plugin::ending::{Ended, Stage};
pub use bindings::exports::sinc::plugin::hooks::{Launch, Verdict};
pub use bindings::exports::sinc::plugin::tools::Tool;
pub use bindings::sinc::plugin::forwarding;
pub use bindings::sinc::plugin::http_server;
pub use bindings::sinc::plugin::http_types::{Exchange, Forward, Message, Reply, Request, Response, ResponseHead};
pub use bindings::sinc::plugin::invocation;
pub use bindings::sinc::plugin::invocation::FollowUp;
pub use bindings::sinc::plugin::kv;
pub use bindings::sinc::plugin::live_sessions;
pub use bindings::sinc::plugin::log::{Level, log};
pub use bindings::sinc::plugin::notices;
pub use bindings::sinc::plugin::process;
pub use bindings::sinc::plugin::project_files;
pub use bindings::sinc::plugin::secrets;
pub use bindings::sinc::plugin::sessions;
pub use bindings::sinc::plugin::start_options;
pub use bindings::sinc::plugin::types::{Command, CommandOutput, Event, FilesSynced, HostError, Session};
pub use bindings::sinc::plugin::websockets;

/// What a plugin implements. Every method has a default, so a plugin
/// writes only what it uses: the lifecycle and events, subcommands, and
/// (since 1.1) answering HTTP on its declared ports.
pub trait Plugin {
    /// Called once after loading with the plugin's settings
    /// (`[plugins.NAME]`) as a JSON object. An error disables the plugin.
    fn init(config: String) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// Something happened. An error is logged; the plugin stays loaded.
    fn on_event(event: Event) -> Result<(), String> {
        let _ = event;
        Ok(())
    }

    /// The subcommands it adds to `sinc`.
    fn commands() -> Vec<Command> {
        Vec::new()
    }

    /// Run one of them.
    fn run_command(name: String, args: Vec<String>) -> CommandOutput {
        let _ = args;
        CommandOutput::usage(format!("no command `{name}`"))
    }

    /// Called before unloading.
    fn shutdown() {}

    /// Answer a request to one of its ports (default: 404).
    fn handle(request: Request) -> Reply {
        Reply::Respond(Response::text(404, format!("no route for {} {}\n", request.method, request.target)))
    }

    /// A forwarded request is done.
    fn forwarded(exchange: Exchange) {
        let _ = exchange;
    }

    /// A WebSocket message arrived on `connection`.
    fn on_message(connection: u64, message: Message) {
        let _ = (connection, message);
    }

    /// The client of a streamed reply or WebSocket went away.
    fn closed(connection: u64) {
        let _ = connection;
    }

    /// WebSocket `connection`'s peer closed it with `code` and `reason`
    /// (1005: no code; 1006: no close frame); `closed` follows. Since 1.10.
    fn on_close(connection: u64, code: u16, reason: String) {
        let _ = (connection, code, reason);
    }

    /// A session is about to be created: change its launch, or refuse it
    /// (default: change nothing).
    fn before_start(session: Session) -> Verdict {
        let _ = session;
        Verdict::Proceed(Launch { env: Vec::new(), prompt: None })
    }

    /// The next piece of a forwarded response the plugin asked to filter
    /// ([`forwarding::filter_response`]): what the client gets instead
    /// (default: the piece as it is). `last` (with an empty `chunk`) when
    /// the upstream body ended: return what is still held back.
    fn filter_response(request: u64, chunk: Vec<u8>, last: bool) -> Vec<u8> {
        let _ = (request, last);
        chunk
    }

    /// Forwarding `request` failed before a response came (`status` 502:
    /// unreachable; 504: too slow; `reason` says how): what its client gets
    /// instead of the host's plain-text error (default: that).
    fn forward_failed(request: u64, status: u16, reason: String) -> Option<Response> {
        let _ = (request, status, reason);
        None
    }

    /// The tools it offers the agents over MCP (`sinc NAME mcp`); none by
    /// default. Since 1.5.
    fn tools() -> Vec<Tool> {
        Vec::new()
    }

    /// Call one of its tools with `arguments` (a JSON object, as text):
    /// its result as text, or an error text.
    fn call_tool(name: String, arguments: String) -> Result<String, String> {
        let _ = arguments;
        Err(format!("no tool `{name}`"))
    }

    /// The stages of `session`'s end this plugin takes part in (none by
    /// default; return none for sessions it has nothing to do with, and
    /// their sync runs on as before). Local plugins; since 1.6.
    fn end_stages(session: Session) -> Vec<Stage> {
        let _ = session;
        Vec::new()
    }

    /// A session ended: do this plugin's part of `stage` (all plugins
    /// save, then record, then clean up; the session's sync was flushed
    /// and paused first — see `ended.synced` — and is stopped after the
    /// last stage). Ends the laptop stopped in the middle run again when
    /// a keeper next hosts the plugins. Called only for the stages [`Plugin::end_stages`]
    /// names. Local plugins; since 1.6.
    fn on_end(ended: Ended, stage: Stage) -> Result<(), String> {
        let _ = (ended, stage);
        Ok(())
    }
}

/// Export `$ty` (which implements [`Plugin`]) as the component's plugin.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ty) => {
        const _: () = {
            struct SincExports;
            impl $crate::bindings::exports::sinc::plugin::plugin::Guest for SincExports {
                fn init(config: String) -> Result<(), String> {
                    <$ty as $crate::Plugin>::init(config)
                }
                fn on_event(event: $crate::Event) -> Result<(), String> {
                    <$ty as $crate::Plugin>::on_event(event)
                }
                fn commands() -> Vec<$crate::Command> {
                    <$ty as $crate::Plugin>::commands()
                }
                fn run_command(name: String, args: Vec<String>) -> $crate::CommandOutput {
                    <$ty as $crate::Plugin>::run_command(name, args)
                }
                fn shutdown() {
                    <$ty as $crate::Plugin>::shutdown()
                }
            }
            impl $crate::bindings::exports::sinc::plugin::http_handler::Guest for SincExports {
                fn handle(request: $crate::Request) -> $crate::Reply {
                    <$ty as $crate::Plugin>::handle(request)
                }
                fn forwarded(exchange: $crate::Exchange) {
                    <$ty as $crate::Plugin>::forwarded(exchange)
                }
                fn on_message(connection: u64, message: $crate::Message) {
                    <$ty as $crate::Plugin>::on_message(connection, message)
                }
                fn closed(connection: u64) {
                    <$ty as $crate::Plugin>::closed(connection)
                }
            }
            impl $crate::bindings::exports::sinc::plugin::hooks::Guest for SincExports {
                fn before_start(session: $crate::Session) -> $crate::Verdict {
                    <$ty as $crate::Plugin>::before_start(session)
                }
            }
            impl $crate::bindings::exports::sinc::plugin::forward_handler::Guest for SincExports {
                fn filter(request: u64, chunk: Vec<u8>, last: bool) -> Vec<u8> {
                    <$ty as $crate::Plugin>::filter_response(request, chunk, last)
                }
                fn failed(request: u64, status: u16, reason: String) -> Option<$crate::Response> {
                    <$ty as $crate::Plugin>::forward_failed(request, status, reason)
                }
            }
            impl $crate::bindings::exports::sinc::plugin::tools::Guest for SincExports {
                fn list() -> Vec<$crate::Tool> {
                    <$ty as $crate::Plugin>::tools()
                }
                fn call(name: String, arguments: String) -> Result<String, String> {
                    <$ty as $crate::Plugin>::call_tool(name, arguments)
                }
            }
            impl $crate::bindings::exports::sinc::plugin::websocket_events::Guest for SincExports {
                fn on_close(connection: u64, code: u16, reason: String) {
                    <$ty as $crate::Plugin>::on_close(connection, code, reason)
                }
            }
            impl $crate::bindings::exports::sinc::plugin::ending::Guest for SincExports {
                fn stages(session: $crate::Session) -> Vec<$crate::Stage> {
                    <$ty as $crate::Plugin>::end_stages(session)
                }
                fn on_end(ended: $crate::Ended, stage: $crate::Stage) -> Result<(), String> {
                    <$ty as $crate::Plugin>::on_end(ended, stage)
                }
            }
    $crate::bindings::__export_world!(SincExports with_types_in $crate::bindings);
        };
    };
}

impl Response {
    /// A response with `body` and `content-type: text/plain; charset=utf-8`.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.into().into_bytes(),
        }
    }

    /// A response with `body` (already JSON) and `content-type: application/json`.
    pub fn json(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into().into_bytes(),
        }
    }
}

impl Request {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target.as_str(), |(p, _)| p)
    }
}

impl ResponseHead {
    /// The head of a server-sent-events stream (`text/event-stream`, no caching).
    pub fn event_stream() -> ResponseHead {
        ResponseHead {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/event-stream".into()),
                ("cache-control".into(), "no-cache".into()),
            ],
        }
    }
}

/// One server-sent event (`event:` line when `event` is given, one `data:`
/// line per line of `data`), ready for [`http_server::send`].
pub fn sse_event(event: Option<&str>, data: &str) -> Vec<u8> {
    let mut out = String::new();
    if let Some(event) = event {
        out.push_str(&format!("event: {event}\n"));
    }
    for line in data.split('\n') {
        out.push_str(&format!("data: {line}\n"));
    }
    out.push('\n');
    out.into_bytes()
}

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
        Command, CommandOutput, Ended, Event, Exchange, FilesSynced, FollowUp, Forward, HostError, Launch, Level,
        Message, Plugin, Reply, Request, Response, ResponseHead, Session, Stage, Tool, Verdict, forwarding,
        http_server, invocation, kv, live_sessions, notices, process, project_files, secrets, sessions, sse_event,
        start_options, websockets,
    };
    pub use crate::{debug, info, warn};
}
