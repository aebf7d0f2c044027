//! The agent-config-sync plugin, for real: a `sinc` session on a loopback
//! sshd keeps Claude Code's and OpenCode's configuration folders the same
//! in the laptop's home and the VPS user's home, beside the project —
//! both ways, live — while logins, keys and everything the plugin does not
//! name stay where they are, on either side.

use sinc_tests::{Client, Sshd, stderr, wait_until};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/agent-config-sync/fixtures");

/// The files the test puts into the VPS user's home, removed afterwards
/// (other tests use `~/.claude` there too: only these go).
struct VpsFiles {
    home: PathBuf,
}

const VPS_MADE: [&str; 5] =
    [".claude/settings.json", ".claude/CLAUDE.md", ".claude/commands", ".claude/.credentials.json", ".config/opencode"];

impl Drop for VpsFiles {
    fn drop(&mut self) {
        for made in VPS_MADE {
            let path = self.home.join(made);
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
        let _ = std::fs::remove_dir(self.home.join(".claude"));
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The VPS user owns what the test wrote into their home.
fn give_to_vps_user(path: &Path) {
    let owner = format!("{0}:{0}", sinc_tests::sshd::test_user());
    assert!(Command::new("chown").args(["-R", &owner]).arg(path).status().unwrap().success());
}

#[test]
fn agent_configuration_syncs_both_ways_and_credentials_never_do() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let vps = sshd.home();
    let _cleanup = VpsFiles { home: vps.clone() };
    for made in VPS_MADE {
        let path = vps.join(made);
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
    let base = sshd.home_folder("sinc-agent-config-");
    let mut client = Client::new(&sshd, "cat");
    client.set_env("SINC_REMOTE_BASE", &base.path().to_string_lossy());
    let laptop = client.home.clone();

    // The laptop: both agents' configuration in their real layouts, with
    // their logins beside it and things that are not configuration.
    let settings = read(&Path::new(FIXTURES).join("claude/settings.json")).unwrap();
    let opencode = read(&Path::new(FIXTURES).join("opencode/opencode.jsonc")).unwrap();
    write(&laptop.join(".claude/settings.json"), &settings);
    write(&laptop.join(".claude/CLAUDE.md"), "# Me\nAlways run the tests.\n");
    write(&laptop.join(".claude/commands/review.md"), "Review the diff for $ARGUMENTS.\n");
    write(&laptop.join(".claude/.credentials.json"), r#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-LAPTOP"}}"#);
    write(&laptop.join(".claude/projects/-home-me-shop/1.jsonl"), "{}\n");
    write(&laptop.join(".claude/statsig/cache"), "x");
    write(&laptop.join(".claude/commands/.env"), "GITHUB_TOKEN=ghp_LAPTOP\n");
    write(&laptop.join(".config/opencode/opencode.jsonc"), &opencode);
    write(&laptop.join(".config/opencode/AGENTS.md"), "Prefer small commits.\n");
    write(&laptop.join(".config/opencode/agent/plan.md"), "---\nmode: subagent\n---\nPlan first.\n");
    write(&laptop.join(".config/opencode/auth.json"), r#"{"anthropic":{"type":"api","key":"sk-ant-LAPTOP"}}"#);
    write(&laptop.join(".config/opencode/node_modules/x/index.js"), "1\n");

    // The VPS: its own login, and a command made there.
    write(&vps.join(".claude/.credentials.json"), r#"{"claudeAiOauth":{"accessToken":"sk-ant-oat01-VPS"}}"#);
    write(&vps.join(".claude/commands/vps-only.md"), "Made on the VPS.\n");
    give_to_vps_user(&vps.join(".claude"));

    client.ok(&["plugin", "add", &sinc_tests::plugin_component("agent-config-sync").to_string_lossy(), "--yes"]);
    let listed = client.json(&["plugin", "list"]);
    assert!(listed.to_string().contains("keep ~/.claude the same on the laptop and the VPS"), "{listed}");
    let id = client.ok(&["id"]).trim().to_owned();
    let started = client.run(&["start"]);
    let said = stderr(&started);
    assert!(started.status.success(), "{said}");
    // The keys written into the synced settings are named at the start, never shown.
    assert!(
        said.contains("plugin agent-config-sync:") && said.contains("\"ANTHROPIC_AUTH_TOKEN\" holds a key"),
        "{said}"
    );
    assert!(said.contains("opencode.jsonc:9: \"apiKey\" holds a key"), "{said}");
    assert!(!said.contains("FAKE"), "values are never shown: {said}");

    // Both folders sync, both ways.
    let synced = [
        ".claude/settings.json",
        ".claude/CLAUDE.md",
        ".claude/commands/review.md",
        ".config/opencode/opencode.jsonc",
        ".config/opencode/AGENTS.md",
        ".config/opencode/agent/plan.md",
    ];
    for path in synced {
        let want = read(&laptop.join(path));
        wait_until(Duration::from_secs(30), path, || (read(&vps.join(path)) == want).then_some(()));
    }
    wait_until(Duration::from_secs(30), "the VPS's command on the laptop", || {
        read(&laptop.join(".claude/commands/vps-only.md")).filter(|t| t == "Made on the VPS.\n")
    });

    // Credentials and what the plugin does not name stay where they are.
    assert!(read(&vps.join(".claude/.credentials.json")).unwrap().contains("-VPS"), "the VPS keeps its own login");
    assert!(read(&laptop.join(".claude/.credentials.json")).unwrap().contains("-LAPTOP"), "and the laptop its own");
    for path in [
        ".claude/projects/-home-me-shop",
        ".claude/statsig/cache",
        ".claude/commands/.env",
        ".config/opencode/auth.json",
        ".config/opencode/node_modules",
    ] {
        assert!(!vps.join(path).exists(), "{path} must not reach the VPS");
    }

    // Live: an edit on the VPS comes back; a key file added on the laptop
    // inside a synced folder stays there while its neighbour syncs.
    write(&vps.join(".claude/CLAUDE.md"), "# Me\nAlways run the tests. Edited on the VPS.\n");
    give_to_vps_user(&vps.join(".claude/CLAUDE.md"));
    wait_until(Duration::from_secs(30), "the VPS's edit on the laptop", || {
        read(&laptop.join(".claude/CLAUDE.md")).filter(|t| t.contains("Edited on the VPS"))
    });
    write(&laptop.join(".claude/commands/deploy.pem"), "-----BEGIN PRIVATE KEY-----\n");
    write(&laptop.join(".claude/commands/deploy.md"), "Deploy with care.\n");
    write(&laptop.join(".claude/commands/oauth_token.json"), r#"{"token":"x"}"#);
    wait_until(Duration::from_secs(30), "the new command on the VPS", || {
        read(&vps.join(".claude/commands/deploy.md")).filter(|t| t == "Deploy with care.\n")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !vps.join(".claude/commands/deploy.pem").exists() && !vps.join(".claude/commands/oauth_token.json").exists()
    );

    // sinc status shows the folders, and the plugin's check lists the keys.
    let status = client.json(&["status"]);
    let folders = status["folders"].as_array().unwrap_or_else(|| panic!("{status}"));
    assert_eq!(folders.len(), 2, "{status}");
    for f in folders {
        assert_eq!(
            (f["plugin"].as_str(), f["here"].as_bool(), f["state"].as_str()),
            (Some("agent-config-sync"), Some(true), Some("watching")),
            "{status}"
        );
    }
    let text = client.ok(&["status"]);
    assert!(text.contains("folder  ~/.claude (agent-config-sync): watching"), "{text}");
    let checked = client.run(&["agent-config", "check", "--json"]);
    assert_eq!(checked.status.code(), Some(1), "keys found: {}", stderr(&checked));
    let json: serde_json::Value = serde_json::from_slice(&checked.stdout).unwrap();
    let keys: Vec<&str> = json["keys"].as_array().unwrap().iter().map(|k| k["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["ANTHROPIC_AUTH_TOKEN", "apiKey", "Authorization"], "{json}");

    // Deleting most of a folder halts it, as for a project, until
    // `sinc resume --confirm`; the VPS keeps the files meanwhile.
    let commands = laptop.join(".config/opencode/command");
    for i in 0..30 {
        write(&commands.join(format!("c{i}.md")), "A command.\n");
    }
    wait_until(Duration::from_secs(30), "30 commands on the VPS", || {
        (std::fs::read_dir(vps.join(".config/opencode/command")).map(|d| d.count()).unwrap_or(0) == 30).then_some(())
    });
    std::fs::remove_dir_all(&commands).unwrap();
    let halted = wait_until(Duration::from_secs(30), "the folder to halt", || {
        let text = client.ok(&["status"]);
        text.lines().find(|l| l.contains("folder  ~/.config/opencode") && l.contains("halted")).map(str::to_owned)
    });
    assert!(halted.contains("sinc resume --confirm"), "{halted}");
    assert!(vps.join(".config/opencode/command/c0.md").exists(), "nothing deleted while halted");
    client.ok(&["resume", "--confirm"]);
    wait_until(Duration::from_secs(30), "the deletions to reach the VPS", || {
        (!vps.join(".config/opencode/command").exists()).then_some(())
    });

    // A second project's keeper on this laptop leaves the folders to the
    // first, and takes them over when it stops.
    let second = client.scratch().join("second-project");
    std::fs::create_dir_all(&second).unwrap();
    let in_second = |args: &[&str]| client.sinc().current_dir(&second).args(args).output().unwrap();
    let started = in_second(&["start"]);
    assert!(started.status.success(), "{}", stderr(&started));
    let second_id = String::from_utf8(in_second(&["id"]).stdout).unwrap().trim().to_owned();
    let folders_of_second = || -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(&in_second(&["status", "--json"]).stdout).unwrap()["folders"]
            .clone()
    };
    let waiting = folders_of_second();
    assert!(waiting.as_array().unwrap().iter().all(|f| f["here"] == false && f["state"] == "elsewhere"), "{waiting}");
    let text = String::from_utf8(in_second(&["status"]).stdout).unwrap();
    assert!(text.contains("folder  ~/.claude (agent-config-sync): carried by another project's keeper"), "{text}");
    client.ok(&["kill", &id]);
    wait_until(Duration::from_secs(30), "the second keeper to take the folders over", || {
        folders_of_second()
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["here"] == true && f["state"] == "watching")
            .then_some(())
    });
    write(&vps.join(".claude/commands/after.md"), "Synced by the second keeper.\n");
    give_to_vps_user(&vps.join(".claude/commands/after.md"));
    wait_until(Duration::from_secs(30), "a change carried by the second keeper", || {
        read(&laptop.join(".claude/commands/after.md")).filter(|t| t.starts_with("Synced by"))
    });
    let killed = in_second(&["kill", &second_id]);
    assert!(killed.status.success(), "{}", stderr(&killed));
}
