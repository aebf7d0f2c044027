//! `sinc doctor`: against a real sshd, each check passes on a healthy VPS,
//! and each failure provoked here is reported with its fix and exit 1.

use sinc_tests::{Client, Sshd, stderr, stdout};
use std::process::Output;

/// The parsed `--json` report and the process status.
fn report(out: &Output) -> (i32, serde_json::Value) {
    let j: serde_json::Value = serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", stdout(out), stderr(out)));
    (out.status.code().unwrap_or(-1), j)
}

/// The check called `name`.
fn check<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {j:#}"))
}

fn status<'a>(j: &'a serde_json::Value, name: &str) -> &'a str {
    check(j, name)["status"].as_str().unwrap()
}

#[test]
fn a_healthy_vps_passes_and_the_login_method_is_named() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "sleep 600");
    let (code, j) = report(&client.run(&["doctor", "--json"]));
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["ok"], true);
    for name in ["config", "host", "ssh", "host key", "auth", "remote system", "tmux", "git", "agent", "clock"] {
        assert_eq!(status(&j, name), "pass", "{name}: {j:#}");
    }
    assert!(check(&j, "auth")["detail"].as_str().unwrap().contains("id_ed25519"), "{j:#}");
    assert!(check(&j, "agent")["detail"].as_str().unwrap().contains("/sleep"), "{j:#}");
    assert_eq!(status(&j, "remote sinc"), "warn", "nothing installed before the first session");
    for c in j["checks"].as_array().unwrap() {
        assert_ne!(c["status"], "fail", "{c}");
        assert_ne!(c["status"], "skip", "{c}");
    }

    // Once a session installed the binary, it is this build.
    client.ok(&["start"]);
    let (_, j) = report(&client.run(&["doctor", "--json"]));
    assert_eq!(status(&j, "remote sinc"), "pass", "{j:#}");
    client.ok(&["kill", client.ok(&["id"]).trim()]);

    // The human report: one line per check, a summary.
    let text = client.ok(&["doctor"]);
    assert!(text.lines().any(|l| l.starts_with("ok") && l.contains("tmux")), "{text}");
    assert!(text.contains("failed"), "{text}");
}

#[test]
fn missing_tools_a_wrong_clock_and_an_absent_agent_fail_with_their_fixes() {
    let tailscale = r#"#!/bin/sh
echo '{"BackendState":"Running","Self":{"DNSName":"vps.tail1234.ts.net.","TailscaleIPs":["100.101.1.2"]}}'
"#;
    let sshd = Sshd::start_with_path(
        &["tmux", "git"],
        &[("date", "#!/bin/sh\necho 1000000000.000000000\n"), ("tailscale", tailscale)],
    );
    let client = Client::new(&sshd, "no-such-agent-xyz --yolo");
    let (code, j) = report(&client.run(&["doctor", "--json"]));
    assert_eq!(code, 1, "{j:#}");
    assert_eq!(j["ok"], false);
    for name in ["tmux", "git"] {
        assert_eq!(status(&j, name), "fail", "{j:#}");
        assert_eq!(check(&j, name)["fix"], format!("on the VPS: sudo apt-get install -y {name}"), "{j:#}");
    }
    assert_eq!(status(&j, "agent"), "fail");
    assert!(check(&j, "agent")["detail"].as_str().unwrap().contains("no-such-agent-xyz"), "{j:#}");
    assert_eq!(status(&j, "clock"), "fail", "{j:#}");
    assert!(check(&j, "clock")["fix"].as_str().unwrap().contains("set-ntp"));
    assert_eq!(status(&j, "tailscale"), "warn");
    assert_eq!(check(&j, "tailscale")["fix"], "sinc setup --host vps.tail1234.ts.net", "{j:#}");
    // Everything else still checked.
    assert_eq!(status(&j, "auth"), "pass");
    assert_ne!(status(&j, "firewall"), "fail", "a firewall sinc cannot read is a warning");

    let text = stdout(&client.run(&["doctor"]));
    assert!(text.lines().any(|l| l.starts_with("FAIL") && l.contains("tmux")), "{text}");
    assert!(text.contains("fix: on the VPS: sudo apt-get install -y tmux"), "{text}");
}

#[test]
fn connection_failures_stop_at_the_check_that_failed() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "sleep 600");
    let ssh_config = client.home.join(".ssh/config");
    let good_config = std::fs::read_to_string(&ssh_config).unwrap();
    let good_hosts = std::fs::read_to_string(client.known_hosts()).unwrap();

    // A host key that is not the recorded one.
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("k");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success());
    let other_key = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    std::fs::write(client.known_hosts(), format!("[127.0.0.1]:{} {other_key}", sshd.port)).unwrap();
    let (code, j) = report(&client.run(&["doctor", "--json"]));
    assert_eq!(code, 1);
    assert_eq!(status(&j, "host key"), "fail");
    assert!(check(&j, "host key")["detail"].as_str().unwrap().contains("CHANGED"), "{j:#}");
    assert!(check(&j, "host key")["fix"].as_str().unwrap().contains("ssh-keygen -R"), "{j:#}");
    assert_eq!(status(&j, "tmux"), "skip", "nothing on the VPS is checked past a failed connection");
    assert_eq!(status(&j, "watches here"), "pass", "local checks still run");

    // No recorded key at all.
    std::fs::write(client.known_hosts(), "").unwrap();
    let (_, j) = report(&client.run(&["doctor", "--json"]));
    assert_eq!(status(&j, "host key"), "fail");
    assert!(check(&j, "host key")["detail"].as_str().unwrap().contains("not in known_hosts"), "{j:#}");
    std::fs::write(client.known_hosts(), &good_hosts).unwrap();

    // No key the server accepts.
    std::fs::rename(client.home.join(".ssh/id_ed25519"), client.home.join(".ssh/elsewhere")).unwrap();
    let (_, j) = report(&client.run(&["doctor", "--json"]));
    assert_eq!(status(&j, "host key"), "pass");
    assert_eq!(status(&j, "auth"), "fail", "{j:#}");
    assert!(check(&j, "auth")["fix"].as_str().unwrap().contains("sinc setup"), "{j:#}");
    std::fs::rename(client.home.join(".ssh/elsewhere"), client.home.join(".ssh/id_ed25519")).unwrap();

    // Nothing listening.
    let closed = sinc_tests::free_port();
    std::fs::write(&ssh_config, good_config.replace(&format!("Port {}", sshd.port), &format!("Port {closed}")))
        .unwrap();
    let (_, j) = report(&client.run(&["doctor", "--json"]));
    assert_eq!(status(&j, "host"), "pass");
    assert_eq!(status(&j, "ssh"), "fail", "{j:#}");
    assert!(check(&j, "ssh")["detail"].as_str().unwrap().contains("refused"), "{j:#}");

    // A name that does not resolve.
    std::fs::write(&ssh_config, good_config.replace("HostName 127.0.0.1", "HostName no-such-host.invalid")).unwrap();
    let (_, j) = report(&client.run(&["doctor", "--json"]));
    assert_eq!(status(&j, "host"), "fail", "{j:#}");
    assert!(check(&j, "host")["detail"].as_str().unwrap().contains("no-such-host.invalid"), "{j:#}");
    std::fs::write(&ssh_config, &good_config).unwrap();

    // A broken plugin lockfile.
    let lock = client.config_file().with_file_name("plugins.lock");
    std::fs::write(&lock, "this is not toml [").unwrap();
    let (code, j) = report(&client.run(&["doctor", "--json"]));
    assert_eq!(code, 1);
    assert_eq!(status(&j, "plugins"), "fail", "{j:#}");
    std::fs::remove_file(&lock).unwrap();

    // A broken config: the one check that can run.
    client.write_config("agent = [\n");
    let (code, j) = report(&client.run(&["doctor", "--json"]));
    assert_eq!(code, 1);
    assert_eq!(status(&j, "config"), "fail", "{j:#}");
    assert_eq!(j["checks"].as_array().unwrap().len(), 1);
}

#[test]
fn a_tiny_watch_limit_and_a_full_disk_here_fail() {
    if !sinc_tests::is_root() {
        eprintln!("skipped: needs root for a private mount namespace (unshare -m)");
        return;
    }
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "sleep 600");
    let limit = client.scratch().join("max_user_watches");
    std::fs::write(&limit, "3\n").unwrap();
    let project = client.project.to_string_lossy().into_owned();
    // In a mount namespace of its own: the watch limit reads 3, and the
    // project is on a 20 MiB file system holding four folders.
    let setup = format!(
        "mount --bind {} /proc/sys/fs/inotify/max_user_watches && mount -t tmpfs -o size=20m tmpfs {p} && mkdir -p {p}/a/b/c && cd {p} && exec \"$0\" \"$@\"",
        sinc_tests::sh_quote(&limit.to_string_lossy()),
        p = sinc_tests::sh_quote(&project),
    );
    let prefix: Vec<String> = ["unshare", "-m", "sh", "-c", &setup].map(String::from).to_vec();
    let (code, j) = report(&client.run_in(&prefix, &["doctor", "--json"]));
    assert_eq!(code, 1, "{j:#}");
    assert_eq!(status(&j, "watches here"), "fail", "{j:#}");
    let watches = check(&j, "watches here");
    assert!(watches["detail"].as_str().unwrap().contains("4 folders"), "{j:#}");
    assert!(watches["detail"].as_str().unwrap().contains("polling"), "{j:#}");
    assert!(watches["fix"].as_str().unwrap().contains("fs.inotify.max_user_watches=524288"), "{j:#}");
    assert_eq!(status(&j, "disk here"), "fail", "{j:#}");
    assert_eq!(status(&j, "tmux"), "pass", "the VPS is unaffected");
}
