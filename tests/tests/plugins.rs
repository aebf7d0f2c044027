//! `sinc plugin …` from the command line: adding a local build after showing
//! what it may do, listing, running the subcommand it adds with its
//! settings, disabling, replacing, removing, and refusing what is not a
//! plugin — each with its exit status.

use sinc_tests::{Client, plugin_component, stderr, stdout};

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
        (Some("hello"), Some("0.1.0"), Some(true))
    );
    assert_eq!(p["commands"][0]["name"], "hello");
    assert_eq!(p["permissions"], serde_json::json!([]));
    // Adding the same build again changes nothing.
    client.ok(&["plugin", "add", &hello(), "--yes"]);

    assert_eq!(client.ok(&["hello", "Ana"]), "Hello, Ana! (0 session events seen)\n");
    client.write_config("[plugins.hello]\ngreeting = \"Ahoy\"\n");
    assert_eq!(client.ok(&["hello"]), "Ahoy, world! (0 session events seen)\n");
    let info = client.ok(&["plugin", "info", "hello"]);
    assert!(info.contains("command   sinc hello") && info.contains("nothing else"), "{info}");

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
    // A bad [plugins.NAME] key is a config error.
    client.write_config("[plugins.Bad_Name]\nx = 1\n");
    let bad = client.run(&["hostile-ok"]);
    assert_eq!(bad.status.code(), Some(78), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("not a plugin name"), "{}", stderr(&bad));
}
