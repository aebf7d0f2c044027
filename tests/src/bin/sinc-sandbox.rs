//! `sinc-sandbox`: a throwaway local "VPS" to try sinc without a server.
//!
//! It starts a real OpenSSH sshd on 127.0.0.1 with throwaway keys (the same
//! harness the end-to-end tests use), a throwaway laptop home whose sinc
//! config points at it, and a small demo agent. On a terminal it attaches you
//! to the project's session, then opens a shell where `sinc` is configured for
//! the sandbox; without a terminal it runs a short scripted tour. Everything is
//! removed when it exits.

use sinc_tests::{Client, Sshd};
use std::io::IsTerminal;
use std::process::Command;

const DEMO_AGENT: &str = r#"#!/bin/sh
printf '\033[1;36m  sinc sandbox\033[0m: a real tmux session on a local sshd standing in for your VPS.\n'
printf '  session \033[1m%s\033[0m  project \033[1m%s\033[0m\n  folder  %s\n\n' "$SINC_SESSION_ID" "$SINC_PROJECT" "$(pwd)"
printf '  This demo agent answers each line you type. Detach with \033[1mCtrl-b d\033[0m:\n  the session keeps running and `sinc -r` brings you back.\n\n'
while IFS= read -r line; do
  printf '\033[32magent>\033[0m you said "%s". A real agent (opencode, claude) would now work in %s.\n' "$line" "$(pwd)"
done
"#;

fn main() {
    let sshd = Sshd::start();
    let agent = sshd.remote_script("demo-agent", DEMO_AGENT);
    let mut client = Client::new(&sshd, &agent.to_string_lossy());
    std::fs::write(client.project.join("README.md"), "# demo-app\nA project folder on the laptop.\n").unwrap();
    if let Ok(term) = std::env::var("TERM") {
        client.set_env("TERM", &term);
    }
    let bin_dir = sinc_tests::sinc_bin().parent().unwrap().to_path_buf();
    client.set_env("PATH", &format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display()));

    println!("sandbox VPS: sshd on 127.0.0.1:{} (user {}), host alias `sinc-test`", sshd.port, sshd.user);
    println!("laptop home: {}\nproject:     {}\n", client.home.display(), client.project.display());

    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = if !args.is_empty() {
        run(&client, &args)
    } else if std::io::stdin().is_terminal() {
        interactive(&client)
    } else {
        tour(&client, &sshd)
    };
    drop(client);
    drop(sshd);
    std::process::exit(code);
}

fn run(client: &Client, args: &[String]) -> i32 {
    client.sinc().args(args).stdin(std::process::Stdio::inherit()).status().unwrap().code().unwrap_or(1)
}

fn interactive(client: &Client) -> i32 {
    println!("Attaching to the project's session (Ctrl-b d detaches)…\n");
    let code = run(client, &[]);
    println!(
        "\nsinc exited with {code}. You are now in a shell on the \"laptop\", in the project folder,\n\
         with sinc configured for the sandbox VPS. The folder syncs both ways. Try:\n\n  sinc list\n  sinc status\n  echo hi > x.txt; sinc flush; sinc exec -- cat x.txt\n  sinc -r\n  sinc kill demo-app\n\n\
         Exit the shell to stop the sandbox."
    );
    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
    let mut cmd = Command::new(shell);
    cmd.env_clear()
        .envs(client.env().iter().map(|(k, v)| (k, v)))
        .current_dir(&client.project)
        .env("PS1", "(sinc sandbox) $ ");
    cmd.status().map(|s| s.code().unwrap_or(0)).unwrap_or(1)
}

fn tour(client: &Client, sshd: &Sshd) -> i32 {
    let step = |args: &[&str]| {
        println!("$ sinc {}", shlex::try_join(args.iter().copied()).unwrap_or_else(|_| args.join(" ")));
        let out = client.run(args);
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        println!();
        out.status.code().unwrap_or(1)
    };
    println!("No terminal: running a scripted tour instead of attaching.\n");
    let mut failed = 0;
    for args in [&["start"][..], &["list"], &["exec", "--", "sh", "-c", "pwd; ls -A"]] {
        failed |= step(args);
    }
    println!("# A file written on the laptop…");
    std::fs::write(client.project.join("notes.md"), "written on the laptop\n").unwrap();
    failed |= step(&["flush"]);
    failed |= step(&["exec", "--", "cat", "notes.md"]);
    println!("# …and one the agent writes on the VPS:");
    failed |= step(&["exec", "--", "sh", "-c", "echo 'written by the agent' > agent.txt"]);
    failed |= step(&["flush"]);
    println!("$ cat agent.txt   (on the laptop)");
    println!("{}", std::fs::read_to_string(client.project.join("agent.txt")).unwrap_or_default().trim_end());
    failed |= step(&["status"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let id = client.ok(&["id"]).trim().to_owned();
    println!("The agent's screen in the remote tmux session {id}:");
    let screen = sshd.tmux(&["capture-pane", "-p", "-J", "-t", &format!("={id}:")]);
    println!("{}", String::from_utf8_lossy(&screen.stdout).trim_end());
    println!();
    failed |= step(&["kill", &id]);
    failed
}
