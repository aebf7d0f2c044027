//! The slash commands: what is registered with Discord for each server,
//! and what an interaction asks for.

use serde_json::{Value, json};

/// What a member asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// `/new [prompt]`: a session for the channel's project, in a new thread.
    New {
        /// The agent's first message.
        prompt: Option<String>,
    },
    /// `/sessions`: every session on the VPS.
    Sessions,
    /// `/stop`: stop the thread's session.
    Stop,
    /// `/status`: the thread's session, or the channel's project.
    Status,
    /// `/diff`: changed files and a diffstat of the project.
    Diff,
    /// `/output [lines]`: the last lines of the session's screen.
    Output {
        /// How many.
        lines: u32,
    },
    /// `/project add folder`: this channel is the project in `folder`.
    ProjectAdd {
        /// A folder on the VPS (absolute or `~/…`).
        folder: String,
    },
    /// `/share file`: upload a file of the project to the channel.
    Share {
        /// Its path in the project.
        path: String,
    },
    /// `/project remove`: this channel is no longer a project.
    ProjectRemove,
    /// Something this plugin does not know (an old registration).
    Unknown(String),
}

/// The most lines `/output` shows.
pub const MAX_OUTPUT_LINES: u32 = 500;

/// The commands, as registered (Discord's application command objects).
pub fn definitions() -> Value {
    let command = |name: &str, description: &str, options: Value| json!({ "name": name, "type": 1, "description": description, "options": options, "dm_permission": false });
    json!([
        command(
            "new",
            "Start the agent session of this channel's project, in a new thread",
            json!([
                { "type": 3, "name": "prompt", "description": "The agent's first message", "required": false, "max_length": 4000 },
            ])
        ),
        command("sessions", "The agent sessions on the VPS", json!([])),
        command("stop", "Stop this thread's session", json!([])),
        command("status", "What this thread's session (or this channel's project) is doing", json!([])),
        command("diff", "Changed files and a short diffstat of the project", json!([])),
        command(
            "output",
            "The last lines of the session's screen",
            json!([
                { "type": 4, "name": "lines", "description": "How many (default 40)", "required": false,
                  "min_value": 1, "max_value": MAX_OUTPUT_LINES },
            ])
        ),
        command(
            "share",
            "Upload a file of the project here",
            json!([
                { "type": 3, "name": "file", "description": "Its path in the project folder", "required": true, "max_length": 1000 },
            ]),
        ),
        command(
            "project",
            "Link this channel to a project folder on the VPS",
            json!([
                { "type": 1, "name": "add", "description": "This channel is the project in a folder on the VPS", "options": [
                    { "type": 3, "name": "folder", "description": "The folder (absolute, or ~/…)", "required": true, "max_length": 1000 },
                ]},
                { "type": 1, "name": "remove", "description": "This channel is no longer a project", "options": [] },
            ])
        ),
    ])
}

/// What interaction `data` (its `data` object) asks; `default_lines` for
/// `/output` without a count.
pub fn parse(data: &Value, default_lines: u32) -> Asked {
    let options = data["options"].as_array().map(Vec::as_slice).unwrap_or_default();
    let option = |name: &str| options.iter().find(|o| o["name"] == name).map(|o| &o["value"]);
    let text =
        |name: &str| option(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    match data["name"].as_str().unwrap_or_default() {
        "new" => Asked::New { prompt: text("prompt") },
        "sessions" => Asked::Sessions,
        "stop" => Asked::Stop,
        "status" => Asked::Status,
        "diff" => Asked::Diff,
        "output" => {
            let lines =
                option("lines").and_then(Value::as_u64).map_or(default_lines, |n| u32::try_from(n).unwrap_or(u32::MAX));
            Asked::Output { lines: lines.clamp(1, MAX_OUTPUT_LINES) }
        }
        "share" => match text("file") {
            Some(path) => Asked::Share { path },
            None => Asked::Unknown("share without a file".into()),
        },
        "project" => match options.first() {
            Some(sub) if sub["name"] == "add" => {
                let inner = sub["options"].as_array().map(Vec::as_slice).unwrap_or_default();
                let folder = inner.iter().find(|o| o["name"] == "folder").and_then(|o| o["value"].as_str());
                match folder.map(str::trim).filter(|f| !f.is_empty()) {
                    Some(folder) => Asked::ProjectAdd { folder: folder.to_owned() },
                    None => Asked::Unknown("project add without a folder".into()),
                }
            }
            Some(sub) if sub["name"] == "remove" => Asked::ProjectRemove,
            _ => Asked::Unknown("project".into()),
        },
        other => Asked::Unknown(other.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_follow_discords_rules() {
        let all = definitions();
        let names: Vec<&str> = all.as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
        assert_eq!(names, ["new", "sessions", "stop", "status", "diff", "output", "share", "project"]);
        for c in all.as_array().unwrap() {
            let name = c["name"].as_str().unwrap();
            assert!(name.len() <= 32 && name.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{name}");
            let description = c["description"].as_str().unwrap();
            assert!((1..=100).contains(&description.len()), "{description}");
        }
    }

    #[test]
    fn interactions_become_requests() {
        assert_eq!(parse(&json!({ "name": "new" }), 40), Asked::New { prompt: None });
        let new = json!({ "name": "new", "options": [{ "name": "prompt", "type": 3, "value": " fix it " }] });
        assert_eq!(parse(&new, 40), Asked::New { prompt: Some("fix it".into()) });
        assert_eq!(parse(&json!({ "name": "output" }), 40), Asked::Output { lines: 40 });
        let many = json!({ "name": "output", "options": [{ "name": "lines", "type": 4, "value": 100000 }] });
        assert_eq!(parse(&many, 40), Asked::Output { lines: MAX_OUTPUT_LINES });
        let add = json!({ "name": "project", "options": [{ "name": "add", "type": 1,
                          "options": [{ "name": "folder", "type": 3, "value": "~/code/app" }] }] });
        assert_eq!(parse(&add, 40), Asked::ProjectAdd { folder: "~/code/app".into() });
        let remove = json!({ "name": "project", "options": [{ "name": "remove", "type": 1 }] });
        assert_eq!(parse(&remove, 40), Asked::ProjectRemove);
        assert_eq!(parse(&json!({ "name": "abort" }), 40), Asked::Unknown("abort".into()));
        let share = json!({ "name": "share", "options": [{ "name": "file", "type": 3, "value": "out/report.txt" }] });
        assert_eq!(parse(&share, 40), Asked::Share { path: "out/report.txt".into() });
    }
}
