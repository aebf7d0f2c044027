//! `sinc ssh`: a plain terminal on any host, kept in tmux so it outlives the
//! network and the client; `-- CMD` passes its status through; `-L`/`-R`
//! forwards work and come back after a cut; sessions are listed and killed
//! like projects'.

use sinc_tests::{Client, Proxy, Pty, Sshd, require_root, stderr, stdout, wait_until};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// A TCP server on loopback that answers each line with `echo: LINE`.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                let mut line = String::new();
                while std::io::BufRead::read_line(&mut reader, &mut line).is_ok_and(|n| n > 0) {
                    if writer.write_all(format!("echo: {line}").as_bytes()).is_err() {
                        break;
                    }
                    line.clear();
                }
            });
        }
    });
    port
}

/// Send a line through `port` and return the answer (`None` if there is none).
fn through(port: u16, line: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("{line}\n").as_bytes()).ok()?;
    let mut answer = vec![0u8; 256];
    let n = s.read(&mut answer).ok()?;
    Some(String::from_utf8_lossy(&answer[..n]).into_owned())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The `sinc ssh` session names on the server.
fn shell_sessions(sshd: &Sshd) -> Vec<String> {
    stdout(&sshd.tmux(&["ls", "-F", "#{session_name}"]))
        .lines()
        .filter(|l| l.starts_with("sinc-ssh-"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_shell_outlives_the_client_is_listed_reattached_and_killed() {
    require_root!();
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let pty = Pty::spawn(&client, &["ssh", "sinc-test"]);
    pty.type_text("echo marker-$((6*7)) $SINC_SESSION_ID");
    pty.keys(&["Enter"]);
    pty.wait_for("marker-42 sinc-ssh-", T);
    let names = shell_sessions(&sshd);
    assert_eq!(names.len(), 1, "{names:?}");
    let name = names[0].clone();

    // Listed with its kind, on the VPS and by --host.
    let listed = client.json(&["list"]);
    let entry = listed.as_array().unwrap().iter().find(|s| s["id"] == name.as_str()).cloned();
    let entry = entry.unwrap_or_else(|| panic!("{name} not in {listed}"));
    assert_eq!(entry["kind"], "ssh", "{entry}");
    assert_eq!(entry["agent"], "(login shell)", "{entry}");
    assert!(client.ok(&["list", "--host", "sinc-test"]).contains(&name));

    // The client dies; the shell does not.
    std::process::Command::new("kill").arg("-KILL").arg(pty.sinc_pid().to_string()).status().unwrap();
    assert_eq!(pty.exit_code(T), 137);
    let short = name.strip_prefix("sinc-ssh-").unwrap();
    let again = Pty::spawn(&client, &["ssh", "sinc-test", "--session", short]);
    again.wait_for("marker-42", T);
    again.type_text("echo again-$((2+3))");
    again.keys(&["Enter"]);
    again.wait_for("again-5", T);
    // `~.` leaves it running and says how to come back.
    again.keys(&["Enter"]);
    again.type_text("~.");
    assert_eq!(again.exit_code(T), 0);
    assert!(again.screen().contains(&format!("--session {short}")), "{}", again.screen());

    // Killed like a project's session, by a prefix of its id.
    let out = client.ok(&["kill", &name[..name.len() - 1]]);
    assert!(out.contains(&format!("ended {name}")), "{out}");
    assert!(shell_sessions(&sshd).is_empty());
}

#[test]
fn exiting_the_shell_ends_the_session_and_the_command_status_passes_through() {
    require_root!();
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let pty = Pty::spawn(&client, &["ssh", "sinc-test"]);
    pty.type_text("echo ready-$((1+1)); exit 4");
    pty.keys(&["Enter"]);
    assert_eq!(pty.exit_code(T), 0, "a shell's exit ends the attach like tmux does: {}", pty.screen());
    assert!(shell_sessions(&sshd).is_empty());

    // A command: its status, like `ssh host cmd` (words joined, read by the remote shell).
    let cmd = Pty::spawn(&client, &["ssh", "sinc-test", "--", "echo", "in-tmux-$((3*3));", "exit", "3"]);
    assert_eq!(cmd.exit_code(T), 3, "{}", cmd.screen());
    assert!(cmd.screen().contains("in-tmux-9"), "{}", cmd.screen());
    assert!(shell_sessions(&sshd).is_empty());

    // Without a terminal it runs directly, output and status unchanged.
    let plain = client.run_with_input(&["ssh", "sinc-test", "--", "cat; echo $((20+1)); exit 5"], b"piped\n");
    assert_eq!(plain.status.code(), Some(5), "{}", stderr(&plain));
    assert_eq!(stdout(&plain), "piped\n21\n");
    assert!(shell_sessions(&sshd).is_empty(), "no tmux session without a terminal");
}

#[test]
fn bad_invocations_are_usage_errors() {
    require_root!();
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    for (args, needle) in [
        (vec!["ssh", "sinc-test"], "needs a terminal"),
        (vec!["ssh", "sinc-test", "--session", "a b", "--", "true"], "--session"),
        (vec!["ssh", "me@", "--", "true"], "not a destination"),
        (vec!["ssh", "sinc-test", "-L", "8080", "--", "true"], "[bind_address:]port:host:hostport"),
        (vec!["ssh", "sinc-test", "-p", "notaport", "--", "true"], "notaport"),
    ] {
        let out = client.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    // A port that is taken fails before anything runs on the host.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let spec = format!("{port}:127.0.0.1:9");
    let out = client.run(&["ssh", "sinc-test", "-L", &spec, "--", "touch /tmp/sinc-ssh-should-not-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("cannot listen on 127.0.0.1:{port}")), "{}", stderr(&out));
}

#[test]
fn flags_pick_the_host_like_ssh() {
    require_root!();
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    // No ~/.ssh/config entry needed: user, port and key as flags.
    std::fs::remove_file(client.home.join(".ssh/config")).unwrap();
    let key = client.home.join(".ssh/id_ed25519");
    let port = sshd.port.to_string();
    let who =
        client.run(&["ssh", "-l", &sshd.user, "-p", &port, "-i", key.to_str().unwrap(), "127.0.0.1", "--", "id -un"]);
    assert_eq!(stdout(&who).trim(), sshd.user, "{}", stderr(&who));
    let url = format!("ssh://{}@127.0.0.1:{port}", sshd.user);
    let who = client.run(&["ssh", &url, "--", "id -un"]);
    assert_eq!(stdout(&who).trim(), sshd.user, "{}", stderr(&who));
    // -J: through the same server as a jump host.
    let jump = format!("{}@127.0.0.1:{port}", sshd.user);
    let via = client.run(&["ssh", "-J", &jump, &url, "--", "echo via-jump"]);
    assert_eq!(stdout(&via).trim(), "via-jump", "{}", stderr(&via));
}

#[test]
fn forwards_work_and_come_back_after_a_cut() {
    require_root!();
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let proxy = Proxy::start(sshd.port);
    client.route_through(&sshd, proxy.port);
    let echo = echo_server();
    let (local, remote) = (free_port(), free_port());
    let l = format!("{local}:127.0.0.1:{echo}");
    let r = format!("{remote}:127.0.0.1:{echo}");
    let pty = Pty::spawn(&client, &["ssh", "sinc-test", "-L", &l, "-R", &r]);
    pty.type_text("echo up-$((4*4))");
    pty.keys(&["Enter"]);
    pty.wait_for("up-16", T);
    assert_eq!(through(local, "one").as_deref(), Some("echo: one\n"), "-L");
    assert_eq!(through(remote, "two").as_deref(), Some("echo: two\n"), "-R");

    proxy.pause();
    pty.wait_for("reconnecting", T);
    proxy.resume();
    wait_until(T, "the terminal back", || (!pty.screen().contains("reconnecting")).then_some(()));
    pty.type_text("echo back-$((5*5))");
    pty.keys(&["Enter"]);
    pty.wait_for("back-25", T);
    wait_until(T, "-L after the cut", || (through(local, "three").as_deref() == Some("echo: three\n")).then_some(()));
    // The old connection's sshd may hold the remote port a little longer.
    wait_until(T, "-R after the cut", || (through(remote, "four").as_deref() == Some("echo: four\n")).then_some(()));
    pty.type_text("exit");
    pty.keys(&["Enter"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    // The forwards end with the client.
    assert!(TcpStream::connect(("127.0.0.1", local)).is_err());
}
