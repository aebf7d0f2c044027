//! The SSH transport against a real sshd: key files, ssh-agent, ProxyJump,
//! known_hosts policy (unknown, changed, accept-new), and every connect
//! failure mapped to one line and exit 76.

use sinc_tests::{Client, KillOnDrop, Sshd, SshdOptions, stderr, stdout};
use std::process::Command;
use std::time::{Duration, Instant};

fn exec_true(client: &Client) -> std::process::Output {
    client.run(&["exec", "--", "true"])
}

#[test]
fn key_file_from_ssh_config() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let out = client.run(&["exec", "--", "id", "-un"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), sshd.user);
}

#[test]
fn key_from_ssh_agent() {
    let sshd = Sshd::start();
    let mut client = Client::new(&sshd, "true");
    // Move the key out of ~/.ssh so only the agent can offer it.
    let key = client.scratch().join("agent_key");
    std::fs::rename(client.home.join(".ssh/id_ed25519"), &key).unwrap();
    std::fs::remove_file(client.home.join(".ssh/id_ed25519.pub")).unwrap();
    let socket = client.scratch().join("agent.sock");
    let _agent = KillOnDrop(
        Command::new("ssh-agent").arg("-D").arg("-a").arg(&socket).stdout(std::process::Stdio::null()).spawn().unwrap(),
    );
    sinc_tests::wait_until(Duration::from_secs(5), "ssh-agent socket", || socket.exists().then_some(()));
    let added = Command::new("ssh-add").arg(&key).env("SSH_AUTH_SOCK", &socket).output().unwrap();
    assert!(added.status.success(), "{}", stderr(&added));

    let denied = exec_true(&client);
    assert_eq!(denied.status.code(), Some(76), "without the agent there is no key");
    client.set_env("SSH_AUTH_SOCK", &socket.to_string_lossy());
    let out = client.run(&["exec", "-v", "--", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // No agent forwarding: the remote side has no SSH_AUTH_SOCK.
    let fwd = client.run(&["exec", "--", "sh", "-c", "echo \"[$SSH_AUTH_SOCK]\""]);
    assert!(fwd.status.success(), "{}", stderr(&fwd));
    assert_eq!(stdout(&fwd).trim(), "[]");
}

#[test]
fn auth_denied_lists_what_was_tried() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let other = client.scratch().join("other");
    Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&other).status().unwrap();
    std::fs::copy(&other, client.home.join(".ssh/id_ed25519")).unwrap();
    std::fs::copy(other.with_extension("pub"), client.home.join(".ssh/id_ed25519.pub")).unwrap();
    let out = exec_true(&client);
    assert_eq!(out.status.code(), Some(76));
    let err = stderr(&out);
    assert!(err.contains("permission denied for") && err.contains("id_ed25519") && err.contains("publickey"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
}

#[test]
fn encrypted_key_without_a_terminal_is_reported() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let key = client.home.join(".ssh/id_ed25519");
    std::fs::copy(sshd.client_key(), &key).unwrap();
    let st =
        Command::new("ssh-keygen").args(["-q", "-p", "-N", "secret-pass", "-P", "", "-f"]).arg(&key).status().unwrap();
    assert!(st.success());
    std::fs::remove_file(client.home.join(".ssh/id_ed25519.pub")).unwrap();
    let out = exec_true(&client);
    assert_eq!(out.status.code(), Some(76));
    assert!(stderr(&out).contains("encrypted; no terminal to ask for its passphrase"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("secret-pass"));
}

#[test]
fn unknown_host_is_refused_without_a_terminal_and_accept_new_records_it() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    std::fs::remove_file(client.known_hosts()).unwrap();
    let out = exec_true(&client);
    assert_eq!(out.status.code(), Some(76));
    let err = stderr(&out);
    assert!(
        err.contains("cannot be established") && err.contains("SHA256:") && err.contains("--accept-new-host"),
        "{err}"
    );
    assert!(!client.known_hosts().exists(), "nothing may be recorded when refusing");

    let out = client.run(&["exec", "--accept-new-host", "--", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recorded = std::fs::read_to_string(client.known_hosts()).unwrap();
    assert!(recorded.contains(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)), "{recorded}");
    // Now known: no flag needed.
    assert!(exec_true(&client).status.success());
}

#[test]
fn hashed_known_hosts_entries_are_understood() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let st = Command::new("ssh-keygen").arg("-H").arg("-f").arg(client.known_hosts()).output().unwrap();
    assert!(st.status.success());
    assert!(std::fs::read_to_string(client.known_hosts()).unwrap().starts_with("|1|"));
    let out = exec_true(&client);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn changed_host_key_is_refused_loudly() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let other = client.scratch().join("impostor");
    Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&other).status().unwrap();
    let impostor = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let key: Vec<&str> = impostor.split_whitespace().take(2).collect();
    std::fs::write(client.known_hosts(), format!("[127.0.0.1]:{} {}\n", sshd.port, key.join(" "))).unwrap();
    // Even --accept-new-host never accepts a changed key.
    let out = client.run(&["exec", "--accept-new-host", "--", "true"]);
    assert_eq!(out.status.code(), Some(76));
    let err = stderr(&out);
    assert!(err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "{err}");
    assert!(err.contains(&format!("{}:1", client.known_hosts().display())), "names the offending line: {err}");
    assert!(err.contains("ssh-keygen -R"), "{err}");
}

#[test]
fn refused_port_fails_at_once() {
    let client = Client::bare();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    client.write_config(&format!("[vps]\nhost = \"127.0.0.1\"\nport = {port}\n"));
    let start = Instant::now();
    let out = exec_true(&client);
    assert_eq!(out.status.code(), Some(76));
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(stderr(&out).contains("connection refused"), "{}", stderr(&out));

    // `sinc start` and `sinc` fail the same way and leave no background sync
    // behind retrying a VPS they never reached.
    let out = client.run(&["start"]);
    assert_eq!(out.status.code(), Some(76), "{}", stderr(&out));
    let pty = sinc_tests::Pty::spawn(&client, &[]);
    assert_eq!(pty.exit_code(Duration::from_secs(20)), 76, "{}", pty.screen());
    let sessions = client.home.join(".local/state/sincronizado/sessions");
    let keepers = std::fs::read_dir(&sessions).map(|d| d.count()).unwrap_or(0);
    assert_eq!(keepers, 0, "no keeper was started");
}

#[test]
fn silent_server_times_out_within_connect_timeout() {
    // A listener that accepts and never speaks: the SSH handshake stalls.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let client = Client::bare();
    client.write_config(&format!("[vps]\nhost = \"127.0.0.1\"\nport = {port}\n[ssh]\nconnect_timeout = 2\n"));
    let start = Instant::now();
    let out = exec_true(&client);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(76));
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(5), "took {took:?}");
    assert!(stderr(&out).contains("timed out after 2s"), "{}", stderr(&out));
}

#[test]
fn unresolvable_host_name() {
    let client = Client::bare();
    client.write_config("[vps]\nhost = \"no-such-host.invalid\"\n");
    let out = exec_true(&client);
    assert_eq!(out.status.code(), Some(76));
    assert!(stderr(&out).contains("could not resolve host name no-such-host.invalid"), "{}", stderr(&out));
}

#[test]
fn proxy_jump_through_a_bastion() {
    let bastion =
        Sshd::start_with(SshdOptions { extra_config: vec!["LogLevel DEBUG1".into()], ..SshdOptions::default() });
    let target = Sshd::start();
    let client = Client::new(&target, "true");
    // Both servers accept their own client key; give the bastion's to the jump hop.
    std::fs::copy(bastion.client_key(), client.home.join(".ssh/bastion_key")).unwrap();
    let config = format!(
        "Host sinc-test\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile ~/.ssh/id_ed25519\n  ProxyJump bastion\n\
         Host bastion\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile ~/.ssh/bastion_key\n",
        target.port, target.user, bastion.port, bastion.user
    );
    std::fs::write(client.home.join(".ssh/config"), config).unwrap();
    std::fs::write(
        client.known_hosts(),
        format!(
            "[127.0.0.1]:{} {}\n[127.0.0.1]:{} {}\n",
            target.port,
            target.host_key_line(),
            bastion.port,
            bastion.host_key_line()
        ),
    )
    .unwrap();
    let out = client.run(&["exec", "--", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The bastion forwarded the connection to the target.
    let forwarded = format!("target 127.0.0.1 port {}", target.port);
    assert!(bastion.log().contains(&forwarded), "bastion log lacks {forwarded:?}:\n{}", bastion.log());
}
