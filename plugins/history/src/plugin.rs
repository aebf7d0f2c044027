//! The plugin: `sinc history …`, over the logs in the folders the host
//! mounted for it.

use crate::transcript::Transcript;
use sinc_plugin_sdk::prelude::*;
use std::path::PathBuf;

sinc_plugin_sdk::manifest!("../sinc-plugin.toml");

struct History;

impl Plugin for History {
    fn commands() -> Vec<Command> {
        vec![Command {
            name: "history".into(),
            summary: "search and read past agent sessions (Claude Code, OpenCode) on the VPS".into(),
        }]
    }

    fn run_command(_name: String, args: Vec<String>) -> CommandOutput {
        let out = crate::command::run(&args, &sessions());
        CommandOutput { status: out.status, stdout: out.stdout, stderr: out.stderr }
    }

    fn tools() -> Vec<Tool> {
        crate::tools::specs()
            .into_iter()
            .map(|(name, description, schema)| Tool {
                name: name.into(),
                description: description.into(),
                input_schema: schema.to_string(),
            })
            .collect()
    }

    fn call_tool(name: String, arguments: String) -> Result<String, String> {
        crate::tools::call(&name, &arguments, &sessions())
    }
}

/// Every session in the agents' log folders that are mounted (a folder
/// that did not exist when the plugin loaded is not).
fn sessions() -> Vec<Transcript> {
    let mounted: Vec<PathBuf> =
        wasip2::filesystem::preopens::get_directories().into_iter().map(|(_, path)| PathBuf::from(path)).collect();
    let mut all = Vec::new();
    for folder in mounted {
        if folder.ends_with(".claude/projects") {
            all.extend(crate::claude::read_all(&folder));
        } else if folder.ends_with("opencode/storage") {
            all.extend(crate::opencode::read_all(&folder));
        }
    }
    all
}

sinc_plugin_sdk::export_plugin!(History);
