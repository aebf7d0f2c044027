//! A stand-in for the LLM providers on 127.0.0.1, speaking their real wire
//! formats: Anthropic's Messages API and OpenAI's chat completions and
//! responses, as JSON or server-sent events, with usage (cache tokens
//! included), tool calls and errors. Deterministic (fixed ids and times),
//! so a response fetched directly and one fetched through a proxy can be
//! compared byte for byte. The request's `model` picks a behaviour:
//! `overloaded` (Anthropic's 529), `slow` (the head after 3 s), `stall`
//! (two events, then 10 s of nothing); anything else answers normally.
//! `GET /v1/teapot` answers 418 in plain text.
//! Every request is kept for the test to look at.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request the stub got.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `POST`, …
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Seen {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The stub, serving until the test ends.
#[derive(Debug)]
pub struct LlmStub {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Pause between streamed events (a model producing tokens).
const BETWEEN_EVENTS: Duration = Duration::from_millis(15);

impl LlmStub {
    /// Start it.
    pub fn start() -> LlmStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &kept);
                });
            }
        });
        LlmStub { url, seen }
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub(crate) fn read_request(stream: &TcpStream) -> std::io::Result<Option<Seen>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or_default().to_owned(), words.next().unwrap_or_default().to_owned());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or_default(), 16)
                .map_err(|_| std::io::Error::other("a bad chunk size"))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break body;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let length: usize =
            headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    Ok(Some(Seen { method, target, headers, body }))
}

pub(crate) fn respond_json(stream: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nrequest-id: req_stub\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A streamed response: each event its own chunk, a pause between them.
fn respond_events(stream: &mut TcpStream, events: &[String], stall_after: Option<usize>) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )?;
    for (i, event) in events.iter().enumerate() {
        if stall_after == Some(i) {
            std::thread::sleep(Duration::from_secs(10));
        }
        write!(stream, "{:x}\r\n{event}\r\n", event.len())?;
        stream.flush()?;
        std::thread::sleep(BETWEEN_EVENTS);
    }
    write!(stream, "0\r\n\r\n")
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(e) => format!("event: {e}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

fn serve(mut stream: TcpStream, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    let Some(request) = read_request(&stream)? else { return Ok(()) };
    seen.lock().unwrap().push(request.clone());
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let streaming = body["stream"].as_bool() == Some(true);
    if model == "slow" {
        std::thread::sleep(Duration::from_secs(3));
    }
    let stall = (model == "stall").then_some(2);
    let path = request.target.split('?').next().unwrap_or_default().to_owned();
    match (request.method.as_str(), path.as_str()) {
        ("GET", "/v1/models") => respond_json(
            &mut stream,
            200,
            &json!({"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created": 1_700_000_000, "owned_by": "stub"}]}),
        ),
        ("GET", "/v1/teapot") => {
            let body = "I'm a teapot\n";
            write!(
                stream,
                "HTTP/1.1 418 I'm a teapot\r\ncontent-type: text/plain\r\nx-stub: yes\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        ("POST", "/v1/messages") if model == "overloaded" => respond_json(
            &mut stream,
            529,
            &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ),
        ("POST", "/v1/messages") if streaming => respond_events(&mut stream, &anthropic_events(&model), stall),
        ("POST", "/v1/messages") => respond_json(&mut stream, 200, &anthropic_message(&model)),
        ("POST", "/v1/chat/completions") if streaming => {
            let usage = body["stream_options"]["include_usage"].as_bool() == Some(true);
            respond_events(&mut stream, &chat_events(&model, usage), stall)
        }
        ("POST", "/v1/chat/completions") => respond_json(&mut stream, 200, &chat_completion(&model)),
        ("POST", "/v1/responses") if streaming => respond_events(&mut stream, &response_events(&model), stall),
        ("POST", "/v1/responses") => respond_json(&mut stream, 200, &response(&model)),
        _ => respond_json(
            &mut stream,
            404,
            &json!({"error": {"message": format!("no route {path}"), "type": "invalid_request_error", "param": null, "code": null}}),
        ),
    }
}

/// The usage the stub reports for Anthropic.
pub const ANTHROPIC_USAGE: (u64, u64, u64, u64) = (25, 12, 2000, 100);

fn anthropic_message(model: &str) -> Value {
    let (input, output, read, write) = ANTHROPIC_USAGE;
    json!({
        "id": "msg_stub", "type": "message", "role": "assistant", "model": model,
        "content": [
            {"type": "text", "text": "Hello from the stub"},
            {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "src/main.rs"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": input, "output_tokens": output, "cache_read_input_tokens": read, "cache_creation_input_tokens": write}
    })
}

fn anthropic_events(model: &str) -> Vec<String> {
    let (input, output, read, write) = ANTHROPIC_USAGE;
    vec![
        sse(
            Some("message_start"),
            &json!({"type": "message_start", "message": {"id": "msg_stub", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": input, "output_tokens": 1, "cache_read_input_tokens": read, "cache_creation_input_tokens": write}}}),
        ),
        sse(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        sse(Some("ping"), &json!({"type": "ping"})),
        sse(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello from"}}),
        ),
        sse(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " the stub"}}),
        ),
        sse(Some("content_block_stop"), &json!({"type": "content_block_stop", "index": 0})),
        sse(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {}}}),
        ),
        sse(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"path\": \"src/main.rs\"}"}}),
        ),
        sse(Some("content_block_stop"), &json!({"type": "content_block_stop", "index": 1})),
        sse(
            Some("message_delta"),
            &json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": output}}),
        ),
        sse(Some("message_stop"), &json!({"type": "message_stop"})),
    ]
}

/// The usage the stub reports for OpenAI: prompt, completion, cached,
/// reasoning.
pub const OPENAI_USAGE: (u64, u64, u64, u64) = (1000, 50, 800, 10);

fn openai_usage_json() -> Value {
    let (prompt, completion, cached, reasoning) = OPENAI_USAGE;
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
           "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
           "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})
}

fn chat_completion(model: &str) -> Value {
    json!({
        "id": "chatcmpl-stub", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the stub", "refusal": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "list_files", "arguments": "{\"dir\":\".\"}"}}]},
            "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": openai_usage_json(), "system_fingerprint": "fp_stub"
    })
}

/// Chat chunks as OpenAI streams them: with `include_usage`, every chunk
/// carries `"usage":null` and one more chunk the usage.
fn chat_events(model: &str, include_usage: bool) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "system_fingerprint": "fp_stub", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        if include_usage {
            c["usage"] = Value::Null;
        }
        sse(None, &c)
    };
    let mut events = vec![
        chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null),
        chunk(json!({"content": "Hello from"}), Value::Null),
        chunk(json!({"content": " the stub"}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "list_files", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"dir\":\".\"}"}}]}), Value::Null),
        chunk(json!({}), json!("tool_calls")),
    ];
    if include_usage {
        events.push(sse(
            None,
            &json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
                "system_fingerprint": "fp_stub", "choices": [], "usage": openai_usage_json()}),
        ));
    }
    events.push("data: [DONE]\n\n".into());
    events
}

fn response(model: &str) -> Value {
    let (prompt, completion, cached, reasoning) = OPENAI_USAGE;
    json!({
        "id": "resp_stub", "object": "response", "created_at": 1_700_000_000, "status": "completed", "model": model,
        "output": [
            {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": "Hello from the stub", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "run_tests", "arguments": "{}", "status": "completed"}
        ],
        "usage": {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion,
                  "input_tokens_details": {"cached_tokens": cached}, "output_tokens_details": {"reasoning_tokens": reasoning}}
    })
}

fn response_events(model: &str) -> Vec<String> {
    let full = response(model);
    let mut created = full.clone();
    created["status"] = json!("in_progress");
    created["output"] = json!([]);
    created["usage"] = Value::Null;
    vec![
        sse(Some("response.created"), &json!({"type": "response.created", "sequence_number": 0, "response": created})),
        sse(
            Some("response.output_text.delta"),
            &json!({"type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hello from"}),
        ),
        sse(
            Some("response.output_text.delta"),
            &json!({"type": "response.output_text.delta", "sequence_number": 2, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": " the stub"}),
        ),
        sse(Some("response.completed"), &json!({"type": "response.completed", "sequence_number": 3, "response": full})),
    ]
}
