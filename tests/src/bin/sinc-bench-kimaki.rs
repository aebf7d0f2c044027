//! `scripts/bench kimaki`: the Kimaki bot's speed against the issue's
//! targets — a Discord message until its keystrokes reach the agent, the
//! agent's output until it is posted to the thread — against the Discord
//! stand-in on loopback, and the VPS daemon's memory with the bot idle and
//! without it. `BENCH_RUNS` (default 20) messages and outputs. Needs root
//! (the bot may only use the VPS user's home, made for the run).

use sinc_tests::kimaki_site::KimakiSite;
use sinc_tests::procs::{memory_mb, pgrep};
use sinc_tests::tree::percentile;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Prints the time (ms since the epoch) each line arrives; for `mark`, a
/// marker with the time it is printed.
const AGENT: &str = r#"#!/bin/sh
echo "agent ready"
while IFS= read -r line; do
  case "$line" in
    mark*) echo "MARK $(date +%s%3N)" ;;
    *) echo "got $line at $(date +%s%3N)" ;;
  esac
done
"#;

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

fn main() {
    if !sinc_tests::is_root() {
        eprintln!("sinc-bench-kimaki: run as root (the bot may only use the VPS user's home, which the run makes)");
        std::process::exit(69);
    }
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let site = KimakiSite::start(AGENT, "");
    let thread = site.thread();
    let d = &site.discord;
    let daemon = pgrep(&format!("{}.*daemon --background", site.sshd.remote_data().display())).unwrap_or(0);

    // A message → its keystrokes: the agent stamps the time it read it.
    let mut typed = Vec::new();
    for i in 0..runs {
        let word = format!("m{i}x");
        let sent = now_ms();
        d.say(&thread, &site.alice, &word);
        let stamp = sinc_tests::wait_until(Duration::from_secs(10), "the keystrokes", || {
            let screen = site.screen();
            let line = screen.lines().find(|l| l.starts_with(&format!("got {word} at ")))?.to_owned();
            line.rsplit(' ').next()?.parse::<u128>().ok()
        });
        typed.push(stamp.saturating_sub(sent) as f64);
        std::thread::sleep(Duration::from_millis(150));
    }

    // The agent's output → posted: the marker's time until the post. The
    // bot looks once a second; agents write at any moment, so each marker
    // is asked for at a random point of that second.
    let mut posted = Vec::new();
    for i in 0..runs {
        let offset = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), i) % 1000;
        std::thread::sleep(Duration::from_millis(offset));
        d.say(&thread, &site.alice, &format!("mark{i}"));
        let started = Instant::now();
        let mark = loop {
            let screen = site.screen();
            if let Some(m) = screen.lines().rev().find_map(|l| l.strip_prefix("MARK ")).map(str::to_owned)
                && !posted_marks(d, &thread).contains(&m)
            {
                break m;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no marker");
            std::thread::sleep(Duration::from_millis(2));
        };
        let printed: u128 = mark.parse().unwrap();
        loop {
            if posted_marks(d, &thread).contains(&mark) {
                posted.push(now_ms().saturating_sub(printed) as f64);
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "marker {mark} never posted");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let with_bot = memory_mb(daemon, "VmRSS:");
    site.client.ok(&["plugin", "remove", "kimaki", "--yes"]);
    site.client.ok(&["start"]);
    std::thread::sleep(Duration::from_secs(3));
    let without = memory_mb(daemon, "VmRSS:");

    typed.sort_by(f64::total_cmp);
    posted.sort_by(f64::total_cmp);
    println!("| Kimaki, ms (n) | p50 | p95 | max | target |");
    println!("|---|---|---|---|---|");
    for (what, s, target) in [
        ("Discord message → keystrokes in the agent", &typed, "≤ 200"),
        ("agent output → posted to the thread", &posted, "≤ 1000"),
    ] {
        let max = s.last().copied().unwrap_or(0.0);
        println!(
            "| {what} ({}) | {:.0} | {:.0} | {max:.0} | {target} |",
            s.len(),
            percentile(s, 50.0),
            percentile(s, 95.0)
        );
    }
    println!("\nVPS daemon: {with_bot:.1} MiB with the bot connected and idle; {without:.1} MiB after removing it");
    site.client.ok(&["kill", &site.id()]);
}

/// The markers posted to `thread` so far.
fn posted_marks(d: &sinc_tests::discord::Discord, thread: &str) -> Vec<String> {
    d.bot_text(thread).lines().filter_map(|l| l.strip_prefix("MARK ")).map(str::to_owned).collect()
}
