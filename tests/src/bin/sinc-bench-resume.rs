//! Network-fault benchmark: how fast a dead link is noticed, and how fast
//! the attached session is back once the network returns — sinc against
//! OpenSSH with `ServerAliveInterval=1`, `ServerAliveCountMax=3`, re-attached
//! by an autossh-style loop — on the same sshd behind the same fault: an
//! in-process proxy that stops forwarding while keeping the connections open
//! (a silent network, like Wi-Fi gone). Each round attaches to a remote
//! counter printing a line every 10 ms, cuts the link for `BENCH_CUT` seconds
//! (default 5), restores it, and reads the terminal; afterwards each
//! session's history is checked for gaps and duplicates. `BENCH_ROUNDS`
//! rounds per tool (default 5). Prints Markdown tables for
//! docs/BENCHMARKS.md. Run through `scripts/bench resume`.

use sinc_tests::{
    COUNTER_SCRIPT, Proxy, Pty, Sshd, counter_behind_proxy, counter_lines, last_counter_line, sh_quote, stdout,
};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

/// Poll the screen every few milliseconds until `done` says so; returns when.
fn until(pty: &Pty, what: &str, mut done: impl FnMut(&str) -> bool) -> Instant {
    let start = Instant::now();
    loop {
        let screen = pty.screen();
        if done(&screen) {
            return Instant::now();
        }
        assert!(start.elapsed() < T, "timed out waiting for {what}; the screen shows:\n{screen}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One fault: cut, wait for the tool to notice (`noticed` on the screen),
/// restore after `cut`, wait for the counter to move. Returns (noticed after
/// the cut, counter moving after the restore).
fn one_cut(pty: &Pty, proxy: &Proxy, cut: Duration, noticed: &str) -> (Duration, Duration) {
    until(pty, "the counter", |s| last_counter_line(s) > 0);
    proxy.pause();
    let cut_at = Instant::now();
    let seen = until(pty, noticed, |s| s.contains(noticed));
    std::thread::sleep(cut.saturating_sub(cut_at.elapsed()));
    let at_restore = last_counter_line(&pty.screen());
    proxy.resume();
    let restored = Instant::now();
    let moving = until(pty, "the counter to move on", |s| last_counter_line(s) > at_restore + 5);
    (seen - cut_at, moving - restored)
}

/// Gaps plus duplicates in a session's history of `line N`.
fn lines_lost(sshd: &Sshd, session: &str) -> (usize, usize) {
    let history = stdout(&sshd.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", session]));
    let numbers = counter_lines(&history);
    let bad = numbers.windows(2).filter(|w| w[1] != w[0] + 1).count();
    (bad, numbers.len())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn row(tool: &str, detect: &[Duration], resume: &[Duration], lost: (usize, usize)) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let span = |v: &[Duration]| {
        let (lo, hi) = (v.iter().min().copied().unwrap_or_default(), v.iter().max().copied().unwrap_or_default());
        format!("{:.0} ({:.0}–{:.0})", ms(median(v.to_vec())), ms(lo), ms(hi))
    };
    format!("| {tool} | {} | {} | {} of {} |", span(detect), span(resume), lost.0, lost.1)
}

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let cut = Duration::from_secs(std::env::var("BENCH_CUT").ok().and_then(|r| r.parse().ok()).unwrap_or(5));
    let sshd = Sshd::start();
    let (client, proxy) = counter_behind_proxy(&sshd);
    let counter = sshd.remote_script("counter", COUNTER_SCRIPT);
    let work = tempfile::tempdir().unwrap();
    let ssh_config = work.path().join("ssh_config");
    client.write_ssh_config(&ssh_config, "sinc-test", proxy.port, &sshd.user);

    // One counter session each.
    client.ok(&["start"]);
    let id = client.ok(&["id"]).trim().to_owned();
    client.ok(&["exec", "--", "tmux", "new-session", "-d", "-s", "bench-ssh", &counter.to_string_lossy()]);

    // sinc: one attach per round (`sinc -r`).
    let (mut sinc_detect, mut sinc_resume) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let pty = Pty::spawn(&client, &["-r"]);
        let (d, r) = one_cut(&pty, &proxy, cut, "reconnecting");
        sinc_detect.push(d);
        sinc_resume.push(r);
        pty.keys(&["C-b", "d"]);
        pty.exit_code(T);
    }

    // OpenSSH: keepalives every second, three missed answers end it; a loop
    // re-attaches at once (what autossh does, minus its own monitoring).
    let ssh = format!(
        "ssh -F {} -o ServerAliveInterval=1 -o ServerAliveCountMax=3 -tt sinc-test tmux attach -t bench-ssh",
        sh_quote(&ssh_config.to_string_lossy())
    );
    let script = format!("n=0; while :; do {ssh}; n=$((n+1)); echo SSH-EXITED-$n; sleep 0.2; done");
    let pty = Pty::shell(&script, 100, 30);
    let (mut ssh_detect, mut ssh_resume) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (d, r) = one_cut(&pty, &proxy, cut, &format!("SSH-EXITED-{round}"));
        ssh_detect.push(d);
        ssh_resume.push(r);
    }
    drop(pty);

    println!(
        "\n| {rounds} cuts of {} s | noticed after, ms: median (min–max) | counter moving after the network is back, ms | history gaps or duplicates (lines checked) |\n|---|---|---|---|",
        cut.as_secs()
    );
    println!("{}", row("sinc (watchdog, automatic re-attach)", &sinc_detect, &sinc_resume, lines_lost(&sshd, &id)));
    println!(
        "{}",
        row(
            "OpenSSH, ServerAliveInterval=1, CountMax=3, re-attach loop",
            &ssh_detect,
            &ssh_resume,
            lines_lost(&sshd, "bench-ssh")
        )
    );
    let ratio = |a: &[Duration], b: &[Duration]| median(a.to_vec()).as_secs_f64() / median(b.to_vec()).as_secs_f64();
    println!(
        "\n| ratio (sinc / OpenSSH, medians) | noticed | back | goal |\n|---|---|---|---|\n| silent cut | {:.2} | {:.2} | noticed ≤ 3 s, back ≤ 1 s, 0 lines lost |",
        ratio(&sinc_detect, &ssh_detect),
        ratio(&sinc_resume, &ssh_resume)
    );
    let _ = client.run(&["kill", &id]);
}
