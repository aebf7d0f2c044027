//! Foreground commands ride the keeper's SSH connection, like OpenSSH's
//! ControlMaster: once a keeper is connected, `exec`, `list`, `-r` and `kill`
//! work without a connection of their own — shown here by a server that has
//! stopped accepting new ones.

mod common;

use sinc::transport::relay::{self, RelayError};
use sinc::transport::{self, ChannelRequest, RemoteStatus};
use sinc_tests::{Client, Pty, Sshd, require_root, stderr, stdout};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const T: Duration = Duration::from_secs(20);

#[test]
fn foreground_commands_use_the_keepers_connection() {
    require_root!();
    let mut sshd = Sshd::start();
    let agent = sshd.remote_script(
        "echo-agent",
        "#!/bin/sh\necho agent ready\nwhile IFS= read -r l; do echo \"agent got: $l\"; done\n",
    );
    let client = Client::new(&sshd, &agent.to_string_lossy());
    let id = client.ok(&["id"]).trim().to_owned();
    client.ok(&["start"]);
    sshd.stop_listening();

    // exec: stdin in; stdout, stderr and the exit code out, unchanged.
    let out =
        client.run_with_input(&["exec", "--", "sh", "-c", "read x; echo \"out $x\"; echo err >&2; exit 7"], b"typed\n");
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out typed\n");
    assert_eq!(stderr(&out).trim(), "err");

    let list = client.json(&["list"]);
    assert_eq!(list[0]["id"], id.as_str(), "{list}");

    // A terminal attach through the relay: keys in, output back, detach.
    let pty = Pty::spawn(&client, &["-r"]);
    pty.wait_for("agent ready", T);
    pty.type_text("through the keeper");
    pty.keys(&["Enter"]);
    pty.wait_for("agent got: through the keeper", T);
    pty.resize(90, 20);
    pty.keys(&["C-b", "d"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    assert!(pty.terminal_restored());

    // kill ends the session (and the keeper with it)…
    let killed = client.run(&["kill", &id]);
    assert!(killed.status.success(), "{}", stderr(&killed));
    assert!(!stdout(&sshd.tmux(&["ls"])).contains(&id));
    // …after which a command has to connect on its own, and cannot.
    let alone = client.run(&["exec", "--", "true"]);
    assert_eq!(alone.status.code(), Some(76), "{}", stderr(&alone));
}

/// A relay served by this test process on a connection of its own.
struct Relay {
    _sshd: Sshd,
    client: Client,
    target: String,
    socket: std::path::PathBuf,
    shared: tokio::sync::watch::Sender<Option<std::sync::Arc<transport::Connection>>>,
}

async fn relay() -> Relay {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let conn = common::connect(&client).await;
    let target = conn.target().clone();
    let socket = client.scratch().join("relay.sock");
    let (shared, watched) = tokio::sync::watch::channel(Some(conn));
    tokio::spawn(relay::serve(tokio::net::UnixListener::bind(&socket).unwrap(), watched));
    Relay { _sshd: sshd, client, target: target.describe(), socket, shared }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_checks_the_target_and_survives_garbage() {
    let Relay { client, target: me, socket, shared, .. } = relay().await;

    // Nonsense frames and a client that hangs up mid-request.
    for garbage in [&b"\x00\x00\x00\x05hello and more"[..], b"\xff\xff\xff\xff", b""] {
        let mut s = tokio::net::UnixStream::connect(&socket).await.unwrap();
        s.write_all(garbage).await.unwrap();
    }

    let run = |command: &str| ChannelRequest::exec(command);
    let out = relay::open(&socket, &me, &run("cat; echo err >&2; exit 3"), T).await.unwrap().output(b"piped in").await;
    assert_eq!(out.stdout, b"piped in");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status, RemoteStatus::Exited(3));

    // A keeper connected elsewhere is not used.
    match relay::open(&socket, "someone@elsewhere:22", &run("true"), T).await {
        Err(RelayError::Refused(why)) => assert!(why.contains("not someone@elsewhere:22"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nor is one between connections.
    shared.send_replace(None);
    match relay::open(&socket, &me, &run("true"), T).await {
        Err(RelayError::Refused(why)) => assert!(why.contains("not connected"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // No keeper at all.
    let absent = relay::open(&client.scratch().join("none.sock"), &me, &run("true"), T).await;
    assert!(matches!(absent, Err(RelayError::Absent)), "{absent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_or_leaves_holds_nothing_up() {
    let r = relay().await;
    let pty = || transport::Pty { term: "xterm".into(), cols: 80, rows: 24 };
    let running = |marker: &str| {
        let out = std::process::Command::new("pgrep").args(["-f", marker]).output().unwrap();
        out.status.success()
    };

    // A flood nobody reads must not stall the connection it shares.
    let flood = relay::open(&r.socket, &r.target, &ChannelRequest::exec("cat /dev/zero"), T).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let probe = relay::open(&r.socket, &r.target, &ChannelRequest::exec("echo alive"), T).await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(10), probe.output(b""))
        .await
        .expect("a second channel answers while the first one's client does not read");
    assert_eq!(out.stdout, b"alive\n");
    drop(flood);

    // A client that goes away takes its command's terminal with it.
    let marker = format!("sinc-relay-marker-{}", std::process::id());
    let request = ChannelRequest { command: format!("sleep 1000; : {marker}"), pty: Some(pty()) };
    let channel = relay::open(&r.socket, &r.target, &request, T).await.unwrap();
    sinc_tests::wait_until(T, "the remote command to start", || running(&marker).then_some(()));
    drop(channel);
    sinc_tests::wait_until(T, "the remote command to end", || (!running(&marker)).then_some(()));
    drop(r);
}
