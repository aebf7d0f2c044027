//! `sinc start`, `list`, `exec`, `kill` against a real sshd and tmux.

use sinc_tests::{Client, Sshd, stderr, stdout, wait_until};
use std::time::Duration;

/// An agent that announces itself and echoes what it is told.
pub fn echo_agent(sshd: &Sshd) -> String {
    sshd.remote_script(
        "echo-agent",
        "#!/bin/sh\necho \"agent ready in $(pwd) id=$SINC_SESSION_ID project=$SINC_PROJECT\"\nwhile IFS= read -r line; do echo \"agent got: $line\"; done\n",
    )
    .to_string_lossy()
    .into_owned()
}

#[test]
fn start_is_idempotent_and_list_shows_the_session() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, &echo_agent(&sshd));
    let first = client.json(&["start"]);
    assert_eq!(first["created"], true, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sinc-demo-app-"), "{id}");
    let second = client.json(&["start"]);
    assert_eq!(second["created"], false);

    let remote_dir = sshd.remote_base().join(format!("demo-app-{}", &id[id.len() - 6..]));
    assert!(remote_dir.is_dir(), "remote folder {remote_dir:?} was not created");
    let ready = format!("agent ready in {} id={id} project=demo-app", remote_dir.display());
    let screen = || stdout(&sshd.tmux(&["capture-pane", "-p", "-J", "-t", &format!("={id}:")]));
    wait_until(Duration::from_secs(10), &format!("the agent's banner {ready:?} (screen: {:?})", screen()), || {
        screen().contains(&ready).then_some(())
    });

    let list = client.json(&["list"]);
    let sessions = list.as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{list}");
    let s = &sessions[0];
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["local_path"], client.project.canonicalize().unwrap().to_string_lossy().as_ref());
    assert_eq!(s["remote_path"], remote_dir.to_string_lossy().as_ref());
    assert_eq!(s["attached_clients"], 0);
    assert_eq!(s["current_project"], true);
    assert!(s["agent"].as_str().unwrap().ends_with("echo-agent"));
    assert!(s["created"].as_str().unwrap().ends_with('Z'));
    // `tmux ls` on the VPS shows it too (the user's default server).
    assert!(stdout(&sshd.tmux(&["ls"])).contains(&id));

    // The session carries its own description: another laptop, without
    // this one's local records, lists the same.
    std::fs::remove_dir_all(client.home.join(".local/share")).unwrap();
    let elsewhere = client.json(&["list"]);
    assert_eq!(elsewhere[0]["local_path"], s["local_path"], "{elsewhere}");
    assert_eq!(elsewhere[0]["remote_path"], s["remote_path"], "{elsewhere}");
    assert_eq!(elsewhere[0]["agent"], s["agent"], "{elsewhere}");
    assert!(elsewhere[0]["created_by"].is_string(), "{elsewhere}");

    // -l / --list are aliases; the human listing names the session.
    let human = client.ok(&["-l"]);
    assert!(human.contains(&id) && human.contains("LOCAL PATH"), "{human}");
}

#[test]
fn exec_passes_words_exit_codes_and_streams_through() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let out = client.run(&[
        "exec",
        "--",
        "sh",
        "-c",
        "printf '%s|' \"$@\"; pwd; echo oops >&2; exit 7",
        "x",
        "a b",
        "$HOME",
        "it's",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("a b|$HOME|it's|"), "{text}");
    assert!(
        text.trim_end().ends_with("demo-app-") || text.contains(&sshd.remote_base().to_string_lossy().to_string()),
        "{text}"
    );
    assert_eq!(stderr(&out), "oops\n");

    // stdin is forwarded, and EOF ends it.
    let out = client.run_with_input(&["exec", "--", "wc", "-c"], &vec![b'x'; 100_000]);
    assert_eq!(stdout(&out).trim(), "100000");

    // Killed by a signal: 128 + n, like a local shell.
    let out = client.run(&["exec", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.code(), Some(143));
}

#[test]
fn kill_accepts_a_prefix_and_unknown_ids_fail_with_the_list() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, &echo_agent(&sshd));
    let id = client.json(&["start"])["id"].as_str().unwrap().to_owned();

    let out = client.run(&["kill", "sinc-nothing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&id), "unknown id should list the sessions: {}", stderr(&out));

    let killed = client.json(&["kill", "demo-app"]);
    assert_eq!(killed["killed"], id.as_str());
    assert_eq!(client.json(&["list"]).as_array().unwrap().len(), 0);
    let remote_dir = sshd.remote_base().join(format!("demo-app-{}", &id[id.len() - 6..]));
    assert!(remote_dir.is_dir(), "remote files must be kept");

    // -k is an alias.
    client.ok(&["start"]);
    client.ok(&["-k", &id]);
}
