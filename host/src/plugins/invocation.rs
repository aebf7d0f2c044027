//! What the `sinc` running a local plugin's subcommand does once it has
//! returned (SDK 1.6 `invocation.then`): open, start or end the session of
//! a laptop folder.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A follow-up, as it travels from the plugin host to the `sinc` that
/// asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "do", content = "folder")]
pub enum FollowUp {
    /// Open the folder's session (attach on a terminal, else start it).
    Open(PathBuf),
    /// Start the folder's session without attaching.
    Start(PathBuf),
    /// End the folder's session.
    End(PathBuf),
}

impl From<sinc_plugin_host::FollowUp> for FollowUp {
    fn from(asked: sinc_plugin_host::FollowUp) -> FollowUp {
        match asked {
            sinc_plugin_host::FollowUp::Open(f) => FollowUp::Open(f.into()),
            sinc_plugin_host::FollowUp::Start(f) => FollowUp::Start(f.into()),
            sinc_plugin_host::FollowUp::End(f) => FollowUp::End(f.into()),
        }
    }
}

impl FollowUp {
    /// The folder it is about.
    pub fn folder(&self) -> &std::path::Path {
        match self {
            FollowUp::Open(f) | FollowUp::Start(f) | FollowUp::End(f) => f,
        }
    }
}
