//! Attaching through a real PTY: `sinc` in a terminal creates the session,
//! keys reach the agent, tmux's detach returns 0, `sinc -r` re-attaches, `~.`
//! drops the connection, window size follows, the terminal is restored.

use sinc_tests::{Client, Pty, Sshd, require_root, stdout, wait_until};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn echo_agent(sshd: &Sshd) -> String {
    sshd.remote_script(
        "echo-agent",
        "#!/bin/sh\necho \"agent ready id=$SINC_SESSION_ID\"\nwhile IFS= read -r line; do echo \"agent got: $line\"; done\n",
    )
    .to_string_lossy()
    .into_owned()
}

#[test]
fn create_type_detach_and_reattach() {
    require_root!();
    let sshd = Sshd::start();
    let client = Client::new(&sshd, &echo_agent(&sshd));

    let pty = Pty::spawn(&client, &[]);
    pty.wait_for("agent ready id=sinc-demo-app-", T);
    pty.type_text("hello from the laptop");
    pty.keys(&["Enter"]);
    pty.wait_for("agent got: hello from the laptop", T);
    // The tmux prefix detaches; sinc returns 0 and restores the terminal.
    pty.keys(&["C-b", "d"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    assert!(pty.terminal_restored(), "terminal modes not restored:\n{}", pty.screen());
    assert!(stdout(&sshd.tmux(&["ls"])).contains("sinc-demo-app-"), "session must survive the detach");

    // -r re-attaches: the earlier output is on the restored screen.
    let again = Pty::spawn(&client, &["-r"]);
    again.wait_for("agent got: hello from the laptop", T);
    again.type_text("second line");
    again.keys(&["Enter"]);
    again.wait_for("agent got: second line", T);

    // `~.` after a newline drops the connection; the session keeps running.
    again.keys(&["Enter"]);
    again.type_text("~.");
    assert_eq!(again.exit_code(T), 0);
    assert!(again.screen().contains("keeps running"), "{}", again.screen());
    assert!(again.terminal_restored());
    assert!(stdout(&sshd.tmux(&["ls"])).contains("sinc-demo-app-"));
}

#[test]
fn reattach_without_a_session_is_a_usage_error() {
    require_root!();
    let sshd = Sshd::start();
    let client = Client::new(&sshd, &echo_agent(&sshd));
    let pty = Pty::spawn(&client, &["-r"]);
    assert_eq!(pty.exit_code(T), 2);
    let screen = pty.screen();
    assert!(screen.contains("has no session") && screen.contains("sinc start"), "{screen}");
    assert!(pty.terminal_restored());
}

#[test]
fn window_size_changes_are_forwarded() {
    require_root!();
    let sshd = Sshd::start();
    let client = Client::new(&sshd, &echo_agent(&sshd));
    let pty = Pty::spawn_sized(&client, &[], 100, 30);
    pty.wait_for("agent ready", T);
    let size =
        || stdout(&sshd.tmux(&["list-windows", "-a", "-F", "#{window_width}x#{window_height}"])).trim().to_owned();
    // tmux keeps one row for its status line.
    wait_until(T, "initial size 100x29", || (size() == "100x29").then_some(()));
    pty.resize(120, 40);
    wait_until(T, "resized 120x39", || (size() == "120x39").then_some(()));
}

#[test]
fn sigterm_ends_the_attach_and_restores_the_terminal() {
    require_root!();
    let sshd = Sshd::start();
    let client = Client::new(&sshd, &echo_agent(&sshd));
    let pty = Pty::spawn(&client, &[]);
    pty.wait_for("agent ready", T);
    let pid = pty.sinc_pid();
    std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    assert_eq!(pty.exit_code(T), 143);
    assert!(pty.terminal_restored(), "{}", pty.screen());
    assert!(stdout(&sshd.tmux(&["ls"])).contains("sinc-demo-app-"), "the remote session outlives the client");
}

#[test]
fn attach_without_a_terminal_is_refused() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let out = client.run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(sinc_tests::stderr(&out).contains("needs a terminal"), "{}", sinc_tests::stderr(&out));
}

#[test]
fn colours_pass_through() {
    require_root!();
    let sshd = Sshd::start();
    let agent = sshd.remote_script(
        "colour-agent",
        "#!/bin/sh\nprintf 'plain \\033[31mred-text\\033[0m \\033[1;44mbold-on-blue\\033[0m\\n'\nexec cat\n",
    );
    let client = Client::new(&sshd, &agent.to_string_lossy());
    let pty = Pty::spawn(&client, &[]);
    pty.wait_for("bold-on-blue", T);
    let screen = pty.screen_with_escapes();
    assert!(screen.contains("\u{1b}[31mred-text"), "{screen:?}");
    assert!(screen.contains("bold-on-blue") && screen.contains("44m"), "{screen:?}");
}
