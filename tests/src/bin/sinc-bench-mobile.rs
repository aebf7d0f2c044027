//! `scripts/bench mobile`: the mobile page's speed against the issue's
//! targets — open → list, tap → screen, agent output → rendered, resume
//! after a dropped connection (headless Chromium on loopback, Playwright
//! timing) — and the VPS daemon's memory and CPU while a page watches a
//! busy agent. `BENCH_RUNS` (default 20) page loads, taps and resumes.

use sinc_tests::mobile_site::{MobileSite, browser_tools};
use sinc_tests::procs::{cpu_ticks, memory_mb, pgrep};
use sinc_tests::tree::percentile;
use std::process::Command;
use std::time::{Duration, Instant};

/// Prints a timestamped marker every 100 ms; with `busy` in the folder,
/// floods 200 lines of 100 characters every 10 ms instead.
const AGENT: &str = r#"#!/bin/sh
pad=$(printf '%090d' 0)
while :; do
  if [ -e busy ]; then
    i=0; while [ $i -lt 200 ]; do echo "busy line $i $pad"; i=$((i+1)); done; sleep 0.01
  else
    printf 'MARK %s\n' "$(date +%s%3N)"; sleep 0.1
  fi
done
"#;

/// The samples under `key`, sorted.
fn samples(found: &serde_json::Value, key: &str) -> Vec<f64> {
    let mut s: Vec<f64> = found[key].as_array().unwrap().iter().filter_map(serde_json::Value::as_f64).collect();
    s.sort_by(f64::total_cmp);
    s
}

fn main() {
    let Some(tools) = browser_tools() else {
        eprintln!("sinc-bench-mobile: Chromium or playwright-core is missing (scripts/prerequisites installs both)");
        std::process::exit(69);
    };
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let site = MobileSite::start(AGENT);
    site.wait_for_screen("MARK ");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js/mobile_bench.mjs");
    let out = Command::new("node")
        .arg(&script)
        .args([&site.url, &site.pairing_code(), &site.id, &runs.to_string()])
        .env("NODE_TOOLS", &tools)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    println!("| mobile page, ms (n) | p50 | p95 | target |");
    println!("|---|---|---|---|");
    for (key, what, target) in [
        ("list_ms", "page open → list usable", "≤ 300"),
        ("screen_ms", "tap → session screen", "≤ 300"),
        ("marker_ms", "agent writes a marker → rendered", "p95 ≤ 200"),
        ("resume_ms", "WebSocket dropped → screen back", "≤ 500"),
    ] {
        let s = samples(&found, key);
        println!("| {what} ({}) | {:.0} | {:.0} | {target} |", s.len(), percentile(&s, 50.0), percentile(&s, 95.0));
    }

    // A busy agent, watched by a page: the daemon's memory and CPU.
    let daemon = pgrep(&format!("{}.*daemon --background", site.sshd.remote_data().display())).unwrap_or(0);
    let idle_rss = memory_mb(daemon, "VmRSS:");
    // The agent sees it once it synced.
    std::fs::write(site.client.project.join("busy"), "").unwrap();
    site.wait_for_screen("busy line");
    let mut watcher = Command::new("node")
        .arg(&script)
        .args([&site.url, &site.pairing_code(), &site.id, "1"])
        .env("NODE_TOOLS", &tools)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let (t0, started) = (cpu_ticks(daemon), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let cpu = (cpu_ticks(daemon) - t0) as f64 / 100.0 / started.elapsed().as_secs_f64() * 100.0;
    let rss = memory_mb(daemon, "VmRSS:");
    let _ = watcher.kill();
    let _ = watcher.wait();
    println!(
        "\nVPS daemon (hosting the plugin): {idle_rss:.1} MiB with the page served and one session watched; \
         {rss:.1} MiB and {cpu:.0}% of one core while a page watches an agent printing ~2 MB/s"
    );
    site.client.ok(&["kill", &site.id]);
}
