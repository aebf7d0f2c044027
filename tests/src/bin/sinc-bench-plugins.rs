//! Plugin runtime benchmark: loading a precompiled plugin, calling its event
//! handler, and the memory each loaded plugin adds — against the issue's
//! targets (≤ 5 ms, ≤ 20 µs p50, ≤ 5 MB). The plugins are built from
//! `plugins/`; the runtime is the one `sinc` uses (wasmtime 48, optimised
//! like a release build: dependencies and the plugin host crate are built at
//! opt-level 2 even in the dev profile). `BENCH_CALLS` calls (default
//! 20000), `BENCH_LOADS` loads (default 50). Prints Markdown for
//! docs/BENCHMARKS.md. Run through `scripts/bench plugins`.

use sinc_plugin_host::{Event, Grants, Manifest, Runtime};
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?.trim().parse().ok()).unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

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
}
