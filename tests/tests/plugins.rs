//! `sinc plugin …` from the command line: adding a local build after showing
//! what it may do, listing, running the subcommand it adds with its
//! settings, disabling, replacing, removing, and refusing what is not a
//! plugin — each with its exit status.

use sinc_tests::{Client, plugin_component, stderr, stdout};
use std::process::Command;
use std::time::Duration;

fn hello() -> String {
    plugin_component("hello").to_string_lossy().into_owned()
}

#[test]
fn add_run_disable_and_remove_the_example_plugin() {
    let client = Client::bare();
    // Nobody to confirm: --yes is required, and nothing is installed.
    let refused = client.run(&["plugin", "add", &hello()]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));
    assert_eq!(client.json(&["plugin", "list"]), serde_json::json!([]));

    let added = client.ok(&["plugin", "add", &hello(), "--yes"]);
    assert!(added.is_empty(), "notices go to stderr: {added}");
    let listed = client.json(&["plugin", "list"]);
    let p = &listed[0];
    assert_eq!(
        (p["name"].as_str(), p["version"].as_str(), p["enabled"].as_bool()),
        (Some("hello"), Some("0.3.0"), Some(true))
    );
    assert_eq!(p["commands"][0]["name"], "hello");
    assert_eq!(
        p["permissions"],
        serde_json::json!([
            "call the host its setting `upstream` names (default 127.0.0.1:7708)",
            "serve HTTP on 127.0.0.1:7707"
        ])
    );
    // Adding the same build again changes nothing.
    client.ok(&["plugin", "add", &hello(), "--yes"]);

    assert_eq!(client.ok(&["hello", "Ana"]), "Hello, Ana! (0 session events seen)\n");
    client.write_config("[plugins.hello]\ngreeting = \"Ahoy\"\n");
    assert_eq!(client.ok(&["hello"]), "Ahoy, world! (0 session events seen)\n");
    let info = client.ok(&["plugin", "info", "hello"]);
    assert!(info.contains("command   sinc hello") && info.contains("may       serve HTTP on 127.0.0.1:7707"), "{info}");

    client.ok(&["plugin", "disable", "hello"]);
    let off = client.run(&["hello"]);
    assert_eq!(off.status.code(), Some(2));
    assert!(stderr(&off).contains("disabled"), "{}", stderr(&off));
    client.ok(&["plugin", "enable", "hello"]);
    client.ok(&["hello"]);

    let removed = client.run(&["plugin", "remove", "hello"]);
    assert!(removed.status.success() && stderr(&removed).contains("its data stays"), "{}", stderr(&removed));
    let gone = client.run(&["hello"]);
    assert_eq!(gone.status.code(), Some(2));
    assert!(stderr(&gone).contains("unknown command `hello`"), "{}", stderr(&gone));
    let again = client.run(&["plugin", "remove", "hello"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("no plugin `hello`"), "{}", stderr(&again));
}

#[test]
fn what_is_not_a_plugin_is_refused_and_nothing_is_installed() {
    let client = Client::bare();
    let junk = client.scratch().join("junk.wasm");
    std::fs::write(&junk, b"not wasm at all").unwrap();
    let bare_module = client.scratch().join("bare.wasm");
    std::fs::write(&bare_module, b"\0asm\x01\0\0\0").unwrap();
    for (file, needle) in [
        (junk.to_string_lossy().into_owned(), "not a WebAssembly component"),
        (bare_module.to_string_lossy().into_owned(), "sinc-manifest"),
        ("/no/such/file.wasm".to_owned(), "cannot read"),
    ] {
        let out = client.run(&["plugin", "add", &file, "--yes"]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{file}: {}", stderr(&out));
    }
    assert_eq!(client.json(&["plugin", "list"]), serde_json::json!([]));
    assert!(!client.home.join(".config/sincronizado/plugins.lock").exists());
}

#[test]
fn a_plugin_that_cannot_start_fails_its_command_cleanly() {
    let client = Client::bare();
    client.ok(&["plugin", "add", &plugin_component("hostile").to_string_lossy(), "--yes"]);
    let out = client.run(&["hostile-panic"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("plugin hostile was stopped: it panicked"), "{}", stderr(&out));
    assert_eq!(stdout(&client.run(&["hostile-ok"])), "still here\n");
    // Stopped three times in a row, it is disabled, and says why.
    for round in 1..=3 {
        let out = client.run(&["hostile-panic"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stderr(&out).contains("was disabled after 3 failures in a row"), round == 3, "{}", stderr(&out));
    }
    let off = client.run(&["hostile-ok"]);
    assert_eq!(off.status.code(), Some(2), "{}", stderr(&off));
    let info = client.json(&["plugin", "info", "hostile"]);
    assert!(info["disabled_reason"].as_str().unwrap().contains("it panicked"), "{info}");
    client.ok(&["plugin", "enable", "hostile"]);
    assert_eq!(client.ok(&["hostile-ok"]), "still here\n");
    // Secrets are never shown, and only declared ones reach a plugin.
    client.write_config("[secrets]\napi_key = \"s3cr3t-value\"\n");
    let shown = client.ok(&["config", "show"]) + &client.ok(&["config", "show", "--json"]);
    assert!(shown.contains("secrets.api_key") && !shown.contains("s3cr3t"), "{shown}");
    let denied = client.run(&["hostile-secret", "api_key"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(stderr(&denied).contains("needs `secrets") && !stderr(&denied).contains("s3cr3t"), "{}", stderr(&denied));
    // A bad [plugins.NAME] key is a config error.
    client.write_config("[plugins.Bad_Name]\nx = 1\n");
    let bad = client.run(&["hostile-ok"]);
    assert_eq!(bad.status.code(), Some(78), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("not a plugin name"), "{}", stderr(&bad));
}

#[test]
fn a_scaffolded_plugin_builds_passes_its_test_and_installs() {
    let client = Client::bare();
    let dir = client.scratch().join("demo-plugin");
    let out = client.run(&["plugin", "new", "demo-plugin", "--path", &dir.to_string_lossy()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = client.run(&["plugin", "new", "demo-plugin", "--path", &dir.to_string_lossy()]);
    assert_eq!(again.status.code(), Some(1), "an existing folder is never overwritten");
    assert_eq!(client.run(&["plugin", "new", "Demo"]).status.code(), Some(2));

    // Its own test passes natively, and it builds for WebAssembly; the
    // plugins' target folder is shared to reuse compiled dependencies.
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/target");
    let cargo = |args: &[&str]| {
        let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(args)
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap();
        assert!(out.status.success(), "cargo {args:?}:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(cargo(&["test", "--quiet"]).contains("1 passed"));
    cargo(&["build", "--release", "--quiet", "--target", "wasm32-wasip2"]);
    let wasm = target.join("wasm32-wasip2/release/demo_plugin.wasm");
    client.ok(&["plugin", "add", &wasm.to_string_lossy(), "--yes"]);
    assert_eq!(client.ok(&["demo-plugin", "a", "b"]), "demo-plugin #1: a b\n");
    assert_eq!(client.ok(&["demo-plugin", "c"]), "demo-plugin #2: c\n");

    // Published to a registry, installed from it, then updated to a build
    // that asks for more: the update shows that and asks again.
    let registry = client.scratch().join("registry");
    let publish = |client: &Client| {
        let out =
            client.run(&["plugin", "publish", &wasm.to_string_lossy(), "--registry", &registry.to_string_lossy()]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    publish(&client);
    let mut client = client;
    client.set_env("SINC_REGISTRY", &registry.to_string_lossy());
    client.ok(&["plugin", "remove", "demo-plugin"]);
    client.ok(&["plugin", "add", "demo-plugin@^0.1", "--yes"]);
    assert!(stderr(&client.run(&["plugin", "update"])).contains("demo-plugin 0.1.0 is up to date"));
    let manifest = dir.join("sinc-plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("0.1.0", "0.1.1")
        + "folders = [{ path = \"~/notes\", access = \"read\" }]\n";
    std::fs::write(&manifest, text).unwrap();
    cargo(&["build", "--release", "--quiet", "--target", "wasm32-wasip2"]);
    publish(&client);
    let asks = client.run(&["plugin", "update"]);
    assert_eq!(asks.status.code(), Some(2), "a wider build needs a yes: {}", stderr(&asks));
    let updated = client.run(&["plugin", "update", "demo-plugin", "--yes"]);
    assert!(stderr(&updated).contains("updated demo-plugin to 0.1.1"), "{}", stderr(&updated));
    let info = client.json(&["plugin", "info", "demo-plugin"]);
    assert_eq!(info["version"], "0.1.1");
    assert_eq!(info["permissions"], serde_json::json!(["read files in ~/notes"]));
    // Its data came along.
    assert_eq!(client.ok(&["demo-plugin", "d"]), "demo-plugin #3: d\n");
}

fn repo_registry() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../registry")
}

#[test]
fn every_published_artifact_matches_its_index_line_and_loads() {
    let registry = sinc::plugins::registry::Registry::folder(repo_registry());
    let names = registry.names().unwrap();
    assert!(names.contains(&"hello".to_owned()), "{names:?}");
    let cache = tempfile::tempdir().unwrap();
    let runtime = sinc_plugin_host::Runtime::new(cache.path().join("cache")).unwrap();
    for name in names {
        for entry in registry.entries(&name).unwrap() {
            let wasm = registry.artifact(&entry).unwrap_or_else(|e| panic!("{name} {}: {e}", entry.version));
            let manifest = sinc_plugin_host::Manifest::from_component(&wasm).unwrap();
            assert_eq!((&manifest.name, &manifest.version), (&entry.name, &entry.version));
            assert_eq!(manifest.permissions, entry.permissions, "{name} {}", entry.version);
            let grants = sinc_plugin_host::Grants::new(cache.path().join("data"), cache.path().to_path_buf());
            std::thread::scope(|s| s.spawn(|| runtime.load(&manifest, &wasm, &grants).map(drop)).join().unwrap())
                .unwrap_or_else(|e| panic!("{name} {} no longer loads: {e}", entry.version));
        }
    }
    for tier in ["minimal", "standard", "full"] {
        registry.preset(tier).unwrap_or_else(|e| panic!("{tier}: {e}"));
    }
}

#[test]
fn plugins_install_from_the_repository_registry_offline() {
    let mut client = Client::bare();
    client.set_env("SINC_REGISTRY", &repo_registry().to_string_lossy());
    let found = client.json(&["plugin", "search", "greet"]);
    assert_eq!(found[0]["name"], "hello", "{found}");
    let none = client.run(&["plugin", "add", "hello@^2", "--yes"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("no version of hello matches ^2"), "{}", stderr(&none));
    let unknown = client.run(&["plugin", "add", "no-such-plugin", "--yes"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("has no plugin `no-such-plugin`"), "{}", stderr(&unknown));
    client.ok(&["plugin", "add", "hello", "--yes"]);
    let listed = client.json(&["plugin", "list"]);
    assert!(listed[0]["source"].as_str().unwrap().starts_with("registry+"), "{listed}");
    assert_eq!(client.ok(&["hello"]), "Hello, world! (0 session events seen)\n");
}

/// A registry in a scratch folder with the repository's hello in it.
fn scratch_registry(client: &Client) -> std::path::PathBuf {
    let root = client.scratch().join("registry");
    let out = client.run(&[
        "plugin",
        "publish",
        &plugin_component("hello").to_string_lossy(),
        "--registry",
        &root.to_string_lossy(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    root
}

#[test]
fn a_tampered_artifact_or_a_broken_index_installs_nothing() {
    let mut client = Client::bare();
    let root = scratch_registry(&client);
    client.set_env("SINC_REGISTRY", &root.to_string_lossy());
    // Publishing the same bytes again is a no-op.
    let again = client.run(&[
        "plugin",
        "publish",
        &plugin_component("hello").to_string_lossy(),
        "--registry",
        &root.to_string_lossy(),
    ]);
    assert!(stderr(&again).contains("already published"), "{}", stderr(&again));

    let artifact = root.join("artifacts/hello/0.3.0/hello.wasm");
    let good = std::fs::read(&artifact).unwrap();
    let mut bad = good.clone();
    bad.push(0);
    std::fs::write(&artifact, &bad).unwrap();
    let out = client.run(&["plugin", "add", "hello", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("sha256") && stderr(&out).contains("nothing was installed"), "{}", stderr(&out));
    std::fs::write(&artifact, &good).unwrap();

    let index = root.join("index/hello.jsonl");
    let line = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, format!("{line}{{\"name\": \"hello\"}}\n")).unwrap();
    let out = client.run(&["plugin", "add", "hello", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("index/hello.jsonl line 2"), "{}", stderr(&out));
    assert_eq!(client.json(&["plugin", "list"]), serde_json::json!([]));
}

#[test]
fn tiers_install_exactly_their_bundle_and_keep_hand_added_plugins() {
    let mut client = Client::bare();
    let root = scratch_registry(&client);
    std::fs::create_dir_all(root.join("presets")).unwrap();
    for (tier, plugins) in [("minimal", "[]"), ("standard", "[]"), ("full", "[\"hello@^0.3\"]")] {
        std::fs::write(
            root.join(format!("presets/{tier}.toml")),
            format!("description = \"{tier}\"\nplugins = {plugins}\n"),
        )
        .unwrap();
    }
    client.set_env("SINC_REGISTRY", &root.to_string_lossy());
    client.ok(&["plugin", "add", &plugin_component("hostile").to_string_lossy(), "--yes"]);

    client.ok(&["tier", "set", "full", "--yes"]);
    client.ok(&["tier", "set", "full", "--yes"]);
    let shown = client.json(&["tier", "show"]);
    assert_eq!(shown, serde_json::json!({ "tier": "full", "preset_plugins": ["hello"], "added_by_hand": ["hostile"] }));

    client.ok(&["tier", "set", "custom", "--without", "hello"]);
    assert_eq!(client.json(&["tier", "show"])["preset_plugins"], serde_json::json!([]));
    client.ok(&["tier", "set", "custom", "--with", "hello", "--yes"]);
    assert_eq!(client.json(&["tier", "show"])["preset_plugins"], serde_json::json!(["hello"]));

    client.ok(&["tier", "set", "minimal"]);
    let names: Vec<String> = client
        .json(&["plugin", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["hostile"], "the tier's plugin went, the hand-added one stayed");
    let misuse = client.run(&["tier", "set", "full", "--with", "hello"]);
    assert_eq!(misuse.status.code(), Some(2));
}

#[test]
fn local_plugins_hear_of_a_real_session_created_attached_detached_and_ended() {
    sinc_tests::require_root!();
    let sshd = sinc_tests::Sshd::start();
    let agent = sshd.remote_script("agent", "#!/bin/sh\necho agent ready\nexec cat\n");
    let mut client = Client::new(&sshd, &agent.to_string_lossy());
    client.set_env("SINC_SYNC_MODE", "none");
    client.ok(&["plugin", "add", &hello(), "--yes"]);
    let id = client.ok(&["id"]).trim().to_owned();

    client.ok(&["start"]);
    let pty = sinc_tests::Pty::spawn(&client, &["-r"]);
    pty.wait_for("agent ready", std::time::Duration::from_secs(20));
    pty.keys(&["C-b", "d"]);
    assert_eq!(pty.exit_code(std::time::Duration::from_secs(20)), 0, "{}", pty.screen());
    assert_eq!(client.ok(&["hello"]), format!("Hello, world! (3 session events seen; last session {id})\n"));
    client.ok(&["kill", &id]);
    assert_eq!(client.ok(&["hello"]), format!("Hello, world! (4 session events seen; last session {id})\n"));
}

#[test]
fn a_remote_plugin_runs_in_the_vps_daemon_hears_sessions_serves_its_page_and_its_command() {
    sinc_tests::require_root!();
    let sshd = sinc_tests::Sshd::start();
    let agent = sshd.remote_script("agent", "#!/bin/sh\necho agent ready STATION_SAW=$STATION_SAW\nexec cat\n");
    let mut client = Client::new(&sshd, &agent.to_string_lossy());
    client.ok(&["plugin", "add", &plugin_component("station").to_string_lossy(), "--yes"]);
    let listed = client.json(&["plugin", "list"]);
    assert_eq!(listed[0]["runs_on"], "remote", "{listed}");
    let id = client.ok(&["id"]).trim().to_owned();
    let out = client.run(&["station"]);
    assert_eq!(out.status.code(), Some(69), "no session yet: {}", stderr(&out));
    assert!(stderr(&out).contains("runs on the VPS") && stderr(&out).contains("sinc start"), "{}", stderr(&out));

    // The user's own pattern for this agent's questions.
    let mut config = std::fs::read_to_string(client.config_file()).unwrap();
    config.push_str("[states.agent]\nwaiting = [\"^Ship it now\\\\?\"]\n");
    std::fs::write(client.config_file(), config).unwrap();

    // `sinc start`: the keeper sends the daemon the plugin; the daemon sees
    // the new tmux session and tells it. Its hook's notices are shown
    // bounded: 10 at most, 1,000 characters each, no control characters.
    let started = client.run(&["start"]);
    let said = stderr(&started);
    assert!(started.status.success(), "{said}");
    let notices: Vec<&str> = said.lines().filter_map(|l| l.strip_prefix("warning: plugin station: ")).collect();
    assert_eq!(notices.len(), 10, "{said}");
    assert_eq!(notices[0], "x".repeat(1000));
    assert_eq!(notices[9], "notice 9[2J");
    assert!(!said.contains('\x1b') && !said.contains("notice 10"), "{said}");
    let heard = sinc_tests::wait_until(Duration::from_secs(30), "the remote plugin to hear of the session", || {
        let out = client.run(&["station"]);
        let text = sinc_tests::stdout(&out);
        text.contains(&format!("created {id}")).then_some(text)
    });
    assert!(heard.lines().next().unwrap().starts_with(&format!("created {id} /")), "{heard}");

    // Its before-start hook gave the agent a variable and typed a line.
    let screen = sinc_tests::wait_until(Duration::from_secs(10), "the prompt typed by the hook", || {
        // Typed as the agent starts: the terminal echoes it, then `cat`.
        let screen = client.ok(&["station", "screen", &id]);
        (screen.matches("hello from station\n").count() == 2).then_some(screen)
    });
    assert!(screen.contains(&format!("agent ready STATION_SAW={id}\n")), "{screen}");
    // The sessions interface: state from the screen, typing, keys.
    let sessions = client.ok(&["station", "sessions"]);
    assert_eq!(sessions, format!("{id} idle hello from station\n"));
    assert_eq!(client.ok(&["station", "type", &id, "Overwrite main.rs? (y/n)"]), "typed\n");
    sinc_tests::wait_until(Duration::from_secs(10), "the waiting state", || {
        client.ok(&["station", "sessions"]).contains(" waiting Overwrite main.rs? (y/n)").then_some(())
    });
    for line in ["one", "two", "three"] {
        client.ok(&["station", "type", &id, line]);
    }
    sinc_tests::wait_until(Duration::from_secs(10), "idle again", || {
        client.ok(&["station", "sessions"]).contains(" idle three").then_some(())
    });
    client.ok(&["station", "type", &id, "Ship it now?"]);
    sinc_tests::wait_until(Duration::from_secs(10), "the user's pattern", || {
        client.ok(&["station", "sessions"]).contains(" waiting Ship it now?").then_some(())
    });
    let bad = client.run(&["station", "keys", &id, "-t"]);
    assert!(stderr(&bad).contains("`-t` is not a key name"), "{}", stderr(&bad));

    // Files sync writes on the VPS: one event per batch.
    std::fs::write(client.project.join("notes.txt"), "from the laptop").unwrap();
    client.ok(&["flush"]);
    sinc_tests::wait_until(Duration::from_secs(10), "the files-synced event", || {
        client.ok(&["station"]).contains(&format!("synced {id} 1\n")).then_some(())
    });

    // Its page, forwarded through the SSH connection; the plugin's own port
    // is taken here (the "VPS" is this machine), so another is used.
    let mut open = client
        .sinc()
        .args(["open", "station", "--no-browser"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(open.stdout.take().unwrap()), &mut url).unwrap();
    let url = url.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && !url.contains(":7710/"), "{url}");
    let page = Command::new("curl").args(["-s", "-m", "10", &url]).output().unwrap();
    let page = String::from_utf8_lossy(&page.stdout).into_owned();
    assert!(page.starts_with("station on the VPS\n") && page.contains(&format!("created {id}")), "{page}");

    // The agent's session ends; the plugin hears it though no keeper runs.
    client.ok(&["kill", &id]);
    let page = sinc_tests::wait_until(Duration::from_secs(20), "the plugin to hear the session end", || {
        let page = Command::new("curl").args(["-s", "-m", "10", &url]).output().unwrap();
        let page = String::from_utf8_lossy(&page.stdout).into_owned();
        page.contains(&format!("ended {id}")).then_some(page)
    });
    assert_eq!(page.matches(&format!("created {id}")).count(), 1, "{page}");
    open.kill().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut open.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("port 7710 is taken here; using"), "{err}");
    let _ = open.wait();

    // A hook may refuse a session: nothing is started.
    client.set_env("SINC_AGENT", &format!("{} --forbidden", agent.to_string_lossy()));
    let refused = client.run(&["start"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused)
            .contains("plugin station refused to start the session: agents run with --forbidden may not start"),
        "{}",
        stderr(&refused)
    );
    assert!(!client.ok(&["list"]).contains(&id));
}

#[test]
fn sinc_open_refuses_what_it_cannot_open_with_its_exit_status() {
    let client = Client::bare();
    let out = client.run(&["open", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no plugin `nope` is installed"), "{}", stderr(&out));
    client.ok(&["plugin", "add", &hello(), "--yes"]);
    // hello runs on the laptop: nothing hosts its page yet.
    let out = client.run(&["open", "hello", "--no-browser"]);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(stderr(&out).contains("plugin hello runs on this machine"), "{}", stderr(&out));
    let out = client.run(&["open", "hello", "--port", "1234", "--no-browser"]);
    assert_eq!(out.status.code(), Some(2), "a local plugin's port is not forwarded: {}", stderr(&out));
    client.write_config("[plugins.hello]\nport = 0\n");
    let out = client.run(&["open", "hello", "--no-browser"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(stderr(&out).contains("give a port number from 1 to 65535"), "{}", stderr(&out));
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_keeper_hosts_the_local_plugins_and_they_hear_what_happened_while_it_was_away() {
    sinc_tests::require_root!();
    let sshd = sinc_tests::Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let stop = dir.path().join("stop");
    let agent = sshd.remote_script(
        "agent",
        &format!("#!/bin/sh\necho agent ready\nwhile [ ! -e {} ]; do sleep 0.2; done\n", stop.display()),
    );
    let client = Client::new(&sshd, &agent.to_string_lossy());
    let port = free_port();
    let mut config = std::fs::read_to_string(client.config_file()).unwrap();
    config.push_str(&format!("[plugins.hello]\nport = {port}\n"));
    std::fs::write(client.config_file(), config).unwrap();
    client.ok(&["plugin", "add", &hello(), "--yes"]);
    let id = client.ok(&["id"]).trim().to_owned();
    let hello_says = |n: u32| format!("Hello, world! ({n} session events seen; last session {id})\n");

    // The keeper `sinc start` starts hosts hello: its page is served here
    // and its subcommand runs there, having heard of the new session.
    client.ok(&["start"]);
    let url = client.ok(&["open", "hello", "--no-browser"]).trim().to_owned();
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    // The keeper passes on the VPS's record of the new session.
    sinc_tests::wait_until(Duration::from_secs(20), "hello to hear of the session", || {
        (client.ok(&["hello"]) == hello_says(1)).then_some(())
    });
    let page = Command::new("curl").args(["-s", "-m", "10", &url]).output().unwrap();
    assert_eq!(stdout(&page), format!("Hello, web! (1 session events seen; last session {id})\n"));

    // The agent works a while (the daemon looks at tmux every second).
    std::thread::sleep(Duration::from_secs(3));
    // The laptop goes away (its keeper dies); meanwhile the agent ends.
    let pid = client.json(&["status"])["pid"].as_u64().expect("the keeper's pid");
    assert!(Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    let out = client.run(&["open", "hello", "--no-browser"]);
    assert_eq!(out.status.code(), Some(69), "no keeper hosts it now: {}", stderr(&out));
    std::fs::write(&stop, "").unwrap();
    sinc_tests::wait_until(Duration::from_secs(20), "the agent to end", || {
        (!client.ok(&["list"]).contains(&id)).then_some(())
    });
    // Without a keeper, the subcommand runs in `sinc` itself.
    assert_eq!(client.ok(&["hello"]), hello_says(1));

    // Back: a new keeper hands hello the end it missed, then the new
    // session's start; nothing twice.
    std::fs::remove_file(&stop).unwrap();
    client.ok(&["start"]);
    let heard = sinc_tests::wait_until(Duration::from_secs(30), "hello to hear the missed end", || {
        let said = client.ok(&["hello"]);
        (said == hello_says(3)).then_some(said)
    });
    assert_eq!(heard, hello_says(3));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(client.ok(&["hello"]), hello_says(3), "no event was heard twice");
    client.ok(&["kill", &id]);
    assert_eq!(client.ok(&["hello"]), hello_says(4));
}
