//! Questions asked on a terminal while connecting: an unknown host key, a key
//! passphrase, a password. They are asked on the TTY and never echoed.

use sinc_tests::{Client, Pty, Sshd, SshdOptions, TEST_PASSWORD, require_root};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn unknown_host_is_confirmed_on_the_terminal() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    std::fs::remove_file(client.known_hosts()).unwrap();

    let declined = Pty::spawn(&client, &["exec", "--", "echo", "connected-ok"]);
    let screen = declined.wait_for("(yes/no)", T);
    assert!(screen.contains("can't be established") && screen.contains("SHA256:"), "{screen}");
    declined.type_text("no");
    declined.keys(&["Enter"]);
    assert_eq!(declined.exit_code(T), 76);
    assert!(!client.known_hosts().exists());

    let accepted = Pty::spawn(&client, &["exec", "--", "echo", "connected-ok"]);
    accepted.wait_for("(yes/no)", T);
    accepted.type_text("yes");
    accepted.keys(&["Enter"]);
    assert_eq!(accepted.exit_code(T), 0, "{}", accepted.screen());
    assert!(accepted.screen().contains("connected-ok"));
    assert!(std::fs::read_to_string(client.known_hosts()).unwrap().contains(&format!("[127.0.0.1]:{}", sshd.port)));
}

#[test]
fn encrypted_key_asks_for_its_passphrase() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "true");
    let key = client.home.join(".ssh/id_ed25519");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-p", "-N", "open sesame", "-P", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());

    let pty = Pty::spawn(&client, &["exec", "--", "echo", "connected-ok"]);
    pty.wait_for("Enter passphrase for key", T);
    pty.type_text("wrong");
    pty.keys(&["Enter"]);
    pty.wait_for("Bad passphrase", T);
    pty.type_text("open sesame");
    pty.keys(&["Enter"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    let screen = pty.screen();
    assert!(screen.contains("connected-ok"));
    assert!(!screen.contains("open sesame") && !screen.contains("wrong"), "passphrases are not echoed:\n{screen}");
}

#[test]
fn password_login_on_a_terminal() {
    require_root!();
    let sshd = Sshd::start_with(SshdOptions {
        extra_config: vec!["PasswordAuthentication yes".into()],
        ..SshdOptions::default()
    });
    let client = Client::new(&sshd, "true");
    std::fs::remove_file(client.home.join(".ssh/id_ed25519")).unwrap();
    std::fs::remove_file(client.home.join(".ssh/id_ed25519.pub")).unwrap();

    let pty = Pty::spawn(&client, &["exec", "--", "echo", "connected-ok"]);
    pty.wait_for(&format!("{}@127.0.0.1's password:", sshd.user), T);
    pty.type_text(TEST_PASSWORD);
    pty.keys(&["Enter"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    assert!(!pty.screen().contains(TEST_PASSWORD));

    // Without a terminal there is nobody to ask: auth fails with the methods.
    let out = client.run(&["exec", "--", "true"]);
    assert_eq!(out.status.code(), Some(76));
    assert!(sinc_tests::stderr(&out).contains("password"), "{}", sinc_tests::stderr(&out));
}

#[test]
fn keyboard_interactive_login_through_pam() {
    require_root!();
    // PAM asks the questions; password authentication proper stays off, so
    // only keyboard-interactive can let us in.
    let sshd = Sshd::start_with(SshdOptions {
        extra_config: vec!["UsePAM yes".into(), "KbdInteractiveAuthentication yes".into()],
        ..SshdOptions::default()
    });
    let client = Client::new(&sshd, "true");
    std::fs::remove_file(client.home.join(".ssh/id_ed25519")).unwrap();
    std::fs::remove_file(client.home.join(".ssh/id_ed25519.pub")).unwrap();

    let pty = Pty::spawn(&client, &["exec", "--", "echo", "connected-ok"]);
    pty.wait_for("Password:", T);
    pty.type_text("not the password");
    pty.keys(&["Enter"]);
    // PAM asks again after a wrong answer.
    let asked_twice = || pty.screen().matches("Password:").count() >= 2;
    let start = std::time::Instant::now();
    while !asked_twice() && start.elapsed() < T {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(asked_twice(), "PAM asks again after a wrong answer:\n{}\n{}", pty.screen(), sshd.log());
    pty.type_text(TEST_PASSWORD);
    pty.keys(&["Enter"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    let screen = pty.screen();
    assert!(screen.contains("connected-ok"), "{screen}");
    assert!(!screen.contains(TEST_PASSWORD) && !screen.contains("not the password"), "answers are not echoed");
    assert!(sshd.log().contains("Accepted keyboard-interactive/pam"), "{}", sshd.log());
}
