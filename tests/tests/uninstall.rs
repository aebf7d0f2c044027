//! `sinc uninstall`: sinc's processes and folders go, on this machine and
//! with `--remote` on the VPS; project folders on both sides stay (unless
//! the remote ones are purged by name), and so does the sync trash.

use sinc_tests::{Client, Pty, Sshd, stderr, stdout};
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

struct Setup {
    sshd: Sshd,
    client: Client,
    remote: PathBuf,
    id: String,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.client.run(&["kill", &self.id]);
    }
}

/// A synced project with a session, whose sync has put one file in each
/// side's trash.
fn synced_project() -> Setup {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "sleep 100000");
    let id = client.ok(&["id"]).trim().to_owned();
    let remote = sshd.remote_base().join(format!("demo-app-{}", &id[id.len() - 6..]));
    for (rel, text) in [("src/main.rs", "fn main() {}\n"), ("notes.md", "keep me\n"), ("old.txt", "old\n")] {
        let p = client.project.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    client.ok(&["start"]);
    assert!(remote.join("src/main.rs").exists());
    // The agent deletes a file: the laptop's copy goes to the local trash.
    std::fs::remove_file(remote.join("notes.md")).unwrap();
    client.ok(&["flush"]);
    // The user deletes one: the VPS's copy goes to the remote trash.
    std::fs::remove_file(client.project.join("old.txt")).unwrap();
    client.ok(&["flush"]);
    Setup { sshd, client, remote, id }
}

fn non_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

#[test]
fn uninstall_removes_sinc_on_both_sides_and_keeps_every_project_file() {
    let s = synced_project();
    let home = &s.client.home;
    let remote_data = s.sshd.remote_data().join("sincronizado");
    assert!(remote_data.join("bin/sinc").exists());
    let out = s.client.run(&["uninstall", "--remote", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    let j: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(j["stopped"][0], s.id.as_str(), "{j:#}");
    assert_eq!(j["remote"]["sessions_ended"][0], s.id.as_str(), "{j:#}");
    assert_eq!(j["remote"]["daemon_stopped"], true, "{j:#}");

    // Project files: all there, on both sides.
    assert_eq!(std::fs::read_to_string(s.client.project.join("src/main.rs")).unwrap(), "fn main() {}\n");
    assert_eq!(std::fs::read_to_string(s.remote.join("src/main.rs")).unwrap(), "fn main() {}\n");
    // sinc's own folders: gone, but for the trash.
    for gone in [".config/sincronizado", ".local/state/sincronizado", ".cache/sincronizado"] {
        assert!(!home.join(gone).exists(), "{gone} is removed");
    }
    let local_data: Vec<String> = std::fs::read_dir(home.join(".local/share/sincronizado"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(local_data, vec!["trash"]);
    assert!(non_empty(&home.join(".local/share/sincronizado/trash")));
    assert!(!remote_data.join("bin").exists(), "the remote binary is removed");
    assert!(non_empty(&remote_data.join("trash")), "the remote trash is kept");
    assert!(!s.sshd.remote_root().join("state/sincronizado").exists());
    let tmux = s.sshd.tmux(&["list-sessions"]);
    assert!(!stdout(&tmux).contains(&s.id), "the session ended: {}", stdout(&tmux));

    // Again: nothing left to do, still fine; the trash goes when asked.
    let again = s.client.run(&["uninstall", "--purge-trash", "--yes"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(!home.join(".local/share/sincronizado").exists());
    assert!(s.client.project.join("src/main.rs").exists());
}

#[test]
fn questions_come_first_and_a_no_keeps_what_it_was_about() {
    let s = synced_project();
    let pty = Pty::spawn_sized(&s.client, &["uninstall", "--remote", "--purge-remote-files"], 200, 50);
    pty.wait_for("Go ahead?", T);
    pty.type_text("yes\r");
    let screen = pty.wait_for("Delete them?", T);
    assert!(screen.contains(&s.remote.to_string_lossy().to_string()), "the folder is named:\n{screen}");
    pty.type_text("no\r");
    pty.wait_for("Stop it?", T);
    pty.type_text("yes\r");
    for (dir, answer) in [
        (".config/sincronizado", "no"),
        (".local/state/sincronizado", "yes"),
        (".cache/sincronizado", "yes"),
        (".local/share/sincronizado", "no"),
    ] {
        pty.wait_for(dir, T);
        pty.type_text(&format!("{answer}\r"));
    }
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    assert!(s.remote.join("src/main.rs").exists(), "declined: the remote project stays");
    assert!(s.client.config_file().exists(), "declined: the config stays");
    assert!(s.client.home.join(".local/share/sincronizado/sessions").exists(), "declined: the records stay");
    assert!(!s.client.home.join(".local/state/sincronizado").exists());

    // With the config and the session records still there, the purge can
    // be confirmed.
    let out = s.client.run(&["uninstall", "--remote", "--purge-remote-files", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("DELETED project folder"), "{}", stdout(&out));
    assert!(!s.remote.exists(), "purged");
    assert!(s.client.project.join("src/main.rs").exists(), "the local project is never deleted");
}

#[test]
fn without_yes_or_a_reachable_vps_nothing_changes() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "sleep 600");
    let config = client.config_file();

    let out = client.run(&["uninstall"]);
    assert_eq!(out.status.code(), Some(2), "no terminal, no --yes: {}", stderr(&out));
    assert!(stderr(&out).contains("--yes"));
    assert_eq!(client.run(&["uninstall", "--json"]).status.code(), Some(2));
    assert_eq!(client.run(&["uninstall", "--purge-remote-files", "--yes"]).status.code(), Some(2));
    assert!(config.exists());

    // An unreachable VPS: exit 76 before anything here is touched.
    let ssh_config = client.home.join(".ssh/config");
    let text = std::fs::read_to_string(&ssh_config).unwrap();
    let closed = sinc_tests::free_port();
    std::fs::write(&ssh_config, text.replace(&format!("Port {}", sshd.port), &format!("Port {closed}"))).unwrap();
    let out = client.run(&["uninstall", "--remote", "--yes"]);
    assert_eq!(out.status.code(), Some(76), "{}", stderr(&out));
    assert!(config.exists(), "nothing was removed");

    // A broken config is no reason to keep sinc.
    client.write_config("agent = [\n");
    let out = client.run(&["uninstall", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!config.exists());
    assert!(client.project.exists());
}
