//! Offline behaviour of the command line: session ids, configuration layers
//! and every configuration error (exit 78), `setup`, legacy import, bad flags
//! (exit 2), completions.

use sinc_tests::{Client, stderr, stdout};
use std::os::unix::fs::PermissionsExt;

#[test]
fn session_id_vectors_of_the_original_tool() {
    let client = Client::bare();
    for (path, id) in [
        ("/home/user/myproject", "sinc-myproject-f227ec"),
        ("/home/user/My Project", "sinc-my-project-78ce1d"),
        ("/home/user/work/myproject", "sinc-myproject-d83886"),
    ] {
        assert_eq!(client.ok(&["id", path]).trim(), id);
    }
    let j = client.json(&["id", "/home/user/myproject"]);
    assert_eq!(j["remote_folder"], "myproject-f227ec");
}

#[test]
fn symlinked_folders_share_a_session() {
    let client = Client::bare();
    let link = client.scratch().join("link-to-project");
    std::os::unix::fs::symlink(&client.project, &link).unwrap();
    assert_eq!(client.ok(&["id", &link.to_string_lossy()]), client.ok(&["id"]));
}

#[test]
fn config_precedence_and_sources() {
    let mut client = Client::bare();
    client.write_config(
        "default_profile = \"work\"\nagent = \"file-agent\"\n[vps]\nhost = \"file-host\"\nuser = \"file-user\"\nport = 2201\n\
         [profiles.work.vps]\nhost = \"profile-host\"\nuser = \"profile-user\"\n",
    );
    std::fs::write(client.project.join(".sinc.toml"), "agent = \"project-agent\"\n[vps]\nuser = \"project-user\"\n")
        .unwrap();
    client.set_env("SINC_USER", "env-user");
    let j = client.json(&["config", "show", "--accept-new-host"]);
    let get = |key: &str| j["values"].as_array().unwrap().iter().find(|v| v["key"] == key).unwrap().clone();
    assert_eq!(get("vps.port")["value"], 2201);
    assert!(get("vps.port")["source"].as_str().unwrap().ends_with("config.toml"));
    assert_eq!(get("vps.host")["value"], "profile-host");
    assert!(get("vps.host")["source"].as_str().unwrap().starts_with("profile work"));
    assert_eq!(get("agent")["value"], "project-agent");
    assert!(get("agent")["source"].as_str().unwrap().ends_with(".sinc.toml"));
    assert_eq!(get("vps.user")["value"], "env-user");
    assert_eq!(get("vps.user")["source"], "env SINC_USER");
    assert_eq!(get("ssh.accept_new_host")["value"], true);
    assert_eq!(get("ssh.accept_new_host")["source"], "flag --accept-new-host");
    assert_eq!(get("ssh.connect_timeout")["source"], "default");
    assert_eq!(j["profile"], "work");
    // --profile picks another (undefined) profile: a config error naming it.
    let out = client.run(&["config", "show", "--profile", "nope"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("profile `nope` is not defined") && stderr(&out).contains("defined: work"),
        "{}",
        stderr(&out)
    );
}

fn config_error(client: &Client, args: &[&str]) -> String {
    let out = client.run(args);
    assert_eq!(out.status.code(), Some(78), "sinc {args:?}: {}", stderr(&out));
    stderr(&out)
}

#[test]
fn every_config_error_exits_78_with_a_location() {
    let mut client = Client::bare();
    let file = client.config_file().display().to_string();

    client.write_config("[vps]\nhost = \"a\"\nport = \"twenty-two\"\n");
    let e = config_error(&client, &["config", "show"]);
    assert!(e.contains(&file) && e.contains("line 3, column 8") && e.contains("(vps.port)"), "{e}");

    client.write_config("[vps]\nhots = \"a\"\n");
    let e = config_error(&client, &["start"]);
    assert!(e.contains("line 2, column 1") && e.contains("unknown field `hots`"), "{e}");

    client.write_config("[vps\nhost = 1\n");
    let e = config_error(&client, &["list"]);
    assert!(e.contains("line 1"), "{e}");

    client.write_config("[ssh]\nconnect_timeout = 0\n");
    let e = config_error(&client, &["config", "show"]);
    assert!(e.contains("(ssh.connect_timeout)") && e.contains("from 1 to 86400"), "{e}");

    client.write_config("[sync]\nmode = \"sideways\"\n");
    let e = config_error(&client, &["config", "show"]);
    assert!(e.contains("two-way-resolved"), "{e}");

    client.write_config("agent = \"\"\n");
    assert!(config_error(&client, &["config", "show"]).contains("must not be empty"));

    client.write_config("[vps]\nhost = \"h\"\n");
    std::fs::write(client.project.join(".sinc.toml"), "[vps]\nport = 99999\n").unwrap();
    let e = config_error(&client, &["config", "show"]);
    assert!(e.contains(".sinc.toml") && e.contains("line 2") && e.contains("65535"), "{e}");
    std::fs::remove_file(client.project.join(".sinc.toml")).unwrap();

    client.set_env("SINC_PORT", "abc");
    let e = config_error(&client, &["config", "show"]);
    assert!(e.contains("env SINC_PORT") && e.contains("(vps.port)"), "{e}");
    client.set_env("SINC_PORT", "22");

    let e = config_error(&client, &["config", "show", "--config", "/nonexistent/sinc.toml"]);
    assert!(e.contains("does not exist"), "{e}");

    // No host at all: say how to configure one.
    client.write_config("");
    let e = config_error(&client, &["exec", "--", "true"]);
    assert!(e.contains("sinc setup --host"), "{e}");

    // A broken ~/.ssh/config is a configuration error too.
    client.write_config("[vps]\nhost = \"box\"\n");
    std::fs::write(client.home.join(".ssh/config"), "Host box\n  Port notaport\n").unwrap();
    let e = config_error(&client, &["exec", "--", "true"]);
    assert!(e.contains(".ssh/config"), "{e}");
}

#[test]
fn json_errors_are_objects_on_stdout() {
    let client = Client::bare();
    client.write_config("[vps]\nport = 0\n");
    let out = client.run(&["config", "show", "--json"]);
    assert_eq!(out.status.code(), Some(78));
    let j: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(j["error"]["code"], 78);
    assert_eq!(j["error"]["kind"], "config");
}

#[test]
fn setup_writes_a_private_config_and_edits_it_in_place() {
    let client = Client::bare();
    let out = client.run(&["setup", "--host", "myvps", "--agent", "opencode"]);
    assert_eq!(out.status.code(), Some(2), "no --yes and no terminal: {}", stderr(&out));
    assert!(!client.config_file().exists());

    let shown =
        client.ok(&["setup", "--host", "myvps", "--agent", "opencode", "--user", "dev", "--port", "2222", "--yes"]);
    assert!(shown.contains("host = \"myvps\""), "{shown}");
    let mode = std::fs::metadata(client.config_file()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let with_comment = format!("# my notes\n{}", std::fs::read_to_string(client.config_file()).unwrap());
    std::fs::write(client.config_file(), with_comment).unwrap();
    client.ok(&["setup", "--agent", "claude", "--yes"]);
    let text = std::fs::read_to_string(client.config_file()).unwrap();
    assert!(
        text.contains("# my notes") && text.contains("agent = \"claude\"") && text.contains("host = \"myvps\""),
        "{text}"
    );

    let out = client.run(&["setup", "--port", "0", "--yes"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(client.config_file()).unwrap().contains("port = 2222"),
        "a bad value is never written"
    );

    let fresh = Client::bare();
    let out = fresh.run(&["setup", "--agent", "claude", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--host"));
}

#[test]
fn legacy_config_json_is_imported_on_first_run() {
    let client = Client::bare();
    let dir = client.config_file().parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"vps":{"hostname":"old-box","user":"ubuntu","port":22},"sync":{"mode":"both","ignore":["node_modules","dist"],"remoteBase":"~/workspace"},"agent":"claude","ssh":{"connectTimeout":10,"keepaliveInterval":60},"connection":{"protocols":["ssh","et","mosh"]}}"#,
    )
    .unwrap();
    let out = client.run(&["config", "show"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Imported the original tool's config.json") && err.contains("vps.hostname → vps.host"),
        "{err}"
    );
    assert!(err.contains("connection.protocols"), "skipped keys are reported: {err}");
    assert!(stdout(&out).contains("old-box"));
    let text = std::fs::read_to_string(client.config_file()).unwrap();
    assert!(text.contains("mode = \"two-way-resolved\"") && text.contains("\"dist\""), "{text}");
    // Only once.
    assert!(!stderr(&client.run(&["config", "show"])).contains("Imported"));
}

#[test]
fn global_flags_go_before_or_after_the_command() {
    let client = Client::bare();
    for args in [vec!["-q", "id"], vec!["id", "-q"], vec!["--json", "-v", "id"]] {
        let out = client.run(&args);
        assert_eq!(out.status.code(), Some(0), "sinc {args:?}: {}", stderr(&out));
    }
}

#[test]
fn bad_flags_exit_2() {
    let client = Client::bare();
    for args in [
        vec!["--no-such-flag"],
        vec!["-r", "-l"],
        vec!["exec"],
        vec!["kill"],
        vec!["completions", "tcsh"],
        vec!["setup", "--port", "abc"],
        vec!["nosuchcommand"],
        vec!["-r", "id"],
        vec!["-k", "x", "list"],
    ] {
        let out = client.run(&args);
        assert_eq!(out.status.code(), Some(2), "sinc {args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty());
    }
    assert!(client.run(&["--help"]).status.success());
    let v = client.ok(&["-V"]);
    assert!(v.starts_with("sinc "), "{v}");
}

#[test]
fn completions_for_each_shell() {
    let client = Client::bare();
    for shell in ["bash", "zsh", "fish"] {
        let script = client.ok(&["completions", shell]);
        assert!(script.contains("sinc") && script.contains("reattach"), "{shell}");
    }
}
