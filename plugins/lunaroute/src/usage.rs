//! What a provider's response says about itself: the model, the token
//! usage exactly as the provider counted it (never estimated), the tool
//! calls, and — for a streamed response — the whole response assembled from
//! its events. Anthropic's Messages API; OpenAI's chat completions and
//! responses; JSON or server-sent events. Pure.

use crate::route::Endpoint;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Tokens, split the way prices are: `input` excludes the cached tokens
/// (read or written), `reasoning` is the part of `output` spent thinking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens read from no cache and written to none.
    pub input: u64,
    /// Output tokens (reasoning included).
    pub output: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write: u64,
    /// Output tokens spent reasoning.
    pub reasoning: u64,
}

impl Usage {
    /// Add `other` to it.
    pub fn add(&mut self, other: &Usage) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
        self.reasoning += other.reasoning;
    }

    /// Every token, in and out.
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }
}

/// What a response says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// The model that answered.
    pub model: Option<String>,
    /// Its usage, when it reported one.
    pub usage: Option<Usage>,
    /// The tools it called, by name, in order.
    pub tool_calls: Vec<String>,
    /// The response (a streamed one assembled into the non-streamed shape).
    pub response: Option<Value>,
    /// The provider's error message, when it answered with one.
    pub error: Option<String>,
}

/// The server-sent events in `body`: (event name, data).
pub fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    let mut events = Vec::new();
    for block in body.replace("\r\n", "\n").split("\n\n") {
        let (mut name, mut data) = (None, Vec::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !data.is_empty() {
            events.push((name, data.join("\n")));
        }
    }
    events
}

fn n(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Anthropic's usage object (`input_tokens` already excludes the cache).
fn anthropic_usage(u: &Value) -> Usage {
    Usage {
        input: n(u, "input_tokens"),
        output: n(u, "output_tokens"),
        cache_read: n(u, "cache_read_input_tokens"),
        cache_write: n(u, "cache_creation_input_tokens"),
        reasoning: 0,
    }
}

/// OpenAI's usage object, chat (`prompt_tokens`…) or responses
/// (`input_tokens`…); both count cached tokens inside the input.
fn openai_usage(u: &Value) -> Option<Usage> {
    if !u.is_object() {
        return None;
    }
    let (input, output, input_details, output_details) = if u.get("prompt_tokens").is_some() {
        (n(u, "prompt_tokens"), n(u, "completion_tokens"), "prompt_tokens_details", "completion_tokens_details")
    } else {
        (n(u, "input_tokens"), n(u, "output_tokens"), "input_tokens_details", "output_tokens_details")
    };
    let cached = u.get(input_details).map_or(0, |d| n(d, "cached_tokens"));
    let reasoning = u.get(output_details).map_or(0, |d| n(d, "reasoning_tokens"));
    Some(Usage { input: input.saturating_sub(cached), output, cache_read: cached, cache_write: 0, reasoning })
}

fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    Some(text(e, "message").unwrap_or_else(|| e.to_string()))
}

/// Read `body`, the response of `endpoint` with `status`; `stream` when it
/// is a stream of server-sent events.
pub fn read(endpoint: Endpoint, status: u16, body: &[u8], stream: bool) -> Reading {
    let body = String::from_utf8_lossy(body);
    if !stream || status >= 400 {
        let Ok(v) = serde_json::from_str::<Value>(&body) else {
            return Reading { error: (status >= 400).then(|| body.trim().to_owned()), ..Reading::default() };
        };
        let mut reading = match endpoint {
            Endpoint::Messages => read_message(&v),
            Endpoint::ChatCompletions => read_chat(&v),
            Endpoint::Responses => read_response(&v),
            Endpoint::Models | Endpoint::Other => Reading::default(),
        };
        reading.error = error_message(&v);
        reading.response = Some(v);
        return reading;
    }
    let events = sse_events(&body);
    match endpoint {
        Endpoint::Messages => assemble_message(&events),
        Endpoint::ChatCompletions => assemble_chat(&events),
        Endpoint::Responses => assemble_response(&events),
        Endpoint::Models | Endpoint::Other => Reading::default(),
    }
}

fn read_message(v: &Value) -> Reading {
    let tool_calls = v
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
        .filter_map(|b| text(b, "name"))
        .collect();
    Reading { model: text(v, "model"), usage: v.get("usage").map(anthropic_usage), tool_calls, ..Reading::default() }
}

fn read_chat(v: &Value) -> Reading {
    let tool_calls = v
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.pointer("/message/tool_calls").and_then(Value::as_array))
        .flatten()
        .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    Reading { model: text(v, "model"), usage: v.get("usage").and_then(openai_usage), tool_calls, ..Reading::default() }
}

fn read_response(v: &Value) -> Reading {
    let tool_calls = v
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|o| o.get("type").and_then(Value::as_str) == Some("function_call"))
        .filter_map(|o| text(o, "name"))
        .collect();
    Reading { model: text(v, "model"), usage: v.get("usage").and_then(openai_usage), tool_calls, ..Reading::default() }
}

/// An Anthropic stream: `message_start` (the message, its input usage),
/// content blocks with their deltas, `message_delta` (stop reason, final
/// output usage), or an `error` event.
fn assemble_message(events: &[(Option<String>, String)]) -> Reading {
    let mut message = Map::new();
    let mut blocks: Vec<Value> = Vec::new();
    let mut partial_json: Vec<String> = Vec::new();
    let mut usage = None::<Usage>;
    let mut error = None;
    for (_, data) in events {
        let Ok(v) = serde_json::from_str::<Value>(data) else { continue };
        match v.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                if let Some(Value::Object(m)) = v.get("message") {
                    message = m.clone();
                    usage = m.get("usage").map(anthropic_usage);
                }
            }
            Some("content_block_start") => {
                let index = n(&v, "index") as usize;
                if blocks.len() <= index {
                    blocks.resize(index + 1, Value::Null);
                    partial_json.resize(index + 1, String::new());
                }
                blocks[index] = v.get("content_block").cloned().unwrap_or(Value::Null);
            }
            Some("content_block_delta") => {
                let index = n(&v, "index") as usize;
                let (Some(block), Some(delta)) = (blocks.get_mut(index), v.get("delta")) else { continue };
                let append = |block: &mut Value, key: &str, more: &str| {
                    let old = block.get(key).and_then(Value::as_str).unwrap_or_default();
                    block[key] = Value::String(format!("{old}{more}"));
                };
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => append(block, "text", delta["text"].as_str().unwrap_or_default()),
                    Some("thinking_delta") => append(block, "thinking", delta["thinking"].as_str().unwrap_or_default()),
                    Some("signature_delta") => {
                        append(block, "signature", delta["signature"].as_str().unwrap_or_default())
                    }
                    Some("input_json_delta") => {
                        partial_json[index].push_str(delta["partial_json"].as_str().unwrap_or_default())
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                if let Some(Value::Object(delta)) = v.get("delta") {
                    message.extend(delta.clone());
                }
                // Cumulative counts; newer streams repeat the input counts.
                if let Some(u) = v.get("usage") {
                    let total = usage.get_or_insert_with(Usage::default);
                    let later = anthropic_usage(u);
                    total.output = later.output.max(total.output);
                    for (field, value) in [
                        (&mut total.input, later.input),
                        (&mut total.cache_read, later.cache_read),
                        (&mut total.cache_write, later.cache_write),
                    ] {
                        *field = (*field).max(value);
                    }
                }
            }
            Some("error") => error = error_message(&v),
            _ => {}
        }
    }
    for (block, json) in blocks.iter_mut().zip(&partial_json) {
        if !json.is_empty() {
            block["input"] = serde_json::from_str(json).unwrap_or_else(|_| Value::String(json.clone()));
        }
    }
    let tool_calls = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
        .filter_map(|b| text(b, "name"))
        .collect();
    let model = message.get("model").and_then(Value::as_str).map(str::to_owned);
    message.insert("content".into(), Value::Array(blocks));
    if let Some(u) = &usage {
        message.insert(
            "usage".into(),
            json!({ "input_tokens": u.input, "output_tokens": u.output,
                    "cache_read_input_tokens": u.cache_read, "cache_creation_input_tokens": u.cache_write }),
        );
    }
    Reading { model, usage, tool_calls, response: Some(Value::Object(message)), error }
}

/// An OpenAI chat stream: chunks with deltas per choice, the usage in the
/// last chunk (when the request asked for it), then `[DONE]`.
fn assemble_chat(events: &[(Option<String>, String)]) -> Reading {
    let mut head = Map::new();
    let mut choices: Vec<Value> = Vec::new();
    let mut usage = None;
    let mut error = None;
    for (_, data) in events {
        let Ok(v) = serde_json::from_str::<Value>(data) else { continue };
        if let Some(e) = error_message(&v) {
            error = Some(e);
            continue;
        }
        for key in ["id", "object", "created", "model", "system_fingerprint"] {
            if let Some(value) = v.get(key).filter(|x| !x.is_null()) {
                head.insert(key.to_owned(), value.clone());
            }
        }
        if let Some(u) = v.get("usage").and_then(openai_usage) {
            usage = Some(u);
        }
        for c in v.get("choices").and_then(Value::as_array).into_iter().flatten() {
            let index = n(c, "index") as usize;
            if choices.len() <= index {
                choices.resize(index + 1, json!({ "message": { "role": "assistant", "content": null } }));
            }
            let choice = &mut choices[index];
            choice["index"] = json!(index);
            if let Some(reason) = c.get("finish_reason").filter(|r| !r.is_null()) {
                choice["finish_reason"] = reason.clone();
            }
            let Some(delta) = c.get("delta") else { continue };
            if let Some(more) = delta.get("content").and_then(Value::as_str) {
                let old = choice["message"]["content"].as_str().unwrap_or_default().to_owned();
                choice["message"]["content"] = Value::String(old + more);
            }
            for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                let at = n(call, "index") as usize;
                let calls = choice["message"]
                    .as_object_mut()
                    .map(|m| m.entry("tool_calls").or_insert_with(|| json!([])))
                    .and_then(Value::as_array_mut);
                let Some(calls) = calls else { continue };
                if calls.len() <= at {
                    calls.resize(at + 1, json!({ "type": "function", "function": { "name": "", "arguments": "" } }));
                }
                if let Some(id) = call.get("id").filter(|i| !i.is_null()) {
                    calls[at]["id"] = id.clone();
                }
                for part in ["name", "arguments"] {
                    if let Some(more) = call.pointer(&format!("/function/{part}")).and_then(Value::as_str) {
                        let old = calls[at]["function"][part].as_str().unwrap_or_default().to_owned();
                        calls[at]["function"][part] = Value::String(old + more);
                    }
                }
            }
        }
    }
    let mut response = head;
    response.insert("object".into(), json!("chat.completion"));
    response.insert("choices".into(), Value::Array(choices));
    let response = Value::Object(response);
    let mut reading = read_chat(&response);
    reading.usage = usage;
    reading.response = Some(response);
    reading.error = error;
    reading
}

/// An OpenAI responses stream: the finished response comes whole in its
/// last event (`response.completed`, `.incomplete` or `.failed`).
fn assemble_response(events: &[(Option<String>, String)]) -> Reading {
    let mut last = None;
    let mut error = None;
    for (_, data) in events {
        let Ok(v) = serde_json::from_str::<Value>(data) else { continue };
        match v.get("type").and_then(Value::as_str) {
            Some("response.completed" | "response.incomplete" | "response.failed") => last = v.get("response").cloned(),
            Some("error") => error = text(&v, "message").or_else(|| error_message(&v)),
            _ => {}
        }
    }
    let Some(response) = last else { return Reading { error, ..Reading::default() } };
    let mut reading = read_response(&response);
    reading.error = error.or_else(|| response.pointer("/error/message").and_then(Value::as_str).map(str::to_owned));
    reading.response = Some(response);
    reading
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anthropic_stream_is_counted_and_assembled() {
        let body = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":2000,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"read_file\",\"input\":{}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"path\\\":\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"a.rs\\\"}\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":42}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let r = read(Endpoint::Messages, 200, body.as_bytes(), true);
        assert_eq!(r.model.as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(r.usage, Some(Usage { input: 12, output: 42, cache_read: 2000, cache_write: 100, reasoning: 0 }));
        assert_eq!(r.tool_calls, ["read_file"]);
        let m = r.response.unwrap();
        assert_eq!(m["content"][0]["text"], "Hello");
        assert_eq!(m["content"][1]["input"]["path"], "a.rs");
        assert_eq!(m["stop_reason"], "tool_use");
    }

    #[test]
    fn openai_usage_counts_cached_and_reasoning_tokens_once() {
        let chat = r#"{"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"grep","arguments":"{}"}}]}}],"usage":{"prompt_tokens":1000,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":800},"completion_tokens_details":{"reasoning_tokens":20}}}"#;
        let r = read(Endpoint::ChatCompletions, 200, chat.as_bytes(), false);
        assert_eq!(r.usage, Some(Usage { input: 200, output: 50, cache_read: 800, cache_write: 0, reasoning: 20 }));
        assert_eq!(r.tool_calls, ["grep"]);
        let responses = r#"{"object":"response","model":"o4-mini","output":[{"type":"function_call","name":"shell","arguments":"{}"}],"usage":{"input_tokens":10,"output_tokens":5,"input_tokens_details":{"cached_tokens":4},"output_tokens_details":{"reasoning_tokens":3}}}"#;
        let r = read(Endpoint::Responses, 200, responses.as_bytes(), false);
        assert_eq!(r.usage, Some(Usage { input: 6, output: 5, cache_read: 4, cache_write: 0, reasoning: 3 }));
        assert_eq!(r.tool_calls, ["shell"]);
    }

    #[test]
    fn an_openai_chat_stream_is_assembled_with_its_tool_calls() {
        let body = concat!(
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}\n\n",
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"ls\",\"arguments\":\"{\\\"a\\\"\"}}]},\"finish_reason\":null}],\"usage\":null}\n\n",
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":null}\n\n",
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}\n\n",
            "data: [DONE]\n\n",
        );
        let r = read(Endpoint::ChatCompletions, 200, body.as_bytes(), true);
        assert_eq!(r.usage, Some(Usage { input: 9, output: 3, ..Usage::default() }));
        assert_eq!(r.tool_calls, ["ls"]);
        let m = r.response.unwrap();
        assert_eq!(m["choices"][0]["message"]["content"], "Hi");
        assert_eq!(m["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
        assert_eq!(m["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn errors_are_read_from_either_provider() {
        let a = read(
            Endpoint::Messages,
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            true,
        );
        assert_eq!(a.error.as_deref(), Some("Overloaded"));
        let o = read(Endpoint::ChatCompletions, 401, b"not json", false);
        assert_eq!(o.error.as_deref(), Some("not json"));
        let s =
            read(Endpoint::Responses, 200, b"event: error\ndata: {\"type\":\"error\",\"message\":\"boom\"}\n\n", true);
        assert_eq!(s.error.as_deref(), Some("boom"));
    }
}
