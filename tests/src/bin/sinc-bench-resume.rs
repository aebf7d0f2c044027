//! Network-fault benchmark: how fast a dead link is noticed, and how fast
//! the attached session is back once the network returns — sinc against
//! OpenSSH with `ServerAliveInterval=1`, `ServerAliveCountMax=3`, re-attached
//! by an autossh-style loop, and against mosh — on the same sshd behind the
//! same fault: a client network namespace whose firewall drops every packet
//! to and from the server (real silent loss, TCP and UDP alike). Each tool
//! is attached to a remote counter printing a line every 10 ms (in tmux, as
//! sinc keeps it); each round cuts the link for `BENCH_CUT` seconds (default
//! 5), restores it, and reads the terminal; afterwards each session's history
//! is checked for gaps and duplicates. `BENCH_ROUNDS` rounds per tool
//! (default 5). Needs root. Prints Markdown tables for docs/BENCHMARKS.md.
//! Run through `scripts/bench resume`.

use sinc_tests::netns::SERVER_IP;
use sinc_tests::{
    COUNTER_SCRIPT, Netns, Pty, Sshd, counter_across, counter_lines, last_counter_line, sh_quote, stdout,
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
fn one_cut(pty: &Pty, net: &Netns, cut: Duration, noticed: &str) -> (Duration, Duration) {
    until(pty, "the counter", |s| last_counter_line(s) > 0);
    net.drop_traffic();
    let cut_at = Instant::now();
    let seen = until(pty, noticed, |s| s.contains(noticed));
    std::thread::sleep(cut.saturating_sub(cut_at.elapsed()));
    let at_restore = last_counter_line(&pty.screen());
    net.allow_traffic();
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

/// The measurements of one tool.
#[derive(Default)]
struct Results {
    detect: Vec<Duration>,
    resume: Vec<Duration>,
}

impl Results {
    fn add(&mut self, (detect, resume): (Duration, Duration)) {
        self.detect.push(detect);
        self.resume.push(resume);
    }
}

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let cut = Duration::from_secs(std::env::var("BENCH_CUT").ok().and_then(|r| r.parse().ok()).unwrap_or(5));
    assert!(sinc_tests::is_root(), "the resume benchmark needs root (network namespaces and a firewall)");
    let net = Netns::create();
    let (sshd, client) = counter_across(&net);
    let counter = sshd.remote_script("counter", COUNTER_SCRIPT);
    let counter = counter.to_string_lossy();
    let inside = net.in_client();
    let work = tempfile::tempdir().unwrap();
    let ssh_config = work.path().join("ssh_config");
    client.write_ssh_config(&ssh_config, "sinc-test", sshd.port, &sshd.user);
    let config =
        std::fs::read_to_string(&ssh_config).unwrap().replace("HostName 127.0.0.1", &format!("HostName {SERVER_IP}"));
    std::fs::write(&ssh_config, config).unwrap();
    std::fs::write(client.known_hosts(), format!("[{SERVER_IP}]:{} {}\n", sshd.port, sshd.host_key_line())).unwrap();

    // One counter session per tool, each with room for every line.
    let tmux = |args: &[&str]| {
        let mut all = vec!["exec", "--", "tmux"];
        all.extend(args);
        client.ok_in(&inside, &all);
    };
    tmux(&["new-session", "-d", "-s", "keep-server-up", "sleep 100000000"]);
    tmux(&["set-option", "-g", "history-limit", "1000000"]);
    client.ok_in(&inside, &["start"]);
    let id = client.ok(&["id"]).trim().to_owned();
    tmux(&["new-session", "-d", "-s", "bench-ssh", &counter]);
    tmux(&["new-session", "-d", "-s", "bench-mosh", &counter]);

    // sinc: one attach per round (`sinc -r`).
    let mut sinc = Results::default();
    for _ in 0..rounds {
        let pty = Pty::spawn_in(&client, &inside, &["-r"]);
        sinc.add(one_cut(&pty, &net, cut, "reconnecting"));
        pty.keys(&["C-b", "d"]);
        pty.exit_code(T);
    }

    let in_ns = format!("ip netns exec {}", sh_quote(&net.client));
    let ssh = format!("ssh -F {}", sh_quote(&ssh_config.to_string_lossy()));
    // OpenSSH: keepalives every second, three missed answers end it; a loop
    // re-attaches at once (what autossh does, minus its own monitoring).
    let attach_ssh =
        format!("{ssh} -o ServerAliveInterval=1 -o ServerAliveCountMax=3 -tt sinc-test tmux attach -t bench-ssh");
    let script = format!("n=0; while :; do {attach_ssh}; n=$((n+1)); echo SSH-EXITED-$n; sleep 0.2; done");
    let pty = Pty::shell(&format!("{in_ns} sh -c {}", sh_quote(&script)), 100, 30);
    let mut openssh = Results::default();
    for round in 1..=rounds {
        openssh.add(one_cut(&pty, &net, cut, &format!("SSH-EXITED-{round}")));
    }
    drop(pty);

    // mosh: its own UDP protocol; it says "Last contact N seconds ago" once
    // it misses the server, and carries on by itself when packets flow.
    let mosh = format!(
        "{in_ns} env LANG=C.UTF-8 TERM=xterm-256color mosh --ssh={} sinc-test -- tmux attach -t bench-mosh",
        sh_quote(&ssh)
    );
    let pty = Pty::shell(&mosh, 100, 30);
    let mut mosh_results = Results::default();
    for _ in 0..rounds {
        mosh_results.add(one_cut(&pty, &net, cut, "Last contact"));
        // The notice goes away once mosh hears from the server again.
        until(&pty, "mosh's notice to go", |s| !s.contains("Last contact"));
    }
    drop(pty);

    println!(
        "\n| {rounds} cuts of {} s (iptables DROP) | noticed after, ms: median (min–max) | counter moving after the network is back, ms | history gaps or duplicates (lines checked) |\n|---|---|---|---|",
        cut.as_secs()
    );
    println!("{}", row("sinc (watchdog, automatic re-attach)", &sinc.detect, &sinc.resume, lines_lost(&sshd, &id)));
    println!(
        "{}",
        row(
            "OpenSSH, ServerAliveInterval=1, CountMax=3, re-attach loop",
            &openssh.detect,
            &openssh.resume,
            lines_lost(&sshd, "bench-ssh")
        )
    );
    println!("{}", row("mosh", &mosh_results.detect, &mosh_results.resume, lines_lost(&sshd, "bench-mosh")));
    let ratio = |a: &[Duration], b: &[Duration]| median(a.to_vec()).as_secs_f64() / median(b.to_vec()).as_secs_f64();
    println!("\n| ratio (sinc / peer, medians) | noticed | back | goal |\n|---|---|---|---|");
    for (peer, r) in [("OpenSSH", &openssh), ("mosh", &mosh_results)] {
        println!(
            "| sinc / {peer} | {:.2} | {:.2} | noticed ≤ 3 s, back ≤ 1 s, 0 lines lost |",
            ratio(&sinc.detect, &r.detect),
            ratio(&sinc.resume, &r.resume)
        );
    }
    let _ = sshd.tmux(&["kill-server"]);
}
