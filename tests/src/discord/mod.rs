//! A stand-in for Discord on 127.0.0.1, for the Kimaki plugin's tests: the
//! Gateway (a WebSocket at `/gateway` speaking JSON payloads with op codes:
//! Hello, heartbeats and their ACKs, Identify → READY and GUILD_CREATE,
//! Resume with the missed events replayed, Invalid Session, Reconnect, the
//! close codes 4004, 4007, 4009 and 4014) and the REST API v10 routes the
//! plugin uses (under `/api/v10`: messages as JSON or multipart uploads,
//! threads, reactions, guild commands, interaction callbacks and their
//! webhooks, the guild, its roles and members), with the rate-limit headers
//! and 429s on demand; uploaded and test-made attachments are served at
//! `/attachments/…`. One guild, kept in memory, with channels, members and
//! roles the test makes; what the bot did is kept for the test to look at.

mod gateway;
mod rest;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The bot's token the stand-in accepts.
pub const TOKEN: &str = "MTAxMDAw.sinc-test.bot-token-0123456789";
/// The guild's id (also its @everyone role's).
pub const GUILD: &str = "100000000000000001";
/// The application's id, which is also its bot user's.
pub const APP: &str = "100000000000000002";
/// The guild owner's user id.
pub const OWNER: &str = "100000000000000003";

/// Discord's ADMINISTRATOR permission bit.
pub const ADMINISTRATOR: u64 = 1 << 3;
/// The permissions of a plain member (view, send, read history…).
const MEMBER_PERMISSIONS: u64 = 0x0006_3800 | (1 << 38) | (1 << 31);
/// GUILD_MEMBERS and MESSAGE_CONTENT, the privileged intents.
const PRIVILEGED: u64 = (1 << 1) | (1 << 8) | (1 << 15);

/// What the gateway sends one connection.
#[derive(Debug)]
enum Out {
    /// A payload.
    Frame(String),
    /// A close frame with this code, then the end.
    Close(u16),
    /// The TCP connection cut without a close frame.
    Drop,
}

/// A gateway session: its events, for a Resume.
#[derive(Debug, Default)]
struct GatewaySession {
    seq: u64,
    events: Vec<(u64, String)>,
    /// The connection it is on, while it is.
    live: Option<Sender<Out>>,
}

impl GatewaySession {
    /// Send event `t` to this session: kept for a Resume, and sent now
    /// when it is connected.
    fn emit(&mut self, t: &str, d: &Value) {
        self.seq += 1;
        let frame = json!({ "op": 0, "t": t, "s": self.seq, "d": d }).to_string();
        self.events.push((self.seq, frame.clone()));
        if let Some(live) = &self.live
            && live.send(Out::Frame(frame)).is_err()
        {
            self.live = None;
        }
    }
}

/// A member of the guild.
#[derive(Debug, Clone)]
struct Member {
    id: String,
    name: String,
    roles: Vec<String>,
    bot: bool,
}

/// A REST request the stand-in got.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
}

impl Call {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Everything the stand-in knows.
#[derive(Debug, Default)]
struct World {
    next_id: u64,
    roles: Vec<Value>,
    channels: Vec<Value>,
    members: Vec<Member>,
    /// Every message, in order of creation.
    messages: Vec<Value>,
    /// The guild's commands, as last registered.
    commands: Value,
    /// Interaction responses: (interaction id, callback body); edits of
    /// the original response and follow-ups as (id, body) too.
    responses: Vec<(String, Value)>,
    /// Reactions the bot added: (channel, message, emoji).
    reactions: Vec<(String, String, String)>,
    /// Interactions by token → id, and when each was sent.
    interactions: HashMap<String, String>,
    interaction_sent: HashMap<String, std::time::Instant>,
    /// Attachment bytes by path under `/attachments/`.
    files: HashMap<String, Vec<u8>>,
    sessions: HashMap<String, GatewaySession>,
    calls: Vec<Call>,
    /// The next this many message posts get a 429 with this `retry_after`.
    limited: Option<(u32, f64)>,
    /// 429s answered.
    refused: u32,
    /// The next this many message posts are answered 500: after being
    /// made (`true`: a timeout after Discord stored it) or not.
    failing: Option<(u32, bool)>,
    heartbeat_ms: u64,
    acks: bool,
    privileged: bool,
    identifies: u32,
    resumes: u32,
    /// Gateway connections opened.
    connections: u32,
    base: String,
}

impl World {
    fn id(&mut self) -> String {
        self.next_id += 1;
        (200_000_000_000_000_000 + self.next_id).to_string()
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn user(&self, id: &str) -> Value {
        match self.member(id) {
            Some(m) => {
                json!({ "id": m.id, "username": m.name, "global_name": m.name, "bot": m.bot, "discriminator": "0" })
            }
            None => json!({ "id": id, "username": "unknown", "discriminator": "0" }),
        }
    }

    /// The permissions of member `id` at the guild level, as Discord
    /// computes them.
    fn permissions(&self, id: &str) -> u64 {
        if id == OWNER {
            return u64::MAX >> 1;
        }
        let of = |role: &str| {
            self.roles.iter().find(|r| r["id"] == role).and_then(|r| r["permissions"].as_str()?.parse::<u64>().ok())
        };
        let mut p = of(GUILD).unwrap_or(0);
        for role in self.member(id).map(|m| m.roles.clone()).unwrap_or_default() {
            p |= of(&role).unwrap_or(0);
        }
        if p & ADMINISTRATOR != 0 { u64::MAX >> 1 } else { p }
    }

    fn channel(&self, id: &str) -> Option<&Value> {
        self.channels.iter().find(|c| c["id"] == id)
    }

    fn guild(&self) -> Value {
        json!({
            "id": GUILD, "name": "sinc test", "owner_id": OWNER, "roles": self.roles,
            "icon": null, "features": [], "verification_level": 0, "preferred_locale": "en-US",
        })
    }

    fn guild_create(&self) -> Value {
        let mut g = self.guild();
        let channels: Vec<&Value> = self.channels.iter().filter(|c| c["type"] != 11 && c["type"] != 12).collect();
        let threads: Vec<&Value> = self.channels.iter().filter(|c| c["type"] == 11 || c["type"] == 12).collect();
        g["channels"] = json!(channels);
        g["threads"] = json!(threads);
        g["members"] = json!([{ "user": self.user(APP), "roles": [], "joined_at": "2026-01-01T00:00:00+00:00" }]);
        g["member_count"] = json!(self.members.len());
        g["joined_at"] = json!("2026-01-01T00:00:00+00:00");
        g["large"] = json!(false);
        g
    }

    /// Send event `t` to every gateway session (kept for a Resume, and sent
    /// now to those connected).
    fn dispatch(&mut self, t: &str, d: Value) {
        for session in self.sessions.values_mut() {
            session.emit(t, &d);
        }
    }

    /// Keep `bytes` as a file attached in `channel`: its attachment object,
    /// whose (signed-looking) URL serves them.
    fn attach(&mut self, channel: &str, filename: &str, content_type: &str, bytes: Vec<u8>) -> Value {
        let id = self.id();
        let path = format!("{channel}/{id}/{filename}");
        let url = format!("{}/attachments/{path}?ex=ffffffff&is=0&hm=test", self.base);
        let size = bytes.len();
        self.files.insert(path, bytes);
        json!({ "id": id, "filename": filename, "size": size, "url": url, "proxy_url": url, "content_type": content_type })
    }

    /// A message by `author` in `channel`, announced on the gateway.
    fn post(&mut self, channel: &str, author: &str, mut message: Value) -> Value {
        let id = self.id();
        message["id"] = json!(id);
        message["channel_id"] = json!(channel);
        message["guild_id"] = json!(GUILD);
        message["author"] = self.user(author);
        message["timestamp"] = json!("2026-11-29T12:00:00.000000+00:00");
        for (key, empty) in [("attachments", json!([])), ("embeds", json!([])), ("mentions", json!([]))] {
            if message.get(key).is_none() {
                message[key] = empty;
            }
        }
        if message.get("type").is_none() {
            message["type"] = json!(0);
        }
        if message.get("content").is_none() {
            message["content"] = json!("");
        }
        self.messages.push(message.clone());
        let mut event = message.clone();
        if let Some(m) = self.member(author) {
            event["member"] = json!({ "roles": m.roles, "joined_at": "2026-01-01T00:00:00+00:00", "nick": null });
        }
        self.dispatch("MESSAGE_CREATE", event);
        message
    }
}

/// The stand-in, serving until it is dropped with the test.
#[derive(Debug)]
pub struct Discord {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    world: Arc<Mutex<World>>,
}

/// An attachment a member sends.
#[derive(Debug, Clone)]
pub struct Upload<'a> {
    /// Its file name.
    pub filename: &'a str,
    /// Its MIME type.
    pub content_type: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
}

impl Discord {
    /// Start it: a guild with the roles `Kimaki`, `no-kimaki` and `admins`
    /// (ADMINISTRATOR), the owner, and heartbeats every second.
    pub fn start() -> Discord {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut world = World {
            next_id: 0,
            heartbeat_ms: 1000,
            acks: true,
            privileged: true,
            commands: json!([]),
            base: url.clone(),
            ..World::default()
        };
        let role = |id: &str, name: &str, permissions: u64, position: u32| {
            json!({ "id": id, "name": name, "permissions": permissions.to_string(), "position": position,
                    "color": 0, "hoist": false, "managed": false, "mentionable": false, "flags": 0 })
        };
        world.roles.push(role(GUILD, "@everyone", MEMBER_PERMISSIONS, 0));
        world.members.push(Member { id: OWNER.into(), name: "owner".into(), roles: vec![], bot: false });
        world.members.push(Member { id: APP.into(), name: "kimaki".into(), roles: vec![], bot: true });
        for (name, permissions) in [("Kimaki", 0), ("no-kimaki", 0), ("admins", ADMINISTRATOR)] {
            let id = world.id();
            let position = u32::try_from(world.roles.len()).unwrap();
            world.roles.push(role(&id, name, permissions, position));
        }
        let world = Arc::new(Mutex::new(world));
        let shared = world.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let world = shared.clone();
                std::thread::spawn(move || {
                    let _ = rest::serve(stream, &world);
                });
            }
        });
        Discord { url, world }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    /// The REST API's base URL, as the plugin's `api_base_url`.
    pub fn api(&self) -> String {
        format!("{}/api/v10", self.url)
    }

    /// The id of role `name`.
    pub fn role(&self, name: &str) -> String {
        let w = self.world();
        w.roles.iter().find(|r| r["name"] == name).unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// Add a text channel; its id.
    pub fn add_channel(&self, name: &str) -> String {
        let mut w = self.world();
        let id = w.id();
        let channel = json!({ "id": id, "type": 0, "guild_id": GUILD, "name": name, "position": 0,
                              "permission_overwrites": [], "parent_id": null, "nsfw": false });
        w.channels.push(channel.clone());
        w.dispatch("CHANNEL_CREATE", channel);
        id
    }

    /// Add a member with the roles named; their user id. `bot` for another bot.
    pub fn add_member(&self, name: &str, roles: &[&str], bot: bool) -> String {
        let roles: Vec<String> = roles.iter().map(|r| self.role(r)).collect();
        let mut w = self.world();
        let id = w.id();
        w.members.push(Member { id: id.clone(), name: name.into(), roles, bot });
        id
    }

    /// Member `user` writes `content` in `channel` (a channel or thread);
    /// the message's id.
    pub fn say(&self, channel: &str, user: &str, content: &str) -> String {
        self.say_with(channel, user, content, &[], 0)
    }

    /// [`Discord::say`] with attachments and message flags (8192: a voice
    /// message).
    pub fn say_with(&self, channel: &str, user: &str, content: &str, files: &[Upload<'_>], flags: u64) -> String {
        let mut w = self.world();
        let mut attachments = Vec::new();
        for f in files {
            let mut a = w.attach(channel, f.filename, f.content_type, f.bytes.to_vec());
            if flags & 8192 != 0 {
                a["duration_secs"] = json!(2.5);
                a["waveform"] = json!("AAAA");
            }
            attachments.push(a);
        }
        let message = json!({ "content": content, "attachments": attachments, "flags": flags });
        w.post(channel, user, message)["id"].as_str().unwrap().to_owned()
    }

    /// Member `user` runs slash command `name` with `options` (Discord's
    /// option objects) in `channel`; the interaction's id.
    pub fn command(&self, channel: &str, user: &str, name: &str, options: Value) -> String {
        let mut w = self.world();
        let (id, token) = (w.id(), format!("interaction-token-{}", w.next_id));
        w.interactions.insert(token.clone(), id.clone());
        w.interaction_sent.insert(id.clone(), std::time::Instant::now());
        let command_id =
            w.commands.as_array().and_then(|c| c.iter().find(|c| c["name"] == name)).map(|c| c["id"].clone());
        let channel_value = w.channel(channel).cloned().unwrap_or(json!({ "id": channel }));
        let member = w.member(user).cloned().unwrap();
        let permissions = w.permissions(user);
        let d = json!({
            "id": id, "application_id": APP, "type": 2, "token": token, "version": 1,
            "guild_id": GUILD, "channel_id": channel, "channel": channel_value, "locale": "en-US",
            "member": { "user": w.user(user), "roles": member.roles, "permissions": permissions.to_string(),
                        "joined_at": "2026-01-01T00:00:00+00:00" },
            "app_permissions": MEMBER_PERMISSIONS.to_string(), "entitlements": [],
            "data": { "id": command_id, "name": name, "type": 1, "options": options },
        });
        w.dispatch("INTERACTION_CREATE", d);
        id
    }

    /// A member deletes thread `id` (THREAD_DELETE).
    pub fn delete_thread(&self, id: &str) {
        let mut w = self.world();
        let Some(thread) = w.channel(id).cloned() else { return };
        w.channels.retain(|c| c["id"] != id);
        let d = json!({ "id": id, "guild_id": GUILD, "parent_id": thread["parent_id"], "type": thread["type"] });
        w.dispatch("THREAD_DELETE", d);
    }

    /// The messages in `channel` so far, oldest first.
    pub fn messages(&self, channel: &str) -> Vec<Value> {
        self.world().messages.iter().filter(|m| m["channel_id"] == channel).cloned().collect()
    }

    /// The messages the bot posted in `channel`, their contents joined.
    pub fn bot_text(&self, channel: &str) -> String {
        let all = self.messages(channel);
        let mine = all.iter().filter(|m| m["author"]["id"] == APP);
        mine.map(|m| m["content"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>().join("\n")
    }

    /// The threads under channel `parent`.
    pub fn threads(&self, parent: &str) -> Vec<Value> {
        self.world().channels.iter().filter(|c| c["parent_id"] == parent).cloned().collect()
    }

    /// The responses to interaction `id`: its callback, edits of it and
    /// follow-ups, in order.
    pub fn responses(&self, id: &str) -> Vec<Value> {
        self.world().responses.iter().filter(|(i, _)| i == id).map(|(_, body)| body.clone()).collect()
    }

    /// The reactions the bot added: (channel, message, emoji).
    pub fn reactions(&self) -> Vec<(String, String, String)> {
        self.world().reactions.clone()
    }

    /// The guild's commands as the bot last registered them.
    pub fn commands(&self) -> Value {
        self.world().commands.clone()
    }

    /// The REST requests so far.
    pub fn calls(&self) -> Vec<Call> {
        self.world().calls.clone()
    }

    /// Identifies and resumes so far.
    pub fn sessions_started(&self) -> (u32, u32) {
        let w = self.world();
        (w.identifies, w.resumes)
    }

    /// Gateway connections opened so far.
    pub fn gateway_connections(&self) -> u32 {
        self.world().connections
    }

    /// Whether a gateway connection is identified or resumed now.
    pub fn connected(&self) -> bool {
        self.world().sessions.values().any(|s| s.live.is_some())
    }

    /// Cut every gateway connection without a close frame (a network
    /// drop); the sessions stay resumable.
    pub fn drop_gateway(&self) {
        self.each_live(|| Out::Drop);
    }

    /// Close every gateway connection with `code`.
    pub fn close_gateway(&self, code: u16) {
        self.each_live(|| Out::Close(code));
    }

    /// Ask every connected bot to reconnect and resume (op 7).
    pub fn ask_reconnect(&self) {
        self.each_live(|| Out::Frame(json!({ "op": 7, "d": null, "s": null, "t": null }).to_string()));
    }

    /// Forget every gateway session (a Resume then gets Invalid Session).
    pub fn forget_sessions(&self) {
        self.each_live(|| Out::Drop);
        self.world().sessions.clear();
    }

    fn each_live(&self, out: impl Fn() -> Out) {
        let mut w = self.world();
        for session in w.sessions.values_mut() {
            if let Some(live) = session.live.take() {
                let _ = live.send(out());
            }
        }
    }

    /// Answer the next `count` message posts with 429 and `retry_after`.
    pub fn rate_limit(&self, count: u32, retry_after: f64) {
        self.world().limited = Some((count, retry_after));
    }

    /// Answer the next `count` message posts with a 500, having made the
    /// message first when `made` (as when Discord times out after storing
    /// it).
    pub fn fail_posts(&self, count: u32, made: bool) {
        self.world().failing = Some((count, made));
    }

    /// 429s answered so far.
    pub fn refused(&self) -> u32 {
        self.world().refused
    }

    /// Whether heartbeats get their ACK (off: a zombie connection).
    pub fn set_acks(&self, acks: bool) {
        self.world().acks = acks;
    }

    /// Whether the bot may use the privileged intents (off: Identify with
    /// them is closed with 4014).
    pub fn set_privileged_intents(&self, allowed: bool) {
        self.world().privileged = allowed;
    }

    /// Wait until `check` finds something in the stand-in, or fail.
    pub fn wait_for<T>(&self, what: &str, mut check: impl FnMut(&Discord) -> Option<T>) -> T {
        crate::wait_until(Duration::from_secs(20), what, || check(self))
    }
}
