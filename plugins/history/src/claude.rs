//! Claude Code's logs: one JSON Lines file per session,
//! `~/.claude/projects/<folder with / as ->/<session id>.jsonl`. Each line
//! is an event; `user` and `assistant` lines carry a `message` whose
//! `content` is a string or a list of blocks (`text`, `tool_use`,
//! `tool_result`); `summary` lines carry the session's title. Lines of
//! other types, and lines that do not parse, are skipped (the format
//! grows).

use crate::transcript::{Agent, Message, Transcript};
use serde_json::Value;
use std::path::Path;

/// The session in `text`, a log file named `id.jsonl`.
pub fn parse(id: &str, text: &str) -> Transcript {
    let mut t = Transcript {
        agent: Agent::Claude,
        id: id.to_owned(),
        project: String::new(),
        title: String::new(),
        started: 0,
        updated: 0,
        messages: Vec::new(),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        if t.project.is_empty()
            && let Some(cwd) = event["cwd"].as_str()
        {
            t.project = cwd.to_owned();
        }
        match event["type"].as_str() {
            Some("summary") => {
                if let Some(s) = event["summary"].as_str() {
                    t.title = s.to_owned();
                }
            }
            Some(role @ ("user" | "assistant")) if event["isMeta"] != Value::Bool(true) => {
                let text = content_text(&event["message"]["content"]);
                if !text.is_empty() {
                    let time = event["timestamp"].as_str().map_or(0, timestamp_ms);
                    t.messages.push(Message { role: role.to_owned(), time, text });
                }
            }
            _ => {}
        }
    }
    t.complete()
}

/// A message's content as text.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b["type"].as_str() {
                Some("text") => b["text"].as_str().map(str::to_owned),
                Some("tool_use") => Some(format!("[tool {}]", b["name"].as_str().unwrap_or("?"))),
                Some("tool_result") => Some(format!("[tool result] {}", content_text(&b["content"]))),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// An RFC 3339 time in milliseconds since the epoch (0 when it does not
/// parse).
fn timestamp_ms(text: &str) -> u64 {
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Every session under `projects` (Claude Code's `projects` folder).
pub fn read_all(projects: &Path) -> Vec<Transcript> {
    let mut found = Vec::new();
    let Ok(folders) = std::fs::read_dir(projects) else { return found };
    for folder in folders.filter_map(Result::ok) {
        let Ok(files) = std::fs::read_dir(folder.path()) else { continue };
        for file in files.filter_map(Result::ok) {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            let id = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if let Ok(bytes) = std::fs::read(&path) {
                found.push(parse(&id, &String::from_utf8_lossy(&bytes)));
            }
        }
    }
    found
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Claude Code's projects folder with one session (and a stray file).
    pub(crate) fn projects() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/claude-projects")
    }

    pub(crate) const LOG: &str =
        include_str!("../fixtures/claude-projects/-home-me-code-shop/5f1e2d3c-aaaa-bbbb-cccc-000000000001.jsonl");

    #[test]
    fn a_claude_code_log_reads_as_a_transcript() {
        let t = parse("5f1e2d3c-aaaa-bbbb-cccc-000000000001", LOG);
        assert_eq!(t.project, "/home/me/code/shop");
        assert_eq!(t.title, "Fix orders migration for Postgres 16");
        let texts: Vec<(&str, &str)> = t.messages.iter().map(|m| (m.role.as_str(), m.text.as_str())).collect();
        assert_eq!(
            texts,
            [
                ("user", "The orders migration fails on Postgres 16, fix it"),
                ("assistant", "Let me read the migration.\n[tool Read]"),
                (
                    "user",
                    "[tool result] ALTER TABLE orders ADD COLUMN total numeric GENERATED ALWAYS AS (qty * price);"
                ),
                ("assistant", "Generated columns need STORED on Postgres; I added it."),
            ]
        );
        assert_eq!(t.started, 1_772_442_900_000);
        assert_eq!(t.updated, 1_772_442_990_000);
    }

    #[test]
    fn the_projects_folder_is_read_whole() {
        let all = read_all(&projects());
        assert_eq!(all.len(), 1, "the stray file is not a log");
        assert_eq!(all[0].id, "5f1e2d3c-aaaa-bbbb-cccc-000000000001");
        assert!(read_all(&projects().join("missing")).is_empty());
    }
}
