//! Connect and attach benchmark: `sinc` against OpenSSH on the same sshd, in
//! the same run, timed by hyperfine. Prints a Markdown table for
//! docs/BENCHMARKS.md. Run through `scripts/bench` (release build).
//!
//! Measured pairs, first on a connection of sinc's own (no keeper runs:
//! `SINC_SYNC_MODE=none`):
//! - `sinc exec -- true` vs `ssh host true`;
//! - cold: `sinc` (create the session and attach) vs `ssh -t host tmux new -A -s X`;
//! - warm re-attach: `sinc -r` vs `ssh -t host tmux attach -t X`;
//!
//! then through the project's keeper (its relay socket) against OpenSSH
//! through a ControlMaster:
//! - `sinc exec -- true` vs `ssh -S ctl host true`;
//! - `sinc -r` vs `ssh -S ctl -t host tmux attach -t X`.
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
    let sinc_with = |extra: &str, args: &str| {
        format!("env -i {} {extra} {} {args}", env.join(" "), sh_quote(&sinc_tests::sinc_bin().to_string_lossy()))
    };
    // No keeper: every command connects on its own.
    let direct = |args: &str| sinc_with("SINC_SYNC_MODE=none", args);
    let sinc = |args: &str| sinc_with("", args);
    let in_project = |cmd: String| {
        format!("sh -c {}", sh_quote(&format!("cd {} && {cmd}", sh_quote(&client.project.to_string_lossy()))))
    };
    let pty = |cmd: String| format!("script -qec {} /dev/null", sh_quote(&cmd));
    let no_keeper = |args: &[&str]| {
        let out = client.sinc().env("SINC_SYNC_MODE", "none").args(args).output().unwrap();
        assert!(out.status.success(), "sinc {args:?}: {}", sinc_tests::stderr(&out));
    };

    // A long-lived session keeps the remote tmux server up; its hook detaches
    // every client right after it attaches.
    no_keeper(&["exec", "--", "tmux", "new-session", "-d", "-s", "bench-keeper", "sleep 1000000"]);
    for hook in ["client-attached", "client-session-changed"] {
        no_keeper(&["exec", "--", "tmux", "set-hook", "-g", hook, "detach-client"]);
    }
    no_keeper(&["start"]);
    let id = client.ok(&["id"]).trim().to_owned();

    let exec = hyperfine(
        "exec",
        runs,
        None,
        &[
            ("sinc exec -- true", in_project(direct("exec -- true"))),
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
            ("sinc (start + attach)", pty(in_project(direct("")))),
            ("ssh -t host tmux new -A -s X cat", pty(ssh("-t sinc-test tmux new -A -s bench-ssh cat"))),
        ],
        work.path(),
    );

    no_keeper(&["start"]);
    no_keeper(&[
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
            ("sinc -r", pty(in_project(direct("-r")))),
            ("ssh -t host tmux attach -t X", pty(ssh("-t sinc-test tmux attach -t bench-ssh"))),
            (
                "ssh -o KexAlgorithms=curve25519-sha256 -t host tmux attach -t X",
                pty(ssh("-o KexAlgorithms=curve25519-sha256 -t sinc-test tmux attach -t bench-ssh")),
            ),
        ],
        work.path(),
    );

    // Shared connections: the project's keeper, and an OpenSSH ControlMaster.
    client.ok(&["start"]);
    let control = work.path().join("ctl");
    let mux = |args: &str| ssh(&format!("-S {} {args}", sh_quote(&control.to_string_lossy())));
    let master = Command::new("sh")
        .arg("-c")
        .arg(ssh(&format!(
            "-o ControlMaster=yes -o ControlPersist=yes -o ControlPath={} -fN sinc-test",
            sh_quote(&control.to_string_lossy())
        )))
        .status()
        .unwrap();
    assert!(master.success(), "the OpenSSH ControlMaster did not start");
    let shared = hyperfine(
        "shared",
        runs,
        None,
        &[
            ("sinc exec -- true (keeper)", in_project(sinc("exec -- true"))),
            ("ssh -S ctl host true", mux("sinc-test true")),
            ("sinc -r (keeper)", pty(in_project(sinc("-r")))),
            ("ssh -S ctl -t host tmux attach -t X", pty(mux("-t sinc-test tmux attach -t bench-ssh"))),
        ],
        work.path(),
    );
    let _ = Command::new("sh").arg("-c").arg(mux("-O exit sinc-test")).status();
    let _ = client.run(&["kill", &id]);

    let row = |what: &str, s: &Stats| {
        format!(
            "| {what} | {:.1} | {:.1} ± {:.1} | {:.1} | {:.1} |",
            s.median_ms, s.mean_ms, s.stddev_ms, s.min_ms, s.max_ms
        )
    };
    println!("\n| command | median ms | mean ± σ ms | min ms | max ms |\n|---|---|---|---|---|");
    let names: [&[&str]; 4] = [
        &["`sinc exec -- true`", "`ssh host true`", "`ssh -o KexAlgorithms=curve25519-sha256 host true`"],
        &["`sinc` (cold: create + attach)", "`ssh -t host tmux new -A -s X`"],
        &["`sinc -r` (warm re-attach)", "`ssh -t host tmux attach -t X`", "same, curve25519 key exchange"],
        &[
            "`sinc exec -- true` through the keeper",
            "`ssh -S ctl host true` (ControlMaster)",
            "`sinc -r` through the keeper",
            "`ssh -S ctl -t host tmux attach -t X`",
        ],
    ];
    for (names, stats) in names.iter().zip([&exec, &cold, &warm, &shared]) {
        for (name, stat) in names.iter().zip(stats.iter()) {
            println!("{}", row(name, stat));
        }
    }
    println!(
        "\n| ratio (sinc / OpenSSH, medians) | default kex | curve25519 | shared connection | goal |\n|---|---|---|---|---|"
    );
    println!(
        "| exec | {:.2} | {:.2} | {:.2} | ≤ 0.6 |",
        exec[0].median_ms / exec[1].median_ms,
        exec[0].median_ms / exec[2].median_ms,
        shared[0].median_ms / shared[1].median_ms
    );
    println!("| cold attach | {:.2} | – | – | ≤ 1.0 |", cold[0].median_ms / cold[1].median_ms);
    println!(
        "| warm re-attach | {:.2} | {:.2} | {:.2} | `sinc -r` < 300 ms (median {:.0} ms; {:.0} ms through the keeper) |",
        warm[0].median_ms / warm[1].median_ms,
        warm[0].median_ms / warm[2].median_ms,
        shared[2].median_ms / shared[3].median_ms,
        warm[0].median_ms,
        shared[2].median_ms
    );
}
