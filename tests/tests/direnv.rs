//! The direnv plugin, for real: a `sinc` session on a loopback sshd with
//! direnv on the VPS. The project's `.envrc` syncs there with the project;
//! while it is blocked, `sinc start` says so and how to allow it; once
//! allowed on the VPS, the next agent starts with its variables; without
//! direnv on the VPS, nothing is said and nothing changes.

use sinc_tests::{Client, Sshd, stderr, wait_until};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The agent writes what it was given into the project (it syncs back).
const AGENT: &str = "#!/bin/sh\necho \"FOO=$FOO PATH=$PATH\" > direnv-saw.txt\nexec cat\n";

fn client_with_direnv(sshd: &Sshd, base: &Path) -> Client {
    let agent = sshd.remote_script("agent", AGENT);
    let mut client = Client::new(sshd, &agent.to_string_lossy());
    client.set_env("SINC_REMOTE_BASE", &base.to_string_lossy());
    client.ok(&["plugin", "add", &sinc_tests::plugin_component("direnv").to_string_lossy(), "--yes"]);
    client
}

/// What the agent of the session just started saw, once it synced back.
fn agent_saw(client: &Client) -> String {
    let file = client.project.join("direnv-saw.txt");
    let saw = wait_until(Duration::from_secs(30), "the agent's note to sync back", || {
        std::fs::read_to_string(&file).ok().filter(|s| s.ends_with('\n'))
    });
    std::fs::remove_file(&file).unwrap();
    client.ok(&["flush"]);
    saw
}

/// `direnv allow FOLDER` on the VPS, as its user would (with the sessions'
/// XDG_DATA_HOME).
fn direnv_allow(sshd: &Sshd, folder: &Path) {
    let allowed = Command::new("su")
        .args([&sinc_tests::sshd::test_user(), "-s", "/bin/sh", "-c"])
        .arg(format!("XDG_DATA_HOME='{}' direnv allow '{}'", sshd.remote_data().display(), folder.display()))
        .output()
        .unwrap();
    assert!(allowed.status.success(), "{}", stderr(&allowed));
}

#[test]
fn a_blocked_envrc_is_named_with_its_fix_and_an_allowed_one_reaches_the_agent() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let base = sshd.home_folder("sinc-direnv-");
    let client = client_with_direnv(&sshd, base.path());
    std::fs::write(client.project.join(".envrc"), "export FOO=from-envrc\nPATH_add tools\n").unwrap();
    let id = client.ok(&["id"]).trim().to_owned();

    let started = client.run(&["start"]);
    let said = stderr(&started);
    assert!(started.status.success(), "{said}");
    assert!(said.contains("plugin direnv:") && said.contains("is blocked by direnv"), "{said}");
    let allow = said.split("direnv allow ").nth(1).and_then(|r| r.lines().next()).unwrap_or_else(|| panic!("{said}"));
    let remote = PathBuf::from(allow.trim());
    assert!(remote.starts_with(base.path()) && remote.join(".envrc").exists(), "the synced project's folder: {allow}");
    assert!(agent_saw(&client).starts_with("FOO= "), "nothing loaded while blocked");
    client.ok(&["kill", &id]);

    direnv_allow(&sshd, &remote);

    let started = client.run(&["start"]);
    let said = stderr(&started);
    assert!(started.status.success() && !said.contains("plugin direnv:"), "{said}");
    let saw = agent_saw(&client);
    assert!(saw.starts_with("FOO=from-envrc "), "{saw}");
    assert!(saw.contains(&format!("PATH={}:", remote.join("tools").display())), "PATH_add applies: {saw}");

    // A failing .envrc (allowed): the agent starts without it, and the user
    // is told.
    std::fs::write(client.project.join(".envrc"), "export FOO=half\nexit 3\n").unwrap();
    client.ok(&["flush"]);
    direnv_allow(&sshd, &remote);
    client.ok(&["kill", &id]);
    let started = client.run(&["start"]);
    let said = stderr(&started);
    assert!(said.contains("failed to load") && said.contains("exit status 3"), "{said}");
    assert!(agent_saw(&client).starts_with("FOO= "));
    client.ok(&["kill", &id]);
}

#[test]
fn without_direnv_on_the_vps_nothing_is_said_and_the_agent_starts() {
    sinc_tests::require_root!();
    let sshd = Sshd::start_with_path(&["direnv"], &[]);
    let base = sshd.home_folder("sinc-direnv-");
    let client = client_with_direnv(&sshd, base.path());
    std::fs::write(client.project.join(".envrc"), "export FOO=from-envrc\n").unwrap();
    let id = client.ok(&["id"]).trim().to_owned();
    let started = client.run(&["start"]);
    let said = stderr(&started);
    assert!(started.status.success() && !said.contains("direnv"), "{said}");
    assert!(agent_saw(&client).starts_with("FOO= "));
    client.ok(&["kill", &id]);
}
