//! Two-way sync end to end: the laptop's keeper and the VPS daemon over a
//! real sshd, with real files on both sides.

use sinc_tests::{Client, Sshd, stderr, stdout, wait_until};
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

struct Fixture {
    sshd: Sshd,
    client: Client,
    remote: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Stop the background keeper of this client (it would otherwise keep
        // retrying a server that is gone).
        let _ = self.client.run(&["kill", "demo-app"]);
    }
}

fn fixture() -> Fixture {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "sleep 100000");
    let id = client.ok(&["id"]).trim().to_owned();
    let remote = sshd.remote_base().join(format!("demo-app-{}", &id[id.len() - 6..]));
    Fixture { sshd, client, remote }
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(root.join(rel)).ok()
}

#[test]
fn start_syncs_first_then_edits_flow_both_ways() {
    let f = fixture();
    write(&f.client.project, "src/main.rs", "fn main() {}\n");
    write(&f.client.project, ".git/HEAD", "ref: refs/heads/main\n");
    let out = f.client.run(&["start"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("sync: watching"), "{}", stdout(&out));
    assert_eq!(read(&f.remote, "src/main.rs").as_deref(), Some("fn main() {}\n"));
    assert!(!f.remote.join(".git").exists(), ".git is never synced");

    write(&f.client.project, "src/lib.rs", "pub fn hi() {}\n");
    wait_until(T, "the local edit on the VPS", || {
        (read(&f.remote, "src/lib.rs").as_deref() == Some("pub fn hi() {}\n")).then_some(())
    });
    // The agent's edit appears locally.
    write(&f.remote, "notes.md", "written by the agent\n");
    f.sshd.chown(&f.remote.join("notes.md"));
    wait_until(T, "the remote edit locally", || {
        (read(&f.client.project, "notes.md").as_deref() == Some("written by the agent\n")).then_some(())
    });

    let status = f.client.json(&["status"]);
    assert_eq!(status["state"], "watching", "{status}");
    assert_eq!(status["running"], true);
    f.client.ok(&["flush"]);
    let list = f.client.json(&["list"]);
    assert_eq!(list[0]["sync"]["state"], "watching", "{list}");
}
