//! The plugin: the settings files of the synced folders the host mounted
//! for it, checked at each session's start and by `sinc agent-config`.

use crate::check::{Read, SETTINGS};
use sinc_plugin_sdk::prelude::*;
use std::path::PathBuf;

sinc_plugin_sdk::manifest!("../sinc-plugin.toml");

/// Notices one session start shows at most (the host shows 10).
const MAX_NOTICES: usize = 10;

/// Settings files larger than this are not read.
const MAX_FILE: u64 = 1 << 20;

struct AgentConfigSync;

impl Plugin for AgentConfigSync {
    fn commands() -> Vec<Command> {
        vec![Command {
            name: "agent-config".into(),
            summary: "check the agents' synced settings for keys written into them".into(),
        }]
    }

    fn run_command(_name: String, args: Vec<String>) -> CommandOutput {
        let out = crate::check::run(&args, &settings_files());
        CommandOutput { status: out.status, stdout: out.stdout, stderr: out.stderr }
    }

    fn before_start(_session: Session) -> Verdict {
        for notice in crate::check::notices(&settings_files(), MAX_NOTICES) {
            notices::warn(&notice);
        }
        Verdict::Proceed(Launch { env: Vec::new(), prompt: None })
    }
}

/// The settings files in the mounted folders (a folder that did not exist
/// when the plugin loaded is not mounted).
fn settings_files() -> Vec<Read> {
    let mut files = Vec::new();
    for (_, folder) in wasip2::filesystem::preopens::get_directories() {
        let folder = PathBuf::from(folder);
        let Some((_, names)) = SETTINGS.iter().find(|(ending, _)| folder.ends_with(ending)) else { continue };
        for name in *names {
            let path = folder.join(name);
            let small = std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() <= MAX_FILE);
            if let Some(text) = small.then(|| std::fs::read_to_string(&path).ok()).flatten() {
                files.push((path.to_string_lossy().into_owned(), text));
            }
        }
    }
    // The host mounts folders in no particular order.
    files.sort();
    files
}

sinc_plugin_sdk::export_plugin!(AgentConfigSync);
