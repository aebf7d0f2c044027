//! The LunaRoute plugin in a long-lived host (as the VPS daemon keeps it),
//! between curl and a stub of both providers' real wire formats: responses
//! arrive byte for byte as the provider sent them (also when the proxy had
//! to ask for usage), tokens, cost and timings are recorded per session,
//! errors come back in each provider's shape, client disconnects and big
//! bodies, redaction, retention and broken recording lines.

use sinc_plugin_host::running::Running;
use sinc_tests::http::curl;
use sinc_tests::llm_stub::{ANTHROPIC_USAGE, OPENAI_USAGE};
use sinc_tests::{LlmStub, PluginHost, free_port, wait_until};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Proxy {
    host: PluginHost,
    running: Running,
    proxy: u16,
    dashboard: u16,
}

const SESSION: &str = "sinc-app-1a2b3c";
const CLIENT_KEY: &str = "sk-ant-test-0123456789abcdefghij";

impl Proxy {
    /// LunaRoute with both providers at `stub` (or `settings` saying
    /// otherwise), on free ports.
    fn start(stub: &LlmStub, settings: &str) -> Proxy {
        Proxy::start_in(PluginHost::new(), stub, settings, &[])
    }

    fn start_in(host: PluginHost, stub: &LlmStub, settings: &str, secrets: &[(&str, &str)]) -> Proxy {
        let (proxy, dashboard) = (free_port(), free_port());
        let mut table: toml::Table = toml::from_str(settings).unwrap();
        for (key, value) in [
            ("proxy_port", toml::Value::Integer(proxy.into())),
            ("dashboard_port", toml::Value::Integer(dashboard.into())),
            ("openai_base_url", toml::Value::String(format!("{}/v1", stub.url))),
            ("anthropic_base_url", toml::Value::String(stub.url.clone())),
        ] {
            table.entry(key).or_insert(value);
        }
        let running = host.start_with_secrets("lunaroute", table, secrets);
        Proxy { host, running, proxy, dashboard }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.proxy)
    }

    fn command(&self, args: &[&str]) -> String {
        self.host.command(&self.running, "lunaroute", args)
    }

    fn stats(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.command(&[&["stats", "--json"], args].concat())).unwrap()
    }

    /// The dashboard's JSON at `path`.
    fn api(&self, path: &str) -> serde_json::Value {
        let (status, body) = curl(&[&format!("http://127.0.0.1:{}{path}", self.dashboard)], None);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn recordings(&self) -> String {
        let mut all = String::new();
        let root = self.host.data_dir("lunaroute").join("files/recordings");
        for day in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            for file in std::fs::read_dir(day.path()).unwrap().flatten() {
                all.push_str(&std::fs::read_to_string(file.path()).unwrap());
            }
        }
        all
    }
}

fn anthropic(url: &str, body: &str) -> (u16, String) {
    let key = format!("x-api-key: {CLIENT_KEY}");
    curl(&["-H", &key, "-H", "anthropic-version: 2023-06-01", "-H", "content-type: application/json", url], Some(body))
}

fn openai(url: &str, body: &str) -> (u16, String) {
    curl(
        &["-H", "authorization: Bearer sk-openai-test-0123456789abcdef", "-H", "content-type: application/json", url],
        Some(body),
    )
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn both_providers_pass_through_unchanged_and_every_token_is_recorded() {
    let stub = LlmStub::start();
    let p = Proxy::start(&stub, "");
    let via = |path: &str| p.url(&format!("/s/{SESSION}{path}"));
    let direct = |path: &str| format!("{}{path}", stub.url);

    // Anthropic, streamed and not: byte for byte what the provider sent.
    let streamed =
        r#"{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let whole = streamed.replace(r#","stream":true"#, "");
    for body in [streamed, whole.as_str()] {
        let (status, through) = anthropic(&via("/v1/messages"), body);
        assert_eq!(status, 200, "{through}");
        assert_eq!(through, anthropic(&direct("/v1/messages"), body).1);
    }
    // The provider got the client's key, and no trace of the session.
    let seen = stub.seen();
    assert_eq!(seen[0].header("x-api-key"), Some(CLIENT_KEY));
    assert_eq!(seen[0].target, "/v1/messages");

    // OpenAI chat, streamed without asking for usage: the proxy asks, and
    // the client still gets exactly the stream it asked for.
    let chat = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let (status, through) = openai(&via("/v1/chat/completions"), chat);
    assert_eq!(status, 200);
    let plain = openai(&direct("/v1/chat/completions"), chat).1;
    assert_eq!(through, plain, "byte for byte");
    assert!(!through.contains("usage"), "{through}");
    let asked: serde_json::Value = serde_json::from_slice(&stub.seen().iter().rev().nth(1).unwrap().body).unwrap();
    assert_eq!(asked["stream_options"]["include_usage"], true, "the proxy asked for usage");
    // Asking for usage itself, the client gets it.
    let with_usage = chat.replace(r#""stream":true"#, r#""stream":true,"stream_options":{"include_usage":true}"#);
    let (_, through) = openai(&via("/v1/chat/completions"), &with_usage);
    assert_eq!(through, openai(&direct("/v1/chat/completions"), &with_usage).1);
    assert!(through.contains("\"prompt_tokens\":1000"));

    // OpenAI chat not streamed, responses streamed, and the models list.
    let whole_chat = chat.replace(r#","stream":true"#, "");
    assert_eq!(openai(&via("/v1/chat/completions"), &whole_chat), openai(&direct("/v1/chat/completions"), &whole_chat));
    let responses = r#"{"model":"gpt-4o","stream":true,"input":"hi"}"#;
    assert_eq!(openai(&via("/v1/responses"), responses), openai(&direct("/v1/responses"), responses));
    let (status, models) = curl(&["-H", "authorization: Bearer k", &via("/v1/models")], None);
    assert_eq!((status, models.contains("gpt-4o")), (200, true), "{models}");

    // Recorded: every request of the session, within a second.
    let stats = wait_until(Duration::from_secs(1), "the stats", || {
        let s = p.stats(&["--session", SESSION]);
        (s["totals"]["requests"] == 7).then_some(s)
    });
    let claude = &stats["by_model"]["claude-sonnet-4-5"];
    let (input, output, read, write) = ANTHROPIC_USAGE;
    assert_eq!(claude["requests"], 2);
    assert_eq!(
        claude["usage"],
        serde_json::json!({"input": 2 * input, "output": 2 * output, "cache_read": 2 * read, "cache_write": 2 * write, "reasoning": 0})
    );
    let claude_cost = (input as f64 * 3.0 + output as f64 * 15.0 + read as f64 * 0.3 + write as f64 * 3.75) / 1e6;
    assert!(near(claude["cost_usd"].as_f64().unwrap(), 2.0 * claude_cost), "{claude}");
    let gpt = &stats["by_model"]["gpt-4o"];
    let (prompt, completion, cached, reasoning) = OPENAI_USAGE;
    assert_eq!(gpt["requests"], 4, "three chats and a response: {gpt}");
    assert_eq!(stats["by_model"]["unknown"]["requests"], 1, "the models list");
    assert_eq!(gpt["usage"]["cache_read"], 4 * cached, "every chat and response counted, the streamed one too");
    assert_eq!(gpt["usage"]["input"], 4 * (prompt - cached));
    assert_eq!(gpt["usage"]["reasoning"], 4 * reasoning);
    let gpt_cost = ((prompt - cached) as f64 * 2.5 + cached as f64 * 1.25 + completion as f64 * 10.0) / 1e6;
    assert!(near(gpt["cost_usd"].as_f64().unwrap(), 4.0 * gpt_cost), "{gpt}");
    assert_eq!(stats["totals"]["tool_calls"], 6, "{stats}");
    assert_eq!(stats["totals"]["errors"], 0, "{stats}");

    // Each exchange, with its timings, the assembled stream and no key.
    let session = p.api(&format!("/api/sessions/{SESSION}"));
    let first = &session["requests"][0];
    assert!(first["timings"]["proxy_us"].as_u64().unwrap() > 0, "{first}");
    assert!(first["timings"]["ttft_ms"].as_u64().unwrap() >= first["timings"]["headers_ms"].as_u64().unwrap());
    let shown: serde_json::Value =
        serde_json::from_str(&p.command(&["show", first["id"].as_str().unwrap(), "--json"])).unwrap();
    assert_eq!(shown["response"]["content"][0]["text"], "Hello from the stub");
    assert_eq!(shown["response"]["content"][1]["input"]["path"], "src/main.rs");
    assert_eq!(shown["request"]["messages"][0]["content"], "hi");
    assert_eq!(p.api(&format!("/api/requests/{}", first["id"].as_str().unwrap()))["id"], first["id"]);
    let text = p.command(&["stats"]);
    assert!(text.contains("claude-sonnet-4-5") && text.contains(SESSION), "{text}");
    let sessions = p.command(&["sessions"]);
    assert!(sessions.contains(SESSION), "{sessions}");
    wait_until(Duration::from_secs(3), "the recordings on disk", || {
        (p.recordings().lines().count() == 7).then_some(())
    });
    assert!(
        !p.recordings().contains("sk-ant-test") && !p.recordings().contains("sk-openai-test"),
        "keys never recorded"
    );

    // Prometheus metrics and the health check.
    let (_, metrics) = curl(&[&p.url("/metrics")], None);
    assert!(
        metrics.contains(
            "lunaroute_tokens_total{provider=\"anthropic\",model=\"claude-sonnet-4-5\",kind=\"cache_read\"} 4000"
        ),
        "{metrics}"
    );
    assert_eq!(curl(&[&p.url("/healthz")], None), (200, r#"{"status":"ok"}"#.into()));
}

#[test]
fn upstream_failures_come_back_in_each_providers_shape() {
    let stub = LlmStub::start();
    let closed = free_port();
    let p = Proxy::start(
        &stub,
        &format!("anthropic_base_url = \"http://127.0.0.1:{closed}\"\nresponse_timeout_ms = 1000\n"),
    );
    let (status, body) =
        anthropic(&p.url("/v1/messages"), r#"{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}"#);
    assert_eq!(status, 502, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["type"], "error", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("could not be reached"), "{error}");

    let (status, body) = openai(&p.url("/v1/chat/completions"), r#"{"model":"slow","messages":[]}"#);
    assert_eq!(status, 504, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "upstream_timeout", "{error}");

    // A provider's own error passes through as it is.
    let p2 = Proxy::start(&stub, "");
    let overloaded = r#"{"model":"overloaded","max_tokens":1,"messages":[]}"#;
    assert_eq!(
        anthropic(&p2.url("/v1/messages"), overloaded),
        anthropic(&format!("{}/v1/messages", stub.url), overloaded)
    );

    let stats = p.stats(&[]);
    assert_eq!(stats["totals"]["errors"], 2, "{stats}");
    let requests = p.api("/api/sessions/-")["requests"].clone();
    let outcomes: Vec<&str> = requests.as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["unreachable", "unreachable"]);
    let recorded = wait_until(Duration::from_secs(3), "the error recorded", || {
        let r = p2.api("/api/sessions/-");
        (r["requests"].as_array().unwrap().len() == 1).then_some(r)
    });
    assert_eq!(recorded["requests"][0]["outcome"], "upstream_error");
    assert_eq!(recorded["requests"][0]["error"], "Overloaded");
}

#[test]
fn a_client_that_leaves_mid_stream_is_recorded_as_such_and_big_bodies_stream_through() {
    let stub = LlmStub::start();
    let p = Proxy::start(&stub, "");
    let (_, partial) = curl(
        &["-m", "1", "-H", "x-api-key: k", &p.url("/v1/messages")],
        Some(r#"{"model":"stall","max_tokens":1,"stream":true,"messages":[]}"#),
    );
    assert!(partial.contains("message_start"), "{partial}");
    let left = wait_until(Duration::from_secs(5), "the disconnect recorded", || {
        let s = p.api("/api/sessions/-");
        s["requests"].as_array().unwrap().first().cloned()
    });
    assert_eq!(left["outcome"], "client_disconnected", "{left}");

    // 24 MiB: more than the proxy reads; it streams through untouched.
    let big = format!(
        r#"{{"model":"claude-haiku-4-5","max_tokens":1,"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(24 << 20)
    );
    let (status, body) = anthropic(&p.url("/v1/messages"), &big);
    assert_eq!(status, 200, "{body}");
    assert_eq!(stub.seen().last().unwrap().body.len(), big.len());
    let stats = wait_until(Duration::from_secs(2), "the big request", || {
        let s = p.stats(&[]);
        (s["totals"]["requests"] == 2).then_some(s)
    });
    assert_eq!(stats["by_model"]["claude-haiku-4-5"]["usage"]["input"], ANTHROPIC_USAGE.0, "{stats}");
}

#[test]
fn recordings_are_redacted_kept_within_their_age_and_survive_broken_lines() {
    let stub = LlmStub::start();
    let host = PluginHost::new();
    let root = host.data_dir("lunaroute").join("files/recordings");
    // An old day, and today's file with a line cut short by a crash.
    let line = |ts: u64, id: &str| {
        format!(
            r#"{{"id":"{id}","ts":{ts},"session":"sinc-old-000000","provider":"openai","endpoint":"models","method":"GET","path":"/v1/models","model":null,"stream":false,"status":200,"outcome":"ok","error":null,"usage":null,"cost_usd":null,"timings":{{"proxy_us":1,"headers_ms":1,"ttft_ms":1,"total_ms":1}},"tool_calls":[],"bytes":1}}"#
        )
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let today = sinc_plugin_lunaroute_day(now);
    std::fs::create_dir_all(root.join("2000-01-01")).unwrap();
    std::fs::write(root.join("2000-01-01/sinc-old-000000.jsonl"), line(946_684_800_000, "old-1") + "\n").unwrap();
    std::fs::create_dir_all(root.join(&today)).unwrap();
    std::fs::write(root.join(&today).join("sinc-old-000000.jsonl"), line(now - 1000, "today-1") + "\n{\"id\":\"cut")
        .unwrap();
    let p = Proxy::start_in(host, &stub, "redact = [\"email\"]\nretention_days = 30\n", &[]);
    // The broken line is skipped; the old day goes at the first flush.
    wait_until(Duration::from_secs(5), "the old day removed", || (!root.join("2000-01-01").exists()).then_some(()));
    assert_eq!(p.stats(&[])["totals"]["requests"], 1);

    let body =
        r#"{"model":"claude-haiku-4-5","max_tokens":1,"messages":[{"role":"user","content":"mail dev@example.com"}]}"#;
    assert_eq!(anthropic(&p.url(&format!("/s/{SESSION}/v1/messages")), body).0, 200);
    wait_until(Duration::from_secs(3), "the recording", || p.recordings().contains(SESSION).then_some(()));
    let recorded = p.recordings();
    assert!(recorded.contains("mail [redacted:email]") && !recorded.contains("dev@example.com"), "{recorded}");
}

/// The day the plugin files `ms` under (UTC), computed the same way.
fn sinc_plugin_lunaroute_day(ms: u64) -> String {
    let out = Command::new("date").args(["-u", "-d", &format!("@{}", ms / 1000), "+%Y-%m-%d"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The Python SDKs of both providers (scripts/prerequisites installs them
/// in target/python-sdks).
fn python_sdks() -> Option<std::path::PathBuf> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/python-sdks/bin/python");
    let ok = Command::new(&python).args(["-c", "import openai, anthropic"]).status().is_ok_and(|s| s.success());
    ok.then_some(python)
}

#[test]
fn the_official_python_sdks_get_through_the_proxy_exactly_what_they_get_directly() {
    let Some(python) = python_sdks() else {
        eprintln!(
            "SKIPPED: the openai and anthropic Python SDKs are not in target/python-sdks (scripts/prerequisites installs them)"
        );
        return;
    };
    let stub = LlmStub::start();
    let p = Proxy::start(&stub, "");
    let down = Proxy::start(&stub, &format!("anthropic_base_url = \"http://127.0.0.1:{}\"\n", free_port()));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/sdk_clients.py");
    let out = Command::new(python)
        .arg(script)
        .arg(p.url(&format!("/s/{SESSION}")))
        .arg(p.url(&format!("/s/{SESSION}/v1")))
        .arg(&stub.url)
        .arg(format!("{}/v1", stub.url))
        .arg(down.url(""))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["proxy"], seen["direct"], "what the SDKs see through the proxy");
    assert_eq!(seen["proxy"]["messages_stream"]["content"][0]["text"], "Hello from the stub");
    assert!(seen["proxy"]["chat_stream"].as_array().unwrap().iter().all(|c| c["usage"].is_null()), "{}", seen["proxy"]);
    assert_eq!(seen["proxy"]["overloaded"][0], 529);
    // The SDK reads the proxy's own error as an API error of its provider.
    assert_eq!(seen["unreachable"][0], 502);
    assert_eq!(seen["unreachable"][1], "InternalServerError");
    assert!(seen["unreachable"][2].as_str().unwrap().contains("could not be reached"), "{}", seen["unreachable"]);

    // Everything the SDKs did through the proxy is counted, streamed chat included.
    let stats = wait_until(Duration::from_secs(1), "the SDKs' requests", || {
        let s = p.stats(&["--session", SESSION]);
        (s["totals"]["requests"] == 8).then_some(s)
    });
    let (prompt, _, cached, _) = OPENAI_USAGE;
    assert_eq!(stats["by_model"]["gpt-4o"]["usage"]["input"], 4 * (prompt - cached), "{stats}");
    assert_eq!(stats["by_model"]["claude-sonnet-4-5"]["usage"]["cache_read"], 2 * ANTHROPIC_USAGE.2, "{stats}");
    // (Anthropic's SDK sends its key as `x-api-key` or, lately, a bearer token.)
    let key = "sk-ant-sdk-test-0123456789abcdef";
    let sent_keys = stub
        .seen()
        .iter()
        .filter(|s| s.header("x-api-key") == Some(key) || s.header("authorization") == Some(&format!("Bearer {key}")))
        .count();
    assert_eq!(sent_keys, 6, "the SDK's key reached the provider, through the proxy and directly");
    wait_until(Duration::from_secs(3), "the recordings", || (p.recordings().lines().count() == 8).then_some(()));
    assert!(!p.recordings().contains("sdk-test"), "keys never recorded");
}

#[test]
fn sessions_that_sinc_starts_talk_through_the_proxy_and_the_dashboard_opens_over_ssh() {
    sinc_tests::require_root!();
    let stub = LlmStub::start();
    let sshd = sinc_tests::Sshd::start();
    // The agent calls Anthropic's API wherever its environment says.
    let agent = sshd.remote_script(
        "agent",
        "#!/bin/sh\ncurl -s -o /dev/null -H 'x-api-key: sk-ant-agent-0123456789abcdef' -H 'content-type: application/json' \
         -d '{\"model\":\"claude-haiku-4-5\",\"max_tokens\":1,\"messages\":[]}' \"$ANTHROPIC_BASE_URL/v1/messages\"\n\
         echo \"agent ready OPENAI_BASE_URL=$OPENAI_BASE_URL\"\nexec cat\n",
    );
    let client = sinc_tests::Client::new(&sshd, &agent.to_string_lossy());
    let (proxy, dashboard) = (free_port(), free_port());
    let mut config = std::fs::read_to_string(client.config_file()).unwrap();
    config.push_str(&format!(
        "[plugins.lunaroute]\nproxy_port = {proxy}\ndashboard_port = {dashboard}\nanthropic_base_url = \"{}\"\nopenai_base_url = \"{}/v1\"\n",
        stub.url, stub.url
    ));
    std::fs::write(client.config_file(), config).unwrap();
    client.ok(&["plugin", "add", &sinc_tests::plugin_component("lunaroute").to_string_lossy(), "--yes"]);
    let id = client.ok(&["id"]).trim().to_owned();

    client.ok(&["start"]);
    let stats = wait_until(Duration::from_secs(30), "the agent's request, recorded under its session", || {
        let out = client.run(&["lunaroute", "stats", "--json", "--session", &id]);
        let stats: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (stats["totals"]["requests"] == 1).then_some(stats)
    });
    assert_eq!(stats["by_model"]["claude-haiku-4-5"]["usage"]["input"], ANTHROPIC_USAGE.0, "{stats}");
    assert_eq!(stub.seen()[0].target, "/v1/messages", "the session's prefix stays in the proxy");

    // The dashboard, forwarded through the SSH connection.
    let mut open = client
        .sinc()
        .args(["open", "lunaroute", "--no-browser"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(open.stdout.take().unwrap()), &mut url).unwrap();
    let (status, sessions) = curl(&[&format!("{}api/sessions", url.trim())], None);
    assert_eq!(status, 200, "{sessions}");
    assert!(sessions.contains(&id), "{sessions}");
    let (_, page) = curl(&[url.trim()], None);
    assert!(page.contains("<title>LunaRoute"), "{page}");
    open.kill().unwrap();
    let _ = open.wait();
    client.ok(&["kill", &id]);
}

#[test]
fn the_dashboard_in_headless_chromium_shows_what_was_recorded() {
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/node-tools");
    if !std::path::Path::new("/usr/bin/chromium").exists() || !tools.join("node_modules/playwright-core").exists() {
        eprintln!("SKIPPED: Chromium or playwright-core is missing (scripts/prerequisites installs both)");
        return;
    }
    let stub = LlmStub::start();
    let p = Proxy::start(&stub, "");
    let streamed =
        r#"{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(anthropic(&p.url(&format!("/s/{SESSION}/v1/messages")), streamed).0, 200);
    assert_eq!(
        openai(&p.url(&format!("/s/{SESSION}/v1/chat/completions")), r#"{"model":"gpt-4o","messages":[]}"#).0,
        200
    );
    assert_eq!(openai(&p.url("/v1/chat/completions"), r#"{"model":"local-model","messages":[]}"#).0, 200);
    let stats = wait_until(Duration::from_secs(1), "three requests", || {
        let s = p.stats(&[]);
        (s["totals"]["requests"] == 3).then_some(s)
    });
    let t = &stats["totals"];
    let u = &t["usage"];
    let tokens: u64 = ["input", "output", "cache_read", "cache_write"].iter().map(|k| u[k].as_u64().unwrap()).sum();
    let expected = serde_json::json!({
        "requests": 3,
        "tokens": tokens,
        // The local model has no price: shown, never guessed.
        "cost": format!("${:.4} + price unknown", t["cost_usd"].as_f64().unwrap()),
        "session": SESSION,
        "session_requests": 2,
        "model": "claude-sonnet-4-5",
        "response_text": "Hello from the stub",
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js/lunaroute_dashboard.mjs");
    let out = Command::new("node")
        .arg(script)
        .arg(format!("http://127.0.0.1:{}/", p.dashboard))
        .arg(expected.to_string())
        .env("NODE_TOOLS", &tools)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(found["overview_ms"].as_u64().unwrap() < 5000, "{found}");
}

#[test]
fn keys_set_as_secrets_replace_the_clients_and_other_answers_pass_unchanged() {
    let stub = LlmStub::start();
    let secrets = [
        ("lunaroute_anthropic_api_key", "sk-ant-configured-0123456789abcdef"),
        ("lunaroute_openai_api_key", "sk-openai-configured-0123456789abcdef"),
    ];
    let p = Proxy::start_in(PluginHost::new(), &stub, "", &secrets);
    assert_eq!(
        anthropic(&p.url("/v1/messages"), r#"{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}"#).0,
        200
    );
    assert_eq!(openai(&p.url("/v1/chat/completions"), r#"{"model":"gpt-4o","messages":[]}"#).0, 200);
    let seen = stub.seen();
    assert_eq!(seen[0].header("x-api-key"), Some(secrets[0].1));
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[1].header("authorization"), Some(format!("Bearer {}", secrets[1].1).as_str()));

    // A plain-text error passes as it is: status, headers, body.
    let teapot = |url: &str| {
        let out = Command::new("curl").args(["-s", "-i", "-H", "authorization: Bearer k", url]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
        (
            text.contains("418") && text.contains("x-stub: yes"),
            text.rsplit("\r\n\r\n").next().unwrap_or_default().to_owned(),
        )
    };
    assert_eq!(teapot(&p.url("/v1/teapot")), teapot(&format!("{}/v1/teapot", stub.url)));
    assert_eq!(teapot(&p.url("/v1/teapot")), (true, "i'm a teapot\n".to_owned()));
    wait_until(Duration::from_secs(3), "the recordings", || (p.recordings().lines().count() == 4).then_some(()));
    assert!(!p.recordings().contains("configured"), "keys never recorded");
}
