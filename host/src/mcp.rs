//! An MCP server on stdio for a plugin's tools (`sinc NAME mcp`): JSON-RPC
//! 2.0, one message per line (MCP's stdio transport). It answers
//! `initialize`, `ping`, `tools/list` and `tools/call`; tool calls run
//! concurrently, each answered when its plugin is done; at the end of its
//! input it answers every request still pending, then returns. What a
//! message means is decided apart from the I/O ([`decide`]).

use crate::sync::wire::{Request, Response};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};
use std::future::Future;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol versions spoken, newest first.
pub const VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];

/// JSON-RPC's error codes.
mod code {
    pub const PARSE: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL: i64 = -32603;
}

/// What to do with one message.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Send this.
    Answer(Value),
    /// A notification: nothing to send.
    Nothing,
    /// Ask the plugin, then answer request `id` with [`answer`].
    Ask(Value, Request),
}

/// Decide what `line` (one message) needs, for the plugin whose command is
/// `command`, as server `server` (`sinc-NAME`).
pub fn decide(line: &str, command: &str, server: &str) -> Decision {
    let Ok(message) = serde_json::from_str::<Value>(line) else {
        return Decision::Answer(error(Value::Null, code::PARSE, "parse error: not JSON"));
    };
    let id = message.get("id").cloned();
    let Some(method) = message.get("method").and_then(Value::as_str).filter(|_| message.is_object()) else {
        return Decision::Answer(error(id.unwrap_or(Value::Null), code::INVALID_REQUEST, "not a JSON-RPC request"));
    };
    // A notification (no id) is never answered.
    let Some(id) = id else { return Decision::Nothing };
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    match method {
        "initialize" => {
            let asked = params["protocolVersion"].as_str().unwrap_or_default();
            let version = VERSIONS.iter().find(|v| **v == asked).unwrap_or(&VERSIONS[0]);
            Decision::Answer(result(
                id,
                json!({
                    "protocolVersion": version,
                    "capabilities": { "tools": { "listChanged": false } },
                    "serverInfo": { "name": server, "version": env!("CARGO_PKG_VERSION") },
                }),
            ))
        }
        "ping" => Decision::Answer(result(id, json!({}))),
        "tools/list" => Decision::Ask(id, Request::Tools { command: command.to_owned() }),
        "tools/call" => {
            let Some(tool) = params["name"].as_str() else {
                return Decision::Answer(error(id, code::INVALID_PARAMS, "tools/call needs params.name"));
            };
            let arguments = match &params["arguments"] {
                Value::Null => json!({}),
                Value::Object(_) => params["arguments"].clone(),
                _ => return Decision::Answer(error(id, code::INVALID_PARAMS, "params.arguments must be an object")),
            };
            let request = Request::CallTool {
                command: command.to_owned(),
                tool: tool.to_owned(),
                arguments: arguments.to_string(),
            };
            Decision::Ask(id, request)
        }
        other => Decision::Answer(error(id, code::METHOD_NOT_FOUND, &format!("no method `{other}`"))),
    }
}

/// The answer to request `id` from what the plugin said (or why it could
/// not be asked).
pub fn answer(id: Value, said: Result<Response, String>) -> Value {
    match said {
        Ok(Response::Tools { tools }) => {
            let tools: Vec<Value> = tools
                .into_iter()
                .map(|t| {
                    let schema = serde_json::from_str::<Value>(&t.input_schema)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({ "type": "object" }));
                    json!({ "name": t.name, "description": t.description, "inputSchema": schema })
                })
                .collect();
            result(id, json!({ "tools": tools }))
        }
        Ok(Response::ToolResult { ok, text }) => {
            result(id, json!({ "content": [{ "type": "text", "text": text }], "isError": !ok }))
        }
        Ok(Response::Failed { message }) => error(id, code::INTERNAL, &message),
        Ok(other) => error(id, code::INTERNAL, &format!("unexpected answer: {other:?}")),
        Err(why) => error(id, code::INTERNAL, &why),
    }
}

fn result(id: Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

/// Serve `input` to `output` until `input` ends, asking the plugin with
/// `ask`; every request read is answered before this returns.
pub async fn serve<R, W, F, Fut>(input: R, mut output: W, command: &str, ask: F) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Result<Response, String>>,
{
    let server = format!("sinc-{command}");
    let mut lines = input.lines();
    let mut pending = FuturesUnordered::new();
    let mut open = true;
    while open || !pending.is_empty() {
        let reply = tokio::select! {
            line = lines.next_line(), if open => match line? {
                None => {
                    open = false;
                    None
                }
                Some(line) if line.trim().is_empty() => None,
                Some(line) => match decide(&line, command, &server) {
                    Decision::Answer(reply) => Some(reply),
                    Decision::Nothing => None,
                    Decision::Ask(id, request) => {
                        let asked = ask(request);
                        pending.push(async move { answer(id, asked.await) });
                        None
                    }
                },
            },
            Some(reply) = pending.next(), if !pending.is_empty() => Some(reply),
        };
        if let Some(reply) = reply {
            output.write_all(format!("{reply}\n").as_bytes()).await?;
            output.flush().await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::wire::ToolInfo;

    fn decided(line: &str) -> Decision {
        decide(line, "history", "sinc-history")
    }

    #[test]
    fn initialize_agrees_on_a_version_and_offers_tools() {
        let Decision::Answer(v) =
            decided(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}"#)
        else {
            panic!()
        };
        assert_eq!(v["id"], 1);
        assert_eq!(v["result"]["protocolVersion"], "2025-03-26");
        assert_eq!(v["result"]["serverInfo"]["name"], "sinc-history");
        assert!(v["result"]["capabilities"]["tools"].is_object());
        let Decision::Answer(v) =
            decided(r#"{"jsonrpc":"2.0","id":"a","method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#)
        else {
            panic!()
        };
        assert_eq!(v["result"]["protocolVersion"], VERSIONS[0], "an unknown version gets ours");
    }

    #[test]
    fn bad_messages_get_json_rpc_errors_and_notifications_nothing() {
        let code_of = |line: &str| match decided(line) {
            Decision::Answer(v) => v["error"]["code"].as_i64(),
            other => panic!("{other:?}"),
        };
        assert_eq!(code_of("{not json"), Some(code::PARSE));
        assert_eq!(code_of(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#), Some(code::INVALID_REQUEST));
        assert_eq!(code_of(r#"{"jsonrpc":"2.0","id":2}"#), Some(code::INVALID_REQUEST));
        assert_eq!(code_of(r#"{"jsonrpc":"2.0","id":3,"method":"resources/list"}"#), Some(code::METHOD_NOT_FOUND));
        assert_eq!(
            code_of(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{}}"#),
            Some(code::INVALID_PARAMS)
        );
        assert_eq!(
            code_of(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#),
            Some(code::INVALID_PARAMS)
        );
        assert_eq!(decided(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#), Decision::Nothing);
        assert_eq!(
            decided(r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#),
            Decision::Answer(result(json!(6), json!({})))
        );
    }

    #[test]
    fn tool_calls_go_to_the_plugin_and_come_back_as_text_content() {
        let line = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search_sessions","arguments":{"query":"x"}}}"#;
        let Decision::Ask(id, request) = decided(line) else { panic!() };
        assert_eq!(
            request,
            Request::CallTool {
                command: "history".into(),
                tool: "search_sessions".into(),
                arguments: r#"{"query":"x"}"#.into()
            }
        );
        let ok = answer(id.clone(), Ok(Response::ToolResult { ok: true, text: "found".into() }));
        assert_eq!(ok["result"], json!({ "content": [{ "type": "text", "text": "found" }], "isError": false }));
        let failed = answer(id.clone(), Ok(Response::ToolResult { ok: false, text: "no tool".into() }));
        assert_eq!(failed["result"]["isError"], true);
        let unreachable = answer(id, Err("no session".into()));
        assert_eq!(unreachable["error"]["code"], code::INTERNAL);
        let tools = answer(
            json!(8),
            Ok(Response::Tools {
                tools: vec![ToolInfo { name: "t".into(), description: "d".into(), input_schema: "not json".into() }],
            }),
        );
        assert_eq!(tools["result"]["tools"][0]["inputSchema"], json!({ "type": "object" }));
    }

    #[tokio::test]
    async fn every_request_is_answered_before_the_end_of_input_ends_the_server() {
        let input = concat!(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
            "\n",
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
            "\n"
        );
        let mut output = Vec::new();
        let ask = |request: Request| async move {
            if matches!(&request, Request::CallTool { tool, .. } if tool == "slow") {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                return Ok(Response::ToolResult { ok: true, text: "late".into() });
            }
            Ok(Response::Tools { tools: Vec::new() })
        };
        serve(tokio::io::BufReader::new(input.as_bytes()), &mut output, "history", ask).await.unwrap();
        let replies: Vec<Value> =
            String::from_utf8(output).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let ids: Vec<i64> = replies.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, [2, 3, 1], "the slow call does not hold the others up, and is answered before the end");
        assert_eq!(replies[2]["result"]["content"][0]["text"], "late");
    }
}
