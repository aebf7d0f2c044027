//! The project-map plugin, for real: a `sinc` session on a loopback sshd
//! whose remote base is under the VPS user's home, given as `~/…` (the
//! default form). The map is in the project's AGENTS.md before the agent
//! starts, beside the user's own text; it syncs back to the laptop; it
//! follows a file added on the laptop and one the agent writes on the VPS;
//! and it never makes a sync conflict.

use sinc_tests::{Client, Sshd, stderr, wait_until};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The agent counts the map's lines naming `src/main.rs` in what it finds
/// at start (the note syncs back), then waits.
const AGENT: &str =
    "#!/bin/sh\ngrep -c 'src/main.rs: The command-line entry point' AGENTS.md > map-seen.txt\nexec cat\n";

const USER_TEXT: &str = "# House rules\n\nRun `cargo test` before you say done.\n";

fn laptop_map(client: &Client) -> String {
    std::fs::read_to_string(client.project.join("AGENTS.md")).unwrap_or_default()
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_map_is_there_before_the_agent_starts_and_follows_both_sides() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let base = sshd.home_folder("sinc-map-");
    let name = base.path().file_name().unwrap().to_string_lossy().into_owned();
    let agent = sshd.remote_script("agent", AGENT);
    let mut client = Client::new(&sshd, &agent.to_string_lossy());
    client.set_env("SINC_REMOTE_BASE", &format!("~/{name}"));
    client.ok(&["plugin", "add", &sinc_tests::plugin_component("project-map").to_string_lossy(), "--yes"]);
    write(&client.project, "AGENTS.md", USER_TEXT);
    write(&client.project, "src/main.rs", "//! The command-line entry point.\n\nfn main() {}\n\npub struct Args;\n");
    write(&client.project, "web/app.ts", "/** The web client. */\nexport function start() {}\n");
    write(&client.project, "node_modules/dep/index.js", "function dep() {}\n");

    let started = client.run(&["start"]);
    assert!(started.status.success(), "{}", stderr(&started));
    let seen = wait_until(Duration::from_secs(30), "the agent's note to sync back", || {
        std::fs::read_to_string(client.project.join("map-seen.txt")).ok().filter(|s| s.ends_with('\n'))
    });
    assert_eq!(seen.trim(), "1", "the agent found the map in AGENTS.md when it started");

    let map = wait_until(Duration::from_secs(30), "the map to sync back", || {
        Some(laptop_map(&client)).filter(|m| m.contains("src/main.rs"))
    });
    assert!(map.starts_with(USER_TEXT), "the user's text is kept as it was: {map}");
    assert!(map.contains("src/main.rs: The command-line entry point.\n  fn main 3, struct Args 5\n"), "{map}");
    assert!(map.contains("web/app.ts: The web client.\n  function start 2\n"), "{map}");
    assert!(!map.contains("node_modules"), "{map}");

    // A file added on the laptop: mapped when it arrives on the VPS.
    write(&client.project, "tools/report.py", "\"\"\"Weekly report.\"\"\"\n\ndef build():\n    pass\n");
    let map = wait_until(Duration::from_secs(30), "the laptop's new file in the map", || {
        Some(laptop_map(&client)).filter(|m| m.contains("tools/report.py"))
    });
    assert!(map.contains("tools/report.py: Weekly report.\n  def build 3\n"), "{map}");

    // A file the agent writes on the VPS: mapped at the next tick.
    let remote = session_folder(base.path());
    let remote = remote.as_path();
    write(remote, "server/main.go", "// Package main serves the API.\npackage main\n\nfunc main() {}\n");
    sshd.chown(&remote.join("server"));
    sshd.chown(&remote.join("server/main.go"));
    let map = wait_until(Duration::from_secs(45), "the agent's new file in the map", || {
        Some(laptop_map(&client)).filter(|m| m.contains("server/main.go"))
    });
    assert!(map.contains("server/main.go: Package main serves the API.\n  func main 4\n"), "{map}");
    assert!(map.starts_with(USER_TEXT) && map.matches("sinc project-map: begin").count() == 1, "{map}");

    client.ok(&["flush"]);
    let conflicts = client.json(&["conflicts"]);
    assert_eq!(conflicts, serde_json::json!([]), "the map's writes never conflict: {conflicts}");
    let id = client.ok(&["id"]).trim().to_owned();
    client.ok(&["kill", &id]);
}

/// The session's folder on the VPS (the only folder under `base`).
fn session_folder(base: &Path) -> PathBuf {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(base).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    folders.remove(0)
}
