//! The plugin: the proxy's requests, their recording, the subcommands, the
//! dashboard's port and the agents' environment — the I/O around the pure
//! modules.

use crate::metrics::Metrics;
use crate::prices::Prices;
use crate::record::{Outcome, Record, Redactor, Timings};
use crate::route::{self, Endpoint, Provider, Route};
use crate::settings::Settings;
use crate::store::Store;
use crate::usage_filter::{Peek, UsageStripper, ask_for_usage};
use crate::{dashboard, provider_error, stats, usage};
use sinc_plugin_sdk::prelude::*;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

sinc_plugin_sdk::manifest!("../sinc-plugin.toml");

/// The ports as declared (requests name these, wherever the settings moved
/// them).
const DASHBOARD: u16 = 8082;
const PROXY: u16 = 8081;
/// How often old recordings are looked for.
const RETENTION_EVERY_MS: u64 = 3_600_000;

/// A request on its way, until its exchange is recorded.
struct Pending {
    ts: u64,
    route: Route,
    method: String,
    model: Option<String>,
    stream: bool,
    proxy_us: u64,
    body: Option<Vec<u8>>,
}

struct State {
    settings: Settings,
    prices: Prices,
    redactor: Redactor,
    store: Store,
    started_ms: u64,
    keys: BTreeMap<Provider, String>,
    pending: HashMap<u64, Pending>,
    strippers: HashMap<u64, UsageStripper>,
    summaries: Vec<Record>,
    unwritten: BTreeMap<PathBuf, String>,
    metrics: Metrics,
    retention_checked_ms: u64,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn with<T>(f: impl FnOnce(&mut State) -> T) -> Option<T> {
    STATE.with(|s| s.borrow_mut().as_mut().map(f))
}

fn error_response(provider: Provider, status: u16, message: &str) -> Response {
    Response::json(status, provider_error::body(provider, status, message))
}

impl State {
    fn new(settings: Settings) -> Result<State, String> {
        let redactor = Redactor::new(&settings.redact, &settings.redact_patterns)?;
        let store = Store::new("/data/recordings");
        let loaded = store.load();
        for (file, bad) in &loaded.bad {
            warn!("{}: skipped {bad} line(s) that are not a recorded exchange", file.display());
        }
        let mut keys = BTreeMap::new();
        for (provider, name) in
            [(Provider::OpenAi, "lunaroute_openai_api_key"), (Provider::Anthropic, "lunaroute_anthropic_api_key")]
        {
            if let Ok(key) = secrets::get(name) {
                keys.insert(provider, key);
            }
        }
        let mut metrics = Metrics::default();
        loaded.summaries.iter().for_each(|r| metrics.observe(r));
        Ok(State {
            prices: Prices::new(settings.prices.clone()),
            settings,
            redactor,
            store,
            started_ms: now_ms(),
            keys,
            pending: HashMap::new(),
            strippers: HashMap::new(),
            summaries: loaded.summaries,
            unwritten: BTreeMap::new(),
            metrics,
            retention_checked_ms: 0,
        })
    }

    /// Forward a request to its provider.
    fn proxy(&mut self, request: &Request) -> Reply {
        let started = Instant::now();
        let route = route::route(&request.method, &request.target, &request.headers);
        let base = match route.provider {
            Provider::OpenAi => &self.settings.openai_base_url,
            Provider::Anthropic => &self.settings.anthropic_base_url,
        };
        let url = route::upstream_url(route.provider, base, &route.target);
        let mut set_headers = Vec::new();
        let mut remove_headers = vec![route::SESSION_HEADER.to_owned()];
        if let Some(key) = self.keys.get(&route.provider) {
            match route.provider {
                Provider::Anthropic => {
                    set_headers.push(("x-api-key".to_owned(), key.clone()));
                    remove_headers.push("authorization".into());
                }
                Provider::OpenAi => {
                    set_headers.push(("authorization".to_owned(), format!("Bearer {key}")));
                    remove_headers.push("x-api-key".into());
                }
            }
        }
        let (mut model, mut stream, mut body) = (None, false, None);
        let understood = matches!(route.endpoint, Endpoint::Messages | Endpoint::ChatCompletions | Endpoint::Responses);
        let length = request.header("content-length").and_then(|l| l.trim().parse::<u64>().ok());
        let limit = u64::from(self.settings.inspect_limit_mb) << 20;
        if understood && length.is_some_and(|l| l <= limit) {
            let bytes = match http_server::body(request.id) {
                Ok(bytes) => bytes,
                Err(e) => {
                    return Reply::Respond(error_response(
                        route.provider,
                        400,
                        &format!("reading the request: {}", e.reason()),
                    ));
                }
            };
            let peek: Peek = serde_json::from_slice(&bytes).unwrap_or_default();
            model = peek.model.clone();
            stream = peek.stream == Some(true);
            if route.endpoint == Endpoint::ChatCompletions
                && let Some(asked) = ask_for_usage(&bytes, &peek)
                && forwarding::replace_body(request.id, &asked).is_ok()
                && forwarding::filter_response(request.id).is_ok()
            {
                self.strippers.insert(request.id, UsageStripper::default());
            }
            body = self.settings.record_bodies.then_some(bytes);
        }
        if let Err(e) =
            forwarding::set_timeouts(request.id, self.settings.connect_timeout_ms, self.settings.response_timeout_ms)
        {
            warn!("timeouts for request {}: {}", request.id, e.reason());
        }
        let pending = Pending {
            ts: now_ms(),
            method: request.method.clone(),
            model,
            stream,
            proxy_us: started.elapsed().as_micros() as u64,
            body,
            route,
        };
        self.pending.insert(request.id, pending);
        Reply::Forward(Forward { url, set_headers, remove_headers, tap_response: true })
    }

    /// Record how request `exchange.request` went.
    fn record(&mut self, exchange: Exchange) {
        let Some(p) = self.pending.remove(&exchange.request) else { return };
        if exchange.error.is_some() {
            self.strippers.remove(&exchange.request);
        }
        let reading = exchange
            .body
            .as_deref()
            .map(|b| usage::read(p.route.endpoint, exchange.status, b, p.stream))
            .unwrap_or_default();
        let outcome = match exchange.error.as_deref() {
            Some(e) if e.contains("client went away") => Outcome::ClientDisconnected,
            Some(e) if e.contains("broke off") => Outcome::Broken,
            Some(_) => Outcome::Unreachable,
            None if exchange.status >= 400 => Outcome::UpstreamError,
            None => Outcome::Ok,
        };
        let model = reading.model.clone().or(p.model);
        let cost_usd = match (&model, &reading.usage) {
            (Some(m), Some(u)) => self.prices.cost(m, u),
            _ => None,
        };
        let record_bodies = self.settings.record_bodies;
        let record = Record {
            id: format!("{}-{}", self.started_ms, exchange.request),
            ts: p.ts,
            session: p.route.session,
            provider: p.route.provider.name().into(),
            endpoint: serde_json::to_value(p.route.endpoint)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            method: p.method,
            path: p.route.target,
            model,
            stream: p.stream,
            status: exchange.status,
            outcome,
            error: exchange.error.or(reading.error).map(|e| self.redactor.text(&e)),
            usage: reading.usage,
            cost_usd,
            timings: Timings {
                proxy_us: p.proxy_us,
                headers_ms: exchange.headers_ms,
                ttft_ms: exchange.first_byte_ms,
                total_ms: exchange.total_ms,
            },
            tool_calls: reading.tool_calls,
            bytes: exchange.bytes,
            request: p.body.as_deref().map(|b| self.redactor.body(b)),
            response: if record_bodies {
                reading.response.map(|mut v| {
                    self.redactor.value(&mut v);
                    v
                })
            } else {
                None
            },
        };
        self.metrics.observe(&record);
        match serde_json::to_string(&record) {
            Ok(line) => self.unwritten.entry(self.store.file_of(&record)).or_default().push_str(&(line + "\n")),
            Err(e) => warn!("cannot record request {}: {e}", record.id),
        }
        self.summaries.push(record.into_summary());
    }

    /// Write what was recorded since the last time; drop old recordings
    /// now and then.
    fn flush(&mut self, now: u64) {
        if !self.unwritten.is_empty() {
            let lines = std::mem::take(&mut self.unwritten);
            if let Err(e) = self.store.append(&lines) {
                warn!("recording: {e}");
            }
        }
        if now.saturating_sub(self.retention_checked_ms) >= RETENTION_EVERY_MS {
            self.retention_checked_ms = now;
            let oldest =
                crate::record::day_of(now.saturating_sub(u64::from(self.settings.retention_days) * 86_400_000));
            let removed = self.store.keep_within(&oldest, self.settings.retention_mb << 20);
            if !removed.is_empty() {
                info!("removed {} old recording file(s)", removed.len());
                let loaded = self.store.load();
                self.summaries = loaded.summaries;
            }
        }
    }

    fn command(&mut self, args: &[String]) -> CommandOutput {
        let mut json = false;
        let mut session = None;
        let mut since = None;
        let mut words = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--json" => json = true,
                "--session" => match it.next() {
                    Some(s) => session = Some(s.clone()),
                    None => return CommandOutput::usage("--session needs a session id\n"),
                },
                "--since" => match it.next().map(|s| stats::parse_duration(s)) {
                    Some(Ok(ms)) => since = Some(ms),
                    Some(Err(e)) => return CommandOutput::usage(format!("--since: {e}\n")),
                    None => return CommandOutput::usage("--since needs a duration (like 7d)\n"),
                },
                "-h" | "--help" => return CommandOutput::ok(USAGE),
                other if other.starts_with('-') => {
                    return CommandOutput::usage(format!("unknown option {other}\n{USAGE}"));
                }
                word => words.push(word.to_owned()),
            }
        }
        let from = since.map(|ms| now_ms().saturating_sub(ms));
        let chosen: Vec<&Record> = self
            .summaries
            .iter()
            .filter(|r| session.as_ref().is_none_or(|s| stats::session_key(r) == *s))
            .filter(|r| from.is_none_or(|f| r.ts >= f))
            .collect();
        match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["stats"] => {
                if json {
                    CommandOutput::ok(stats::report(chosen.iter().copied()).to_string() + "\n")
                } else {
                    CommandOutput::ok(stats::text(chosen.iter().copied()))
                }
            }
            ["sessions"] => {
                let groups = stats::by(chosen.iter().copied(), stats::session_key);
                if json {
                    return CommandOutput::ok(serde_json::to_string(&groups).unwrap_or_default() + "\n");
                }
                let mut out =
                    format!("{:<32} {:>6} {:>10} {:>12}  last request\n", "session", "reqs", "tokens", "cost");
                for (id, t) in &groups {
                    out.push_str(&format!(
                        "{id:<32} {:>6} {:>10} {:>12}  {}\n",
                        t.requests,
                        t.usage.total(),
                        stats::dollars(t.cost_usd, t.unpriced),
                        t.last.map(crate::record::day_of).unwrap_or_default()
                    ));
                }
                CommandOutput::ok(out)
            }
            ["show", id] => {
                let Some(summary) = self.summaries.iter().find(|r| r.id == id).cloned() else {
                    return CommandOutput::fail(format!(
                        "no recorded request {id} (`sinc lunaroute sessions`, then the dashboard)\n"
                    ));
                };
                // Not yet on disk: write it first.
                self.flush(now_ms());
                match self.store.full(&summary) {
                    Some(record) => {
                        let text = if json {
                            serde_json::to_string(&record).unwrap_or_default()
                        } else {
                            serde_json::to_string_pretty(&record).unwrap_or_default()
                        };
                        CommandOutput::ok(text + "\n")
                    }
                    None => {
                        CommandOutput::fail(format!("request {id} is listed but its recording is gone (retention)\n"))
                    }
                }
            }
            _ => CommandOutput::usage(USAGE),
        }
    }
}

const USAGE: &str = "usage: sinc lunaroute stats [--session ID] [--since 7d] [--json]
       sinc lunaroute sessions [--since 7d] [--json]
       sinc lunaroute show REQUEST_ID [--json]
The dashboard: sinc open lunaroute
";

struct LunaRoute;

impl Plugin for LunaRoute {
    fn init(config: String) -> Result<(), String> {
        let state = State::new(Settings::parse(&config)?)?;
        info!("proxy on 127.0.0.1:{}, {} recorded requests", state.settings.proxy_port, state.summaries.len());
        STATE.with(|s| *s.borrow_mut() = Some(state));
        Ok(())
    }

    fn on_event(event: Event) -> Result<(), String> {
        if let Event::Timer(now) = event {
            with(|s| s.flush(now));
        }
        Ok(())
    }

    fn commands() -> Vec<Command> {
        vec![Command {
            name: "lunaroute".into(),
            summary: "AI API usage: tokens, cost, latency per session (LunaRoute)".into(),
        }]
    }

    fn run_command(_name: String, args: Vec<String>) -> CommandOutput {
        with(|s| s.command(&args)).unwrap_or_else(|| CommandOutput::fail("lunaroute is not initialised\n"))
    }

    fn shutdown() {
        with(|s| s.flush(now_ms()));
    }

    fn handle(request: Request) -> Reply {
        with(|s| match (request.port, request.method.as_str(), request.path()) {
            (PROXY, "GET", "/healthz") => Reply::Respond(Response::json(200, r#"{"status":"ok"}"#)),
            (PROXY, "GET", "/metrics") => Reply::Respond(Response {
                status: 200,
                headers: vec![("content-type".into(), "text/plain; version=0.0.4".into())],
                body: s.metrics.text().into_bytes(),
            }),
            (PROXY, _, _) => s.proxy(&request),
            (DASHBOARD, method, path) => {
                let store = s.store.clone();
                if path.starts_with("/api/requests/") {
                    s.flush(now_ms());
                }
                Reply::Respond(dashboard::answer(method, path, &s.summaries, now_ms(), |r| store.full(r)))
            }
            _ => Reply::Respond(Response::text(404, "no such port\n")),
        })
        .unwrap_or_else(|| Reply::Respond(Response::text(503, "lunaroute is not initialised\n")))
    }

    fn forwarded(exchange: Exchange) {
        with(|s| s.record(exchange));
    }

    fn filter_response(request: u64, chunk: Vec<u8>, last: bool) -> Vec<u8> {
        with(|s| match s.strippers.get_mut(&request) {
            Some(stripper) if last => {
                let rest = stripper.finish();
                s.strippers.remove(&request);
                rest
            }
            Some(stripper) => stripper.push(&chunk),
            None => chunk.clone(),
        })
        .unwrap_or(chunk)
    }

    fn forward_failed(request: u64, status: u16, reason: String) -> Option<Response> {
        with(|s| {
            let provider = s.pending.get(&request).map_or(Provider::OpenAi, |p| p.route.provider);
            let what = if status == 504 { "did not answer in time" } else { "could not be reached" };
            error_response(
                provider,
                status,
                &format!("the {} API {what} (through LunaRoute: {reason})", provider.name()),
            )
        })
    }

    fn before_start(session: Session) -> Verdict {
        let port = with(|s| s.settings.proxy_port).unwrap_or(PROXY);
        let base = format!("http://127.0.0.1:{port}/s/{}", session.id);
        Verdict::Proceed(Launch {
            env: vec![("ANTHROPIC_BASE_URL".into(), base.clone()), ("OPENAI_BASE_URL".into(), format!("{base}/v1"))],
            prompt: None,
        })
    }
}

sinc_plugin_sdk::export_plugin!(LunaRoute);
