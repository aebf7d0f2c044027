//! The plugin: the page's requests, its WebSockets (watching and typing
//! into a session), pairing and `sinc mobile` — the I/O around the pure
//! modules.

use crate::args::{self, MobileCommand};
use crate::auth::{self, Pairing};
use crate::listing::{self, Project};
use crate::routes::{self, Asked, Route};
use crate::settings::{self, Settings};
use crate::{assets, qr};
use sinc_plugin_sdk::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

sinc_plugin_sdk::manifest!("../sinc-plugin.toml");

const PAIRING: &str = "pairing";
const PROJECTS: &str = "projects";

/// A WebSocket of the page.
struct Socket {
    /// The session it is about.
    session: String,
    /// The device it was opened by (its token's hash).
    device: String,
    /// Whether the host streams the session to it.
    watching: bool,
}

thread_local! {
    static SETTINGS: RefCell<Settings> = RefCell::new(Settings::default());
    /// The page's WebSockets, by connection.
    static SOCKETS: RefCell<HashMap<u64, Socket>> = RefCell::new(HashMap::new());
}

fn settings() -> Settings {
    SETTINGS.with(|s| s.borrow().clone())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn random<const N: usize>() -> [u8; N] {
    let bytes = wasip2::random::random::get_random_bytes(N as u64);
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

fn load<T: serde::de::DeserializeOwned + Default>(key: &str) -> T {
    kv::get(key).ok().flatten().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

fn save<T: serde::Serialize>(key: &str, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    kv::set(key, &bytes).map_err(|e| format!("keeping {key}: {}", e.reason()))
}

fn json_response(status: u16, value: &serde_json::Value) -> Response {
    let mut r = Response::json(status, value.to_string());
    r.headers.push(("cache-control".into(), "no-store".into()));
    r.headers = guarded(r.headers);
    r
}

fn error(status: u16, message: &str) -> Reply {
    Reply::Respond(json_response(status, &serde_json::json!({ "error": message })))
}

/// The hash of `token` when it belongs to a paired device (whose last
/// visit is noted, at most once a minute).
fn paired(token: Option<&str>) -> Option<String> {
    let token = token?;
    let mut pairing: Pairing = load(PAIRING);
    let hash = auth::hash(token);
    let seen = pairing.devices.iter().find(|d| d.token_hash == hash).map(|d| d.seen)?;
    let now = now_ms();
    if now.saturating_sub(seen) > 60_000 {
        pairing.device(token, now);
        let _ = save(PAIRING, &pairing);
    }
    Some(hash)
}

/// Whether the device with token hash `device` is still paired.
fn still_paired(device: &str) -> bool {
    load::<Pairing>(PAIRING).devices.iter().any(|d| d.token_hash == device)
}

/// End the WebSockets of devices no longer paired.
fn close_unpaired() {
    let pairing: Pairing = load(PAIRING);
    let gone: Vec<u64> = SOCKETS.with(|s| {
        s.borrow()
            .iter()
            .filter(|(_, socket)| !pairing.devices.iter().any(|d| d.token_hash == socket.device))
            .map(|(id, _)| *id)
            .collect()
    });
    for id in gone {
        http_server::finish(id);
        SOCKETS.with(|s| s.borrow_mut().remove(&id));
    }
}

/// Every response's headers: no framing by other pages, scripts and
/// connections from this page only, nothing guessed.
fn guarded(mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers.extend(
        [
            (
                "content-security-policy",
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
            ),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    headers
}

fn body_json(request: &Request) -> Result<serde_json::Value, String> {
    let body = http_server::body(request.id).map_err(|e| e.reason())?;
    serde_json::from_slice(&body).map_err(|e| format!("the body is not JSON: {e}"))
}

fn sessions_now() -> Result<Vec<listing::Listed>, String> {
    sessions::list().map(listing::listed).map_err(|e| e.reason())
}

fn known_projects(now: &[listing::Listed]) -> Vec<Project> {
    let known: Vec<Project> = load(PROJECTS);
    let merged = listing::projects(known.clone(), now, &settings().projects);
    if merged != known {
        let _ = save(PROJECTS, &merged);
    }
    merged
}

fn pair_device(request: &Request) -> Reply {
    let body = match body_json(request) {
        Ok(body) => body,
        Err(why) => return error(400, &why),
    };
    let code = body["code"].as_str().unwrap_or_default();
    let name = body["name"].as_str().unwrap_or("a browser");
    let token = auth::token_from(random::<32>());
    let mut pairing: Pairing = load(PAIRING);
    let outcome = pairing.pair(code, name, &token, now_ms());
    if let Err(why) = save(PAIRING, &pairing) {
        return error(500, &why);
    }
    match outcome {
        Ok(device) => {
            info!("paired device {} ({})", device.id, device.name);
            let mut r = json_response(200, &serde_json::json!({ "device": device.id }));
            r.headers.push(("set-cookie".into(), auth::set_cookie(&token)));
            Reply::Respond(r)
        }
        Err(why) => {
            warn!("pairing refused: {why}");
            error(403, &why)
        }
    }
}

fn answer(route: Route, request: &Request, device: Option<String>) -> Reply {
    let settings = settings();
    match route {
        Route::Asset(path) => match assets::find(&path) {
            Some(asset) => Reply::Respond(Response {
                status: 200,
                headers: guarded(vec![
                    ("content-type".into(), asset.content_type.into()),
                    ("cache-control".into(), "no-cache".into()),
                ]),
                body: asset.body.to_vec(),
            }),
            None => error(404, "no such page"),
        },
        Route::Me => Reply::Respond(json_response(200, &serde_json::json!({ "read_only": settings.read_only }))),
        Route::Sessions => match sessions_now() {
            Ok(now) => {
                let projects = known_projects(&now);
                Reply::Respond(json_response(
                    200,
                    &serde_json::json!({ "sessions": now, "projects": projects, "read_only": settings.read_only }),
                ))
            }
            Err(why) => error(502, &why),
        },
        Route::Start => {
            let body = match body_json(request) {
                Ok(body) => body,
                Err(why) => return error(400, &why),
            };
            let Some(folder) = body["folder"].as_str() else { return error(400, "give the `folder` to start in") };
            let projects = known_projects(&sessions_now().unwrap_or_default());
            let Some(project) = projects.iter().find(|p| p.folder == folder) else {
                return error(400, &format!("`{folder}` is not a known project"));
            };
            match sessions::start(folder, project.agent.as_deref()) {
                Ok(id) => {
                    info!("started {id} in {folder} from the page");
                    Reply::Respond(json_response(200, &serde_json::json!({ "id": id })))
                }
                Err(e) => error(502, &e.reason()),
            }
        }
        Route::Stop(id) => match live_sessions::stop(&id) {
            Ok(()) => {
                info!("stopped {id} from the page");
                Reply::Respond(json_response(200, &serde_json::json!({ "stopped": id })))
            }
            Err(e) => error(502, &e.reason()),
        },
        Route::Pair => pair_device(request),
        Route::Watch(session) => {
            let device = device.unwrap_or_default();
            SOCKETS.with(|s| s.borrow_mut().insert(request.id, Socket { session, device, watching: false }));
            Reply::Websocket
        }
    }
}

fn tell(connection: u64, message: &str) {
    let text = serde_json::json!({ "error": message }).to_string();
    let _ = http_server::send_message(connection, &Message::Text(text));
}

fn pair_command(json: bool) -> CommandOutput {
    let settings = settings();
    let code = auth::code_from(random::<8>());
    let mut pairing: Pairing = load(PAIRING);
    pairing.add_code(&code, now_ms());
    if let Err(why) = save(PAIRING, &pairing) {
        return CommandOutput::fail(format!("sinc mobile pair: {why}\n"));
    }
    let url = format!("{}/#pair={code}", settings.page_url());
    let minutes = auth::CODE_LIFETIME_MS / 60_000;
    if json {
        return CommandOutput::ok(format!(
            "{}\n",
            serde_json::json!({ "code": code, "url": url, "expires_in_s": auth::CODE_LIFETIME_MS / 1000 })
        ));
    }
    let drawn = qr::draw(&url).unwrap_or_default();
    let reach = if settings.bind != "tailnet" {
        "From the laptop: `sinc open mobile`; for a phone on your tailnet: [plugins.mobile] bind = \"tailnet\" and url."
    } else if settings.url.is_none() {
        "Served on the VPS's tailnet address: set [plugins.mobile] url = \"http://VPS-TAILNET-NAME:PORT\" for this link."
    } else {
        "Served on the VPS's tailnet address: open it on a device on your tailnet."
    };
    CommandOutput::ok(format!(
        "{drawn}\nOpen {url}\n(or enter the code {code} on the page). It works once, for {minutes} minutes.\n{reach}\n"
    ))
}

fn devices_command(json: bool) -> CommandOutput {
    let pairing: Pairing = load(PAIRING);
    if json {
        let devices: Vec<serde_json::Value> = pairing
            .devices
            .iter()
            .map(|d| serde_json::json!({ "id": d.id, "name": d.name, "paired_ms": d.paired, "seen_ms": d.seen }))
            .collect();
        return CommandOutput::ok(format!("{}\n", serde_json::Value::Array(devices)));
    }
    if pairing.devices.is_empty() {
        return CommandOutput::ok("no paired devices; `sinc mobile pair` pairs one\n");
    }
    let now = now_ms();
    let mut out = String::from("ID        LAST SEEN   NAME\n");
    for d in &pairing.devices {
        let ago = now.saturating_sub(d.seen) / 60_000;
        out.push_str(&format!("{:<9} {:>6} min  {}\n", d.id, ago, d.name));
    }
    CommandOutput::ok(out)
}

fn revoke_command(id: Option<&str>) -> CommandOutput {
    let mut pairing: Pairing = load(PAIRING);
    let gone = pairing.revoke(id);
    if let Err(why) = save(PAIRING, &pairing) {
        return CommandOutput::fail(format!("sinc mobile revoke: {why}\n"));
    }
    close_unpaired();
    match (gone, id) {
        (0, Some(id)) => {
            CommandOutput::fail(format!("sinc mobile revoke: no device `{id}` (see `sinc mobile devices`)\n"))
        }
        (n, _) => CommandOutput::ok(format!("revoked {n} device(s); their pages stop working now\n")),
    }
}

struct Mobile;

impl Plugin for Mobile {
    fn init(config: String) -> Result<(), String> {
        let parsed = Settings::parse(&config)?;
        SETTINGS.with(|s| *s.borrow_mut() = parsed);
        Ok(())
    }

    fn commands() -> Vec<Command> {
        vec![Command {
            name: "mobile".into(),
            summary: "The phone page: sinc mobile pair | devices | revoke ID|--all".into(),
        }]
    }

    fn run_command(name: String, args: Vec<String>) -> CommandOutput {
        if name != "mobile" {
            return CommandOutput::usage(format!("no command `{name}`"));
        }
        match args::parse(&args) {
            Err(why) if why.is_empty() => CommandOutput::ok(args::USAGE),
            Err(why) => CommandOutput::usage(format!("sinc mobile: {why}\n{}", args::USAGE)),
            Ok(MobileCommand::Pair { json }) => pair_command(json),
            Ok(MobileCommand::Devices { json }) => devices_command(json),
            Ok(MobileCommand::Revoke { id }) => revoke_command(id.as_deref()),
        }
    }

    fn on_event(event: Event) -> Result<(), String> {
        // Remember the folders sessions ran in, to offer them later.
        if let Event::SessionCreated(_) = event {
            known_projects(&sessions_now()?);
        }
        Ok(())
    }

    fn handle(request: Request) -> Reply {
        let settings = settings();
        let token = request.header("cookie").and_then(|c| auth::cookie(c, auth::COOKIE));
        let device = paired(token);
        let asked = Asked {
            method: &request.method,
            target: &request.target,
            origin: request.header("origin"),
            host: request.header("host"),
            paired: device.is_some(),
            websocket: request.header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")),
        };
        let page = settings.url.as_deref().and_then(settings::authority);
        match routes::route(&asked, settings.read_only, page.as_deref()) {
            Ok(route) => answer(route, &request, device),
            Err(refusal) => {
                let (status, message) = refusal.answer();
                if status == 403 {
                    warn!("{} {}: {message}", request.method, request.path());
                }
                error(status, message)
            }
        }
    }

    fn on_message(connection: u64, message: Message) {
        let known =
            SOCKETS.with(|s| s.borrow().get(&connection).map(|s| (s.session.clone(), s.device.clone(), s.watching)));
        // Unknown after a restart of the plugin: the page reconnects.
        let Some((id, _, watching)) = known.filter(|(_, device, _)| still_paired(device)) else {
            tell(connection, "reconnect, please");
            http_server::finish(connection);
            SOCKETS.with(|s| s.borrow_mut().remove(&connection));
            return;
        };
        let Message::Text(text) = message else { return };
        let Ok(asked) = serde_json::from_str::<serde_json::Value>(&text) else {
            return tell(connection, "messages are JSON");
        };
        let settings = settings();
        let outcome = match asked["op"].as_str() {
            // One stream per connection.
            Some("start") if watching => Ok(()),
            Some("start") => live_sessions::watch(&id, connection, settings.scrollback).map(|()| {
                SOCKETS.with(|s| s.borrow_mut().get_mut(&connection).map(|s| s.watching = true));
            }),
            Some(_) if settings.read_only => return tell(connection, "read-only: typing is off"),
            Some("keys") => {
                let keys: Vec<String> = asked["keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect();
                sessions::keys(&id, &keys)
            }
            Some("text") => {
                let text = asked["text"].as_str().unwrap_or_default();
                sessions::send(&id, text, asked["enter"].as_bool().unwrap_or(true))
            }
            _ => return tell(connection, "unknown op"),
        };
        if let Err(e) = outcome {
            tell(connection, &e.reason());
        }
    }

    fn closed(connection: u64) {
        SOCKETS.with(|s| s.borrow_mut().remove(&connection));
    }
}

sinc_plugin_sdk::export_plugin!(Mobile);
