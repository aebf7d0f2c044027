//! `sinc sessions` driven in a real terminal (a 120×20 tmux pane) against a
//! loopback sshd with scripted agents: the states read from their screens,
//! the state-change hook, filtering, the keeper's sync state, attaching and
//! coming back on detach, the conflicts, ending a session after confirming,
//! starting one for a known project, and a second "VPS" that never
//! answers not holding up the first.

use sinc_tests::pty::Pty;
use sinc_tests::{Client, Sshd, stdout, wait_until};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// Asks, then (answered) does five steps and waits at its input.
const ASKER: &str = "#!/bin/sh\necho 'Deploy to production? Do you want to proceed? (y/n)'\nread answer\n\
                     for i in 1 2 3 4 5; do echo \"step $i done ($answer)\"; done\nexec cat\n";
/// Looks busy the way Claude Code does.
const BUILDER: &str = "#!/bin/sh\necho 'Compiling the crate (esc to interrupt)'\nexec cat\n";

fn start_in(client: &Client, folder: &Path, agent: &Path) {
    std::fs::create_dir_all(folder).unwrap();
    let out = client.sinc().current_dir(folder).env("SINC_AGENT", agent).arg("start").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_manager_shows_states_runs_the_hook_filters_attaches_and_ends_sessions() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let asker = sshd.remote_script("asker", ASKER);
    let builder = sshd.remote_script("builder", BUILDER);
    let client = Client::new(&sshd, &asker.to_string_lossy());
    // A "VPS" that accepts connections and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let hook_log = client.scratch().join("hook.log");
    let config = std::fs::read_to_string(client.config_file()).unwrap();
    client.write_config(&format!(
        "{config}[sessions]\nhosts = [\"127.0.0.1:{silent_port}\"]\n\
         on_state_change = \"echo \\\"$SINC_SESSION_ID $SINC_OLD_STATE $SINC_NEW_STATE $SINC_PROJECT\\\" >> {}\"\n",
        hook_log.display()
    ));
    let builder_folder = client.project.parent().unwrap().join("builder");
    start_in(&client, &client.project, &asker);
    start_in(&client, &builder_folder, &builder);
    let app_id = client.ok(&["id"]).trim().to_owned();

    let pty = Pty::spawn_sized(&client, &["sessions"], 120, 20);
    let screen = pty.wait_for("demo-app", Duration::from_secs(10));
    assert!(screen.contains("sinc sessions ·"), "{screen}");
    let screen = pty.wait_for("waiting demo-app", T);
    assert!(screen.contains("working builder"), "{screen}");
    assert!(screen.contains("Deploy to production? Do you want to proceed? (y/n)"), "the last line: {screen}");
    assert!(screen.contains("sinc-test: 2 sessions"), "{screen}");
    assert!(
        screen.contains(&format!("127.0.0.1:{silent_port}: looking…")),
        "the silent host is still being asked: {screen}"
    );

    // The agent is answered (on the VPS): the row turns idle and the hook runs.
    sshd.tmux(&["send-keys", "-t", &format!("={app_id}:"), "y", "Enter"]);
    pty.wait_for("idle    demo-app", T);
    let logged = wait_until(T, "the state-change hook", || {
        std::fs::read_to_string(&hook_log).ok().filter(|l| l.contains(" idle "))
    });
    assert!(logged.contains(&format!("{app_id} waiting idle demo-app\n")), "{logged}");

    // Typing a filter.
    pty.type_text("/buil");
    let screen = pty.wait_for("filter: buil", T);
    assert!(screen.contains("working builder") && !screen.contains("demo-app "), "{screen}");
    pty.keys(&["Escape"]);
    pty.wait_for("idle    demo-app", T);

    // Attach (demo-app sorts second), see the agent, detach, and be back.
    pty.keys(&["Down", "Enter"]);
    let attached = pty.wait_for("[sinc-demo", T);
    assert!(attached.contains("step 5 done (y)") && !attached.contains("sinc sessions ·"), "{attached}");
    pty.keys(&["C-b", "d"]);
    pty.wait_for("sinc sessions ·", T);
    let screen = pty.wait_for("idle    demo-app", T);
    let row = screen.lines().find(|l| l.contains("idle    demo-app")).unwrap();
    assert!(row.contains("watching"), "the keeper's sync state: {screen}");

    // Its conflicts (none), then back with Enter.
    pty.type_text("c");
    let shown = pty.wait_for("(press Enter to go back to the sessions)", T);
    assert!(shown.contains("no conflicts"), "{shown}");
    pty.keys(&["Enter"]);
    pty.wait_for("sinc sessions ·", T);

    // End builder, after confirming.
    pty.keys(&["Up"]);
    pty.type_text("x");
    pty.wait_for("Its agent stops; the files stay. (y/n)", T);
    pty.type_text("y");
    pty.wait_for("ended sinc-builder-", T);
    wait_until(T, "builder's session to end", || {
        (!stdout(&sshd.tmux(&["ls"])).contains("sinc-builder-")).then_some(())
    });
    let screen = pty.wait_for("sinc-test: 1 sessions", T);
    assert!(!screen.contains("working builder"), "{screen}");

    // A new session for a known project: picked, started, attached.
    pty.type_text("n");
    let picker = pty.wait_for("new session for", T);
    assert!(picker.contains(&builder_folder.display().to_string()), "{picker}");
    pty.keys(&["Enter"]);
    pty.wait_for("[sinc-buil", T);
    pty.keys(&["C-b", "d"]);
    pty.wait_for("sinc sessions ·", T);
    pty.wait_for("waiting builder", T);

    pty.type_text("q");
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    assert!(pty.terminal_restored(), "{}", pty.screen());
    drop(silent);
    client.ok(&["kill", &app_id]);
    let builder_id = client.sinc().current_dir(&builder_folder).arg("id").output().unwrap();
    client.ok(&["kill", String::from_utf8_lossy(&builder_id.stdout).trim()]);
}

#[test]
fn without_a_terminal_it_says_what_to_use_instead() {
    let client = Client::bare();
    let out = client.run(&["sessions"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sinc list --json"));
}
