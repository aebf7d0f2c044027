//! OpenCode's logs: its storage folder (`~/.local/share/opencode/storage`)
//! keeps one JSON file per session (`session/<project>/<id>.json`: folder,
//! title, times), per message (`message/<session>/<id>.json`: role, time)
//! and per message part (`part/<message>/<id>.json`: `text`, `tool`, …).
//! Text parts are the message's text; tool parts show as `[tool NAME]`;
//! reasoning and bookkeeping parts are left out. Files that do not parse
//! are skipped.

use crate::transcript::{Agent, Message, Transcript};
use serde_json::Value;
use std::path::Path;

/// Every session in `storage`.
pub fn read_all(storage: &Path) -> Vec<Transcript> {
    json_files(&storage.join("session"))
        .into_iter()
        .flat_map(|project| json_files(&project))
        .filter_map(|file| read_json(&file))
        .filter_map(|session| transcript(storage, &session))
        .collect()
}

fn transcript(storage: &Path, session: &Value) -> Option<Transcript> {
    let id = session["id"].as_str()?.to_owned();
    let mut messages: Vec<(u64, String, Message)> = json_files(&storage.join("message").join(&id))
        .into_iter()
        .filter_map(|file| read_json(&file))
        .filter_map(|m| {
            let message_id = m["id"].as_str()?.to_owned();
            let time = m["time"]["created"].as_u64().unwrap_or(0);
            let text = parts_text(&storage.join("part").join(&message_id));
            let role = m["role"].as_str().unwrap_or("?").to_owned();
            Some((time, message_id, Message { role, time, text }))
        })
        .filter(|(_, _, m)| !m.text.is_empty())
        .collect();
    messages.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Some(
        Transcript {
            agent: Agent::Opencode,
            id,
            project: session["directory"].as_str().unwrap_or_default().to_owned(),
            title: session["title"].as_str().unwrap_or_default().to_owned(),
            started: session["time"]["created"].as_u64().unwrap_or(0),
            updated: session["time"]["updated"].as_u64().unwrap_or(0),
            messages: messages.into_iter().map(|(_, _, m)| m).collect(),
        }
        .complete(),
    )
}

/// A message's text from its parts, in id order.
fn parts_text(folder: &Path) -> String {
    json_files(folder)
        .into_iter()
        .filter_map(|file| read_json(&file))
        .filter_map(|part| match part["type"].as_str()? {
            "text" if part["synthetic"] != Value::Bool(true) => part["text"].as_str().map(str::to_owned),
            "tool" => Some(format!("[tool {}]", part["tool"].as_str().unwrap_or("?"))),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `.json` files (or folders) in `folder`, sorted by name.
fn json_files(folder: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else { return Vec::new() };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A storage folder laid out as OpenCode writes it: one session of two
    /// messages (a user prompt; an answer with reasoning, a tool call and
    /// text), and a part file that does not parse.
    pub(crate) fn storage() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/opencode-storage")
    }

    #[test]
    fn an_opencode_storage_folder_reads_as_transcripts() {
        let all = read_all(&storage());
        assert_eq!(all.len(), 1);
        let t = &all[0];
        assert_eq!(
            (t.id.as_str(), t.project.as_str(), t.title.as_str()),
            ("ses_3a9f0c1d2e3fABCDEFGHIJKLMN", "/home/me/code/blog", "Add RSS feed")
        );
        let texts: Vec<(&str, &str)> = t.messages.iter().map(|m| (m.role.as_str(), m.text.as_str())).collect();
        assert_eq!(
            texts,
            [
                ("user", "Add an RSS feed for the posts; the migration of the old feed URLs too"),
                ("assistant", "[tool bash]\nThe feed is at /rss.xml."),
            ]
        );
        assert_eq!((t.started, t.updated), (1_772_500_000_000, 1_772_500_090_000));
        assert!(read_all(&storage().join("missing")).is_empty());
    }
}
