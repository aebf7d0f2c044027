//! Uploading a file of a project to Discord: asked by a member (`/share`)
//! or by the agent, through the MCP tool `share_file` (`sinc kimaki mcp`
//! on the VPS). Only the project's own files: no `..`, no hidden names, no
//! symbolic links on the way.

use crate::discord::{Body, no_pings};
use crate::links;
use crate::plugin::Bot;
use serde_json::{Value, json};

/// The largest file a bot may upload by default.
const SHARE_LIMIT: u64 = 10 << 20;

/// The tool's name.
pub const TOOL: &str = "share_file";

/// The tool, as the agents see it.
pub fn tool() -> sinc_plugin_sdk::Tool {
    sinc_plugin_sdk::Tool {
        name: TOOL.into(),
        description: "Upload a file of your project to the Discord thread that follows your session, for the \
                      user to see there (a screenshot, a report, a build artefact). The file must be inside the \
                      project folder, not hidden, at most 10 MiB."
            .into(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "path": { "type": "string", "description": "The file's absolute path" },
                "note": { "type": "string", "description": "A line to post with it" },
            },
            "required": ["path"],
        })
        .to_string(),
    }
}

impl Bot {
    /// Upload file `path` (relative) of `project` to `channel`, with `note`.
    pub(crate) fn share(&mut self, channel: &str, project: &str, path: &str) -> Result<(), String> {
        self.share_with(channel, project, path, None)
    }

    fn share_with(&mut self, channel: &str, project: &str, path: &str, note: Option<&str>) -> Result<(), String> {
        let full = links::file_in(project, path)?;
        // Nothing reached through a link (it could lead out of the project).
        if links::through_link(project, path.trim()) {
            return Err(format!("`{path}` goes through a symbolic link; only the project's own files are shared"));
        }
        // A plain file only (a pipe would block the bot), read up to the
        // limit (it may grow meanwhile).
        let meta = std::fs::symlink_metadata(&full).map_err(|e| format!("`{path}`: {e}"))?;
        if !meta.is_file() {
            return Err(format!("`{path}` is not a file"));
        }
        let mut bytes = Vec::new();
        let file = std::fs::File::open(&full).map_err(|e| format!("reading `{path}`: {e}"))?;
        std::io::Read::read_to_end(&mut std::io::Read::take(file, SHARE_LIMIT + 1), &mut bytes)
            .map_err(|e| format!("reading `{path}`: {e}"))?;
        if bytes.len() as u64 > SHARE_LIMIT {
            return Err(format!("`{path}` is larger than Discord's {} MiB for a bot's file", SHARE_LIMIT >> 20));
        }
        let name = crate::attachments::sanitise(path);
        let content = match note {
            Some(note) => format!("📤 `{path}`: {note}"),
            None => format!("📤 `{path}`"),
        };
        let content: String = content.chars().take(1900).collect();
        let body = json!({ "content": content, "attachments": [{ "id": 0, "filename": name }], "allowed_mentions": no_pings() });
        let files = [(name, bytes)];
        self.api
            .call("POST", &format!("/channels/{channel}/messages"), Body::Files(&body, &files))
            .map(|_| ())
            .map_err(|why| format!("uploading `{path}`: {why}"))
    }

    /// The agent's call of the tool (`arguments`: its JSON object).
    pub(crate) fn share_from_agent(&mut self, arguments: &str) -> Result<String, String> {
        let args: Value = serde_json::from_str(arguments).map_err(|e| format!("the arguments are not JSON: {e}"))?;
        let path = args["path"].as_str().ok_or("give `path`, the file's absolute path")?;
        let note = args["note"].as_str().map(str::trim).filter(|n| !n.is_empty());
        if !path.starts_with('/') {
            return Err(format!("`{path}`: give the file's absolute path"));
        }
        // The thread following a live session of the project the file is
        // in (the deepest such project).
        let found = self
            .links
            .live()
            .filter_map(|(thread, t)| {
                let project = self.links.projects.get(&t.channel)?;
                let relative = path.strip_prefix(&format!("{project}/"))?;
                Some((thread.clone(), project.clone(), relative.to_owned()))
            })
            .max_by_key(|(_, project, _)| project.len());
        let Some((thread, project, relative)) = found else {
            return Err(format!("`{path}` is in no project whose session a Discord thread follows"));
        };
        self.share_with(&thread, &project, &relative, note)?;
        Ok(format!("Shared {relative} to the session's Discord thread."))
    }
}
