//! sinc's WebAssembly plugin runtime: the `sinc:plugin` WIT world's host
//! side on wasmtime (component model, WASI preview 2, wasi:http out), the
//! compiled-plugin cache, manifests and what they allow, each plugin's
//! key-value store, and the programs and hosts it may reach.
//! Only this crate depends on wasmtime.

pub mod cache;
pub mod kv;
pub mod manifest;
pub mod outbound;
pub(crate) mod own_runtime;
pub mod process;
pub mod project_files;
pub mod reports;
pub mod running;
pub mod runtime;
pub mod serving;
pub mod sessions;
pub mod upstream;
pub mod vps_loopback;
pub mod websockets;

/// The version of `sinc:plugin` this host links (it links every earlier
/// 1.x too).
pub const SDK: semver::Version = semver::Version::new(1, 10, 0);

/// The host bindings of the `sinc:plugin` world.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../plugin-sdk/wit",
        world: "sinc-plugin",
    });
}

pub use bindings::exports::sinc::plugin::ending::{Ended, Stage};
pub use bindings::exports::sinc::plugin::hooks::{Launch, Verdict};
pub use bindings::exports::sinc::plugin::tools::Tool;
pub use bindings::sinc::plugin::http_types::{Exchange, Forward, Message, Reply, Request, Response, ResponseHead};
pub use bindings::sinc::plugin::invocation::FollowUp;
pub use bindings::sinc::plugin::types::{Command, CommandOutput, Event, FilesSynced, Session};
pub use manifest::{Manifest, ManifestError, RunsOn};
pub use runtime::{Grants, HookAnswer, Invoked, Limits, Plugin, PluginError, Runtime};

#[cfg(test)]
mod tests {
    #[test]
    fn the_sdk_constant_is_the_wit_package_version() {
        let wit = include_str!("../../../plugin-sdk/wit/plugin.wit");
        assert!(wit.contains(&format!("\npackage sinc:plugin@{};\n", super::SDK)), "update SDK with the WIT package");
        let sdk = include_str!("../../../plugin-sdk/src/lib.rs");
        assert!(
            sdk.contains(&format!("WIT_VERSION: &str = \"{}\";", super::SDK)),
            "update the SDK crate's WIT_VERSION"
        );
    }
}
