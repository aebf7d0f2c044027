//! The Kimaki plugin in the VPS daemon, driving a real tmux session started
//! through sinc, against the Discord stand-in (its real Gateway and REST
//! wire formats) and a transcription stub: slash commands, messages typed
//! into the agent, the agent's output back in the thread (split, batched,
//! not repeated), attachments saved and synced to the laptop, voice
//! messages transcribed, access by role, a dropped gateway resumed without
//! lost or repeated messages, 429s waited out, the token never written.

use serde_json::json;
use sinc_tests::discord::{Discord, TOKEN, Upload};
use sinc_tests::kimaki_site::KimakiSite;
use sinc_tests::wait_until;
use std::path::Path;
use std::time::{Duration, Instant};

/// The agent: says it is ready, answers each line, prints 300 lines for
/// `long`, asks a question for `ask`.
const AGENT: &str = r#"#!/bin/sh
echo "agent ready"
while IFS= read -r line; do
  case "$line" in
    long) i=1; while [ $i -le 300 ]; do echo "long line $i of the agent's output"; i=$((i+1)); done ;;
    ask) printf 'Proceed? [y/n] ' ;;
    *) echo "agent got: $line" ;;
  esac
done
"#;

fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn a_thread_drives_its_session_and_gets_its_output() {
    sinc_tests::require_root!();
    let rig = KimakiSite::start(AGENT, "shell_commands = true");
    let d = &rig.discord;
    // The commands, registered for the server.
    let commands = d.commands();
    let names: Vec<&str> = commands.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for name in ["new", "sessions", "stop", "status", "diff", "output", "project", "share"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let thread = rig.thread();

    // A message is typed into the agent, its answer comes back once.
    let sent = Instant::now();
    d.say(&thread, &rig.alice, "hello there");
    rig.wait_for_agent("agent got: hello there", Duration::from_secs(10));
    let typed = sent.elapsed();
    let posted = rig.wait_for_post(&thread, "agent got: hello there");
    let round_trip = sent.elapsed();
    eprintln!("message → keystrokes {typed:?}; → output posted {round_trip:?}");
    std::thread::sleep(Duration::from_secs(2));
    let all = d.bot_text(&thread);
    assert_eq!(occurrences(&all, "agent got: hello there"), 1, "{all}");
    assert_eq!(occurrences(&all, "\nhello there\n"), 0, "the echo of what was typed is not posted: {posted}");

    // 300 lines: split into messages Discord takes, none lost or repeated.
    d.say(&thread, &rig.alice, "long");
    rig.wait_for_post(&thread, "long line 300 of");
    let messages = d.messages(&thread);
    assert!(messages.iter().all(|m| m["content"].as_str().unwrap().chars().count() <= 2000));
    let all = d.bot_text(&thread);
    for i in [1, 150, 299, 300] {
        assert_eq!(occurrences(&all, &format!("long line {i} of")), 1, "line {i}");
    }
    assert!(
        messages
            .iter()
            .all(|m| m["allowed_mentions"] == json!({ "parse": [] }) || m["author"]["id"] != sinc_tests::discord::APP)
    );

    // A question: the state is shown.
    d.say(&thread, &rig.alice, "ask");
    rig.wait_for_post(&thread, "Proceed? [y/n]");
    rig.wait_for_post(&thread, "❓ The agent is waiting for an answer");

    // !cmd runs in the project folder; /diff shows its changes.
    d.say(&thread, &rig.alice, "!echo x > marker.txt && ls");
    let shell = rig.wait_for_post(&thread, "exit 0");
    assert!(shell.contains("$ echo x > marker.txt && ls") && shell.contains("\nmarker.txt\n"), "{shell}");
    let commit = "!git init -q && git add -A && git -c user.name=t -c user.email=t@example.com commit -qm start \
                  && echo more >> marker.txt && echo committed";
    d.say(&thread, &rig.alice, commit);
    rig.wait_for_post(&thread, "committed\n```\n✅ exit 0");
    let diff = rig.command(&thread, &rig.alice, "diff", json!([]), 2);
    let changes = diff[1]["content"].as_str().unwrap();
    assert!(changes.contains(" M marker.txt") && changes.contains("1 file changed"), "{changes}");
    d.say(&thread, &rig.alice, "!exit 3");
    rig.wait_for_post(&thread, "❌ exit 3");

    // /output, /status, /sessions.
    let output = rig.command(&thread, &rig.alice, "output", json!([{ "name": "lines", "type": 4, "value": 5 }]), 2);
    assert!(output[1]["content"].as_str().unwrap().contains("Proceed? [y/n]"), "{output:?}");
    let status = rig.command(&thread, &rig.alice, "status", json!([]), 1);
    assert!(status[0]["data"]["content"].as_str().unwrap().contains(&rig.id()), "{status:?}");
    let sessions = rig.command(&rig.channel, &rig.alice, "sessions", json!([]), 1);
    assert!(sessions[0]["data"]["content"].as_str().unwrap().contains(&format!("<#{thread}>")), "{sessions:?}");

    // /share uploads a project file; hidden files and links are refused.
    let shared =
        rig.command(&thread, &rig.alice, "share", json!([{ "name": "file", "type": 3, "value": "marker.txt" }]), 2);
    assert_eq!(shared[1]["content"], "Shared `marker.txt`.", "{shared:?}");
    let upload =
        d.messages(&thread).into_iter().rev().find(|m| !m["attachments"].as_array().unwrap().is_empty()).unwrap();
    assert_eq!(upload["attachments"][0]["filename"], "marker.txt");
    assert_eq!(sinc_tests::http::curl(&[upload["attachments"][0]["url"].as_str().unwrap()], None).1, "x\nmore\n");
    let hidden =
        rig.command(&thread, &rig.alice, "share", json!([{ "name": "file", "type": 3, "value": ".git/config" }]), 2);
    assert!(hidden[1]["content"].as_str().unwrap().contains("hidden files"), "{hidden:?}");
    d.say(&thread, &rig.alice, "!ln -s /etc/passwd link.txt && echo linked");
    rig.wait_for_post(&thread, "linked\n```\n✅ exit 0");
    let link =
        rig.command(&thread, &rig.alice, "share", json!([{ "name": "file", "type": 3, "value": "link.txt" }]), 2);
    assert!(link[1]["content"].as_str().unwrap().contains("symbolic link"), "{link:?}");

    // The agent shares a file through the MCP tool (`sinc kimaki mcp` on
    // the VPS); `sinc kimaki status` tells what the bot follows.
    let marker = rig.remote_project().join("marker.txt");
    let call = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "share_file", "arguments": { "path": marker, "note": "the marker" } } });
    let outside = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": { "name": "share_file", "arguments": { "path": "/etc/passwd" } } });
    let relative = json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": { "name": "share_file", "arguments": { "path": "marker.txt" } } });
    let input = format!(
        "{}\n{}\n{call}\n{outside}\n{relative}\n",
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
    );
    let out = rig.client.run_with_input(&["exec", "--", &rig.remote_sinc, "kimaki", "mcp"], input.as_bytes());
    let replies: Vec<serde_json::Value> =
        sinc_tests::stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reply =
        |id: i64| replies.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("no answer {id}: {replies:?}"));
    assert_eq!(reply(2)["result"]["isError"], false, "{replies:?}");
    assert_eq!(reply(3)["result"]["isError"], true, "{replies:?}");
    assert!(reply(3)["result"]["content"][0]["text"].as_str().unwrap().contains("in no project"), "{replies:?}");
    assert_eq!(reply(4)["result"]["isError"], true, "{replies:?}");
    assert!(reply(4)["result"]["content"][0]["text"].as_str().unwrap().contains("absolute path"), "{replies:?}");
    rig.wait_for_post(&thread, "📤 `marker.txt`: the marker");
    let status = rig.client.json(&["kimaki", "status"]);
    assert_eq!(status["state"], "connected", "{status}");
    assert_eq!(status["threads"][0]["thread"], thread.as_str(), "{status}");
    assert!(rig.client.ok(&["kimaki", "status"]).starts_with("Discord: connected\n"));
    let misuse = rig.client.run(&["kimaki", "status", "--bogus"]);
    assert_eq!(misuse.status.code(), Some(2), "{}", sinc_tests::stderr(&misuse));

    // /stop ends the session; the thread says so.
    let stopped = rig.command(&thread, &rig.alice, "stop", json!([]), 1);
    assert!(stopped[0]["data"]["content"].as_str().unwrap().contains("Stopping"), "{stopped:?}");
    rig.wait_for_post(&thread, "ended");

    // /new with a prompt starts the project's session again, in a new
    // thread, and types the prompt in.
    let again = rig.command(
        &rig.channel,
        &rig.alice,
        "new",
        json!([{ "name": "prompt", "type": 3, "value": "first words" }]),
        2,
    );
    assert!(again[1]["content"].as_str().unwrap().starts_with("Started `"), "{again:?}");
    let second = d.threads(&rig.channel).last().unwrap()["id"].as_str().unwrap().to_owned();
    assert_ne!(second, thread);
    let started = Instant::now();
    while !d.bot_text(&second).contains("agent got: first words") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the prompt's answer never came; the thread has:\n{}\nthe screen:\n{}\n{again:?}",
            d.bot_text(&second),
            rig.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A deleted thread is forgotten.
    d.delete_thread(&second);
    wait_until(Duration::from_secs(10), "the thread forgotten", || {
        let threads = rig.client.json(&["kimaki", "status"])["threads"].clone();
        (!threads.as_array().unwrap().iter().any(|t| t["thread"] == second.as_str())).then_some(())
    });

    // /project remove: the threads no longer drive anything.
    let removed = rig.command(&rig.channel, &rig.alice, "project", json!([{ "name": "remove", "type": 1 }]), 1);
    assert!(removed[0]["data"]["content"].as_str().unwrap().contains("no longer a project"), "{removed:?}");
    let status = rig.command(&rig.channel, &rig.alice, "status", json!([]), 1);
    assert!(status[0]["data"]["content"].as_str().unwrap().contains("not a project"), "{status:?}");
}

#[test]
fn files_and_voice_messages_reach_the_agent_and_only_allowed_members_are_heard() {
    sinc_tests::require_root!();
    let rig = KimakiSite::start(AGENT, "max_attachment_mb = 1");
    let d = &rig.discord;
    let thread = rig.thread();
    let bob = d.add_member("bob", &[], false);
    let carol = d.add_member("carol", &["Kimaki", "no-kimaki"], false);
    let admin = d.add_member("dave", &["admins"], false);
    let other_bot = d.add_member("otherbot", &["Kimaki"], true);

    // A file: saved in the project under discord-uploads/, synced to the
    // laptop, and the agent told its path; a second of the same name is
    // kept beside it.
    let notes = Upload { filename: "../notes.txt", content_type: "text/plain", bytes: b"remember the milk\n" };
    d.say_with(&thread, &rig.alice, "see the notes", std::slice::from_ref(&notes), 0);
    rig.wait_for_agent("agent got: see the notes (attached files: discord-uploads/notes.txt)", Duration::from_secs(15));
    assert_eq!(std::fs::read(rig.remote_project().join("discord-uploads/notes.txt")).unwrap(), b"remember the milk\n");
    d.say_with(&thread, &rig.alice, "", &[notes], 0);
    rig.wait_for_post(&thread, "discord-uploads/notes (2).txt");
    rig.client.ok(&["flush"]);
    let local = rig.client.project.join("discord-uploads");
    assert_eq!(std::fs::read(local.join("notes.txt")).unwrap(), b"remember the milk\n", "synced to the laptop");
    assert!(local.join("notes (2).txt").exists());

    // A voice message: transcribed, echoed in the thread, typed in.
    let voice =
        Upload { filename: "voice-message.ogg", content_type: "audio/ogg", bytes: b"OggS please run the tests" };
    d.say_with(&thread, &rig.alice, "", &[voice], 8192);
    rig.wait_for_post(&thread, "🎙️ > please run the tests");
    rig.wait_for_agent("agent got: please run the tests", Duration::from_secs(10));
    let heard = rig.transcription.heard();
    assert_eq!(heard[0].authorization.as_deref(), Some("Bearer sk-test-transcribe"));
    assert_eq!((heard[0].model.as_str(), heard[0].filename.as_str()), ("whisper-1", "voice-message.ogg"));
    // A failed transcription says so, and types nothing.
    let broken = Upload { filename: "voice-message.ogg", content_type: "audio/ogg", bytes: b"OggS FAIL" };
    d.say_with(&thread, &rig.alice, "", &[broken], 8192);
    let failed = rig.wait_for_post(&thread, "was not transcribed");
    assert!(failed.contains("500") && failed.contains("overloaded"), "{failed}");

    // `!` commands are off unless the config says otherwise.
    d.say(&thread, &rig.alice, "!ls");
    rig.wait_for_post(&thread, "`!` commands are off");

    // Refused: no role, the no-kimaki role; another bot is not even
    // answered. An administrator may.
    let before = rig.screen();
    for (who, text) in [(&bob, "from bob"), (&carol, "from carol")] {
        let message = d.say(&thread, who, text);
        d.wait_for("the refusal", |d| d.reactions().iter().any(|(_, m, e)| *m == message && e == "🚫").then_some(()));
    }
    let refused = rig.command(&thread, &bob, "stop", json!([]), 1);
    assert_eq!(refused[0]["type"], 4);
    assert_eq!(refused[0]["data"]["flags"], 64, "only bob sees it");
    assert!(refused[0]["data"]["content"].as_str().unwrap().contains("`Kimaki` role"), "{refused:?}");
    let refused = rig.command(&rig.channel, &carol, "new", json!([]), 1);
    assert!(refused[0]["data"]["content"].as_str().unwrap().contains("no-kimaki"), "{refused:?}");
    let ignored = d.say(&thread, &other_bot, "from a bot");
    d.say(&thread, &admin, "from the admin");
    rig.wait_for_agent("agent got: from the admin", Duration::from_secs(10));
    let screen = rig.screen();
    assert!(
        !screen.contains("from bob") && !screen.contains("from carol") && !screen.contains("from a bot"),
        "{screen}"
    );
    assert!(before.len() <= screen.len());
    assert!(!d.reactions().iter().any(|(_, m, _)| *m == ignored), "bots get no answer at all");
    let log = sinc_tests::kimaki_site::daemon_log(&rig.sshd);
    assert!(log.contains(&format!("refused /stop from user {bob}")), "every refusal is logged:\n{log}");
    assert!(log.contains(&format!("ignored a message from user {carol}")), "{log}");

    // A file over max_attachment_mb is refused, with the reason.
    let big = vec![b'x'; 1536 << 10];
    let upload = Upload { filename: "big.bin", content_type: "application/octet-stream", bytes: &big };
    d.say_with(&thread, &rig.alice, "", &[upload], 0);
    rig.wait_for_post(&thread, "`big.bin` was not saved: it is 1.5 MiB; the limit is 1 MiB");
    assert!(!rig.remote_project().join("discord-uploads/big.bin").exists());
}

#[test]
fn a_dropped_gateway_resumes_without_losing_or_repeating_messages() {
    sinc_tests::require_root!();
    let rig = KimakiSite::start(AGENT, "");
    let d = &rig.discord;
    let thread = rig.thread();
    assert_eq!(d.sessions_started(), (1, 0));

    // Dropped, and messages written while the bot is away.
    d.drop_gateway();
    for i in 1..=3 {
        d.say(&thread, &rig.alice, &format!("while away {i}"));
    }
    rig.wait_for_agent("agent got: while away 3", Duration::from_secs(20));
    assert_eq!(d.sessions_started(), (1, 1), "resumed, not identified again");
    // The server asks to reconnect (op 7); then a zombie (no ACKs).
    d.ask_reconnect();
    d.say(&thread, &rig.alice, "after op 7");
    rig.wait_for_agent("agent got: after op 7", Duration::from_secs(20));
    d.set_acks(false);
    d.say(&thread, &rig.alice, "during the zombie");
    wait_until(Duration::from_secs(20), "a resume after the zombie", || (d.sessions_started().1 >= 3).then_some(()));
    d.set_acks(true);
    // A session the server forgot: Invalid Session, then a new Identify.
    d.forget_sessions();
    wait_until(Duration::from_secs(30), "a new session", || {
        (d.sessions_started().0 == 2 && d.connected()).then_some(())
    });
    d.say(&thread, &rig.alice, "after a new session");
    rig.wait_for_agent("agent got: after a new session", Duration::from_secs(20));
    let screen = rig.screen();
    for text in
        ["while away 1", "while away 2", "while away 3", "after op 7", "during the zombie", "after a new session"]
    {
        assert_eq!(occurrences(&screen, &format!("agent got: {text}")), 1, "{text} exactly once:\n{screen}");
    }
    let order: Vec<usize> = (1..=3).map(|i| screen.find(&format!("agent got: while away {i}")).unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in order");

    // A 429: the post waits for its retry_after (longer than the bot's
    // one-second beat) and is made, once.
    d.rate_limit(1, 2.5);
    let said = Instant::now();
    d.say(&thread, &rig.alice, "limited");
    let all = rig.wait_for_post(&thread, "agent got: limited");
    assert!(said.elapsed() >= Duration::from_millis(2500), "posted {:?} after a 429 asking for 2.5 s", said.elapsed());
    assert_eq!(d.refused(), 1);
    assert_eq!(occurrences(&all, "agent got: limited"), 1);

    // Discord failing (500) before and after making a post: each post is
    // tried again and made once (its nonce).
    d.fail_posts(1, false);
    d.say(&thread, &rig.alice, "flaky one");
    let all = rig.wait_for_post(&thread, "agent got: flaky one");
    assert_eq!(occurrences(&all, "agent got: flaky one"), 1);
    d.fail_posts(1, true);
    d.say(&thread, &rig.alice, "flaky two");
    rig.wait_for_post(&thread, "agent got: flaky two");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(occurrences(&d.bot_text(&thread), "agent got: flaky two"), 1, "made once, however often sent");

    // The VPS daemon starts again (a reboot): the thread still leads to its
    // session, and its output to the thread.
    let daemon = format!("{}/.*daemon --background", rig.sshd.remote_data().display());
    let _ = std::process::Command::new("pkill").args(["-9", "-f", &daemon]).status();
    rig.client.ok(&["start"]);
    wait_until(Duration::from_secs(30), "the bot back", || {
        (d.sessions_started().0 == 3 && d.connected()).then_some(())
    });
    d.say(&thread, &rig.alice, "after a restart");
    rig.wait_for_post(&thread, "agent got: after a restart");

    // The token is never written: not on the VPS, not in the laptop's logs.
    for root in [rig.sshd.remote_root(), rig.client.home.join(".local")] {
        assert!(!contains_anywhere(&root, TOKEN.as_bytes()), "the token is written under {}", root.display());
    }
    // Every REST call said who it is.
    assert!(d.calls().iter().all(|c| c.header("user-agent").is_some_and(|u| u.starts_with("DiscordBot ("))));
}

/// Whether any file under `root` contains `needle`.
fn contains_anywhere(root: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(root) else { return false };
    entries.flatten().any(|e| {
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => contains_anywhere(&path, needle),
            Ok(t) if t.is_file() => std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)),
            _ => false,
        }
    })
}

/// The bot in a plugin host of its own (no sessions), with `token`.
fn bot(host: &sinc_tests::PluginHost, discord: &Discord, token: Option<&str>) -> sinc_plugin_host::running::Running {
    let settings: toml::Table = toml::from_str(&format!("api_base_url = {:?}", discord.api())).unwrap();
    let secrets: Vec<(&str, &str)> = token.map(|t| ("kimaki_bot_token", t)).into_iter().collect();
    host.launch("kimaki", settings, &secrets)
}

#[test]
fn without_a_token_the_bot_says_where_to_put_it_and_a_refused_one_stops_it() {
    use sinc_plugin_host::running::Status;
    let discord = Discord::start();
    let host = sinc_tests::PluginHost::new();
    let none = bot(&host, &discord, None);
    let Status::Disabled(why) = wait_until(Duration::from_secs(30), "the bot to give up", || match none.status() {
        s @ Status::Disabled(_) => Some(s),
        _ => None,
    }) else {
        unreachable!()
    };
    assert!(why.contains("kimaki_bot_token") && why.contains("[secrets]"), "{why}");

    let host = sinc_tests::PluginHost::new();
    let _wrong = bot(&host, &discord, Some("not-the-token"));
    wait_until(Duration::from_secs(30), "the token to be tried", || (!discord.calls().is_empty()).then_some(()));
    std::thread::sleep(Duration::from_secs(4));
    let calls: Vec<String> = discord.calls().iter().map(|c| format!("{} {}", c.method, c.target)).collect();
    assert_eq!(calls, ["GET /api/v10/users/@me"], "a refused token is not tried again and again");
    assert_eq!(discord.gateway_connections(), 0);
}

#[test]
fn a_bad_setting_keeps_the_bot_from_starting_and_says_why() {
    use sinc_plugin_host::running::Status;
    let discord = Discord::start();
    for (setting, said) in [
        ("max_attachment_mb = 0", "max_attachment_mb: give 1 to 16"),
        ("attachments_folder = \"../up\"", "give a folder inside the project"),
        ("colour = \"blue\"", "unknown field `colour`"),
    ] {
        let host = sinc_tests::PluginHost::new();
        let settings: toml::Table = toml::from_str(&format!("api_base_url = {:?}\n{setting}", discord.api())).unwrap();
        let running = host.launch("kimaki", settings, &[("kimaki_bot_token", TOKEN)]);
        let Status::Disabled(why) =
            wait_until(Duration::from_secs(30), "the bot to refuse", || match running.status() {
                s @ Status::Disabled(_) => Some(s),
                _ => None,
            })
        else {
            unreachable!()
        };
        assert!(why.contains("[plugins.kimaki]") && why.contains(said), "{setting}: {why}");
    }
    assert!(discord.calls().is_empty(), "nothing reached Discord");
}

#[test]
fn refused_intents_are_retried_with_growing_waits_until_they_are_allowed() {
    let discord = Discord::start();
    discord.set_privileged_intents(false);
    let host = sinc_tests::PluginHost::new();
    let bot = bot(&host, &discord, Some(TOKEN));
    wait_until(Duration::from_secs(30), "a first try", || (discord.gateway_connections() > 0).then_some(()));
    std::thread::sleep(Duration::from_secs(6));
    let tries = discord.gateway_connections();
    assert!((2..=3).contains(&tries), "{tries} tries in 6 s: waits of 2 s, then 4 s…");
    assert_eq!(discord.sessions_started(), (0, 0));
    // Discord's close code (4014) reaches the plugin (SDK 1.10), which says
    // what to do.
    let status = host.command(&bot, "kimaki", &["status"]);
    assert!(status.contains("refused the intents (4014)") && status.contains("Message Content"), "{status}");
    discord.set_privileged_intents(true);
    wait_until(Duration::from_secs(30), "the bot to connect", || discord.connected().then_some(()));
    assert_eq!(discord.sessions_started(), (1, 0));
}
