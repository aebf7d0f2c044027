//! LunaRoute benchmark: the proxy (recording every exchange, as it does in
//! use) against the same requests sent straight to the upstream, in the same
//! run — added latency for whole responses, added time to first token for
//! streams (Anthropic's, passed through; OpenAI chat's, whose usage the
//! proxy asks for and filters out) — once as the machine is, once with
//! every core kept from halting — throughput with 64 concurrent clients,
//! and the memory of the process hosting it. The upstream is a kept-alive
//! local server answering with recorded provider responses. Prints Markdown
//! for docs/BENCHMARKS.md. `BENCH_REQUESTS` (default 2000), `BENCH_SECONDS`
//! for the throughput runs (default 5). Run through `scripts/bench lunaroute`.

use sinc_plugin_host::running::{Running, Spec, Status};
use sinc_plugin_host::{Grants, Manifest, Runtime};
use sinc_tests::KillOnDrop;
use sinc_tests::bench_http::{Client, percentile, rss_kib, upstream, us};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const MESSAGE: &str = r#"{"id":"msg_bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Sure, here is the change you asked for."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":2048,"output_tokens":128,"cache_read_input_tokens":30000,"cache_creation_input_tokens":512}}"#;

fn whole_response() -> Vec<Vec<u8>> {
    vec![
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{MESSAGE}",
            MESSAGE.len()
        )
        .into_bytes(),
    ]
}

fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

/// A streamed response: the head and first event at once, the rest after
/// a pause.
fn streamed(events: &[String]) -> Vec<Vec<u8>> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let rest: String = events[1..].iter().map(|e| chunk(e)).collect::<String>() + "0\r\n\r\n";
    vec![format!("{head}{}", chunk(&events[0])).into_bytes(), rest.into_bytes()]
}

fn anthropic_events() -> Vec<String> {
    [
        r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":2048,"output_tokens":1,"cache_read_input_tokens":30000,"cache_creation_input_tokens":512}}}"#,
        r#"event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Sure."}}"#,
        r#"event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":128}}"#,
        r#"event: message_stop
data: {"type":"message_stop"}"#,
    ]
    .iter()
    .map(|e| format!("{e}\n\n"))
    .collect()
}

fn chat_events() -> Vec<String> {
    let c = |delta: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":null}}],\"usage\":null}}\n\n"
        )
    };
    vec![
        c(r#"{"role":"assistant","content":""}"#),
        c(r#"{"content":"Sure."}"#),
        "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":2048,\"completion_tokens\":128}}\n\n".into(),
        "data: [DONE]\n\n".into(),
    ]
}

const ANTHROPIC_REQUEST: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Add a --verbose flag to the CLI and wire it to tracing."}]}"#;

struct Proxy {
    _running: Running,
    port: u16,
}

fn start_proxy(runtime: &Arc<Runtime>, dir: &std::path::Path, up: u16) -> Proxy {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dashboard = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut settings = toml::Table::new();
    settings.insert("proxy_port".into(), i64::from(port).into());
    settings.insert("dashboard_port".into(), i64::from(dashboard).into());
    settings.insert("anthropic_base_url".into(), format!("http://127.0.0.1:{up}").into());
    settings.insert("openai_base_url".into(), format!("http://127.0.0.1:{up}/v1").into());
    let wasm: Arc<[u8]> = std::fs::read(sinc_tests::plugin_component("lunaroute")).unwrap().into();
    let manifest = Manifest::from_component(&wasm).unwrap();
    let mut grants = Grants::new(dir.join(format!("lunaroute-{up}")), dir.to_path_buf());
    grants.settings = settings;
    let running = Running::start(runtime.clone(), Spec { manifest, wasm, grants }, None).unwrap();
    while running.status() != Status::Running {
        std::thread::sleep(Duration::from_millis(10));
    }
    Proxy { _running: running, port }
}

/// How many turns the targets of one comparison take, so that the
/// machine's drifts (this VM's loopback latency moves from minute to
/// minute) fall on all of them alike.
const ROUNDS: u64 = 10;

/// Sequential requests on one kept-alive connection per target (`port`,
/// `path`), the targets taking turns: each one's (first byte, total)
/// times, sorted.
fn sequential(
    targets: &[(u16, &str)],
    headers: &[&str],
    body: &str,
    count: u64,
) -> Vec<(Vec<Duration>, Vec<Duration>)> {
    let mut clients: Vec<Client> = targets.iter().map(|(port, _)| Client::new(*port)).collect();
    let mut timed = vec![Vec::new(); targets.len()];
    for _ in 0..ROUNDS {
        for ((client, (_, path)), times) in clients.iter_mut().zip(targets).zip(&mut timed) {
            // Untimed: the first requests after a turn of another target
            // find this one's threads cold.
            for _ in 0..5 {
                client.send("POST", path, headers, body.as_bytes());
            }
            times.extend((0..count / ROUNDS).map(|_| client.send("POST", path, headers, body.as_bytes())));
        }
    }
    timed
        .into_iter()
        .map(|times| {
            let mut first: Vec<Duration> = times.iter().map(|t| t.first_byte).collect();
            let mut total: Vec<Duration> = times.iter().map(|t| t.total).collect();
            first.sort();
            total.sort();
            (first, total)
        })
        .collect()
}

/// socat relaying a port to `to`, if socat is installed: (its process, port).
fn socat_relay(to: u16) -> Option<(KillOnDrop, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let child = std::process::Command::new("socat")
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,nodelay"))
        .arg(format!("TCP:127.0.0.1:{to},nodelay"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let relay = KillOnDrop(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((relay, port));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Sequential GETs on one connection: (first byte, total), sorted.
fn sequential_get(port: u16, path: &str, count: u64) -> (Vec<Duration>, Vec<Duration>) {
    let mut client = Client::new(port);
    let timed: Vec<_> = (0..count).map(|_| client.send("GET", path, &[], b"")).collect();
    let mut first: Vec<Duration> = timed.iter().map(|t| t.first_byte).collect();
    let mut total: Vec<Duration> = timed.iter().map(|t| t.total).collect();
    first.sort();
    total.sort();
    (first, total)
}

/// Requests per second with `clients` connections for `seconds`.
fn throughput(port: u16, path: &'static str, headers: &'static [&'static str], clients: usize, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (done, stop) = (done.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut client = Client::new(port);
                while !stop.load(Ordering::Relaxed) {
                    client.send("POST", path, headers, ANTHROPIC_REQUEST.as_bytes());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let count = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    threads.into_iter().for_each(|t| t.join().unwrap());
    count as f64 / elapsed.as_secs_f64()
}

fn row(label: &str, direct: &[Duration], proxied: &[Duration]) {
    let (d50, d99, p50, p99) = (
        us(percentile(direct, 0.5)),
        us(percentile(direct, 0.99)),
        us(percentile(proxied, 0.5)),
        us(percentile(proxied, 0.99)),
    );
    println!("| {label} | {d50:.0} / {d99:.0} | {p50:.0} / {p99:.0} | **{:.0} / {:.0}** |", p50 - d50, p99 - d99);
}

/// The upstreams and the proxies in front of them.
struct Ports {
    whole: u16,
    proxy: u16,
    anthropic: u16,
    anthropic_proxy: u16,
    chat: u16,
    chat_proxy: u16,
}

/// One busy loop per core at the lowest priority there is (`SCHED_IDLE`:
/// it runs only when nothing else wants the core), so that no core halts
/// between two requests — a busy server's condition. A thread woken on
/// another core then costs a context switch, not an interrupt that brings
/// an idle virtual core back (≈ 20 µs per wake-up on this VM).
fn keep_cores_awake() -> Vec<KillOnDrop> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    (0..cores)
        .filter_map(|_| {
            std::process::Command::new("chrt").args(["--idle", "0", "sh", "-c", "while :; do :; done"]).spawn().ok()
        })
        .map(KillOnDrop)
        .collect()
}

/// The latency table: whole responses (with socat and `/healthz` for
/// reference) and both streams' time to first token.
fn latency(p: &Ports, requests: u64) {
    let anthropic_headers: &[&str] =
        &["x-api-key: sk-ant-bench", "anthropic-version: 2023-06-01", "content-type: application/json"];
    println!(
        "\n| LunaRoute vs straight to the upstream, µs | direct p50 / p99 | through the proxy p50 / p99 | added p50 / p99 |\n|---|---|---|---|"
    );
    // The floor: one more hop through a bare TCP relay (socat), which
    // parses nothing and records nothing.
    let relay = socat_relay(p.whole);
    let mut targets = vec![(p.whole, "/v1/messages"), (p.proxy, "/s/sinc-bench-000000/v1/messages")];
    targets.extend(relay.as_ref().map(|(_, port)| (*port, "/v1/messages")));
    let timed = sequential(&targets, anthropic_headers, ANTHROPIC_REQUEST, requests);
    let direct = &timed[0].1;
    row(&format!("whole response (Anthropic JSON, {requests} requests)"), direct, &timed[1].1);
    if let Some((_, relayed)) = timed.get(2) {
        row("the same through socat, a bare TCP relay (the cost of a hop on this machine)", direct, relayed);
    }
    drop(relay);
    // Where the time goes: the plugin answering by itself (no forward).
    let (_, health) = sequential_get(p.proxy, "/healthz", requests);
    println!(
        "| (the plugin answering `/healthz` itself, no upstream) | | {:.0} / {:.0} | |",
        us(percentile(&health, 0.5)),
        us(percentile(&health, 0.99))
    );
    let streams = requests / 4;
    let stream_request = ANTHROPIC_REQUEST.replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\"");
    let timed = sequential(
        &[(p.anthropic, "/v1/messages"), (p.anthropic_proxy, "/v1/messages")],
        anthropic_headers,
        &stream_request,
        streams,
    );
    row(&format!("time to first token, Anthropic stream ({streams})"), &timed[0].0, &timed[1].0);
    let chat_request =
        r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"Add a --verbose flag."}]}"#;
    let openai_headers: &[&str] = &["authorization: Bearer sk-bench", "content-type: application/json"];
    let timed = sequential(
        &[(p.chat, "/v1/chat/completions"), (p.chat_proxy, "/v1/chat/completions")],
        openai_headers,
        chat_request,
        streams,
    );
    row(
        &format!("time to first token, OpenAI chat stream, usage asked for and filtered out ({streams})"),
        &timed[0].0,
        &timed[1].0,
    );
}

fn main() {
    let requests = env("BENCH_REQUESTS", 2000);
    let seconds = env("BENCH_SECONDS", 5);
    let dir = tempfile::tempdir().unwrap();
    let rss_start = rss_kib();
    let runtime = Arc::new(Runtime::new(dir.path().join("cache")).unwrap());
    let whole = upstream(whole_response(), Duration::ZERO);
    let rss_before = rss_kib();
    let proxy = start_proxy(&runtime, dir.path(), whole);
    let rss_loaded = rss_kib();
    let pause = Duration::from_millis(2);
    let anthropic = upstream(streamed(&anthropic_events()), pause);
    let anthropic_proxy = start_proxy(&runtime, dir.path(), anthropic);
    let chat = upstream(streamed(&chat_events()), pause);
    let chat_proxy = start_proxy(&runtime, dir.path(), chat);
    let ports = Ports {
        whole,
        proxy: proxy.port,
        anthropic,
        anthropic_proxy: anthropic_proxy.port,
        chat,
        chat_proxy: chat_proxy.port,
    };
    println!("\nThe machine as it is (idle cores halt between requests):");
    latency(&ports, requests);
    let awake = keep_cores_awake();
    println!("\nEvery core kept awake by a lowest-priority busy loop ({} cores):", awake.len());
    latency(&ports, requests);
    drop(awake);

    println!("\n| 64 concurrent clients, whole responses, {seconds} s each | requests/s |\n|---|---|");
    let direct_rate =
        throughput(whole, "/v1/messages", &["x-api-key: k", "content-type: application/json"], 64, seconds);
    println!("| straight to the upstream | {direct_rate:.0} |");
    let proxied_rate =
        throughput(proxy.port, "/v1/messages", &["x-api-key: k", "content-type: application/json"], 64, seconds);
    println!("| through the proxy (recording each) | {proxied_rate:.0} (×{:.2}) |", proxied_rate / direct_rate);
    let rss_after = rss_kib();
    println!(
        "\nMemory of the process hosting it: {rss_start} KiB at the start, {rss_before} KiB with the plugin runtime, +{} KiB with LunaRoute loaded, {rss_after} KiB after all the runs (three proxies loaded, every request recorded).",
        rss_loaded.saturating_sub(rss_before),
    );
}
