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
        if std::thread::panicking() {
            for log in self.logs() {
                eprintln!("==== {}\n{}", log.display(), std::fs::read_to_string(&log).unwrap_or_default());
            }
            eprintln!("==== sshd\n{}", self.sshd.log());
        }
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

impl Fixture {
    /// The keeper and daemon logs, for failure reports.
    fn logs(&self) -> Vec<PathBuf> {
        let mut logs = vec![self.sshd.remote_root().join("state/sincronizado/daemon.log")];
        if let Ok(dirs) = std::fs::read_dir(self.client.home.join(".local/state/sincronizado/sessions")) {
            logs.extend(dirs.flatten().map(|d| d.path().join("keeper.log")));
        }
        logs
    }
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

fn fixture_with(env: &[(&str, &str)]) -> Fixture {
    let sshd = Sshd::start();
    let mut client = Client::new(&sshd, "sleep 100000");
    for (k, v) in env {
        client.set_env(k, v);
    }
    let id = client.ok(&["id"]).trim().to_owned();
    let remote = sshd.remote_base().join(format!("demo-app-{}", &id[id.len() - 6..]));
    Fixture { sshd, client, remote }
}

impl Fixture {
    /// Write a file on the VPS as the remote user would.
    fn remote_write(&self, rel: &str, content: &str) {
        let p = self.remote.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
            let mut dir = parent.to_path_buf();
            while dir.starts_with(&self.remote) {
                self.sshd.chown(&dir);
                if !dir.pop() {
                    break;
                }
            }
        }
        std::fs::write(&p, content).unwrap();
        self.sshd.chown(&p);
    }
}

#[test]
fn concurrent_edits_in_resolved_mode_keep_the_remote_loser() {
    let f = fixture();
    write(&f.client.project, "f.txt", "base\n");
    f.client.ok(&["start"]);
    f.client.ok(&["pause"]);
    write(&f.client.project, "f.txt", "laptop version\n");
    f.remote_write("f.txt", "agent version\n");
    std::thread::sleep(Duration::from_millis(300));
    f.client.ok(&["resume"]);
    f.client.ok(&["flush"]);
    assert_eq!(read(&f.remote, "f.txt").as_deref(), Some("laptop version\n"), "local wins in two-way-resolved");
    let conflicts = f.client.json(&["conflicts"]);
    assert_eq!(conflicts[0]["path"], "f.txt", "{conflicts}");
    assert_eq!(conflicts[0]["winner"], "local");
    let versions = f.client.json(&["restore", "f.txt", "--list"]);
    let loser = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["item"]["reason"] == "conflict-loser")
        .expect("the remote loser is kept");
    assert_eq!(loser["side"], "Remote");
    // Bring the agent's version back: it becomes current on both sides.
    let n = loser["number"].as_u64().unwrap().to_string();
    f.client.ok(&["restore", "f.txt", "--version", &n]);
    f.client.ok(&["flush"]);
    assert_eq!(read(&f.client.project, "f.txt").as_deref(), Some("agent version\n"));
    assert_eq!(read(&f.remote, "f.txt").as_deref(), Some("agent version\n"));
}

#[test]
fn safe_mode_leaves_conflicts_for_the_user() {
    let f = fixture_with(&[("SINC_SYNC_MODE", "two-way-safe")]);
    write(&f.client.project, "f.txt", "base\n");
    f.client.ok(&["start"]);
    f.client.ok(&["pause"]);
    write(&f.client.project, "f.txt", "laptop version\n");
    f.remote_write("f.txt", "agent version\n");
    std::thread::sleep(Duration::from_millis(300));
    f.client.ok(&["resume"]);
    f.client.ok(&["flush"]);
    assert_eq!(read(&f.client.project, "f.txt").as_deref(), Some("laptop version\n"));
    assert_eq!(read(&f.remote, "f.txt").as_deref(), Some("agent version\n"));
    assert_eq!(f.client.json(&["status"])["conflicts"], 1);
    let conflicts = f.client.json(&["conflicts"]);
    assert_eq!(conflicts[0]["resolved"], false, "{conflicts}");
    f.client.ok(&["conflicts", "resolve", "f.txt", "--keep", "remote"]);
    f.client.ok(&["flush"]);
    assert_eq!(read(&f.client.project, "f.txt").as_deref(), Some("agent version\n"));
    assert_eq!(f.client.json(&["status"])["conflicts"], 0);
    // Resolving what is not conflicted is an error.
    assert_eq!(f.client.run(&["conflicts", "resolve", "--all", "--keep", "local"]).status.code(), Some(1));
}

#[test]
fn deleting_a_file_the_agent_edits_keeps_the_edit() {
    let f = fixture();
    write(&f.client.project, "doc.md", "v1\n");
    f.client.ok(&["start"]);
    f.client.ok(&["pause"]);
    std::fs::remove_file(f.client.project.join("doc.md")).unwrap();
    f.remote_write("doc.md", "v2 by the agent\n");
    std::thread::sleep(Duration::from_millis(300));
    f.client.ok(&["resume"]);
    f.client.ok(&["flush"]);
    assert_eq!(read(&f.client.project, "doc.md").as_deref(), Some("v2 by the agent\n"));
}

#[test]
fn renaming_a_folder_of_many_files() {
    let f = fixture();
    for i in 0..400 {
        write(&f.client.project, &format!("pkg/mod{}/file{i}.txt", i % 10), &format!("content {i}\n"));
    }
    f.client.ok(&["start"]);
    std::fs::rename(f.client.project.join("pkg"), f.client.project.join("lib")).unwrap();
    f.client.ok(&["flush"]);
    assert!(!f.remote.join("pkg").exists());
    assert_eq!(read(&f.remote, "lib/mod3/file393.txt").as_deref(), Some("content 393\n"));
    assert_eq!(std::fs::read_dir(f.remote.join("lib")).unwrap().count(), 10);
}

#[test]
fn symlinks_exec_bits_and_empty_folders() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture();
    write(&f.client.project, "bin/run.sh", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(f.client.project.join("bin/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("bin/run.sh", f.client.project.join("run")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", f.client.project.join("outside")).unwrap();
    std::fs::create_dir_all(f.client.project.join("empty/nested")).unwrap();
    f.client.ok(&["start"]);
    assert_eq!(std::fs::read_link(f.remote.join("run")).unwrap(), Path::new("bin/run.sh"));
    assert!(std::fs::symlink_metadata(f.remote.join("outside")).is_err(), "links leaving the folder are not synced");
    assert!(f.remote.join("empty/nested").is_dir());
    assert_eq!(std::fs::metadata(f.remote.join("bin/run.sh")).unwrap().permissions().mode() & 0o111, 0o111);
    let warnings = f.client.json(&["status"])["warnings"].to_string();
    assert!(warnings.contains("outside") && warnings.contains("points outside"), "{warnings}");
    std::fs::set_permissions(f.client.project.join("bin/run.sh"), std::fs::Permissions::from_mode(0o644)).unwrap();
    f.client.ok(&["flush"]);
    assert_eq!(
        std::fs::metadata(f.remote.join("bin/run.sh")).unwrap().permissions().mode() & 0o111,
        0,
        "exec bit cleared remotely"
    );
}

#[test]
fn ignores_from_every_source_are_never_touched() {
    let f = fixture_with(&[("SINC_IGNORE", "*.log")]);
    write(&f.client.project, ".sinc.toml", "[sync]\nuse_gitignore = true\n");
    write(&f.client.project, ".syncignore", "tmp-*\n!tmp-keep\n");
    write(&f.client.project, ".gitignore", "*.cache\n");
    for name in ["a.log", "tmp-1", "tmp-keep", "x.cache", "node_modules/dep.js", "src/ok.rs"] {
        write(&f.client.project, name, "local\n");
    }
    // The VPS has its own ignored files, and its own .git.
    f.remote_write("node_modules/remote-only.js", "remote\n");
    f.remote_write("server.log", "remote\n");
    f.remote_write(".git/config", "remote git\n");
    f.client.ok(&["start"]);
    for synced in ["tmp-keep", "src/ok.rs", ".syncignore", ".gitignore", ".sinc.toml"] {
        assert!(f.remote.join(synced).exists(), "{synced} should sync");
    }
    for ignored in ["a.log", "tmp-1", "x.cache", "node_modules/dep.js"] {
        assert!(!f.remote.join(ignored).exists(), "{ignored} must not sync");
    }
    for kept in ["node_modules/remote-only.js", "server.log", ".git/config"] {
        assert!(f.remote.join(kept).exists(), "{kept} on the VPS must be left alone");
        assert!(!f.client.project.join(kept).exists(), "{kept} must not come to the laptop");
    }
    // Deleting the whole tree locally except ignored files never deletes ignored remote files.
    std::fs::remove_dir_all(f.client.project.join("src")).unwrap();
    f.client.ok(&["flush"]);
    assert!(!f.remote.join("src").exists());
    assert_eq!(read(&f.remote, ".git/config").as_deref(), Some("remote git\n"));
}

#[test]
fn push_and_pull_show_a_summary_and_need_confirmation() {
    let f = fixture_with(&[("SINC_SYNC_MODE", "two-way-safe")]);
    write(&f.client.project, "keep.txt", "local\n");
    f.client.ok(&["start"]);
    f.client.ok(&["pause"]);
    f.remote_write("extra.txt", "only on the vps\n");
    f.remote_write("keep.txt", "changed on the vps\n");
    std::thread::sleep(Duration::from_millis(300));

    let out = f.client.run(&["push"]);
    assert_eq!(out.status.code(), Some(2), "no terminal and no --yes: {}", stderr(&out));
    assert!(stdout(&out).contains("1 overwritten, 1 deleted"), "{}", stdout(&out));
    assert!(stdout(&out).contains("delete  extra.txt"), "{}", stdout(&out));
    assert!(f.remote.join("extra.txt").exists(), "nothing happens without confirmation");
    assert_eq!(f.client.run(&["push", "--json"]).status.code(), Some(2));

    let done = f.client.json(&["push", "--yes"]);
    assert_eq!(done["applied"], 2, "{done}");
    assert!(!f.remote.join("extra.txt").exists());
    assert_eq!(read(&f.remote, "keep.txt").as_deref(), Some("local\n"));
    assert!(
        f.client.json(&["restore", "extra.txt", "--list"]).as_array().unwrap().len() == 1,
        "the deleted file is kept"
    );

    f.remote_write("from-vps.txt", "new\n");
    std::thread::sleep(Duration::from_millis(300));
    let pulled = f.client.json(&["pull", "--yes"]);
    assert_eq!(pulled["applied"], 1, "{pulled}");
    assert_eq!(read(&f.client.project, "from-vps.txt").as_deref(), Some("new\n"));
}

#[test]
fn deleted_files_can_be_restored() {
    let f = fixture();
    write(&f.client.project, "notes/idea.md", "precious\n");
    f.client.ok(&["start"]);
    std::fs::remove_file(f.remote.join("notes/idea.md")).unwrap();
    f.client.ok(&["flush"]);
    assert!(!f.client.project.join("notes/idea.md").exists(), "the agent's delete reached the laptop");
    let list = f.client.ok(&["restore", "notes/idea.md", "--list"]);
    assert!(list.contains("deleted by sync") && list.contains("local"), "{list}");
    f.client.ok(&["restore", "notes/idea.md"]);
    f.client.ok(&["flush"]);
    assert_eq!(read(&f.client.project, "notes/idea.md").as_deref(), Some("precious\n"));
    assert_eq!(read(&f.remote, "notes/idea.md").as_deref(), Some("precious\n"));
    assert_eq!(f.client.run(&["restore", "nope.txt"]).status.code(), Some(1));
}

#[test]
fn deleting_the_remote_root_halts() {
    let f = fixture();
    write(&f.client.project, "a.txt", "a\n");
    write(&f.client.project, "b.txt", "b\n");
    f.client.ok(&["start"]);
    std::fs::remove_dir_all(&f.remote).unwrap();
    let out = f.client.run(&["flush"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("remote sync folder was deleted"), "{}", stderr(&out));
    assert!(f.client.project.join("a.txt").exists() && f.client.project.join("b.txt").exists());
    assert_eq!(f.client.json(&["status"])["state"], "halted");
}

#[test]
fn a_mass_delete_halts_until_confirmed() {
    let f = fixture_with(&[("SINC_MAX_DELETE", "5")]);
    for i in 0..12 {
        write(&f.client.project, &format!("f{i}.txt"), "x\n");
    }
    f.client.ok(&["start"]);
    for i in 0..10 {
        std::fs::remove_file(f.client.project.join(format!("f{i}.txt"))).unwrap();
    }
    let out = f.client.run(&["flush"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("10 of 12"), "{}", stderr(&out));
    assert!(f.remote.join("f0.txt").exists(), "nothing deleted yet");
    f.client.ok(&["resume", "--confirm"]);
    f.client.ok(&["flush"]);
    assert!(!f.remote.join("f0.txt").exists());
    assert!(f.remote.join("f11.txt").exists());
}

#[test]
fn garbage_on_the_daemon_socket_does_not_hurt_it() {
    let f = fixture();
    f.client.ok(&["start"]);
    let bin = f.sshd.remote_data().join("sincronizado/bin/sinc");
    // printf formats: a valid preamble then an absurd frame length; noise
    // without a preamble; a preamble then a frame that is not a message.
    for junk in [
        r"\000sinc-sync-wire\n\377\377\377\377garbage",
        "random noise without a preamble",
        r"\000sinc-sync-wire\n\000\000\000\003abc",
    ] {
        let script = format!("printf '{junk}' | {} daemon --bridge; echo status=$?", bin.display());
        let out = f.client.run(&["exec", "--", "sh", "-c", &script]);
        assert!(stdout(&out).contains("status="), "{}", stderr(&out));
    }
    // The daemon still serves the project.
    write(&f.client.project, "after.txt", "still syncing\n");
    f.client.ok(&["flush"]);
    assert_eq!(read(&f.remote, "after.txt").as_deref(), Some("still syncing\n"));
}

fn sha256(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    stdout(&out).split_whitespace().next().unwrap_or_default().to_owned()
}

#[test]
fn one_changed_byte_in_a_200_mb_file_sends_a_delta() {
    let f = fixture();
    let proxy = sinc_tests::Proxy::start(f.sshd.port);
    f.client.route_through(&f.sshd, proxy.port);
    let big = f.client.project.join("model.bin");
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("head -c 200000000 /dev/urandom > {}", big.display()))
        .status()
        .unwrap();
    assert!(st.success());
    f.client.ok(&["start"]);
    assert_eq!(sha256(&f.remote.join("model.bin")), sha256(&big));
    let before = proxy.to_server() + proxy.to_client();
    let patch = format!("printf 'X' | dd of={} bs=1 seek=123456789 conv=notrunc status=none", big.display());
    assert!(std::process::Command::new("sh").arg("-c").arg(&patch).status().unwrap().success());
    f.client.ok(&["flush"]);
    let wire = proxy.to_server() + proxy.to_client() - before;
    assert_eq!(sha256(&f.remote.join("model.bin")), sha256(&big));
    assert!(wire < 1_000_000, "{wire} bytes on the wire for a one-byte change");
    eprintln!("one-byte change in 200 MB: {wire} bytes on the wire");
}

fn make_files(root: &Path, prefix: &str, count: usize, mb: usize) {
    std::fs::create_dir_all(root).unwrap();
    let script = format!(
        "for i in $(seq 1 {count}); do head -c {}000000 /dev/urandom > {}/{prefix}$i.bin; done",
        mb,
        root.display()
    );
    assert!(std::process::Command::new("sh").arg("-c").arg(&script).status().unwrap().success());
}

/// Every file of `a` is in `b` with the same content, and `b` has no partial
/// (temporary) files.
fn assert_same_files(a: &Path, b: &Path) {
    for e in std::fs::read_dir(a).unwrap().flatten() {
        let name = e.file_name();
        assert_eq!(sha256(&b.join(&name)), sha256(&e.path()), "{} differs", name.to_string_lossy());
    }
    let temps: Vec<String> = std::fs::read_dir(b)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".sinc-tmp-"))
        .collect();
    let owners: Vec<String> = temps
        .iter()
        .filter_map(|t| t.strip_prefix(".sinc-tmp-")?.split('-').next().map(str::to_owned))
        .map(|pid| {
            format!(
                "{pid}: {}",
                std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                    .unwrap_or_else(|_| "(gone)".into())
                    .replace('\0', " ")
            )
        })
        .collect();
    assert!(temps.is_empty(), "temporary files left in {}: {temps:?}, writers {owners:?}", b.display());
}

fn keeper_pid(client: &Client) -> Option<u32> {
    let s = client.json(&["status"]);
    s["pid"].as_u64().map(|p| p as u32)
}

fn kill9(pid: u32) {
    let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
}

/// Kill -9 the keeper or the daemon while a transfer runs, `rounds` times,
/// then restart: both sides converge, nothing is lost, no partial files.
fn kill_during_transfer(rounds: usize) {
    let f = fixture();
    // A slow link, so that a kill lands in the middle of a transfer.
    let proxy = sinc_tests::Proxy::start(f.sshd.port);
    f.client.route_through(&f.sshd, proxy.port);
    proxy.throttle(20_000_000);
    make_files(&f.client.project.join("up"), "l", 12, 4);
    f.client.ok(&["start", "--no-wait"]);
    let mut mid_transfer = 0;
    for round in 0..rounds {
        // Fresh content each round, alternating direction and victim.
        if round % 2 == 0 {
            make_files(&f.client.project.join("up"), &format!("r{round}-"), 4, 4);
        } else {
            let dir = f.remote.join("down");
            make_files(&dir, &format!("r{round}-"), 4, 4);
            let chown = format!("chown -R {} {}", f.sshd.user, dir.display());
            let _ = std::process::Command::new("sh").arg("-c").arg(chown).status();
        }
        // Random-ish timing: wait for the transfer to start, then a bit more.
        wait_until(T, "a transfer in progress", || {
            let s = f.client.json(&["status"]);
            (s["state"] == "transferring" || s["state"] == "watching").then_some(())
        });
        std::thread::sleep(Duration::from_millis(37 * (round as u64 % 5)));
        if f.client.json(&["status"])["state"] == "transferring" {
            mid_transfer += 1;
        }
        if round % 3 == 2 {
            let pattern = format!("{}/.*daemon --background", f.sshd.remote_data().display());
            let _ = std::process::Command::new("pkill").args(["-9", "-f", &pattern]).status();
        } else if let Some(pid) = keeper_pid(&f.client) {
            kill9(pid);
        }
        let t = std::time::Instant::now();
        f.client.ok(&["start"]);
        eprintln!("round {round}: restarted and in sync again after {:?}", t.elapsed());
    }
    proxy.throttle(0);
    f.client.ok(&["flush"]);
    assert!(mid_transfer > 0, "no kill landed during a transfer");
    assert_same_files(&f.client.project.join("up"), &f.remote.join("up"));
    if f.remote.join("down").exists() {
        assert_same_files(&f.remote.join("down"), &f.client.project.join("down"));
    }
    assert_eq!(f.client.json(&["status"])["conflicts"], 0);
}

#[test]
fn kill_9_during_transfers_loses_nothing() {
    kill_during_transfer(3);
}

#[test]
#[ignore = "long soak: scripts/test --long"]
fn kill_9_during_transfers_loses_nothing_many_times() {
    kill_during_transfer(20);
}

#[test]
fn unicode_names_never_duplicate() {
    let f = fixture();
    write(&f.client.project, "caf\u{e9}.txt", "composed\n");
    // "cafe" + combining accent: what macOS may store. Linux keeps the bytes
    // apart, so syncing it would create a second "café": it is skipped, with
    // a warning that says how to fix it.
    write(&f.client.project, "cafe\u{301}-menu.txt", "decomposed\n");
    f.client.ok(&["start"]);
    assert_eq!(read(&f.remote, "caf\u{e9}.txt").as_deref(), Some("composed\n"));
    let names: Vec<_> = std::fs::read_dir(&f.remote).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let warnings = f.client.json(&["status"])["warnings"].to_string();
    assert!(warnings.contains("NFC"), "{warnings}");
}

#[test]
fn a_terminated_keeper_saves_its_index_and_the_next_one_carries_on() {
    let f = fixture();
    for i in 0..50 {
        write(&f.client.project, &format!("src/f{i}.txt"), &format!("file {i}\n"));
    }
    f.client.ok(&["start"]);
    let index =
        f.client.home.join(format!(".local/state/sincronizado/sessions/{}/local/index", f.client.ok(&["id"]).trim()));
    // The opening scan's work is saved at once, not after 30 s.
    wait_until(T, "the index saved after the opening scan", || index.exists().then_some(()));
    write(&f.client.project, "src/late.txt", "late\n");
    wait_until(T, "the late file on the VPS", || read(&f.remote, "src/late.txt"));
    let before = std::fs::metadata(&index).unwrap().modified().unwrap();
    let pid = keeper_pid(&f.client).expect("a keeper runs");
    assert!(std::process::Command::new("kill").arg(pid.to_string()).status().unwrap().success());
    wait_until(T, "the keeper to end", || (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(()));
    assert!(std::fs::metadata(&index).unwrap().modified().unwrap() > before, "SIGTERM saved the index");
    // While it was gone the VPS kept watching: an edit there arrives.
    write(&f.remote, "src/from-vps.txt", "agent\n");
    let chown = format!("chown -R {} {}", f.sshd.user, f.remote.display());
    let _ = std::process::Command::new("sh").arg("-c").arg(chown).status();
    f.client.ok(&["start"]);
    wait_until(T, "the VPS's edit here", || read(&f.client.project, "src/from-vps.txt"));
    assert_eq!(read(&f.remote, "src/late.txt").as_deref(), Some("late\n"));
}
