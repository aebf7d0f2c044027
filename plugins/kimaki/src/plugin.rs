//! The plugin: the bot's connection to the Gateway (over the host's
//! WebSockets), its events, and the timer that keeps heartbeats going and
//! carries the agents' output to their threads — the I/O around the pure
//! modules.

use crate::access::{self, Author, Guild, Policy};
use crate::discord::{Body, Discord, Failure};
use crate::gateway::{Action, Gateway};
use crate::links::Links;
use crate::screen::Screen;
use crate::settings::Settings;
use crate::{commands, text};
use serde_json::Value;
use sinc_plugin_sdk::prelude::*;
use sinc_plugin_sdk::terminal;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

sinc_plugin_sdk::manifest!("../sinc-plugin.toml");

/// Where the links are kept.
const LINKS: &str = "links";
/// The secret holding the bot's token.
pub const TOKEN_SECRET: &str = "kimaki_bot_token";
/// The secret holding the transcription service's key.
const TRANSCRIPTION_SECRET: &str = "kimaki_transcription_key";
/// Lines of scrollback read to find an agent's new output (more new lines
/// than this in one second, and the oldest of them are not posted).
pub(crate) const SCROLLBACK: u32 = 1000;
/// The most output posted at once (eight messages); more is cut from the
/// top.
const MAX_BATCH: usize = 16_000;
/// How often the "typing…" indicator is renewed while an agent works.
const TYPING_EVERY_MS: u64 = 8000;

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn jitter() -> f64 {
    let bytes = wasip2::random::random::get_random_bytes(2);
    f64::from(u16::from_le_bytes([bytes[0], bytes[1]])) / 65536.0
}

/// The home folder, as the plugin sees it (its declared folder `~/`).
fn home() -> Option<String> {
    wasip2::filesystem::preopens::get_directories().into_iter().map(|(_, path)| path).find(|p| p != "/data")
}

/// Everything the bot keeps between calls.
pub(crate) struct Bot {
    pub(crate) settings: Settings,
    pub(crate) api: Discord,
    gateway: Gateway,
    connection: Option<u64>,
    /// How Discord last closed the gateway, in words (for `status`).
    last_close: Option<String>,
    retry_at: u64,
    failures: u32,
    /// Discord refused the token: nothing more is tried.
    fatal: bool,
    bot_id: String,
    pub(crate) app_id: String,
    guilds: HashMap<String, Guild>,
    registered: HashSet<String>,
    pub(crate) links: Links,
    pub(crate) screens: HashMap<String, Screen>,
    states: HashMap<String, sessions::State>,
    typing: HashMap<String, u64>,
    pub(crate) transcription_key: Option<String>,
    pub(crate) home: Option<String>,
}

thread_local! {
    static BOT: RefCell<Option<Bot>> = const { RefCell::new(None) };
}

fn with_bot<T>(f: impl FnOnce(&mut Bot) -> T) -> Option<T> {
    BOT.with(|b| b.borrow_mut().as_mut().map(f))
}

struct Kimaki;

impl Plugin for Kimaki {
    fn init(config: String) -> Result<(), String> {
        let settings = Settings::parse(&config)?;
        let token = secrets::get(TOKEN_SECRET).map_err(|e| {
            format!("no bot token ({}): put {TOKEN_SECRET} = \"…\" under [secrets] in config.toml", e.reason())
        })?;
        let links: Links =
            kv::get(LINKS).ok().flatten().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        let bot = Bot {
            api: Discord::new(&settings.api_base_url, &token),
            gateway: Gateway::new(&token),
            settings,
            connection: None,
            last_close: None,
            retry_at: 0,
            failures: 0,
            fatal: false,
            bot_id: String::new(),
            app_id: String::new(),
            guilds: HashMap::new(),
            registered: HashSet::new(),
            links,
            screens: HashMap::new(),
            states: HashMap::new(),
            typing: HashMap::new(),
            transcription_key: secrets::get(TRANSCRIPTION_SECRET).ok().filter(|k| !k.trim().is_empty()),
            home: home(),
        };
        BOT.with(|b| *b.borrow_mut() = Some(bot));
        Ok(())
    }

    fn on_event(event: Event) -> Result<(), String> {
        if let Event::Timer(now) = event {
            with_bot(|bot| bot.tick(now));
        }
        Ok(())
    }

    fn commands() -> Vec<Command> {
        vec![Command {
            name: "kimaki".into(),
            summary: "the Discord bot on the VPS: `sinc kimaki status [--json]`; `sinc kimaki mcp` gives agents a tool to share files to their thread".into(),
        }]
    }

    fn run_command(_name: String, args: Vec<String>) -> CommandOutput {
        match args.split_first() {
            Some((what, rest)) if what == "status" => with_bot(|bot| bot.status_command(rest))
                .unwrap_or_else(|| CommandOutput::fail("the bot is not running (see `sinc plugin list`)")),
            _ => CommandOutput::usage("usage: sinc kimaki status [--json] | sinc kimaki mcp"),
        }
    }

    fn tools() -> Vec<Tool> {
        vec![crate::share::tool()]
    }

    fn call_tool(name: String, arguments: String) -> Result<String, String> {
        if name != crate::share::TOOL {
            return Err(format!("no tool `{name}`"));
        }
        with_bot(|bot| bot.share_from_agent(&arguments)).unwrap_or_else(|| Err("the Discord bot is not running".into()))
    }

    fn on_message(connection: u64, message: Message) {
        with_bot(|bot| {
            if bot.connection != Some(connection) {
                return;
            }
            match message {
                Message::Text(text) => bot.received(&text),
                Message::Binary(_) => warn!("Discord sent a binary frame; the bot asks for JSON text"),
            }
        });
    }

    fn on_close(connection: u64, code: u16, reason: String) {
        with_bot(|bot| {
            if bot.connection == Some(connection) {
                bot.closed_with(code, &reason);
            }
        });
    }

    fn closed(connection: u64) {
        with_bot(|bot| {
            if bot.connection == Some(connection) {
                bot.lost();
            }
        });
    }

    fn shutdown() {
        with_bot(|bot| {
            if let Some(c) = bot.connection.take() {
                http_server::finish(c);
            }
        });
    }
}

sinc_plugin_sdk::export_plugin!(Kimaki);

impl Bot {
    /// Once a second: connect when due, heartbeat, carry output, post.
    fn tick(&mut self, now: u64) {
        if self.connection.is_none() && !self.fatal && now >= self.retry_at {
            self.connect(now);
        }
        if let Some(action) = self.gateway.tick(now) {
            self.perform(action);
        }
        self.follow(now);
        self.api.flush();
    }

    /// Wait longer after each failure in a row: 2 s, 4 s, … a minute, and
    /// ten minutes from the seventh on (each try may cost one of the 1,000
    /// Identifies Discord allows a day).
    fn back_off(&mut self, now: u64) {
        self.failures += 1;
        let wait = if self.failures > 6 { 600_000 } else { (1000u64 << self.failures).min(60_000) };
        self.retry_at = now + wait;
    }

    fn connect(&mut self, now: u64) {
        if self.bot_id.is_empty() {
            match self.api.call("GET", "/users/@me", Body::Empty) {
                Ok(me) => self.bot_id = me["id"].as_str().unwrap_or_default().to_owned(),
                Err(Failure::Refused(401, _)) => {
                    return self
                        .stop(format!("Discord refused the bot token (401): check {TOKEN_SECRET} under [secrets]"));
                }
                Err(why) => {
                    warn!("reaching Discord: {why}");
                    return self.back_off(now);
                }
            }
        }
        let url = match self.gateway.resume_url() {
            Some(url) => url.to_owned(),
            // A new session: Discord's address, and whether an Identify is
            // left today.
            None => match self.api.call("GET", "/gateway/bot", Body::Empty) {
                Ok(answer) => {
                    let limit = &answer["session_start_limit"];
                    if limit["remaining"].as_u64() == Some(0) {
                        let wait = limit["reset_after"].as_u64().unwrap_or(3_600_000);
                        warn!("Discord allows no more new gateway sessions for {} min; waiting", wait / 60_000);
                        self.retry_at = now + wait;
                        return;
                    }
                    answer["url"].as_str().unwrap_or("wss://gateway.discord.gg").trim_end_matches('/').to_owned()
                }
                Err(why) => {
                    warn!("asking Discord for its gateway: {why}");
                    return self.back_off(now);
                }
            },
        };
        match websockets::connect(&format!("{url}/?v=10&encoding=json"), &[]) {
            Ok(connection) => {
                debug!("gateway connection {connection} open");
                self.connection = Some(connection);
                self.gateway.connected();
            }
            Err(e) => {
                warn!("connecting to Discord's gateway: {}", e.reason());
                if self.failures >= 2 {
                    // The resume host may be gone: start over from the main one.
                    self.gateway.forget();
                }
                self.back_off(now);
            }
        }
    }

    /// Discord closed the gateway with `code` (`lost` follows): what it
    /// means for the session and the bot.
    fn closed_with(&mut self, code: u16, reason: &str) {
        let meaning = match code {
            4004 => {
                return self
                    .stop(format!("Discord refused the bot token (4004): check {TOKEN_SECRET} under [secrets]"));
            }
            4010..=4013 => return self.stop(format!("Discord refused the connection ({code} {reason})")),
            4014 => {
                "Discord refused the intents (4014): turn on the Message Content intent (Developer Portal → Bot)".into()
            }
            4007 | 4009 => {
                self.gateway.forget();
                format!("the gateway session ended ({code} {reason}); starting a new one")
            }
            _ => format!("the gateway closed ({code} {reason})"),
        };
        warn!("{meaning}");
        self.last_close = Some(meaning);
    }

    /// Discord will not take the bot as it is (`why`): nothing more is
    /// tried until the plugin starts again (a new token, a new config).
    fn stop(&mut self, why: String) {
        warn!("{why}; the bot stays off");
        self.fatal = true;
        self.last_close = Some(why);
    }

    /// The connection ended (the server closed it, or the network).
    fn lost(&mut self) {
        let was_ready = self.gateway.is_ready();
        self.connection = None;
        self.gateway.disconnected();
        let now = now_ms();
        if was_ready {
            info!("the gateway connection ended; resuming");
            self.retry_at = now;
        } else if !self.fatal {
            if self.last_close.is_none() {
                warn!(
                    "Discord closed the gateway before the bot was ready: check the bot's token and that its Message Content intent is on (Developer Portal → Bot)"
                );
            }
            self.back_off(now);
        }
    }

    fn received(&mut self, text: &str) {
        for action in self.gateway.received(text, now_ms(), jitter()) {
            self.perform(action);
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Send(payload) => {
                let Some(c) = self.connection else { return };
                if let Err(e) = http_server::send_message(c, &Message::Text(payload)) {
                    warn!("sending to the gateway: {}", e.reason());
                    http_server::finish(c);
                    self.lost();
                }
            }
            Action::Event(t, d) => self.event(&t, &d),
            Action::Reconnect => self.reconnect(0),
            Action::ReconnectLater => {
                // Truncation is fine: a wait in milliseconds.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let wait = 1000 + (4000.0 * jitter()) as u64;
                self.reconnect(wait);
            }
        }
    }

    /// Close the connection; connect again after `wait` ms.
    fn reconnect(&mut self, wait: u64) {
        if let Some(c) = self.connection.take() {
            http_server::finish(c);
        }
        self.gateway.disconnected();
        self.retry_at = now_ms() + wait;
    }

    /// The connection's state, in words.
    pub(crate) fn connection_state(&self) -> String {
        match (&self.connection, self.fatal, self.gateway.is_ready()) {
            (_, true, _) => format!("stopped: {}", self.last_close.as_deref().unwrap_or("Discord refused the bot")),
            (Some(_), _, true) => "connected".into(),
            (Some(_), _, false) => "connecting".into(),
            (None, _, _) => {
                let wait = self.retry_at.saturating_sub(now_ms()) / 1000;
                let last = self.last_close.as_deref().map(|w| format!("; last: {w}")).unwrap_or_default();
                format!("disconnected ({} failures in a row; next try in {wait} s{last})", self.failures)
            }
        }
    }

    /// The servers the bot follows.
    pub(crate) fn servers(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.guilds.keys().cloned().collect();
        ids.sort();
        ids
    }

    fn guild_allowed(&self, id: &str) -> bool {
        self.settings.guild.as_deref().is_none_or(|only| only == id)
    }

    fn event(&mut self, t: &str, d: &Value) {
        let guild_id = d["guild_id"].as_str().unwrap_or_default().to_owned();
        match t {
            "READY" => {
                self.last_close = None;
                self.bot_id = d["user"]["id"].as_str().unwrap_or_default().to_owned();
                self.app_id = d["application"]["id"].as_str().unwrap_or(&self.bot_id).to_owned();
                self.failures = 0;
                info!("connected to Discord as {}", d["user"]["username"].as_str().unwrap_or("the bot"));
            }
            "RESUMED" => {
                self.last_close = None;
                self.failures = 0;
                info!("the gateway session resumed");
            }
            "GUILD_CREATE" | "GUILD_UPDATE" => {
                let guild = Guild::from_json(d);
                if !self.guild_allowed(&guild.id) {
                    return;
                }
                let id = guild.id.clone();
                self.guilds.insert(id.clone(), guild);
                if !self.registered.contains(&id) {
                    let path = format!("/applications/{}/guilds/{id}/commands", self.app_id);
                    match self.api.call("PUT", &path, Body::Json(&commands::definitions())) {
                        Ok(_) => {
                            self.registered.insert(id);
                        }
                        Err(why) => warn!("registering the slash commands in server {id}: {why}"),
                    }
                }
            }
            "GUILD_ROLE_CREATE" | "GUILD_ROLE_UPDATE" => {
                if let Some(g) = self.guilds.get_mut(&guild_id) {
                    g.set_role(&d["role"]);
                }
            }
            "GUILD_ROLE_DELETE" => {
                if let Some(g) = self.guilds.get_mut(&guild_id) {
                    g.remove_role(d["role_id"].as_str().unwrap_or_default());
                }
            }
            "MESSAGE_CREATE" => self.message(d),
            "INTERACTION_CREATE" => self.interaction(d),
            "THREAD_DELETE" if self.links.threads.remove(d["id"].as_str().unwrap_or_default()).is_some() => {
                self.save_links();
            }
            "CHANNEL_DELETE" if self.links.remove_project(d["id"].as_str().unwrap_or_default()) => self.save_links(),
            _ => {}
        }
    }

    pub(crate) fn save_links(&self) {
        match serde_json::to_vec(&self.links) {
            Ok(bytes) => {
                if let Err(e) = kv::set(LINKS, &bytes) {
                    warn!("keeping the channel and thread links: {}", e.reason());
                }
            }
            Err(e) => warn!("keeping the channel and thread links: {e}"),
        }
    }

    /// Whether the author of `d` (a message or an interaction) may drive
    /// sessions; why not.
    pub(crate) fn check(&self, d: &Value) -> Result<(), String> {
        let guild_id = d["guild_id"].as_str().unwrap_or_default();
        let Some(guild) = self.guilds.get(guild_id) else {
            return Err("this server is not set up for the bot yet".into());
        };
        let user = if d["member"]["user"].is_object() { &d["member"]["user"] } else { &d["author"] };
        let author = Author {
            id: user["id"].as_str().unwrap_or_default().to_owned(),
            bot: user["bot"] == true,
            roles: d["member"]["roles"]
                .as_array()
                .map(|r| r.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            permissions: d["member"]["permissions"].as_str().and_then(|p| p.parse().ok()),
        };
        let policy = Policy { role: &self.settings.role, blocked_role: &self.settings.blocked_role };
        access::decide(guild, &author, &policy)
    }

    /// Whether message or interaction `d` is one the bot looks at: in an
    /// allowed server, not its own, not another bot's.
    pub(crate) fn concerns_us(&self, d: &Value) -> bool {
        let author = &d["author"];
        let guild = d["guild_id"].as_str().unwrap_or_default();
        !guild.is_empty() && self.guild_allowed(guild) && author["id"] != self.bot_id.as_str() && author["bot"] != true
    }

    /// Carry each followed session's new output and state to its thread.
    fn follow(&mut self, now: u64) {
        let threads: Vec<(String, String)> = self.links.live().map(|(t, l)| (t.clone(), l.session.clone())).collect();
        if threads.is_empty() {
            return;
        }
        let list = match sessions::list() {
            Ok(list) => list,
            Err(e) => return warn!("listing the sessions: {}", e.reason()),
        };
        let mut ended = false;
        for (thread, session) in threads {
            let Some(info) = list.iter().find(|i| i.session.id == session) else {
                self.api.queue(&thread, &format!("⛔ Session `{session}` ended."));
                if let Some(t) = self.links.threads.get_mut(&thread) {
                    t.ended = true;
                }
                self.screens.remove(&session);
                self.states.remove(&session);
                self.typing.remove(&thread);
                ended = true;
                continue;
            };
            match sessions::screen(&session, SCROLLBACK) {
                Ok(screen) => {
                    let fresh = self.screens.entry(session.clone()).or_default().fresh(&terminal::strip_ansi(&screen));
                    if !fresh.is_empty() {
                        self.api.queue(&thread, &batch(&fresh));
                    }
                }
                Err(e) => warn!("reading session {session}: {}", e.reason()),
            }
            let before = self.states.insert(session.clone(), info.state);
            if before.is_some() && before != Some(info.state) {
                let note = match info.state {
                    sessions::State::Waiting => Some("❓ The agent is waiting for an answer: reply here."),
                    sessions::State::Idle => Some("✅ The agent is idle, at its prompt."),
                    sessions::State::Exited => {
                        Some("⛔ The agent exited: its program ended (`/output` shows its last lines).")
                    }
                    sessions::State::Working => None,
                };
                if let Some(note) = note {
                    self.api.queue(&thread, note);
                }
            }
            if info.state == sessions::State::Working
                && now.saturating_sub(self.typing.get(&thread).copied().unwrap_or(0)) >= TYPING_EVERY_MS
            {
                self.typing.insert(thread.clone(), now);
                let _ = self.api.call("POST", &format!("/channels/{thread}/typing"), Body::Empty);
            }
        }
        if ended {
            self.save_links();
        }
    }
}

/// New output lines as one post: in a code block (so nothing in them
/// formats or mentions), the oldest cut when there are too many.
fn batch(lines: &[String]) -> String {
    let joined = lines.join("\n");
    let (kept, skipped) = text::tail(&joined, MAX_BATCH);
    if skipped == 0 {
        return text::code_block(kept);
    }
    text::code_block(&format!("… {skipped} earlier lines (/output shows more)\n{kept}"))
}
