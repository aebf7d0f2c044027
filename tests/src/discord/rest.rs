//! The stand-in's HTTP side: the REST API v10 routes the plugin uses, the
//! attachments, and the upgrade to the Gateway.

use super::{APP, Call, GUILD, TOKEN, World};
use crate::llm_stub::{Seen, read_request};
use crate::multipart;
use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

/// An answer: status, body (none: 204).
type Answer = (u16, Option<Value>);

fn error(status: u16, code: u32, message: &str) -> Answer {
    (status, Some(json!({ "code": code, "message": message })))
}

/// Serve one connection: the Gateway, an attachment, or an API call.
pub(super) fn serve(mut stream: TcpStream, world: &Arc<Mutex<World>>) -> std::io::Result<()> {
    let Some(request) = read_request(&stream)? else { return Ok(()) };
    let path = request.target.split('?').next().unwrap_or_default().to_owned();
    if path == "/gateway" || path == "/gateway/" {
        return super::gateway::serve(&request, stream, world);
    }
    if let Some(file) = path.strip_prefix("/attachments/") {
        let bytes = world.lock().unwrap().files.get(file).cloned();
        return match bytes {
            Some(bytes) => {
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    bytes.len()
                )?;
                stream.write_all(&bytes)
            }
            None => write!(stream, "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
        };
    }
    let Some(route) = path.strip_prefix("/api/v10/") else {
        return respond(&mut stream, error(404, 0, "404: Not Found"), &[]);
    };
    let route = route.replace("%40", "@");
    let mut w = world.lock().unwrap();
    w.calls.push(Call {
        method: request.method.clone(),
        target: request.target.clone(),
        headers: request.headers.clone(),
    });
    let parts: Vec<&str> = route.split('/').collect();
    let free = matches!(parts.first(), Some(&"interactions" | &"webhooks"));
    if !free && request.header("authorization") != Some(&format!("Bot {TOKEN}")) {
        drop(w);
        return respond(&mut stream, error(401, 0, "401: Unauthorized"), &[]);
    }
    let posting = request.method == "POST" && matches!(parts.as_slice(), ["channels", _, "messages"]);
    if posting && let Some((left, retry_after)) = w.limited {
        w.limited = (left > 1).then_some((left - 1, retry_after));
        w.refused += 1;
        drop(w);
        let body = json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": false });
        let wait = format!("{}", retry_after.ceil());
        let after = format!("{retry_after:.3}");
        let headers = [
            ("retry-after", wait.as_str()),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset-after", after.as_str()),
            ("x-ratelimit-scope", "user"),
        ];
        return respond(&mut stream, (429, Some(body)), &headers);
    }
    let answer = route_call(&mut w, &request, &parts);
    drop(w);
    respond(&mut stream, answer, &[])
}

fn respond(stream: &mut TcpStream, (status, body): Answer, extra: &[(&str, &str)]) -> std::io::Result<()> {
    let mut head =
        format!("HTTP/1.1 {status} X\r\nx-ratelimit-limit: 5\r\nx-ratelimit-bucket: stand-in\r\nconnection: close\r\n");
    if !extra.iter().any(|(n, _)| *n == "x-ratelimit-remaining") {
        head.push_str("x-ratelimit-remaining: 4\r\nx-ratelimit-reset-after: 1.000\r\n");
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match body {
        Some(body) => {
            let body = body.to_string();
            write!(stream, "{head}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len())
        }
        None => write!(stream, "{head}content-length: 0\r\n\r\n"),
    }
}

/// The JSON body of a request, or the `payload_json` of a multipart one
/// with its files (name, content type, bytes).
fn payload(request: &Seen) -> Result<(Value, Vec<multipart::Part>), Answer> {
    let kind = request.header("content-type").unwrap_or_default();
    if kind.starts_with("multipart/form-data") {
        let parts = multipart::parse(kind, &request.body).ok_or_else(|| error(400, 50035, "Invalid Form Body"))?;
        let json = parts.iter().find(|p| p.name == "payload_json").map(|p| p.bytes.clone()).unwrap_or_default();
        let value = serde_json::from_slice(&json).map_err(|_| error(400, 50035, "Invalid Form Body"))?;
        let files = parts.into_iter().filter(|p| p.name.starts_with("files[")).collect();
        return Ok((value, files));
    }
    if !kind.starts_with("application/json") {
        return Err(error(400, 50035, "Invalid Form Body: use application/json or multipart/form-data"));
    }
    let value = serde_json::from_slice(&request.body)
        .map_err(|_| error(400, 50109, "The request body contains invalid JSON."))?;
    Ok((value, Vec::new()))
}

/// A message the bot sends: checked as Discord does, its uploads kept.
fn bot_message(w: &mut World, channel: &str, request: &Seen) -> Result<Value, Answer> {
    let (body, files) = payload(request)?;
    let content = body["content"].as_str().unwrap_or_default();
    if content.chars().count() > 2000 {
        return Err(error(400, 50035, "Invalid Form Body: content: Must be 2000 or fewer in length."));
    }
    if content.is_empty() && files.is_empty() && body.get("embeds").is_none() {
        return Err(error(400, 50006, "Cannot send an empty message"));
    }
    let attachments: Vec<Value> =
        files.into_iter().map(|f| w.attach(channel, &f.filename, &f.content_type, f.bytes)).collect();
    let mut message = json!({ "content": content, "attachments": attachments });
    for key in ["flags", "allowed_mentions", "message_reference", "embeds", "nonce", "enforce_nonce"] {
        if let Some(v) = body.get(key) {
            message[key] = v.clone();
        }
    }
    Ok(message)
}

fn route_call(w: &mut World, request: &Seen, parts: &[&str]) -> Answer {
    let method = request.method.as_str();
    let ok = |v: Value| (200, Some(v));
    match (method, parts) {
        ("GET", ["gateway", "bot"]) => ok(json!({
            "url": w.base.replacen("http", "ws", 1) + "/gateway", "shards": 1,
            "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1 },
        })),
        ("GET", ["users", "@me"]) => ok(w.user(APP)),
        ("GET", ["applications", "@me"]) => ok(json!({ "id": APP, "name": "kimaki", "flags": 0 })),
        ("PUT", ["applications", app, "guilds", guild, "commands"]) => {
            if *app != APP || *guild != GUILD {
                return error(404, 10002, "Unknown Application");
            }
            let Ok(Value::Array(mut commands)) = serde_json::from_slice::<Value>(&request.body) else {
                return error(400, 50035, "Invalid Form Body");
            };
            for c in &mut commands {
                let id = w.id();
                c["id"] = json!(id);
                c["application_id"] = json!(APP);
                c["guild_id"] = json!(GUILD);
                c["version"] = json!("1");
            }
            w.commands = json!(commands);
            ok(w.commands.clone())
        }
        ("GET", ["guilds", guild]) if *guild == GUILD => ok(w.guild()),
        ("GET", ["guilds", guild, "roles"]) if *guild == GUILD => ok(json!(w.roles)),
        ("GET", ["guilds", guild, "members", user]) if *guild == GUILD => match w.member(user) {
            Some(m) => ok(json!({ "user": w.user(user), "roles": m.roles, "joined_at": "2026-01-01T00:00:00+00:00" })),
            None => error(404, 10007, "Unknown Member"),
        },
        ("GET", ["channels", channel]) => match w.channel(channel) {
            Some(c) => ok(c.clone()),
            None => error(404, 10003, "Unknown Channel"),
        },
        ("POST", ["channels", channel, "messages"]) => {
            if w.channel(channel).is_none() {
                return error(404, 10003, "Unknown Channel");
            }
            let failing = w.failing.take();
            if let Some((left, made)) = failing {
                w.failing = (left > 1).then_some((left - 1, made));
                if made && let Ok(message) = bot_message(w, channel, request) {
                    w.post(channel, APP, message);
                }
                return error(500, 0, "500: Internal Server Error");
            }
            match bot_message(w, channel, request) {
                // With enforce_nonce, a nonce used lately gets the message
                // it made, not another.
                Ok(message) if message["enforce_nonce"] == true && message["nonce"].is_string() => {
                    let made =
                        w.messages.iter().find(|m| m["channel_id"] == *channel && m["nonce"] == message["nonce"]);
                    match made.cloned() {
                        Some(made) => ok(made),
                        None => ok(w.post(channel, APP, message)),
                    }
                }
                Ok(message) => ok(w.post(channel, APP, message)),
                Err(answer) => answer,
            }
        }
        ("PUT", ["channels", channel, "messages", message, "reactions", emoji, "@me"]) => {
            let emoji = crate::opencode_stub::percent_decoded(emoji);
            w.reactions.push((channel.to_string(), message.to_string(), emoji));
            (204, None)
        }
        ("POST", ["channels", parent, "threads"]) => {
            let Some(parent_channel) = w.channel(parent).cloned() else { return error(404, 10003, "Unknown Channel") };
            if parent_channel["type"] != 0 {
                return error(400, 50024, "Cannot execute action on this channel type");
            }
            let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                return error(400, 50035, "Invalid Form Body");
            };
            let name = body["name"].as_str().unwrap_or_default();
            if name.is_empty() || name.chars().count() > 100 {
                return error(400, 50035, "Invalid Form Body: name: Must be between 1 and 100 in length.");
            }
            let id = w.id();
            let thread = json!({
                "id": id, "guild_id": GUILD, "parent_id": parent, "owner_id": APP, "name": name,
                "type": body["type"].as_u64().unwrap_or(12), "message_count": 0, "member_count": 1,
                "rate_limit_per_user": 0, "total_message_sent": 0,
                "thread_metadata": { "archived": false, "auto_archive_duration": body["auto_archive_duration"].as_u64().unwrap_or(4320),
                                     "archive_timestamp": "2026-11-29T12:00:00+00:00", "locked": false },
            });
            w.channels.push(thread.clone());
            let mut event = thread.clone();
            event["newly_created"] = json!(true);
            w.dispatch("THREAD_CREATE", event);
            ok(thread)
        }
        ("POST", ["interactions", id, token, "callback"]) => {
            if w.interactions.get(*token).map(String::as_str) != Some(*id) {
                return error(404, 10062, "Unknown interaction");
            }
            if w.responses.iter().any(|(i, _)| i == id) {
                return error(400, 40060, "Interaction has already been acknowledged.");
            }
            // Discord waits 3 s for the first answer.
            if w.interaction_sent.get(*id).is_some_and(|t| t.elapsed() > std::time::Duration::from_secs(3)) {
                return error(404, 10062, "Unknown interaction");
            }
            let Ok((body, _)) = payload(request) else { return error(400, 50035, "Invalid Form Body") };
            if !matches!(body["type"].as_u64(), Some(4 | 5)) {
                return error(400, 50035, "Invalid Form Body: type");
            }
            w.responses.push((id.to_string(), body));
            (204, None)
        }
        ("PATCH" | "POST", ["webhooks", app, token, rest @ ..]) => {
            let Some(id) = w.interactions.get(*token).cloned().filter(|_| *app == APP) else {
                return error(404, 10015, "Unknown Webhook");
            };
            if rest.first().is_some_and(|m| *m == "messages") && !w.responses.iter().any(|(i, _)| *i == id) {
                return error(404, 10008, "Unknown Message");
            }
            let Ok((body, _)) = payload(request) else { return error(400, 50035, "Invalid Form Body") };
            w.responses.push((id, body.clone()));
            ok(json!({ "id": w.id(), "content": body["content"], "channel_id": null }))
        }
        _ => error(404, 0, "404: Not Found"),
    }
}
