//! `sinc setup`: the wizard driven through a real terminal, the same answers
//! as flags, and a generated key installed on a real sshd with one password
//! login.

use sinc_tests::{Client, Pty, Sshd, SshdOptions, TEST_PASSWORD, require_root, stderr, stdout};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn config_text(client: &Client) -> String {
    std::fs::read_to_string(client.config_file()).unwrap_or_default()
}

/// A client whose ~/.ssh/config names two hosts (no server needed: nothing
/// connects unless a key is installed).
fn client_with_hosts() -> Client {
    let mut client = Client::bare();
    std::fs::write(
        client.home.join(".ssh/config"),
        "Host alpha\n  HostName 127.0.0.1\n  User root\n  Port 22\nHost beta\n  HostName 127.0.0.1\n  User root\n  Port 22\nHost *\n  ServerAliveInterval 10\n",
    )
    .unwrap();
    let registry = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../registry");
    client.set_env("SINC_REGISTRY", &registry.to_string_lossy());
    client
}

/// Answer the question showing `question` by pressing `keys`.
fn answer(pty: &Pty, question: &str, keys: &[&str]) {
    pty.wait_for(question, T);
    pty.keys(keys);
}

/// Answer the question showing `question` by typing `text` and Enter.
fn type_answer(pty: &Pty, question: &str, text: &str) {
    pty.wait_for(question, T);
    pty.type_text(text);
    pty.keys(&["Enter"]);
}

#[test]
fn the_wizard_asks_everything_and_a_second_run_edits() {
    let client = client_with_hosts();
    let pty = Pty::spawn_sized(&client, &["setup"], 120, 40);
    answer(&pty, "Which VPS?", &["Down", "Enter"]);
    type_answer(&pty, "User on the VPS:", "dev");
    type_answer(&pty, "SSH port:", "2222");
    answer(&pty, "Which SSH key?", &["Down", "Enter"]);
    type_answer(&pty, "Key file:", "~/.ssh/work_key");
    type_answer(&pty, "Install this key on the VPS now", "n");
    answer(&pty, "Which agent runs on the VPS?", &["Down", "Enter"]);
    type_answer(&pty, "Folder on the VPS for the projects:", "~/code");
    type_answer(&pty, "Extra ignores:", "*.log, tmp/");
    answer(&pty, "Plugin tier?", &["Enter"]);
    type_answer(&pty, "Prepare the VPS now", "n");
    type_answer(&pty, "Lock the VPS down now", "n");
    let screen = pty.wait_for("Write it?", T);
    assert!(screen.contains("vps.host = \"beta\""), "the summary shows what is written:\n{screen}");
    pty.keys(&["Enter"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    let text = config_text(&client);
    let key = client.home.join(".ssh/work_key");
    for expected in [
        "host = \"beta\"".to_owned(),
        "user = \"dev\"".to_owned(),
        "port = 2222".to_owned(),
        format!("identity_file = \"{}\"", key.display()),
        "agent = \"claude\"".to_owned(),
        "remote_base = \"~/code\"".to_owned(),
        "ignore = [\"*.log\", \"tmp/\"]".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected} in:\n{text}");
    }
    let mode = std::fs::metadata(client.config_file()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let tier = client.json(&["tier", "show"]);
    assert_eq!(tier["tier"], "minimal", "{tier}");

    // Again: every default is what the file says; only the new ignore changes.
    let pty = Pty::spawn_sized(&client, &["setup"], 120, 40);
    answer(&pty, "Which VPS?", &["Enter"]);
    answer(&pty, "User on the VPS:", &["Enter"]);
    answer(&pty, "SSH port:", &["Enter"]);
    answer(&pty, "Which SSH key?", &["Enter"]);
    type_answer(&pty, "Install this key on the VPS now", "n");
    answer(&pty, "Which agent runs on the VPS?", &["Enter"]);
    answer(&pty, "Folder on the VPS for the projects:", &["Enter"]);
    type_answer(&pty, "Extra ignores:", "dist");
    answer(&pty, "Plugin tier?", &["Enter"]);
    answer(&pty, "Prepare the VPS now", &["Enter"]);
    answer(&pty, "Lock the VPS down now", &["Enter"]);
    answer(&pty, "Write it?", &["Enter"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    let again = config_text(&client);
    assert!(again.contains("ignore = [\"*.log\", \"tmp/\", \"dist\"]"), "{again}");
    assert_eq!(again.replace(", \"dist\"", ""), text, "nothing else changed");

    // Esc cancels, and nothing is written.
    let pty = Pty::spawn_sized(&client, &["setup"], 120, 40);
    answer(&pty, "Which VPS?", &["Escape"]);
    assert_eq!(pty.exit_code(T), 1, "{}", pty.screen());
    assert_eq!(config_text(&client), again);
}

#[test]
fn the_wizard_offers_the_tailnets_machines_by_their_magicdns_names() {
    let mut client = client_with_hosts();
    // This machine's Tailscale (a stand-in answering `tailscale status --json`).
    let bin = client.home.join("bin");
    sinc_tests::write_script(
        &bin.join("tailscale"),
        "#!/bin/sh\necho '{\"BackendState\":\"Running\",\"Self\":{\"DNSName\":\"laptop.tail1234.ts.net.\"},\
         \"Peer\":{\"a\":{\"DNSName\":\"gpu-box.tail1234.ts.net.\",\"Online\":true},\"b\":{\"DNSName\":\"old-vps.tail1234.ts.net.\",\"Online\":false}}}'\n",
    );
    client.set_env("PATH", &format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()));
    let pty = Pty::spawn_sized(&client, &["setup"], 120, 40);
    // The whole list drawn (the question comes first).
    let screen = pty.wait_for("old-vps.tail1234.ts.net", T);
    assert!(screen.contains("Which VPS?") && screen.contains("your tailnet's machines (MagicDNS)"), "{screen}");
    let online = screen.find("gpu-box.tail1234.ts.net").unwrap_or_else(|| panic!("{screen}"));
    let offline = screen.find("old-vps.tail1234.ts.net").unwrap_or_else(|| panic!("{screen}"));
    assert!(screen.find("beta").unwrap() < online && online < offline, "aliases, then peers online first:\n{screen}");
    pty.keys(&["Down", "Down", "Enter"]);
    let screen = pty.wait_for("User on the VPS:", T);
    assert!(screen.contains("gpu-box.tail1234.ts.net"), "{screen}");
    pty.keys(&["Escape"]);
    assert_eq!(pty.exit_code(T), 1, "{}", pty.screen());
}

#[test]
fn the_same_answers_as_flags() {
    let client = client_with_hosts();
    let out = client.run(&[
        "setup",
        "--host",
        "beta",
        "--user",
        "dev",
        "--port",
        "2222",
        "--key",
        "~/.ssh/work_key",
        "--agent",
        "claude",
        "--remote-base",
        "~/code",
        "--ignore",
        "*.log",
        "--ignore",
        "tmp/",
        "--tier",
        "minimal",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = config_text(&client);
    for expected in ["host = \"beta\"", "port = 2222", "agent = \"claude\"", "ignore = [\"*.log\", \"tmp/\"]"] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
    assert!(stdout(&out).contains("sinc doctor"), "{}", stdout(&out));
    assert_eq!(client.json(&["tier", "show"])["tier"], "minimal");
    // Flags are validated like the file: --plugin only with a tier, a bad tier
    // is a usage error.
    assert_eq!(client.run(&["setup", "--plugin", "hello", "--yes"]).status.code(), Some(2));
    assert_eq!(client.run(&["setup", "--tier", "huge", "--yes"]).status.code(), Some(2));
    assert_eq!(client.run(&["setup", "--generate-key", "--key", "x", "--yes"]).status.code(), Some(2));
}

#[test]
fn a_generated_key_is_installed_with_one_password_login() {
    require_root!();
    // The VPS user's home is a folder of this test's: its ~/.ssh/authorized_keys
    // is where sshd looks.
    let remote_home = tempfile::Builder::new().prefix("sinc-remote-home-").tempdir().unwrap();
    sinc_tests::set_mode(remote_home.path(), 0o755);
    let home = remote_home.path().to_string_lossy().into_owned();
    let sshd = Sshd::start_with(SshdOptions {
        extra_config: vec![
            "PasswordAuthentication yes".into(),
            format!("AuthorizedKeysFile {home}/.ssh/authorized_keys"),
        ],
        set_env: vec![("HOME".into(), home.clone())],
        ..SshdOptions::default()
    });
    sshd.chown(remote_home.path());
    let client = Client::new(&sshd, "sleep 600");
    std::fs::remove_file(client.home.join(".ssh/id_ed25519")).unwrap();
    std::fs::remove_file(client.home.join(".ssh/id_ed25519.pub")).unwrap();
    std::fs::remove_file(client.config_file()).unwrap();
    // Without a key, nothing gets in unattended.
    assert_eq!(client.run(&["exec", "--", "true"]).status.code(), Some(78), "no VPS configured yet");

    let pty = Pty::spawn(&client, &["setup", "--host", "sinc-test", "--agent", "sleep 600", "--generate-key", "--yes"]);
    pty.wait_for(&format!("{}@127.0.0.1's password:", sshd.user), T);
    pty.type_text(TEST_PASSWORD);
    pty.keys(&["Enter"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    assert!(pty.screen().contains("generated and installed"), "{}", pty.screen());
    assert!(!pty.screen().contains(TEST_PASSWORD));

    let key = client.home.join(".ssh/sinc_ed25519");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let authorized = std::fs::read_to_string(remote_home.path().join(".ssh/authorized_keys")).unwrap();
    assert!(authorized.contains(public.trim()), "{authorized}");
    assert!(config_text(&client).contains(&format!("identity_file = \"{}\"", key.display())));

    // From now on the key alone gets in, with nobody at the terminal.
    assert_eq!(client.ok(&["exec", "--", "echo", "in"]).trim(), "in");
    let again = client.run(&["setup", "--install-key", "--yes"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(stdout(&again).contains("already installed"), "{}", stdout(&again));
    let lines = std::fs::read_to_string(remote_home.path().join(".ssh/authorized_keys")).unwrap();
    assert_eq!(lines.lines().count(), 1, "installed once: {lines}");

    // --bootstrap goes on to prepare the VPS (never implied by --yes).
    let bin = sshd.remote_data().join("sincronizado/bin/sinc");
    assert!(!bin.exists());
    let out = client.run(&["setup", "--remote-base", &sshd.remote_base().to_string_lossy(), "--bootstrap", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(bin.exists(), "bootstrap installed sinc: {}", stderr(&out));
}
