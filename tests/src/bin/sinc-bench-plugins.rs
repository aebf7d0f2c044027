//! Plugin runtime benchmark: loading a precompiled plugin, calling its event
//! handler, and the memory each loaded plugin adds — against the issue's
//! targets (≤ 5 ms, ≤ 20 µs p50, ≤ 5 MB). The plugins are built from
//! `plugins/`; the runtime is the one `sinc` uses (wasmtime 48, optimised
//! like a release build: dependencies and the plugin host crate are built at
//! opt-level 2 even in the dev profile). `BENCH_CALLS` calls (default
//! 20000), `BENCH_LOADS` loads (default 50). Then the HTTP hot path: the
//! example plugin forwarding requests to a local upstream (the host streams
//! the bodies; the plugin only decides and hears how it went), against the
//! same requests sent to the upstream directly. Prints Markdown for
//! docs/BENCHMARKS.md. Run through `scripts/bench plugins`.

use sinc_plugin_host::{Event, Grants, Manifest, Runtime};
use sinc_tests::bench_http::{Client, percentile, rss_kib, upstream, us};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let calls: usize = std::env::var("BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let loads: usize = std::env::var("BENCH_LOADS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let grants = Grants::new(dir.path().join("data"), dir.path().to_path_buf());
    let limit = Duration::from_secs(1);
    // WASI's blocking calls must not run on a Tokio runtime thread; this
    // binary has none.
    let rss_start = rss_kib();
    let runtime = Runtime::new(dir.path().join("cache")).unwrap();
    let rss_engine = rss_kib();

    let mut rows = Vec::new();
    for name in ["hostile", "hello"] {
        let wasm = std::fs::read(sinc_tests::plugin_component(name)).unwrap();
        let manifest = Manifest::from_component(&wasm).unwrap();
        let started = Instant::now();
        let mut first = runtime.load(&manifest, &wasm, &grants).unwrap();
        let compile = started.elapsed();
        first.init("{}", limit).unwrap().unwrap();
        drop(first);

        let mut load_times = Vec::new();
        for _ in 0..loads {
            let started = Instant::now();
            let p = runtime.load(&manifest, &wasm, &grants).unwrap();
            load_times.push(started.elapsed());
            drop(p);
        }
        load_times.sort();

        let mut plugin = runtime.load(&manifest, &wasm, &grants).unwrap();
        plugin.init("{}", limit).unwrap().unwrap();
        let event = Event::Timer(1);
        for _ in 0..1000 {
            plugin.on_event(&event, limit).unwrap().unwrap();
        }
        let mut call_times = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            plugin.on_event(&event, limit).unwrap().unwrap();
            call_times.push(started.elapsed());
        }
        call_times.sort();

        // Memory: ten more loaded instances of it, initialised.
        let before = rss_kib();
        let mut kept = Vec::new();
        for _ in 0..10 {
            let mut p = runtime.load(&manifest, &wasm, &grants).unwrap();
            p.init("{}", limit).unwrap().unwrap();
            p.on_event(&event, limit).unwrap().unwrap();
            kept.push(p);
        }
        let per_plugin_kib = (rss_kib().saturating_sub(before)) / 10;
        drop(kept);
        let handler =
            if name == "hello" { "counts the event in its key-value store (a file write)" } else { "returns at once" };
        rows.push(format!(
            "| {name} ({} KiB; its handler {handler}) | {:.1} | {:.2} ({:.2}–{:.2}) | {:.2} / {:.2} | {:.0} |",
            wasm.len() / 1024,
            compile.as_secs_f64() * 1000.0,
            load_times[loads / 2].as_secs_f64() * 1000.0,
            load_times[0].as_secs_f64() * 1000.0,
            load_times[loads - 1].as_secs_f64() * 1000.0,
            us(percentile(&call_times, 0.5)),
            us(percentile(&call_times, 0.99)),
            per_plugin_kib as f64,
        ));
    }
    println!(
        "\n| plugin | first load: compile + instantiate, ms | load from the cache: deserialize + instantiate, ms, median (min–max of {loads}) | event handler call, µs p50 / p99 ({calls} calls) | RSS per loaded instance, KiB |\n|---|---|---|---|---|"
    );
    for row in rows {
        println!("{row}");
    }
    println!(
        "\nThe engine itself (with its epoch thread) added {} KiB of RSS to this process ({} KiB before).",
        rss_engine.saturating_sub(rss_start),
        rss_start
    );
    forward_benchmark(&dir);
}

fn forward_benchmark(dir: &tempfile::TempDir) {
    let requests: usize = std::env::var("BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let runtime = Arc::new(Runtime::new(dir.path().join("cache")).unwrap());
    println!(
        "\n| HTTP through the example plugin (`forward`, tapped) vs straight to the upstream | direct | through the plugin | ratio |\n|---|---|---|---|"
    );
    for (size, label) in [(1024, "1 KiB responses, latency p50 / p99, µs"), (64 << 20, "a 64 MiB response, MB/s")] {
        let mut response =
            format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\ncontent-type: text/plain\r\n\r\n").into_bytes();
        response.resize(response.len() + size, b'x');
        let up = upstream(vec![response], Duration::ZERO);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut settings = toml::Table::new();
        settings.insert("port".into(), i64::from(port).into());
        settings.insert("upstream".into(), format!("http://127.0.0.1:{up}").into());
        let wasm: Arc<[u8]> = std::fs::read(sinc_tests::plugin_component("hello")).unwrap().into();
        let manifest = Manifest::from_component(&wasm).unwrap();
        let mut grants = Grants::new(dir.path().join(format!("hello-{size}")), dir.path().to_path_buf());
        grants.settings = settings;
        let spec = sinc_plugin_host::running::Spec { manifest, wasm, grants };
        let hello = sinc_plugin_host::running::Running::start(runtime.clone(), spec, None).unwrap();
        while hello.status() != sinc_plugin_host::running::Status::Running {
            std::thread::sleep(Duration::from_millis(10));
        }
        let measure = |port: u16, path: &str, count: usize| {
            let mut client = Client::new(port);
            client.send("GET", path, &[], b"");
            let mut times: Vec<Duration> = (0..count)
                .map(|_| {
                    let timed = client.send("GET", path, &[], b"");
                    assert_eq!(timed.bytes, size);
                    timed.total
                })
                .collect();
            times.sort();
            times
        };
        if size == 1024 {
            let direct = measure(up, "/x", requests);
            let proxied = measure(port, "/proxy/x", requests);
            let (d50, d99, p50, p99) = (
                us(percentile(&direct, 0.5)),
                us(percentile(&direct, 0.99)),
                us(percentile(&proxied, 0.5)),
                us(percentile(&proxied, 0.99)),
            );
            println!("| {label} | {d50:.0} / {d99:.0} | {p50:.0} / {p99:.0} | ×{:.1} (p50) |", p50 / d50);
        } else {
            let rate = |times: Vec<Duration>| size as f64 / times[times.len() / 2].as_secs_f64() / 1e6;
            let (direct, proxied) = (rate(measure(up, "/x", 5)), rate(measure(port, "/proxy/x", 5)));
            println!("| {label} (median of 5) | {direct:.0} | {proxied:.0} | ×{:.2} |", proxied / direct);
        }
        drop(hello);
    }
}
