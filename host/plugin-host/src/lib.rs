//! sinc's WebAssembly plugin runtime: the `sinc:plugin` WIT world's host
//! side on wasmtime (component model, WASI preview 2, wasi:http out), the
//! compiled-plugin cache, manifests and what they allow, each plugin's
//! key-value store, and the programs and hosts it may reach.
//! Only this crate depends on wasmtime.

pub mod cache;
pub mod kv;
pub mod manifest;
pub mod outbound;
pub mod process;
pub mod running;
pub mod runtime;
pub mod serving;

/// The host bindings of the `sinc:plugin` world.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../plugin-sdk/wit",
        world: "sinc-plugin",
    });
}

pub use bindings::sinc::plugin::http_types::{Exchange, Forward, Message, Reply, Request, Response, ResponseHead};
pub use bindings::sinc::plugin::types::{Command, CommandOutput, Event, FilesSynced, Session};
pub use manifest::{Manifest, ManifestError, RunsOn};
pub use runtime::{Grants, Limits, Plugin, PluginError, Runtime};
