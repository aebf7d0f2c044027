//! The session-handoff plugin, for real: a git repository on the "laptop",
//! a loopback sshd with tmux, and scripted agents. When a session ends its
//! hand-off — branch, the session's commits and changed files, the agent's
//! last output (kept by the VPS after the agent exited; secrets redacted),
//! open todos, the user's note — is written to `.sinc/handoff/<id>.md`;
//! for a task, in the repository the worktree came from, after the task's
//! commit. `sinc --continue` gives it to the next agent: as its first
//! prompt (OpenCode's `--prompt`), and as `SINC_HANDOFF_FILE`. An
//! OpenCode agent's open todos come from OpenCode's server on the VPS (a
//! stand-in speaking its API), asked through the session's connection.

use sinc_tests::opencode_stub::{OpenCodeStub, SESSION};
use sinc_tests::{Client, Sshd, stderr, stdout, wait_until};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Prints known lines (one with a key), keeps a todo file, and exits once
/// the laptop writes `go` (after two seconds at least: the VPS looks at its
/// sessions every second, and plugins hear of a session that lived through
/// a look). With a hand-off to carry on from, it copies the
/// file (once it has synced) and its arguments where the laptop sees them.
const AGENT: &str = r#"#!/bin/sh
printf '%s\n' "$@" > args.txt
echo "handoff=${SINC_HANDOFF_FILE:-none} pid=$$" > env.txt
if [ -n "$SINC_HANDOFF_FILE" ]; then
  n=0; while [ ! -s "$SINC_HANDOFF_FILE" ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
  cp "$SINC_HANDOFF_FILE" handoff-seen.txt
fi
echo "agent started in $SINC_PROJECT"
echo "export OPENAI_API_KEY=sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX"
printf -- '- [x] set up\n- [ ] handle expired tokens\n' > TODO.md
echo "new work" > new-file.txt
sleep 2
while [ ! -e go ]; do sleep 0.2; done
rm -f go
echo "the last line before exit"
sleep 0.5
"#;

fn git(client: &Client, dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(client.env().iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?} in {}: {}", dir.display(), stderr(&out));
    stdout(&out)
}

/// A client whose project is a git repository with one commit on `main`,
/// the agent script installed on the VPS as `program`, and `plugins`.
fn client_with(sshd: &Sshd, program: &str, plugins: &[&str]) -> Client {
    let agent = sshd.remote_script(program, AGENT);
    let client = Client::new(sshd, &agent.to_string_lossy());
    std::fs::write(client.home.join(".gitconfig"), "[user]\n\tname = Test\n\temail = test@example.com\n").unwrap();
    git(&client, &client.project, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(client.project.join("README.md"), "demo\n").unwrap();
    git(&client, &client.project, &["add", "."]);
    git(&client, &client.project, &["commit", "--quiet", "-m", "first"]);
    for plugin in plugins {
        let component = sinc_tests::plugin_component(plugin);
        client.ok(&["plugin", "add", &component.to_string_lossy(), "--yes"]);
    }
    client
}

fn wait_for(path: &Path, what: &str) -> String {
    wait_until(Duration::from_secs(60), what, || std::fs::read_to_string(path).ok().filter(|t| !t.is_empty()))
}

/// The one hand-off in `project`: its path and text.
fn the_handoff(project: &Path) -> (PathBuf, String) {
    let dir = project.join(".sinc/handoff");
    let found = wait_until(Duration::from_secs(60), "the hand-off", || {
        let files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        (files.len() == 1).then(|| files[0].clone())
    });
    let text = std::fs::read_to_string(&found).unwrap();
    (found, text)
}

fn assert_in_order(text: &str, parts: &[&str]) {
    let mut at = 0;
    for part in parts {
        let found = text[at..].find(part).unwrap_or_else(|| panic!("`{part}` missing or out of order in:\n{text}"));
        at += found + part.len();
    }
}

#[test]
fn an_ended_session_leaves_a_hand_off_and_the_next_one_carries_on_from_it() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let client = client_with(&sshd, "agent", &["session-handoff"]);
    client.ok(&["start"]);
    wait_for(&client.project.join("TODO.md"), "the agent's todo file");

    // The user leaves a note and commits during the session.
    let noted = client.ok(&["handoff", "note", "check", "the", "mobile", "view"]);
    assert!(noted.contains("noted for the next hand-off"), "{noted}");
    assert_eq!(client.ok(&["handoff", "note"]), "check the mobile view\n");
    std::fs::write(client.project.join("feature.rs"), "fn feature() {}\n").unwrap();
    git(&client, &client.project, &["add", "feature.rs"]);
    git(&client, &client.project, &["commit", "--quiet", "-m", "add feature"]);

    // The agent exits: the VPS keeps its output; the keeper runs the end.
    std::fs::write(client.project.join("go"), "").unwrap();
    let (file, text) = the_handoff(&client.project);
    let id = file.file_stem().unwrap().to_string_lossy().into_owned();
    assert!(id.starts_with("sinc-demo-app-"), "{id}");
    assert_in_order(
        &text,
        &[
            &format!("# Hand-off: {id}"),
            "- Branch: main",
            "- Started: 20",
            "- Ended: 20",
            "## Note\n\ncheck the mobile view",
            "## Commits",
            "add feature",
            "## Changed files",
            "feature.rs",
            "## Not committed",
            "new-file.txt",
            "## Open todos (TODO.md)\n\n- [ ] handle expired tokens\n",
            "## Last output",
            "agent started in demo-app",
            "export OPENAI_API_KEY=[REDACTED]",
            "the last line before exit",
        ],
    );
    assert!(!text.contains("sk-proj-ABCDEF") && !text.contains("- [x] set up"), "{text}");
    assert!(!text.contains("Pane is dead") && !text.contains('\u{1b}'), "{text}");
    // Hand-offs stay out of commits.
    assert!(!git(&client, &client.project, &["status", "--short"]).contains(".sinc"));
    assert_eq!(
        client.ok(&["handoff", "note"]),
        format!("no note for {}; `sinc handoff note TEXT` keeps one\n", client.project.display())
    );

    let listed = client.json(&["handoff", "list"]);
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    assert_eq!(client.ok(&["handoff", "show"]), text);
    assert_eq!(client.ok(&["handoff", "show", &id[..12]]), text);
    let missing = client.run(&["handoff", "show", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no hand-off `nope`"), "{}", stderr(&missing));

    // Without --continue nothing carries over.
    let env = client.project.join("env.txt");
    let first = std::fs::read_to_string(&env).unwrap();
    client.ok(&["start"]);
    let second = wait_until(Duration::from_secs(60), "the second agent", || {
        std::fs::read_to_string(&env).ok().filter(|t| *t != first && !t.is_empty())
    });
    assert!(second.starts_with("handoff=none "), "{second}");
    assert!(!client.project.join("handoff-seen.txt").exists());
    // `sinc kill` ends it too: its hand-off (the output kept before the
    // kill) replaces the first.
    client.ok(&["kill", &id]);
    let second = std::fs::read_to_string(&file).unwrap();
    assert!(second.contains("agent started in demo-app") && !second.contains("check the mobile view"), "{second}");

    // With it, the agent (not one sinc passes prompts to) gets the file.
    let started = client.run(&["--continue", "start"]);
    assert!(started.status.success(), "{}", stderr(&started));
    assert!(stderr(&started).contains(&format!("continuing from the hand-off of {id}")), "{}", stderr(&started));
    let seen = wait_for(&client.project.join("handoff-seen.txt"), "the hand-off on the VPS");
    assert_eq!(seen, second);
    client.ok(&["kill", &id]);
}

#[test]
fn a_tasks_hand_off_follows_its_commit_lives_in_the_repository_and_reaches_the_next_agent_as_its_prompt() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    // The agent's program is called opencode: sinc starts it with --prompt,
    // and its todos are asked of "OpenCode's server" on the VPS.
    let client = client_with(&sshd, "opencode", &["worktree-session", "session-handoff"]);
    let server = OpenCodeStub::start("pw-for-opencode", "/nowhere");
    let config = std::fs::read_to_string(client.config_file()).unwrap();
    client.write_config(&format!(
        "{config}[plugins.session-handoff]\nopencode_url = \"{}\"\n[secrets]\nopencode_password = \"pw-for-opencode\"\n",
        server.url
    ));
    client.ok(&["task", "fix", "--detach"]);
    let wt = client.project.parent().unwrap().join("demo-app.tasks/fix");
    wait_for(&wt.join("new-file.txt"), "the agent's file in the worktree");
    std::fs::write(wt.join("go"), "").unwrap();
    wait_until(Duration::from_secs(60), "the task's end", || (!wt.exists()).then_some(()));
    let files = git(&client, &client.project, &["ls-tree", "--name-only", "sinc/fix"]);
    assert!(!files.lines().any(|f| f == "go"), "the agent's removal of go synced before the commit: {files}");

    // Written in the repository, from the task's commit (the new files
    // count as changed files), before the worktree went.
    let (_, text) = the_handoff(&client.project);
    assert_in_order(
        &text,
        &[
            "# Hand-off: task fix",
            "- Task: fix",
            "- Branch: sinc/fix",
            "## Commits",
            "fix: add",
            "## Changed files",
            "new-file.txt",
            &format!(
                "## Open todos (OpenCode {SESSION}: Fix the login)\n\n1 of 3 done\n\n\
                 - [ ] write the failing test (in progress)\n- [ ] update the docs\n"
            ),
            "## Last output",
            "the last line before exit",
        ],
    );
    assert!(!text.contains("## Not committed"), "everything was committed first:\n{text}");
    // Asked on the VPS (by the daemon, as the VPS's user), with the
    // password, about the task's folder there.
    let calls = server.calls();
    let vps_uid = sinc_tests::sshd::uid_of(&sshd.user);
    assert!(calls.len() >= 2, "{calls:?}");
    for call in &calls {
        assert_eq!(call.uid, Some(vps_uid), "called from the VPS side: {call:?}");
        assert!(call.request.header("authorization").is_some_and(|a| a.starts_with("Basic ")), "{call:?}");
    }
    let remote = sshd.remote_base().to_string_lossy().into_owned();
    assert!(calls[0].request.target.starts_with(&format!("/session?directory={remote}/")), "{calls:?}");
    assert!(calls.iter().any(|c| c.request.target.starts_with(&format!("/session/{SESSION}/todo?"))), "{calls:?}");
    let committed = git(&client, &client.project, &["show", "--stat", "--format=", "sinc/fix"]);
    assert!(!committed.contains(".sinc"), "the hand-off is not committed: {committed}");

    // The next session of the task starts with it as its first prompt.
    let again = client.run(&["--continue", "task", "fix", "--detach"]);
    assert!(again.status.success(), "{}\n{}", stdout(&again), stderr(&again));
    let args = wait_until(Duration::from_secs(60), "the agent's arguments", || {
        std::fs::read_to_string(wt.join("args.txt")).ok().filter(|a| a.contains("--prompt"))
    });
    assert_in_order(&args, &["--prompt", "Carry on from the last session", "# Hand-off: task fix", "new-file.txt"]);
    assert!(wt.join(".sinc/handoff").exists(), "a copy syncs with the task's folder");
    std::fs::write(wt.join("go"), "").unwrap();
    wait_until(Duration::from_secs(60), "the second end", || (!wt.exists()).then_some(()));
    let log = git(&client, &client.project, &["log", "--format=%s", "sinc/fix"]);
    assert_eq!(log.lines().count(), 3, "two task commits on first: {log}");
    let committed = git(&client, &client.project, &["show", "--stat", "--format=", "sinc/fix"]);
    assert!(!committed.contains(".sinc"), "the copy is not committed either: {committed}");
}
