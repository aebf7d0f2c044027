//! The worktree-session plugin, for real: a git repository on the "laptop"
//! (with a bare repository as its origin, or none), a loopback sshd with
//! tmux, and scripted agents. `sinc task NAME` makes a worktree on a branch
//! of its own and starts a session there; what the agent writes on the VPS
//! lands in the worktree; ending the session (`sinc task end`, or the agent
//! exiting) commits it on the branch, pushes when configured, removes the
//! worktree and keeps the branch. Never on the default branch; hostile
//! names stay names; a failed commit keeps the worktree until ending again
//! finishes; a failed push is reported and the rest goes on.

use sinc_tests::pty::Pty;
use sinc_tests::{Client, Sshd, stderr, stdout, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The agent writes a file named after its project, then waits.
const WAITING_AGENT: &str = "#!/bin/sh\necho \"work of $SINC_PROJECT\" > \"agent-$SINC_PROJECT.txt\"\nexec cat\n";

/// The agent writes a file and exits soon after.
const QUICK_AGENT: &str = "#!/bin/sh\necho done > agent-done.txt\nsleep 2\n";

/// Run git in `dir` as the client does.
fn git(client: &Client, dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(client.env().iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

fn git_ok(client: &Client, dir: &Path, args: &[&str]) -> String {
    let out = git(client, dir, args);
    assert!(out.status.success(), "git {args:?} in {}: {}", dir.display(), stderr(&out));
    stdout(&out)
}

/// A client whose project is a git repository with one commit on `main`,
/// the plugin installed with `settings`, and `agent` as the agent.
fn client_with_repo(sshd: &Sshd, agent: &str, settings: &str) -> Client {
    let agent = sshd.remote_script("agent", agent);
    let client = Client::new(sshd, &agent.to_string_lossy());
    let config = std::fs::read_to_string(client.config_file()).unwrap();
    client.write_config(&format!("{config}\n[plugins.worktree-session]\n{settings}\n"));
    std::fs::write(client.home.join(".gitconfig"), "[user]\n\tname = Test\n\temail = test@example.com\n").unwrap();
    git_ok(&client, &client.project, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(client.project.join("README.md"), "demo\n").unwrap();
    git_ok(&client, &client.project, &["add", "."]);
    git_ok(&client, &client.project, &["commit", "--quiet", "-m", "first"]);
    let component = sinc_tests::plugin_component("worktree-session");
    client.ok(&["plugin", "add", &component.to_string_lossy(), "--yes"]);
    client
}

/// A bare repository as the project's `origin`, with `main` pushed and
/// `origin/HEAD` set.
fn add_origin(client: &Client) -> PathBuf {
    let origin = client.scratch().join("origin.git");
    git_ok(client, client.scratch(), &["init", "--quiet", "--bare", "--initial-branch=main", "origin.git"]);
    git_ok(client, &client.project, &["remote", "add", "origin", &origin.to_string_lossy()]);
    git_ok(client, &client.project, &["push", "--quiet", "origin", "main"]);
    git_ok(client, &client.project, &["remote", "set-head", "origin", "main"]);
    origin
}

/// Where task `name`'s worktree goes by default.
fn worktree(client: &Client, name: &str) -> PathBuf {
    client.project.parent().unwrap().join("demo-app.tasks").join(name)
}

/// `sinc ARGS` in `dir`.
fn sinc_in(client: &Client, dir: &Path, args: &[&str]) -> Output {
    client.sinc().current_dir(dir).args(args).output().unwrap()
}

/// The subject and body of the newest commit on `branch`.
fn last_message(client: &Client, branch: &str) -> String {
    git_ok(client, &client.project, &["log", "-1", "--format=%B", branch, "--"])
}

fn wait_for_file(path: &Path) {
    wait_until(Duration::from_secs(30), &format!("{} to sync", path.display()), || path.exists().then_some(()));
}

#[test]
fn tasks_run_in_their_worktrees_and_their_work_is_committed_pushed_and_the_worktree_removed() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let client = client_with_repo(&sshd, WAITING_AGENT, "push = true");
    let origin = add_origin(&client);

    // Two tasks at once; the second's branch is a hostile name that stays
    // a name (never seen by a shell).
    let made = client.run(&["task", "fix-login", "--detach"]);
    assert!(made.status.success(), "{}\n{}", stdout(&made), stderr(&made));
    let wt = worktree(&client, "fix-login");
    assert!(
        stdout(&made)
            .contains(&format!("task fix-login: worktree {} on new branch sinc/fix-login from main", wt.display())),
        "{}",
        stdout(&made)
    );
    let hostile = "feat/$(touch${IFS}pwned)";
    let made = client.run(&["task", "odd", "--branch", hostile, "--detach"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let odd = worktree(&client, "odd");
    assert_eq!(git_ok(&client, &odd, &["symbolic-ref", "--short", "HEAD"]).trim(), hostile);

    // What the agents write on the VPS lands in their worktrees; the user
    // edits one too.
    wait_for_file(&wt.join("agent-fix-login.txt"));
    wait_for_file(&odd.join("agent-odd.txt"));
    std::fs::write(wt.join("notes.md"), "from the laptop\n").unwrap();
    std::fs::write(wt.join("README.md"), "demo, changed\n").unwrap();

    let listed = client.json(&["task", "list"]);
    let tasks = listed.as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{listed}");
    let fix = tasks.iter().find(|t| t["name"] == "fix-login").unwrap();
    assert_eq!(fix["branch"], "sinc/fix-login");
    assert_eq!(fix["uncommitted"], 3, "{fix}");
    let human = client.ok(&["task", "list"]);
    assert!(human.contains("fix-login  sinc/fix-login") && human.contains("3 uncommitted"), "{human}");

    let ended = client.run(&["task", "end", "fix-login"]);
    assert!(ended.status.success(), "{}\n{}", stdout(&ended), stderr(&ended));
    assert!(!wt.exists(), "the worktree is removed");
    let message = last_message(&client, "sinc/fix-login");
    assert!(message.starts_with("fix-login: add agent-fix-login.txt, notes.md, change README.md\n"), "{message}");
    assert!(message.contains("A  agent-fix-login.txt\n") && message.contains("M  README.md\n"), "{message}");
    assert!(message.contains("3 files changed"), "{message}");
    let files = git_ok(&client, &client.project, &["show", "sinc/fix-login:agent-fix-login.txt"]);
    assert!(files.starts_with("work of "), "{files}");
    // Pushed; the branch is kept here and there; the other task runs on.
    let pushed = git_ok(&client, &origin, &["rev-parse", "refs/heads/sinc/fix-login"]);
    assert_eq!(pushed, git_ok(&client, &client.project, &["rev-parse", "refs/heads/sinc/fix-login"]));
    assert!(!git_ok(&client, &client.project, &["worktree", "list"]).contains("fix-login"));
    assert_eq!(git_ok(&client, &client.project, &["symbolic-ref", "--short", "HEAD"]).trim(), "main");
    assert_eq!(git_ok(&client, &client.project, &["log", "-1", "--format=%s", "main"]).trim(), "first");
    let listed = client.json(&["task", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    let ended = client.run(&["task", "end", "odd"]);
    assert!(ended.status.success(), "{}", stderr(&ended));
    assert!(!odd.exists());
    assert!(last_message(&client, hostile).starts_with("odd: add agent-odd.txt\n"));
    assert!(git_ok(&client, &origin, &["branch", "--list"]).contains(hostile));
    assert!(!client.scratch().join("pwned").exists() && !client.project.join("pwned").exists());
    assert_eq!(client.ok(&["task", "list"]), "no tasks; `sinc task NAME` starts one\n");
}

#[test]
fn the_agent_exiting_ends_the_task() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let client = client_with_repo(&sshd, QUICK_AGENT, "");
    let made = client.run(&["task", "quick", "--detach"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let wt = worktree(&client, "quick");
    wait_until(Duration::from_secs(60), "the task's end after its agent exited", || (!wt.exists()).then_some(()));
    let message = last_message(&client, "sinc/quick");
    assert!(message.starts_with("quick: add agent-done.txt\n"), "{message}");
    assert_eq!(git_ok(&client, &client.project, &["show", "sinc/quick:agent-done.txt"]), "done\n");
}

#[test]
fn on_a_terminal_the_task_opens_attached_and_ends_with_its_agent() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let client = client_with_repo(&sshd, "#!/bin/sh\necho \"agent in $SINC_PROJECT\"\nexec cat\n", "");
    let pty = Pty::spawn(&client, &["task", "live"]);
    pty.wait_for("agent in live", Duration::from_secs(30));
    let wt = worktree(&client, "live");
    std::fs::write(wt.join("typed.txt"), "from the laptop\n").unwrap();
    let flushed = sinc_in(&client, &wt, &["flush"]);
    assert!(flushed.status.success(), "{}", stderr(&flushed));
    // The agent ends (end of input): sinc returns once the task has ended.
    pty.keys(&["C-d"]);
    assert_eq!(pty.exit_code(Duration::from_secs(60)), 0, "{}", pty.screen());
    assert!(!wt.exists(), "{}", pty.screen());
    assert!(last_message(&client, "sinc/live").starts_with("live: add typed.txt\n"));
}

#[test]
fn an_end_the_laptop_interrupted_runs_again_when_a_keeper_is_back() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let client = client_with_repo(&sshd, WAITING_AGENT, "");
    let hook = client.project.join(".git/hooks/pre-commit");
    let marker = client.scratch().join("hook-ran");
    sinc_tests::write_script(&hook, &format!("#!/bin/sh\ntouch '{}'\nsleep 3\nexit 1\n", marker.display()));
    client.ok(&["task", "cut", "--detach"]);
    let wt = worktree(&client, "cut");
    wait_for_file(&wt.join("agent-cut.txt"));
    let status = sinc_tests::stdout(&sinc_in(&client, &wt, &["status", "--json"]));
    let keeper: serde_json::Value = serde_json::from_str(&status).unwrap();
    let keeper = keeper["pid"].as_u64().unwrap_or_else(|| panic!("{status}"));

    // The laptop stops in the middle of the commit: the keeper running the
    // end and the `sinc` waiting for it die.
    let mut ending = client.sinc().args(["task", "end", "cut"]).spawn().unwrap();
    wait_until(Duration::from_secs(30), "the commit to start", || marker.exists().then_some(()));
    Command::new("kill").args(["-9", &keeper.to_string()]).status().unwrap();
    let _ = ending.kill();
    let _ = ending.wait();
    std::thread::sleep(Duration::from_secs(4));
    std::fs::remove_file(&hook).unwrap();
    assert!(wt.join("agent-cut.txt").exists());
    assert!(git(&client, &client.project, &["rev-parse", "--verify", "--quiet", "sinc/cut~1"]).stdout.is_empty());

    // Any keeper hosting the local plugins runs the end again: the work is
    // committed; the worktree waits for a flushed sync (its keeper died).
    client.ok(&["start"]);
    wait_until(Duration::from_secs(60), "the interrupted end to run again", || {
        git(&client, &client.project, &["log", "-1", "--format=%s", "sinc/cut"])
            .stdout
            .starts_with(b"cut: add")
            .then_some(())
    });
    let listed = client.json(&["task", "list"]);
    assert!(listed[0]["state"].as_str().unwrap().contains("ending"), "{listed}");
    let ended = client.run(&["task", "end", "cut"]);
    assert!(ended.status.success(), "{}", stderr(&ended));
    assert!(!wt.exists());
    assert_eq!(client.ok(&["task", "list"]), "no tasks; `sinc task NAME` starts one\n");
}

#[test]
fn tasks_never_use_the_default_branch_and_names_are_checked() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let client = client_with_repo(&sshd, WAITING_AGENT, "");
    add_origin(&client);
    git_ok(&client, &client.project, &["config", "init.defaultBranch", "trunk"]);
    let bare = client.scratch().join("other.git");
    git_ok(&client, client.scratch(), &["init", "--quiet", "--bare", "--initial-branch=develop", "other.git"]);
    git_ok(&client, &client.project, &["push", "--quiet", &bare.to_string_lossy(), "main:develop"]);
    git_ok(&client, &client.project, &["remote", "add", "upstream", &bare.to_string_lossy()]);
    git_ok(&client, &client.project, &["fetch", "--quiet", "upstream"]);
    git_ok(&client, &client.project, &["remote", "set-head", "upstream", "develop"]);

    for branch in ["main", "master", "trunk", "develop"] {
        let out = client.run(&["task", "x", "--branch", branch]);
        assert_eq!(out.status.code(), Some(1), "{branch}");
        assert!(stderr(&out).contains("default branch"), "{branch}: {}", stderr(&out));
    }
    for (args, said) in [
        (vec!["task", "a b"], "is not a task name"),
        (vec!["task", "list-x", "--branch", "x y"], "is not a valid branch name"),
        (vec!["task", "z", "--branch", "-d"], "is not a valid branch name"),
        (vec!["task", "z", "--from", "no-such-ref"], "names no commit"),
        (vec!["task", "end"], "takes the task's name"),
        (vec!["task", "end", "ghost"], "no task ghost"),
    ] {
        let out = client.run(&args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(stderr(&out).contains(said), "{args:?}: {}", stderr(&out));
    }
    let out = client.run(&["task", "--from", "x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!worktree(&client, "x").exists() && !worktree(&client, "z").exists(), "nothing was made");
    assert_eq!(client.ok(&["task", "list"]), "no tasks; `sinc task NAME` starts one\n");

    // Outside a repository, and in one without a commit.
    let empty = client.scratch().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = sinc_in(&client, &empty, &["task", "t"]);
    assert!(stderr(&out).contains("is not in a git repository"), "{}", stderr(&out));
    git_ok(&client, &empty, &["init", "--quiet"]);
    let out = sinc_in(&client, &empty, &["task", "t"]);
    assert!(stderr(&out).contains("has no commit yet"), "{}", stderr(&out));
}

#[test]
fn a_failed_commit_keeps_the_worktree_until_ending_again_and_a_failed_push_is_reported() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let client = client_with_repo(&sshd, WAITING_AGENT, "push = true");
    // An origin that cannot be pushed to.
    git_ok(&client, &client.project, &["remote", "add", "origin", "/nonexistent/origin.git"]);
    let hook = client.project.join(".git/hooks/pre-commit");
    sinc_tests::write_script(&hook, "#!/bin/sh\necho 'lint failed' >&2\nexit 1\n");

    client.ok(&["task", "hooked", "--detach"]);
    let wt = worktree(&client, "hooked");
    wait_for_file(&wt.join("agent-hooked.txt"));
    let ended = client.run(&["task", "end", "hooked"]);
    let said = stderr(&ended);
    assert!(said.contains("nothing was committed") && said.contains("lint failed"), "{said}");
    assert!(said.contains("its changes are not committed: kept"), "{said}");
    assert!(wt.join("agent-hooked.txt").exists(), "the worktree and the agent's work are kept");
    let listed = client.json(&["task", "list"]);
    assert!(listed[0]["state"].as_str().unwrap().starts_with("end stopped: "), "{listed}");
    assert_eq!(listed[0]["session"], "ended", "{listed}");

    // Fixed: ending again finishes (the session is gone already).
    std::fs::remove_file(&hook).unwrap();
    let ended = client.run(&["task", "end", "hooked"]);
    let said = stderr(&ended);
    assert!(said.contains("committed on sinc/hooked, but the push to origin failed"), "{said}");
    assert!(!wt.exists(), "removed: the commit is safe on the branch");
    assert!(last_message(&client, "sinc/hooked").starts_with("hooked: add agent-hooked.txt\n"));
    assert_eq!(client.ok(&["task", "list"]), "no tasks; `sinc task NAME` starts one\n");
}

#[test]
fn a_task_from_another_ref_ends_with_sinc_kill_and_push_without_a_remote_is_skipped() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let client = client_with_repo(&sshd, WAITING_AGENT, "push = true");
    // A feature branch with a commit of its own; the task starts from it
    // while `main` stays checked out.
    git_ok(&client, &client.project, &["switch", "--quiet", "-c", "feature"]);
    std::fs::write(client.project.join("feature.txt"), "feature\n").unwrap();
    git_ok(&client, &client.project, &["add", "feature.txt"]);
    git_ok(&client, &client.project, &["commit", "--quiet", "-m", "feature work"]);
    git_ok(&client, &client.project, &["switch", "--quiet", "main"]);
    let made = client.run(&["task", "from-feature", "--from", "feature", "--detach"]);
    assert!(made.status.success(), "{}", stderr(&made));
    assert!(stdout(&made).contains("on new branch sinc/from-feature from feature"), "{}", stdout(&made));
    let wt = worktree(&client, "from-feature");
    assert!(wt.join("feature.txt").exists(), "the worktree starts at the feature's commit");
    wait_for_file(&wt.join("agent-from-feature.txt"));

    // `sinc kill` of the task's session ends the task like `task end`.
    let sessions = client.json(&["list"]);
    let id = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["local_path"].as_str() == Some(wt.to_str().unwrap()))
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("no session for {}: {sessions}", wt.display()))
        .to_owned();
    let killed = client.run(&["kill", &id]);
    assert!(killed.status.success(), "{}\n{}", stdout(&killed), stderr(&killed));
    assert!(!wt.exists(), "the worktree is removed");
    let log = git_ok(&client, &client.project, &["log", "--format=%s", "sinc/from-feature"]);
    assert!(log.starts_with("from-feature: add agent-from-feature.txt\nfeature work\nfirst"), "{log}");
    assert_eq!(git_ok(&client, &client.project, &["log", "-1", "--format=%s", "main"]).trim(), "first");
    // No remote `origin`: nothing to push to, and nothing failed.
    assert!(!stderr(&killed).contains("push"), "{}", stderr(&killed));
}

#[test]
fn bad_settings_are_refused_with_what_is_wrong() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let client = client_with_repo(&sshd, WAITING_AGENT, "brnach_prefix = \"x/\"");
    let out = client.run(&["task", "t", "--detach"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("brnach_prefix"), "{}", stderr(&out));
    assert!(!worktree(&client, "t").exists());
}
