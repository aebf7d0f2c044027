//! Sync benchmark: sinc against `tar | ssh | tar`, `rsync -a`, and unison, on
//! the same local sshd in the same run. Prints Markdown for
//! docs/BENCHMARKS.md. Run through `scripts/bench sync` (release build).
//!
//! Measured: initial sync of a generated tree (default 10k files; `--large`
//! 100k), edit → visible latency both ways for cold and hot files, restart
//! with nothing changed, idle CPU and memory of both sinc processes, bytes on
//! the wire. `--initial-only` stops after the initial sync (for profiling);
//! `--restart-only` syncs the tree, restarts three times and prints the
//! times, the memory of both sides after each step and the keeper's log (no
//! peers); `BENCH_SINC_LOG=sinc=debug` makes that log say how long the scan,
//! the plan and its transfer took.

use sinc_tests::procs::{cpu_ticks, machine_ticks, memory_mb, pgrep};
use sinc_tests::tree::{self, percentile};
use sinc_tests::{Client, Proxy, Sshd, sh_quote};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn sh(cmd: &str) -> Duration {
    let t = Instant::now();
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd} failed: {}", String::from_utf8_lossy(&out.stderr));
    t.elapsed()
}

fn q(s: &Path) -> String {
    sh_quote(&s.to_string_lossy())
}

/// Wait until `path` holds `token` (watching its folder); returns when it did.
fn wait_for_content(path: &Path, token: &[u8], deadline: Duration) -> Option<Instant> {
    use notify::{RecursiveMode, Watcher};
    let (tx, rx) = std::sync::mpsc::channel();
    let mut w = notify::recommended_watcher(move |_| {
        let _ = tx.send(());
    })
    .ok()?;
    w.watch(path.parent()?, RecursiveMode::NonRecursive).ok()?;
    let start = Instant::now();
    loop {
        if std::fs::read(path).is_ok_and(|c| c == token) {
            return Some(Instant::now());
        }
        if start.elapsed() > deadline {
            return None;
        }
        let _ = rx.recv_timeout(Duration::from_millis(5));
    }
}

/// The project's keeper, as `sinc status` names it.
fn keeper_pid(client: &Client) -> u32 {
    client.json(&["status"])["pid"].as_u64().unwrap() as u32
}

/// The VPS daemon, found by its command line.
fn daemon_pid(sshd: &Sshd) -> Option<u32> {
    pgrep(&format!("{}.*daemon --background", sshd.remote_data().display()))
}

/// A process's resident memory, and how much of it is its heap and stacks
/// (anonymous) and how much mapped files (its executable, mostly).
fn memory_breakdown(pid: u32) -> String {
    format!(
        "RSS {:.1} MiB (anonymous {:.1}, files {:.1}), peak {:.1}",
        memory_mb(pid, "VmRSS:"),
        memory_mb(pid, "RssAnon:"),
        memory_mb(pid, "RssFile:"),
        memory_mb(pid, "VmHWM:")
    )
}

struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

fn latency(name: &str, edits: usize, mut edit: impl FnMut(usize) -> (PathBuf, Vec<u8>, PathBuf)) -> Latency {
    let mut samples = Vec::with_capacity(edits);
    for i in 0..edits {
        let (source, token, target) = edit(i);
        let t0 = Instant::now();
        std::fs::write(&source, &token).unwrap();
        match wait_for_content(&target, &token, Duration::from_secs(30)) {
            Some(t1) => samples.push((t1 - t0).as_secs_f64() * 1000.0),
            None => eprintln!("{name}: edit {i} never arrived"),
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Latency {
        p50: percentile(&samples, 50.0),
        p90: percentile(&samples, 90.0),
        p99: percentile(&samples, 99.0),
        max: samples.last().copied().unwrap_or(f64::NAN),
    }
}

/// The share of the machine's CPU time (all cores) used since `before`.
fn used_since(before: (u64, u64)) -> f64 {
    let now = machine_ticks();
    now.0.saturating_sub(before.0) as f64 / now.1.saturating_sub(before.1).max(1) as f64
}

fn main() {
    let large = std::env::args().any(|a| a == "--large");
    let files = if large { 100_000 } else { 10_000 };
    let edits: usize = std::env::var("BENCH_EDITS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let sshd = Sshd::start();
    let mut client = Client::new(&sshd, "sleep 1000000");
    // `BENCH_SINC_LOG=sinc=debug` shows where a sync's time goes (the
    // keeper's log, printed by `--restart-only`).
    if let Ok(filter) = std::env::var("BENCH_SINC_LOG") {
        client.set_env("SINC_LOG", &filter);
    }
    let proxy = Proxy::start(sshd.port);
    client.route_through(&sshd, proxy.port);
    let work = tempfile::tempdir().unwrap();
    let ssh_config = work.path().join("ssh_config");
    client.write_ssh_config(&ssh_config, "vps", proxy.port, &sshd.user);
    let ssh = format!("ssh -F {}", q(&ssh_config));
    let base = sshd.remote_base();

    // Install the remote binary and create the session on an empty folder
    // first, so the timed first sync is the sync alone.
    client.ok(&["start"]);
    client.ok(&["kill", "demo-app"]);
    let id = client.ok(&["id"]).trim().to_owned();
    let remote = base.join(format!("demo-app-{}", &id[id.len() - 6..]));

    eprintln!("generating {files} files…");
    let t = tree::generate(&client.project, files, 42);
    let mb = t.bytes as f64 / (1 << 20) as f64;
    let src = &client.project;

    let restart_only = std::env::args().any(|a| a == "--restart-only");
    if restart_only {
        let t0 = Instant::now();
        client.ok(&["start"]);
        println!("initial sync: sinc {:.2} s", t0.elapsed().as_secs_f64());
        let keeper = keeper_pid(&client);
        let daemon = daemon_pid(&sshd).expect("the daemon runs");
        for settle in [3, 10] {
            std::thread::sleep(Duration::from_secs(settle));
            println!("  keeper {settle} s after it: {}", memory_breakdown(keeper));
        }
        println!("  daemon after it: {}", memory_breakdown(daemon));
        // Restarts alone, several times, then the keeper's log (its
        // timestamps show where the time goes).
        for round in 1..=3 {
            let keeper = keeper_pid(&client);
            let _ = Command::new("kill").arg(keeper.to_string()).status();
            std::thread::sleep(Duration::from_millis(300));
            let t0 = Instant::now();
            client.ok(&["start"]);
            println!("restart {round}: sinc {:.2} s", t0.elapsed().as_secs_f64());
            std::thread::sleep(Duration::from_secs(1));
            let keeper = keeper_pid(&client);
            println!("  keeper after it: {}", memory_breakdown(keeper));
        }
        std::thread::sleep(Duration::from_secs(30));
        println!("  daemon 30 s later: {}", memory_breakdown(daemon));
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("find {} -name keeper.log | xargs cat", q(&client.home)))
            .output()
            .unwrap();
        println!("{}", String::from_utf8_lossy(&out.stdout));
        return;
    }
    // --- initial sync
    // Each copy is removed once timed, so that every tool writes into memory
    // the one before it freed: on a VM, the first touch of memory the guest
    // has not used for a while costs up to 3.7× more to write to (100k files
    // into tmpfs: 1.0 s reused, 3.7 s new), which, left alone, charges
    // whichever tool runs last for the host's page faults.
    let forget = |dir: &str| std::fs::remove_dir_all(base.join(dir)).unwrap();
    let before = proxy.to_server() + proxy.to_client();
    let tar_cmd = format!(
        "tar -C {} -cf - . | {ssh} vps 'mkdir -p {} && tar -C {} -xf -'",
        q(src),
        q(&base.join("tar")),
        q(&base.join("tar"))
    );
    let m0 = machine_ticks();
    let tar = sh(&tar_cmd);
    let tar_machine = used_since(m0);
    let tar_bytes = proxy.to_server() + proxy.to_client() - before;
    forget("tar");
    let rsync_cmd = format!("rsync -a -e \"{ssh}\" {}/ vps:{}/", q(src), q(&base.join("rsync")));
    let rsync = sh(&rsync_cmd);
    forget("rsync");
    let unison_home = work.path().join("unison");
    // `dir`: the copy on the "VPS". unison keeps archives on both sides per
    // pair of roots, so a copy made again goes under another name.
    let unison_cmd = |dir: &str, extra: &str| {
        format!(
            "UNISON={} unison {} ssh://vps/{} -batch -auto -silent -confirmbigdel=false -perms 0 -sshargs \"-F {}\" {extra}",
            q(&unison_home),
            q(src),
            base.join(dir).display(),
            ssh_config.display()
        )
    };
    let unison_initial = |dir: &str| {
        format!("mkdir -p {} && {ssh} vps mkdir -p {} && {}", q(&unison_home), q(&base.join(dir)), unison_cmd(dir, ""))
    };
    let unison = sh(&unison_initial("unison"));
    forget("unison");
    let before = proxy.to_server() + proxy.to_client();
    let m0 = machine_ticks();
    let t0 = Instant::now();
    client.ok(&["start"]);
    let sinc_initial = t0.elapsed();
    let sinc_machine = used_since(m0);
    let sinc_bytes = proxy.to_server() + proxy.to_client() - before;
    assert_eq!(std::fs::read_dir(&remote).unwrap().count(), std::fs::read_dir(src).unwrap().count());
    // The CPU both sides used for it, read 3 s later so that what their
    // watchers were still taking in, and the tidying after a large change,
    // count too (the daemon's also counts creating the empty session, a few
    // milliseconds); and how busy the whole machine was during sinc's and
    // tar's.
    let cpu_line = {
        let (keeper, daemon) = (keeper_pid(&client), daemon_pid(&sshd).unwrap_or(0));
        std::thread::sleep(Duration::from_secs(3));
        format!(
            "CPU for sinc's first sync (read 3 s after it): keeper {:.2} s, daemon {:.2} s; the machine's 2 cores busy {:.0} % during it ({:.0} % during tar's)",
            cpu_ticks(keeper) as f64 / 100.0,
            cpu_ticks(daemon) as f64 / 100.0,
            sinc_machine * 100.0,
            tar_machine * 100.0
        )
    };
    if std::env::args().any(|a| a == "--initial-only") {
        println!(
            "initial sync: sinc {:.2} s, tar|ssh|tar {:.2} s, rsync {:.2} s, unison {:.2} s",
            sinc_initial.as_secs_f64(),
            tar.as_secs_f64(),
            rsync.as_secs_f64(),
            unison.as_secs_f64()
        );
        println!("  {cpu_line}");
        return;
    }

    // --- latency, sinc
    let step = files / edits.max(1);
    let token = |i: usize, tag: &str| format!("{tag} edit {i} at {:?}\n", Instant::now()).into_bytes();
    let l2r_cold = latency("sinc l→r cold", edits, |i| {
        (src.join(&t.files[i * step]), token(i, "l2r-cold"), remote.join(&t.files[i * step]))
    });
    let l2r_hot =
        latency("sinc l→r hot", edits, |i| (src.join(&t.files[1]), token(i, "l2r-hot"), remote.join(&t.files[1])));
    let r2l_cold = latency("sinc r→l cold", edits, |i| {
        (remote.join(&t.files[i * step + 2]), token(i, "r2l-cold"), src.join(&t.files[i * step + 2]))
    });
    let r2l_hot =
        latency("sinc r→l hot", edits, |i| (remote.join(&t.files[3]), token(i, "r2l-hot"), src.join(&t.files[3])));

    // --- idle cost, sinc
    let keeper = keeper_pid(&client);
    let daemon = daemon_pid(&sshd).unwrap_or(0);
    let (k0, d0) = (cpu_ticks(keeper), cpu_ticks(daemon));
    let idle_secs = 20.0;
    std::thread::sleep(Duration::from_secs_f64(idle_secs));
    let ticks = 100.0;
    let keeper_cpu = (cpu_ticks(keeper) - k0) as f64 / ticks / idle_secs * 100.0;
    let daemon_cpu = (cpu_ticks(daemon) - d0) as f64 / ticks / idle_secs * 100.0;
    let (keeper_rss, daemon_rss) = (memory_mb(keeper, "VmRSS:"), memory_mb(daemon, "VmRSS:"));
    let (keeper_hwm, daemon_hwm) = (memory_mb(keeper, "VmHWM:"), memory_mb(daemon, "VmHWM:"));

    // --- restart with nothing changed
    let _ = Command::new("kill").arg(keeper.to_string()).status();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    client.ok(&["start"]);
    let sinc_restart = t0.elapsed();
    sh(&rsync_cmd);
    let rsync_noop = sh(&rsync_cmd);

    // --- latency, peers: rsync per change (lsyncd's way), unison watching
    client.ok(&["pause"]);
    let mut rsync_each = Vec::new();
    for i in 0..edits.min(50) {
        let f = &t.files[i * step + 4];
        std::fs::write(src.join(f), token(i, "rsync")).unwrap();
        let d = sh(&format!("rsync -a -e \"{ssh}\" {} vps:{}", q(&src.join(f)), q(&base.join("rsync").join(f))));
        rsync_each.push(d.as_secs_f64() * 1000.0);
    }
    rsync_each.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let fsmonitor = Command::new("sh").arg("-c").arg("command -v unison-fsmonitor").status().is_ok_and(|s| s.success());
    let unison_watch = if fsmonitor {
        sh(&unison_initial("unison-watch"));
        let mut child = Command::new("sh").arg("-c").arg(unison_cmd("unison-watch", "-repeat watch")).spawn().unwrap();
        std::thread::sleep(Duration::from_secs(5));
        let u = latency("unison l→r cold", edits.min(50), |i| {
            (
                src.join(&t.files[i * step + 5]),
                token(i, "unison"),
                base.join("unison-watch").join(&t.files[i * step + 5]),
            )
        });
        let _ = child.kill();
        let _ = child.wait();
        // The unison server the watcher started on the "VPS".
        let _ = Command::new("pkill").args(["-u", &sshd.user, "unison"]).status();
        Some(u)
    } else {
        None
    };
    client.ok(&["resume"]);
    client.ok(&["kill", "demo-app"]);

    println!("\n### Sync, {files} files, {mb:.1} MiB (seed 42)\n");
    println!("| initial sync | seconds | ratio (sinc ÷ peer) | bytes on the wire |\n|---|---|---|---|");
    let s = sinc_initial.as_secs_f64();
    println!("| sinc (`sinc start`, includes connect and session) | {s:.2} | – | {:.1} MB |", sinc_bytes as f64 / 1e6);
    println!(
        "| `tar \\| ssh \\| tar` | {:.2} | {:.2} | {:.1} MB |",
        tar.as_secs_f64(),
        s / tar.as_secs_f64(),
        tar_bytes as f64 / 1e6
    );
    println!("| `rsync -a` over ssh | {:.2} | {:.2} | – |", rsync.as_secs_f64(), s / rsync.as_secs_f64());
    println!("| `unison -batch` | {:.2} | {:.2} | – |", unison.as_secs_f64(), s / unison.as_secs_f64());
    println!("\n{cpu_line}");
    println!("\n| edit → visible ({edits} edits each) | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|");
    for (name, l) in [
        ("sinc local→remote, cold files", &l2r_cold),
        ("sinc local→remote, hot file", &l2r_hot),
        ("sinc remote→local, cold files", &r2l_cold),
        ("sinc remote→local, hot file", &r2l_hot),
    ] {
        println!("| {name} | {:.1} | {:.1} | {:.1} | {:.1} |", l.p50, l.p90, l.p99, l.max);
    }
    if let Some(u) = &unison_watch {
        println!(
            "| unison `-repeat watch`, local→remote, cold files | {:.1} | {:.1} | {:.1} | {:.1} |",
            u.p50, u.p90, u.p99, u.max
        );
    }
    println!(
        "| `rsync` of the one changed file (what lsyncd runs per event) | {:.1} | {:.1} | {:.1} | {:.1} |",
        percentile(&rsync_each, 50.0),
        percentile(&rsync_each, 90.0),
        percentile(&rsync_each, 99.0),
        rsync_each.last().copied().unwrap_or(f64::NAN)
    );
    println!("\n| restart, nothing changed | seconds |\n|---|---|");
    println!("| sinc (keeper killed, then `sinc start` until watching) | {:.2} |", sinc_restart.as_secs_f64());
    println!("| `rsync -a` no-op | {:.2} |", rsync_noop.as_secs_f64());
    println!(
        "\n| while watching, idle {idle_secs:.0} s | CPU % of one core | RSS MiB | peak RSS MiB |\n|---|---|---|---|"
    );
    println!("| keeper (laptop) | {keeper_cpu:.2} | {keeper_rss:.1} | {keeper_hwm:.1} |");
    println!("| daemon (VPS) | {daemon_cpu:.2} | {daemon_rss:.1} | {daemon_hwm:.1} |");
}
