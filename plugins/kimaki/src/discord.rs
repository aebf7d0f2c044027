//! Discord's REST API v10 for the bot: authenticated calls that respect the
//! rate limits (a route waiting for its bucket is not called; a 429 holds
//! it for `retry_after`), and an outbox for the messages the bot posts on
//! its own (the agents' output, states): kept in order per channel and
//! sent again after a wait, never dropped for a rate limit.

use crate::multipart::{self, Field};
use crate::ratelimit::Limits;
use crate::text;
use serde_json::{Value, json};
use sinc_plugin_sdk::fetch::{self, Fetched};
use sinc_plugin_sdk::prelude::*;
use std::collections::VecDeque;
use std::time::Duration;

const USER_AGENT: &str = concat!("DiscordBot (https://github.com/sincronizado/sinc, ", env!("CARGO_PKG_VERSION"), ")");
const TIMEOUT: Duration = Duration::from_secs(10);
/// Tries of a post that fails for another reason than a rate limit.
const TRIES: u32 = 5;

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Rate limited: try again in this many milliseconds.
    Wait(u64),
    /// Discord answered with this status and message.
    Refused(u16, String),
    /// Discord could not be reached.
    Network(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Wait(ms) => write!(f, "rate limited for {ms} ms"),
            Failure::Refused(status, message) => write!(f, "Discord answered {status}: {message}"),
            Failure::Network(why) => write!(f, "{why}"),
        }
    }
}

/// A message waiting to be posted.
#[derive(Debug, Clone)]
struct Post {
    channel: String,
    content: String,
    /// Sent with it so that Discord makes it once, however often it is
    /// sent (a timeout after Discord stored it).
    nonce: String,
    tries: u32,
}

/// A body to send.
pub enum Body<'a> {
    /// None.
    Empty,
    /// JSON.
    Json(&'a Value),
    /// A message with files: (name, bytes).
    Files(&'a Value, &'a [(String, Vec<u8>)]),
}

/// The API, for one bot.
pub struct Discord {
    base: String,
    token: String,
    limits: Limits,
    outbox: VecDeque<Post>,
    posts: u64,
}

/// No mention in the bot's messages pings anyone.
pub fn no_pings() -> Value {
    json!({ "parse": [] })
}

impl Discord {
    /// The API at `base` for the bot with `token`.
    pub fn new(base: &str, token: &str) -> Discord {
        Discord {
            base: base.to_owned(),
            token: token.to_owned(),
            limits: Limits::default(),
            outbox: VecDeque::new(),
            posts: 0,
        }
    }

    /// `method path` with `body`: the answer's JSON (null for 204).
    pub fn call(&mut self, method: &str, path: &str, body: Body<'_>) -> Result<Value, Failure> {
        let now = crate::plugin::now_ms();
        let wait = self.limits.wait(path, now);
        if wait > 0 {
            return Err(Failure::Wait(wait));
        }
        let url = format!("{}{path}", self.base);
        let auth = format!("Bot {}", self.token);
        let (bytes, kind) = match body {
            Body::Empty => (Vec::new(), None),
            Body::Json(value) => (value.to_string().into_bytes(), Some("application/json".to_owned())),
            Body::Files(value, files) => {
                let payload = value.to_string();
                let mut fields = vec![Field {
                    name: "payload_json",
                    filename: None,
                    content_type: "application/json",
                    bytes: payload.as_bytes(),
                }];
                let names: Vec<String> = (0..files.len()).map(|i| format!("files[{i}]")).collect();
                for ((filename, data), name) in files.iter().zip(&names) {
                    fields.push(Field {
                        name,
                        filename: Some(filename),
                        content_type: "application/octet-stream",
                        bytes: data,
                    });
                }
                let (body, kind) = multipart::form(&fields, now);
                (body, Some(kind))
            }
        };
        let mut headers = vec![("authorization", auth.as_str()), ("user-agent", USER_AGENT)];
        if let Some(kind) = &kind {
            headers.push(("content-type", kind.as_str()));
        }
        // Errors name the URL: not its tokens (interaction and webhook
        // paths carry one), only the resource.
        let shown = format!("{}/{}/…", self.base, crate::ratelimit::route_key(path));
        let answer = fetch::send(method, &url, &headers, &bytes, TIMEOUT)
            .map_err(|e| Failure::Network(e.replace(&url, &shown).replace(&self.token, "…")))?;
        self.judge(path, &answer)
    }

    fn judge(&mut self, path: &str, answer: &Fetched) -> Result<Value, Failure> {
        let header = |name: &str| answer.header(name).map(|v| String::from_utf8_lossy(v).into_owned());
        if let Some(wait) = self.limits.note(path, crate::plugin::now_ms(), answer.status, header, &answer.body) {
            warn!("Discord: rate limited on {}, waiting {wait} ms", crate::ratelimit::route_key(path));
            return Err(Failure::Wait(wait));
        }
        if !answer.ok() {
            let json: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
            let message = json["message"].as_str().map_or_else(|| answer.text(), str::to_owned);
            return Err(Failure::Refused(answer.status, message));
        }
        if answer.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&answer.body).map_err(|e| Failure::Network(format!("Discord's answer is not JSON: {e}")))
    }

    /// Post `content` to `channel` later (at the next flush), cut into
    /// messages Discord takes.
    pub fn queue(&mut self, channel: &str, content: &str) {
        for part in text::split(content, text::LIMIT) {
            self.posts += 1;
            let nonce = format!("k{:x}{:x}", crate::plugin::now_ms(), self.posts);
            self.outbox.push_back(Post { channel: channel.to_owned(), content: part, nonce, tries: 0 });
        }
    }

    /// How many posts wait in the outbox.
    pub fn waiting(&self) -> usize {
        self.outbox.len()
    }

    /// Send what the outbox holds, in order per channel; a channel whose
    /// route waits keeps its posts for the next flush.
    pub fn flush(&mut self) {
        let mut kept = VecDeque::new();
        let mut held: Vec<String> = Vec::new();
        while let Some(mut post) = self.outbox.pop_front() {
            if held.contains(&post.channel) {
                kept.push_back(post);
                continue;
            }
            let body = json!({ "content": post.content, "allowed_mentions": no_pings(),
                               "nonce": post.nonce, "enforce_nonce": true });
            match self.call("POST", &format!("/channels/{}/messages", post.channel), Body::Json(&body)) {
                Ok(_) => {}
                Err(Failure::Wait(_)) => {
                    held.push(post.channel.clone());
                    kept.push_back(post);
                }
                Err(why @ (Failure::Network(_) | Failure::Refused(500..=599, _))) if post.tries + 1 < TRIES => {
                    warn!("posting to channel {}: {why}; trying again", post.channel);
                    post.tries += 1;
                    held.push(post.channel.clone());
                    kept.push_back(post);
                }
                Err(why) => warn!("posting to channel {}: {why}; the message is dropped", post.channel),
            }
        }
        self.outbox = kept;
    }

    /// Answer interaction `id` (`token`) with `content`; only its author
    /// sees it when `ephemeral`.
    pub fn reply(&mut self, id: &str, token: &str, content: &str, ephemeral: bool) -> Result<(), Failure> {
        let flags = if ephemeral { 64 } else { 0 };
        let content = first_part(content);
        let body = json!({ "type": 4, "data": { "content": content, "flags": flags, "allowed_mentions": no_pings() } });
        self.call("POST", &format!("/interactions/{id}/{token}/callback"), Body::Json(&body)).map(|_| ())
    }

    /// Tell interaction `id` the answer comes later ("thinking…").
    pub fn defer(&mut self, id: &str, token: &str) -> Result<(), Failure> {
        let body = json!({ "type": 5, "data": { "flags": 0 } });
        self.call("POST", &format!("/interactions/{id}/{token}/callback"), Body::Json(&body)).map(|_| ())
    }

    /// Give a deferred interaction its answer: the first 2,000 characters
    /// in place of "thinking…", the rest as follow-ups.
    pub fn complete(&mut self, app: &str, token: &str, content: &str) -> Result<(), Failure> {
        let parts = text::split(content, text::LIMIT);
        let mut parts = parts.iter();
        let first = parts.next().map_or("(nothing)", String::as_str);
        let body = json!({ "content": first, "allowed_mentions": no_pings() });
        self.call("PATCH", &format!("/webhooks/{app}/{token}/messages/@original"), Body::Json(&body))?;
        for part in parts {
            let body = json!({ "content": part, "allowed_mentions": no_pings() });
            self.call("POST", &format!("/webhooks/{app}/{token}"), Body::Json(&body))?;
        }
        Ok(())
    }
}

/// The first message's worth of `content`.
fn first_part(content: &str) -> String {
    text::split(content, text::LIMIT).into_iter().next().unwrap_or_else(|| "(nothing)".into())
}
