//! What `sinc` needs on the VPS: its own binary (uploaded, checked, atomic),
//! tmux and the agent (missing → exit 69 with the fix).

use sinc_tests::{Client, Sshd, stderr, stdout};
use std::path::Path;

fn sha256(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    stdout(&out).split_whitespace().next().unwrap().to_owned()
}

#[test]
fn start_uploads_this_exact_build_once() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "sleep 600");
    let first = client.json(&["start"]);
    assert_eq!(first["remote_binary"]["uploaded"], true, "{first}");
    let path = first["remote_binary"]["path"].as_str().unwrap().to_owned();
    let bin_dir = sshd.remote_data().join("sincronizado/bin");
    assert!(path.starts_with(&bin_dir.to_string_lossy().to_string()), "{path}");
    assert_eq!(sha256(Path::new(&path)), sha256(&sinc_tests::sinc_bin()));
    assert_eq!(std::fs::read_link(bin_dir.join("sinc")).unwrap(), Path::new(&path).file_name().unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(&bin_dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("upload"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files are left behind");

    // It runs there.
    let version = client.ok(&["exec", "--", &bin_dir.join("sinc").to_string_lossy(), "--version"]);
    assert_eq!(version.trim(), format!("sinc {}", client.ok(&["-V"]).trim().trim_start_matches("sinc ")));

    let second = client.json(&["start"]);
    assert_eq!(second["remote_binary"]["uploaded"], false);
    assert_eq!(second["remote_binary"]["path"], path.as_str());
}

#[test]
fn missing_tmux_is_exit_69_with_the_install_command() {
    let sshd = Sshd::start_with_path(&["tmux"], &[]);
    let client = Client::new(&sshd, "true");
    let out = client.run(&["start"]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("tmux is not installed") && stderr(&out).contains("apt-get install -y tmux"),
        "{}",
        stderr(&out)
    );
    let out = client.run(&["list"]);
    assert_eq!(out.status.code(), Some(69));
}

#[test]
fn missing_agent_is_exit_69() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "no-such-agent-xyz --yolo");
    let out = client.run(&["start"]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains("`no-such-agent-xyz` is not on the remote PATH"), "{}", stderr(&out));
    assert!(!stdout(&sshd.tmux(&["ls"])).contains("sinc-"), "no session is left behind");
}

#[test]
fn other_platform_without_a_matching_binary_is_reported() {
    let sshd = Sshd::start_with_path(&[], &[("uname", sinc_tests::RISCV_UNAME)]);
    let mut client = Client::new(&sshd, "sleep 600");
    // Sessions only: a fake remote binary cannot sync.
    client.set_env("SINC_SYNC_MODE", "none");
    let j = client.json(&["start"]);
    let err = j["remote_binary"]["error"].as_str().unwrap_or_default();
    assert!(err.contains("riscv64") && err.contains("install sinc"), "{j}");
    assert!(
        !sshd.remote_data().join("sincronizado/bin").exists()
            || std::fs::read_dir(sshd.remote_data().join("sincronizado/bin")).unwrap().count() == 0
    );

    // A build of the same version installed by hand is accepted.
    let bin = sshd.remote_data().join("sincronizado/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let version = client.ok(&["-V"]);
    sinc_tests::write_script(&bin.join("sinc"), &format!("#!/bin/sh\necho '{}'\n", version.trim()));
    let j = client.json(&["start"]);
    assert_eq!(j["remote_binary"]["path"], bin.join("sinc").to_string_lossy().as_ref(), "{j}");
}
