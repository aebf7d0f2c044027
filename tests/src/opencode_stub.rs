//! A stand-in for OpenCode's headless server (`opencode serve`, V1 API) on
//! 127.0.0.1: `GET /path`, `GET /session` (for the `?directory=` asked,
//! one session of that folder and a newer one of another), `GET
//! /session/:id/todo`, with Basic auth (user `opencode`) as
//! `OPENCODE_SERVER_PASSWORD` sets it. Each request is kept with the user
//! id of the process that made it, so a test tells the VPS daemon's calls
//! from the laptop's.

use crate::llm_stub::{Seen, read_request, respond_json};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// The session the stub's todos belong to.
pub const SESSION: &str = "ses_stub01";

/// A request, and the user id of its caller.
#[derive(Debug, Clone)]
pub struct Call {
    /// The request.
    pub request: Seen,
    /// Who made it (none when the socket's owner was not found).
    pub uid: Option<u32>,
}

/// The stub, serving until the test ends.
#[derive(Debug)]
pub struct OpenCodeStub {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl OpenCodeStub {
    /// Start it, with `password` for Basic auth; `home` is what `/path`
    /// answers as the home folder.
    pub fn start(password: &str, home: &str) -> OpenCodeStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let kept = calls.clone();
        let expected = format!("Basic {}", base64_of(&format!("opencode:{password}")));
        let home = home.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &kept, &expected, &home);
            }
        });
        OpenCodeStub { url, calls }
    }

    /// The requests so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, calls: &Mutex<Vec<Call>>, expected: &str, home: &str) -> std::io::Result<()> {
    let uid = stream.peer_addr().ok().and_then(owner_of);
    let Some(request) = read_request(&stream)? else { return Ok(()) };
    calls.lock().unwrap().push(Call { request: request.clone(), uid });
    if request.header("authorization") != Some(expected) {
        return respond_json(&mut stream, 401, &json!({"error": "Unauthorized"}));
    }
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    let directory = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("directory="))
        .map(percent_decoded)
        .unwrap_or_else(|| "/".into());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let session = |id: &str, dir: &str, title: &str, updated: u64| {
        json!({"id": id, "projectID": "global", "directory": dir, "title": title, "version": "1.0.0",
               "time": {"created": updated - 1000, "updated": updated}})
    };
    let todo_path = format!("/session/{SESSION}/todo");
    let answer: Value = match path {
        "/path" => json!({"home": home, "state": "", "config": "", "worktree": directory, "directory": directory}),
        "/session" => json!([
            session(SESSION, &directory, "Fix the login", now),
            session("ses_other", "/somewhere/else", "Another project", now + 5000),
        ]),
        p if p == todo_path => json!([
            {"id": "1", "content": "reproduce the bug", "status": "completed", "priority": "high"},
            {"id": "2", "content": "write the failing test", "status": "in_progress", "priority": "high"},
            {"id": "3", "content": "update the docs", "status": "pending", "priority": "low"},
            {"id": "4", "content": "rewrite everything", "status": "cancelled", "priority": "low"}
        ]),
        _ => return respond_json(&mut stream, 404, &json!({"error": format!("no route {path}")})),
    };
    respond_json(&mut stream, 200, &answer)
}

pub(crate) fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The user id owning the IPv4 TCP socket at `peer` (from /proc/net/tcp):
/// the established one — an earlier connection from the same port, left in
/// TIME_WAIT, is listed too, as root's.
fn owner_of(peer: SocketAddr) -> Option<u32> {
    let SocketAddr::V4(v4) = peer else { return None };
    let local = format!("{:08X}:{:04X}", u32::from_le_bytes(v4.ip().octets()), v4.port());
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let established = fields.get(3) == Some(&"01");
        (fields.get(1) == Some(&local.as_str()) && established).then(|| fields.get(7)?.parse().ok())?
    })
}
