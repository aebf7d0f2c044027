//! Connect and attach benchmark: `sinc` against OpenSSH on the same sshd, in
//! the same run, timed by hyperfine. Prints a Markdown table for
//! docs/BENCHMARKS.md. Run through `scripts/bench` (release build).
//!
//! Measured pairs:
//! - `sinc exec -- true` vs `ssh host true`;
//! - cold: `sinc` (create the session and attach) vs `ssh -t host tmux new -A -s X`;
//! - warm re-attach: `sinc -r` vs `ssh -t host tmux attach -t X`.
//!
//! Attaches run under `script` (a real PTY) and the remote tmux server has
//! `client-attached` / `client-session-changed` hooks that detach at once, so
//! each run is one full connect → authenticate → PTY → tmux attach → first
//! screen → detach.

use sinc_tests::{Client, Sshd, sh_quote};
use std::path::Path;
use std::process::Command;

struct Stats {
    median_ms: f64,
    mean_ms: f64,
    stddev_ms: f64,
    min_ms: f64,
    max_ms: f64,
}

fn hyperfine(name: &str, runs: u32, prepare: Option<&str>, commands: &[(&str, String)], out_dir: &Path) -> Vec<Stats> {
    let export = out_dir.join(format!("{name}.json"));
    let mut cmd = Command::new("hyperfine");
    cmd.args(["--warmup", "3", "--runs", &runs.to_string(), "--style", "basic", "-N"]);
    if let Some(p) = prepare {
        cmd.args(["--prepare", p]);
    }
    cmd.arg("--export-json").arg(&export);
    for (label, command) in commands {
        cmd.args(["--command-name", label, command]);
    }
    let status = cmd.status().expect("hyperfine (apt install hyperfine; scripts/bench does)");
    assert!(status.success(), "hyperfine failed for {name}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let ms = |k: &str| r[k].as_f64().unwrap_or(f64::NAN) * 1000.0;
            Stats {
                median_ms: ms("median"),
                mean_ms: ms("mean"),
                stddev_ms: ms("stddev"),
                min_ms: ms("min"),
                max_ms: ms("max"),
            }
        })
        .collect()
}

fn main() {
    let runs: u32 = std::env::var("BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(30);
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "cat");
    let work = tempfile::tempdir().unwrap();

    let ssh_config = work.path().join("ssh_config");
    client.write_ssh_config(&ssh_config, "sinc-test", sshd.port, &sshd.user);
    let ssh = |args: &str| format!("ssh -F {} {args}", sh_quote(&ssh_config.to_string_lossy()));
    let env: Vec<String> = client.env().iter().map(|(k, v)| sh_quote(&format!("{k}={v}"))).collect();
    let sinc =
        |args: &str| format!("env -i {} {} {args}", env.join(" "), sh_quote(&sinc_tests::sinc_bin().to_string_lossy()));
    let in_project = |cmd: String| {
        format!("sh -c {}", sh_quote(&format!("cd {} && {cmd}", sh_quote(&client.project.to_string_lossy()))))
    };
    let pty = |cmd: String| format!("script -qec {} /dev/null", sh_quote(&cmd));

    // A long-lived session keeps the remote tmux server up; its hook detaches
    // every client right after it attaches.
    client.ok(&["exec", "--", "tmux", "new-session", "-d", "-s", "bench-keeper", "sleep 1000000"]);
    for hook in ["client-attached", "client-session-changed"] {
        client.ok(&["exec", "--", "tmux", "set-hook", "-g", hook, "detach-client"]);
    }
    client.ok(&["start"]);
    let id = client.ok(&["id"]).trim().to_owned();

    let exec = hyperfine(
        "exec",
        runs,
        None,
        &[
            ("sinc exec -- true", in_project(sinc("exec -- true"))),
            ("ssh host true", ssh("sinc-test true")),
            (
                "ssh -o KexAlgorithms=curve25519-sha256 host true",
                ssh("-o KexAlgorithms=curve25519-sha256 sinc-test true"),
            ),
        ],
        work.path(),
    );

    let kill_both = format!(
        "sh -c {}",
        sh_quote(&ssh(&format!(
            "sinc-test 'tmux kill-session -t ={id} 2>/dev/null; tmux kill-session -t =bench-ssh 2>/dev/null; true'"
        )))
    );
    let cold = hyperfine(
        "cold-attach",
        runs,
        Some(&kill_both),
        &[
            ("sinc (start + attach)", pty(in_project(sinc("")))),
            ("ssh -t host tmux new -A -s X cat", pty(ssh("-t sinc-test tmux new -A -s bench-ssh cat"))),
        ],
        work.path(),
    );

    client.ok(&["start"]);
    client.ok(&[
        "exec",
        "--",
        "sh",
        "-c",
        "tmux has-session -t =bench-ssh 2>/dev/null || tmux new-session -d -s bench-ssh cat",
    ]);
    let warm = hyperfine(
        "warm-attach",
        runs,
        None,
        &[
            ("sinc -r", pty(in_project(sinc("-r")))),
            ("ssh -t host tmux attach -t X", pty(ssh("-t sinc-test tmux attach -t bench-ssh"))),
            (
                "ssh -o KexAlgorithms=curve25519-sha256 -t host tmux attach -t X",
                pty(ssh("-o KexAlgorithms=curve25519-sha256 -t sinc-test tmux attach -t bench-ssh")),
            ),
        ],
        work.path(),
    );

    let row = |what: &str, s: &Stats| {
        format!(
            "| {what} | {:.1} | {:.1} ± {:.1} | {:.1} | {:.1} |",
            s.median_ms, s.mean_ms, s.stddev_ms, s.min_ms, s.max_ms
        )
    };
    println!("\n| command | median ms | mean ± σ ms | min ms | max ms |\n|---|---|---|---|---|");
    let names: [&[&str]; 3] = [
        &["`sinc exec -- true`", "`ssh host true`", "`ssh -o KexAlgorithms=curve25519-sha256 host true`"],
        &["`sinc` (cold: create + attach)", "`ssh -t host tmux new -A -s X`"],
        &["`sinc -r` (warm re-attach)", "`ssh -t host tmux attach -t X`", "same, curve25519 key exchange"],
    ];
    for (names, stats) in names.iter().zip([&exec, &cold, &warm]) {
        for (name, stat) in names.iter().zip(stats.iter()) {
            println!("{}", row(name, stat));
        }
    }
    println!("\n| ratio (sinc / OpenSSH, medians) | default kex | curve25519 | goal |\n|---|---|---|---|");
    println!(
        "| exec | {:.2} | {:.2} | ≤ 0.6 |",
        exec[0].median_ms / exec[1].median_ms,
        exec[0].median_ms / exec[2].median_ms
    );
    println!("| cold attach | {:.2} | – | ≤ 1.0 |", cold[0].median_ms / cold[1].median_ms);
    println!(
        "| warm re-attach | {:.2} | {:.2} | `sinc -r` < 300 ms (median {:.0} ms) |",
        warm[0].median_ms / warm[1].median_ms,
        warm[0].median_ms / warm[2].median_ms,
        warm[0].median_ms
    );
}
