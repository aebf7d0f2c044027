//! The history plugin, for real: Claude Code's and OpenCode's session logs
//! (the plugin's fixtures, laid out as the agents write them) in the VPS
//! user's home; `sinc history` from the laptop searches and shows them
//! through the project's session, and on the VPS itself through the daemon
//! (which keeps running the plugins after it restarts); `sinc history mcp`
//! answers an MCP client's JSON-RPC in both places.

use sinc_tests::{Client, Sshd, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::Command;

/// An MCP client's session: initialize, the initialized notification,
/// tools/list, two tools/call and a ping.
const MCP_SESSION: &str = concat!(
    r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#,
    "\n",
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    "\n",
    r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    "\n",
    r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_sessions","arguments":{"query":"Postgres","agent":"claude"}}}"#,
    "\n",
    r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"drop_tables","arguments":{}}}"#,
    "\n",
    r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#,
    "\n",
);

/// The agents' log folders in the VPS user's home, removed afterwards.
struct Logs {
    /// The log folders made, and the agent folder each is in.
    made: Vec<(PathBuf, PathBuf)>,
}

impl Logs {
    fn install(sshd: &Sshd) -> Logs {
        let home = sshd.home();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/history/fixtures");
        let places = [
            (fixtures.join("claude-projects"), home.join(".claude/projects"), home.join(".claude")),
            (
                fixtures.join("opencode-storage"),
                home.join(".local/share/opencode/storage"),
                home.join(".local/share/opencode"),
            ),
        ];
        let mut made = Vec::new();
        for (from, to, top) in places {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            let copied = Command::new("cp").arg("-r").arg(&from).arg(&to).status().unwrap();
            assert!(copied.success());
            let owner = format!("{0}:{0}", sinc_tests::sshd::test_user());
            assert!(Command::new("chown").args(["-R", &owner]).arg(&top).status().unwrap().success());
            made.push((to, top));
        }
        Logs { made }
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        // Only what was made: other tests use the agents' folders too.
        for (folder, top) in &self.made {
            let _ = std::fs::remove_dir_all(folder);
            let _ = std::fs::remove_dir(top);
        }
    }
}

#[test]
fn past_sessions_of_both_agents_are_searched_and_shown_from_the_laptop() {
    sinc_tests::require_root!();
    let sshd = Sshd::start();
    let _logs = Logs::install(&sshd);
    let client = Client::new(&sshd, "cat");
    client.ok(&["plugin", "add", &sinc_tests::plugin_component("history").to_string_lossy(), "--yes"]);
    let started = client.json(&["start"]);
    let remote_sinc = started["remote_binary"]["path"].as_str().unwrap().to_owned();

    let found = client.ok(&["history", "search", "migration"]);
    assert!(found.contains("opencode ses_3a9f0c1d2e3fABCDEFGHIJKLMN"), "{found}");
    assert!(found.contains("claude   5f1e2d3c-aaaa-bbbb-cccc-000000000001"), "{found}");
    assert!(found.contains("> The orders migration fails on Postgres 16, fix it"), "{found}");

    let claude = client.json(&["history", "search", "migration", "--agent", "claude", "--json"]);
    assert_eq!(claude.as_array().unwrap().len(), 1, "{claude}");
    assert_eq!(claude[0]["project"], "/home/me/code/shop");

    let listed = client.json(&["history", "list", "--project", "blog", "--json"]);
    assert_eq!(listed[0]["title"], "Add RSS feed", "{listed}");

    let shown = client.ok(&["history", "show", "5f1e"]);
    assert!(shown.contains("title:   Fix orders migration for Postgres 16"), "{shown}");
    assert!(shown.contains("Generated columns need STORED on Postgres; I added it."), "{shown}");

    let missing = client.run(&["history", "show", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no past session `nope`"), "{}", stderr(&missing));
    let misuse = client.run(&["history", "list", "--bogus"]);
    assert_eq!(misuse.status.code(), Some(2), "{}", stdout(&misuse));

    // The same as MCP tools, from the laptop and on the VPS (where the
    // agents run): every request answered before the end of input ends it.
    for (place, args) in
        [("laptop", vec!["history", "mcp"]), ("VPS", vec!["exec", "--", remote_sinc.as_str(), "history", "mcp"])]
    {
        let out = client.run_with_input(&args, MCP_SESSION.as_bytes());
        assert!(out.status.success(), "{place}: {}", stderr(&out));
        let replies: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{place}: {e}: {l}")))
            .collect();
        let by_id = |id: i64| {
            replies.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{place}: no answer {id}: {replies:?}"))
        };
        assert_eq!(replies.len(), 5, "{place}: one answer per request, none for the notification: {replies:?}");
        assert_eq!(by_id(1)["result"]["serverInfo"]["name"], "sinc-history");
        let tools: Vec<&str> =
            by_id(2)["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(tools, ["list_sessions", "search_sessions", "get_session"], "{place}");
        let found = &by_id(3)["result"];
        assert_eq!(found["isError"], false, "{place}: {found}");
        let hits: serde_json::Value = serde_json::from_str(found["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(hits[0]["id"], "5f1e2d3c-aaaa-bbbb-cccc-000000000001", "{place}: {hits}");
        assert_eq!(by_id(4)["result"]["isError"], true, "{place}: an unknown tool is the tool's error");
        assert_eq!(by_id(5)["result"], serde_json::json!({}), "{place}");
    }

    // On the VPS itself (a shell there, or an agent's tool): the daemon
    // runs the plugins the laptop sent — also after it restarted.
    let on_vps = client.ok(&["exec", "--", &remote_sinc, "history", "search", "postgres"]);
    assert!(on_vps.contains("claude   5f1e2d3c-aaaa-bbbb-cccc-000000000001"), "{on_vps}");
    client.ok(&["exec", "--", &remote_sinc, "daemon", "--stop"]);
    let again = client.ok(&["exec", "--", &remote_sinc, "history", "show", "ses_3a9f"]);
    assert!(again.contains("The feed is at /rss.xml."), "{again}");
    let unknown = client.run(&["exec", "--", &remote_sinc, "no-such-command"]);
    assert_ne!(unknown.status.code(), Some(0));
    assert!(stderr(&unknown).contains("no-such-command"), "{}", stderr(&unknown));
    let id = client.ok(&["id"]).trim().to_owned();
    client.ok(&["kill", &id]);
}
