//! The same searches as MCP tools for the agents (`sinc history mcp`):
//! `list_sessions`, `search_sessions` and `get_session` (a page of
//! messages at a time), answered as JSON text. Pure.

use crate::command::summary_json;
use crate::search::{Filter, find, list, search};
use crate::transcript::{Agent, Transcript};
use serde_json::{Value, json};

/// A tool: name, description, JSON Schema of its arguments.
pub type ToolSpec = (&'static str, &'static str, Value);

/// The tools offered.
pub fn specs() -> Vec<ToolSpec> {
    let filters = json!({
        "agent": { "type": "string", "enum": ["claude", "opencode"], "description": "only this agent's sessions" },
        "project": { "type": "string", "description": "only sessions whose folder contains this text" },
        "limit": { "type": "integer", "minimum": 1, "description": "at most this many (default 20)" },
    });
    let mut search_props = filters.clone();
    search_props["query"] =
        json!({ "type": "string", "description": "words to find (any case) in messages and titles" });
    vec![
        (
            "list_sessions",
            "Past Claude Code and OpenCode sessions on this machine, most recent first: id, agent, folder, title, times.",
            json!({ "type": "object", "properties": filters }),
        ),
        (
            "search_sessions",
            "Past sessions whose messages or title contain the query, most recent first, each with where it first occurs.",
            json!({ "type": "object", "properties": search_props, "required": ["query"] }),
        ),
        (
            "get_session",
            "One past session's messages (role, time, text), a page at a time; the id may be a unique start of one.",
            json!({
                "type": "object",
                "properties": {
                    "id": { "type": "string" },
                    "page": { "type": "integer", "minimum": 0, "description": "0 first (default 0)" },
                    "page_size": { "type": "integer", "minimum": 1, "description": "messages per page (default 50)" },
                },
                "required": ["id"],
            }),
        ),
    ]
}

/// Call tool `name` with `arguments` (a JSON object) over `sessions`.
pub fn call(name: &str, arguments: &str, sessions: &[Transcript]) -> Result<String, String> {
    let args: Value = serde_json::from_str(arguments).map_err(|e| format!("arguments are not JSON: {e}"))?;
    let text = |key: &str| args[key].as_str().map(str::to_owned);
    let number = |key: &str, default: usize| match &args[key] {
        Value::Null => Ok(default),
        v => v.as_u64().and_then(|n| usize::try_from(n).ok()).ok_or(format!("`{key}` must be a whole number")),
    };
    let filter = Filter { agent: text("agent").map(|a| Agent::parse(&a)).transpose()?, project: text("project") };
    let value = match name {
        "list_sessions" => {
            let chosen = list(sessions, &filter, number("limit", 20)?.max(1));
            Value::Array(chosen.iter().map(|t| summary_json(t, None)).collect())
        }
        "search_sessions" => {
            let query = text("query").filter(|q| !q.trim().is_empty()).ok_or("`query` is required")?;
            let hits = search(sessions, &query, &filter, number("limit", 20)?.max(1));
            Value::Array(hits.iter().map(|h| summary_json(h.transcript, Some((h.matches, &h.snippet)))).collect())
        }
        "get_session" => {
            let t = find(sessions, &text("id").ok_or("`id` is required")?)?;
            let (page, size) = (number("page", 0)?, number("page_size", 50)?.max(1));
            let messages: Vec<_> = t.messages.iter().skip(page.saturating_mul(size)).take(size).collect();
            let mut v = summary_json(t, None);
            v["page"] = page.into();
            v["pages"] = t.messages.len().div_ceil(size).into();
            v["messages"] = serde_json::to_value(messages).unwrap_or_default();
            v
        }
        other => return Err(format!("no tool `{other}`: list_sessions, search_sessions or get_session")),
    };
    Ok(serde_json::to_string_pretty(&value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Vec<Transcript> {
        crate::fixture_sessions()
    }

    fn called(name: &str, arguments: Value) -> Result<Value, String> {
        call(name, &arguments.to_string(), &sessions()).map(|t| serde_json::from_str(&t).unwrap())
    }

    #[test]
    fn the_tools_answer_as_the_commands_do() {
        assert_eq!(
            specs().iter().map(|s| s.0).collect::<Vec<_>>(),
            ["list_sessions", "search_sessions", "get_session"]
        );
        let found = called("search_sessions", json!({ "query": "postgres", "agent": "claude" })).unwrap();
        assert_eq!(found[0]["id"], "5f1e2d3c-aaaa-bbbb-cccc-000000000001");
        assert_eq!(called("list_sessions", json!({ "limit": 1 })).unwrap().as_array().unwrap().len(), 1);
        let page = called("get_session", json!({ "id": "5f1e", "page": 1, "page_size": 3 })).unwrap();
        assert_eq!((page["pages"].as_u64(), page["messages"].as_array().unwrap().len()), (Some(2), 1));
        assert_eq!(page["messages"][0]["text"], "Generated columns need STORED on Postgres; I added it.");
    }

    #[test]
    fn bad_calls_say_why() {
        for (name, args, says) in [
            ("search_sessions", json!({}), "`query` is required"),
            ("get_session", json!({}), "`id` is required"),
            ("get_session", json!({ "id": "nope" }), "no past session"),
            ("list_sessions", json!({ "agent": "gemini" }), "claude or opencode"),
            ("list_sessions", json!({ "limit": "ten" }), "whole number"),
            ("drop_tables", json!({}), "no tool `drop_tables`"),
        ] {
            let e = called(name, args).unwrap_err();
            assert!(e.contains(says), "{name}: {e}");
        }
        assert!(call("list_sessions", "{", &[]).unwrap_err().contains("not JSON"));
    }
}
