//! The example plugin: `sinc hello [NAME…]` prints a greeting (its word is
//! the `greeting` setting under `[plugins.hello]`), and every session event
//! is counted in the plugin's key-value store, so the greeting can say how
//! many it saw. It also serves a small web page on its port:
//!
//! - `GET /` — the greeting, as text;
//! - `GET /events` — server-sent events: one per session event, as it
//!   happens;
//! - `POST /echo` — the request body, back;
//! - `/ws` — a WebSocket that answers each text message in upper case;
//! - `/proxy/…` — forwarded to the `upstream` setting, streamed through
//!   sinc; the plugin only learns how it went (`sinc hello --proxied`).

use sinc_plugin_sdk::prelude::*;
use std::cell::RefCell;

sinc_plugin_sdk::manifest!("../sinc-plugin.toml");

thread_local! {
    static GREETING: RefCell<String> = RefCell::new("Hello".into());
    static UPSTREAM: RefCell<String> = RefCell::new("http://127.0.0.1:7708".into());
    /// Open `/events` streams.
    static LISTENERS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

const EVENTS: &str = "events-seen";
const PROXIED: &str = "proxied";

fn counter(key: &str) -> u64 {
    match kv::get(key) {
        Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).parse().unwrap_or(0),
        _ => 0,
    }
}

/// The string value of `"key"` in the settings (a JSON object), if any.
fn string_setting(config: &str, key: &str) -> Option<String> {
    let rest = config.split_once(&format!("\"{key}\""))?.1.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest.split_once('"')?.0.to_owned())
}

fn greeting(who: &str) -> String {
    let greeting = GREETING.with(|g| g.borrow().clone());
    let last = match kv::get("last-session") {
        Ok(Some(id)) => format!("; last session {}", String::from_utf8_lossy(&id)),
        _ => String::new(),
    };
    format!("{greeting}, {who}! ({} session events seen{last})\n", counter(EVENTS))
}

fn event_name(event: &Event) -> &'static str {
    match event {
        Event::SessionCreated(_) => "session-created",
        Event::SessionAttached(_) => "session-attached",
        Event::SessionDetached(_) => "session-detached",
        Event::SessionEnded(_) => "session-ended",
        Event::FilesSynced(_) => "files-synced",
        Event::Timer(_) => "timer",
    }
}

struct Hello;

impl Plugin for Hello {
    fn init(config: String) -> Result<(), String> {
        if let Some(word) = string_setting(&config, "greeting") {
            GREETING.with(|g| *g.borrow_mut() = word);
        }
        if let Some(url) = string_setting(&config, "upstream") {
            UPSTREAM.with(|u| *u.borrow_mut() = url);
        }
        info!("ready; {} events seen so far", counter(EVENTS));
        Ok(())
    }

    fn on_event(event: Event) -> Result<(), String> {
        let seen = counter(EVENTS) + 1;
        kv::set(EVENTS, seen.to_string().as_bytes()).map_err(|e| e.reason())?;
        let id = match &event {
            Event::SessionCreated(s)
            | Event::SessionAttached(s)
            | Event::SessionDetached(s)
            | Event::SessionEnded(s) => s.id.clone(),
            Event::FilesSynced(f) => f.session_id.clone(),
            Event::Timer(_) => String::new(),
        };
        if let Event::SessionCreated(session) = &event {
            kv::set("last-session", session.id.as_bytes()).map_err(|e| e.reason())?;
        }
        let message = sse_event(Some(event_name(&event)), &id);
        LISTENERS.with(|l| l.borrow_mut().retain(|c| http_server::send(*c, &message).is_ok()));
        debug!("event {seen}: {event:?}");
        Ok(())
    }

    fn commands() -> Vec<Command> {
        vec![Command { name: "hello".into(), summary: "Greet someone (the hello plugin)".into() }]
    }

    fn run_command(name: String, args: Vec<String>) -> CommandOutput {
        if name != "hello" {
            return CommandOutput::usage(format!("the hello plugin has no command `{name}`"));
        }
        if args.first().map(String::as_str) == Some("--proxied") {
            let last = kv::get("last-proxied").ok().flatten().unwrap_or_default();
            return CommandOutput::ok(format!(
                "{} requests proxied; last: {}\n",
                counter(PROXIED),
                String::from_utf8_lossy(&last)
            ));
        }
        let who = if args.is_empty() { "world".to_owned() } else { args.join(" ") };
        CommandOutput::ok(greeting(&who))
    }

    fn handle(request: Request) -> Reply {
        match (request.method.as_str(), request.path()) {
            ("GET", "/") => Reply::Respond(Response::text(200, greeting("web"))),
            ("GET", "/events") => {
                LISTENERS.with(|l| l.borrow_mut().push(request.id));
                Reply::Stream(ResponseHead::event_stream())
            }
            ("POST", "/echo") => match http_server::body(request.id) {
                Ok(body) => Reply::Respond(Response { status: 200, headers: Vec::new(), body }),
                Err(e) => Reply::Respond(Response::text(400, e.reason())),
            },
            (_, "/ws") => Reply::Websocket,
            (_, path) if path.starts_with("/proxy/") => {
                let base = UPSTREAM.with(|u| u.borrow().clone());
                let rest = &request.target["/proxy".len()..];
                Reply::Forward(Forward {
                    url: format!("{}{rest}", base.trim_end_matches('/')),
                    set_headers: vec![("x-sinc-plugin".into(), "hello".into())],
                    remove_headers: vec!["cookie".into()],
                    tap_response: true,
                })
            }
            (method, path) => Reply::Respond(Response::text(404, format!("no route for {method} {path}\n"))),
        }
    }

    fn forwarded(exchange: Exchange) {
        let _ = kv::set(PROXIED, (counter(PROXIED) + 1).to_string().as_bytes());
        let summary = format!(
            "status {} bytes {} tapped {} error {}",
            exchange.status,
            exchange.bytes,
            exchange.body.map_or(0, |b| b.len()),
            exchange.error.as_deref().unwrap_or("none")
        );
        let _ = kv::set("last-proxied", summary.as_bytes());
    }

    fn on_message(connection: u64, message: Message) {
        let answer = match message {
            Message::Text(text) => Message::Text(text.to_uppercase()),
            Message::Binary(data) => Message::Binary(data),
        };
        if let Err(e) = http_server::send_message(connection, &answer) {
            warn!("answering on WebSocket {connection}: {}", e.reason());
        }
    }

    fn closed(connection: u64) {
        LISTENERS.with(|l| l.borrow_mut().retain(|c| *c != connection));
    }
}

sinc_plugin_sdk::export_plugin!(Hello);
