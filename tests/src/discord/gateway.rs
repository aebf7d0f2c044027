//! The stand-in's Gateway: one WebSocket connection, from its Hello to its
//! end — heartbeats, Identify (the token and the privileged intents
//! checked), Resume (the missed events replayed in order) — while the test
//! and the REST side push events and faults at it.

use super::{APP, GUILD, GatewaySession, Out, PRIVILEGED, TOKEN, World};
use crate::llm_stub::Seen;
use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// Accept the upgrade in `request` and run the connection.
pub(super) fn serve(request: &Seen, mut stream: TcpStream, world: &Arc<Mutex<World>>) -> std::io::Result<()> {
    let key = request.header("sec-websocket-key").unwrap_or_default();
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    write!(
        stream,
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
    )?;
    stream.set_read_timeout(Some(Duration::from_millis(10)))?;
    let raw = stream.try_clone()?;
    let mut socket = WebSocket::from_raw_socket(stream, tungstenite::protocol::Role::Server, None);
    let heartbeat = {
        let mut w = world.lock().unwrap();
        w.connections += 1;
        w.heartbeat_ms
    };
    send(&mut socket, &json!({ "op": 10, "d": { "heartbeat_interval": heartbeat }, "s": null, "t": null }))?;
    let (tx, rx) = channel();
    let mut session: Option<String> = None;
    let ended = run(&mut socket, &raw, world, &tx, &rx, &mut session);
    if let Some(id) = session
        && let Some(s) = world.lock().unwrap().sessions.get_mut(&id)
    {
        s.live = None;
    }
    ended
}

fn send(socket: &mut WebSocket<TcpStream>, payload: &Value) -> std::io::Result<()> {
    socket.send(Message::text(payload.to_string())).map_err(std::io::Error::other)
}

fn close(socket: &mut WebSocket<TcpStream>, code: u16) -> std::io::Result<()> {
    let frame = CloseFrame { code: CloseCode::from(code), reason: "".into() };
    let _ = socket.close(Some(frame));
    let _ = socket.flush();
    Ok(())
}

fn run(
    socket: &mut WebSocket<TcpStream>,
    raw: &TcpStream,
    world: &Arc<Mutex<World>>,
    tx: &std::sync::mpsc::Sender<Out>,
    rx: &Receiver<Out>,
    session: &mut Option<String>,
) -> std::io::Result<()> {
    loop {
        while let Ok(out) = rx.try_recv() {
            match out {
                Out::Frame(frame) => socket.send(Message::text(frame)).map_err(std::io::Error::other)?,
                Out::Close(code) => return close(socket, code),
                Out::Drop => {
                    let _ = raw.shutdown(std::net::Shutdown::Both);
                    return Ok(());
                }
            }
        }
        let text = match socket.read() {
            Ok(Message::Text(text)) => text.to_string(),
            Ok(Message::Close(frame)) => {
                // A client closing with 1000 or 1001 ends its session (the
                // bot goes offline); any other close keeps it resumable.
                let code = frame.map(|f| u16::from(f.code));
                if matches!(code, Some(1000 | 1001))
                    && let Some(id) = session.take()
                {
                    world.lock().unwrap().sessions.remove(&id);
                }
                return Ok(());
            }
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                continue;
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return Ok(()),
            Err(e) => return Err(std::io::Error::other(e)),
        };
        let Ok(payload) = serde_json::from_str::<Value>(&text) else { return close(socket, 4002) };
        if text.len() > 4096 {
            return close(socket, 4002);
        }
        match payload["op"].as_u64() {
            Some(1) => {
                if world.lock().unwrap().acks {
                    send(socket, &json!({ "op": 11 }))?;
                }
            }
            Some(2) => {
                let d = &payload["d"];
                let mut w = world.lock().unwrap();
                if d["token"] != TOKEN {
                    drop(w);
                    return close(socket, 4004);
                }
                let intents = d["intents"].as_u64().unwrap_or(0);
                if intents & PRIVILEGED != 0 && !w.privileged {
                    drop(w);
                    return close(socket, 4014);
                }
                w.identifies += 1;
                let id = format!("session-{}", w.next_id + 1);
                w.next_id += 1;
                let ready = json!({
                    "v": 10, "user": w.user(APP), "guilds": [{ "id": GUILD, "unavailable": true }],
                    "session_id": id, "resume_gateway_url": format!("{}/gateway", w.base.replacen("http", "ws", 1)),
                    "application": { "id": APP, "flags": 0 }, "shard": [0, 1],
                });
                let guild = w.guild_create();
                let mut new = GatewaySession { live: Some(tx.clone()), ..GatewaySession::default() };
                // READY and GUILD_CREATE go to the new session only.
                new.emit("READY", &ready);
                new.emit("GUILD_CREATE", &guild);
                w.sessions.insert(id.clone(), new);
                *session = Some(id);
            }
            Some(6) => {
                let d = &payload["d"];
                let mut w = world.lock().unwrap();
                let id = d["session_id"].as_str().unwrap_or_default().to_owned();
                let seq = d["seq"].as_u64();
                if d["token"] != TOKEN {
                    drop(w);
                    return close(socket, 4004);
                }
                let Some(s) = w.sessions.get_mut(&id) else {
                    drop(w);
                    send(socket, &json!({ "op": 9, "d": false, "s": null, "t": null }))?;
                    continue;
                };
                let Some(seq) = seq.filter(|seq| *seq <= s.seq) else {
                    drop(w);
                    return close(socket, 4007);
                };
                let missed: Vec<String> = s.events.iter().filter(|(n, _)| *n > seq).map(|(_, f)| f.clone()).collect();
                s.live = Some(tx.clone());
                w.resumes += 1;
                *session = Some(id.clone());
                // The missed events, then RESUMED (this session's only).
                let s = w.sessions.get_mut(&id).unwrap();
                let live = s.live.take();
                s.emit("RESUMED", &json!({}));
                s.live = live;
                let resumed = s.events.last().unwrap().1.clone();
                drop(w);
                for frame in missed.into_iter().chain([resumed]) {
                    socket.send(Message::text(frame)).map_err(std::io::Error::other)?;
                }
            }
            _ if session.is_none() => return close(socket, 4003),
            _ => return close(socket, 4001),
        }
    }
}
