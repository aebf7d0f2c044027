//! Plugins kept running by a long-lived host (`sinc_plugin_host::running`):
//! the example plugin serving its page, a request body, server-sent events,
//! a WebSocket and a forward streamed through the host; the hostile
//! fixture's timer, and its routes that loop or panic — it is restarted
//! with back-off, then disabled, and never takes the host down.

use futures_util::{SinkExt, StreamExt};
use sinc_plugin_host::running::Status;
use sinc_plugin_host::{Event, Grants, Manifest, Session};
use sinc_tests::{PluginHost, free_port, wait_until};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-m", "10", "-w", "\n%{http_code}"]).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap_or(0), body.to_owned())
}

fn session() -> Session {
    Session { id: "sinc-app-123456".into(), local_path: None, remote_path: "~/w/app".into(), agent: "opencode".into() }
}

/// A server that answers one request with a chunked body in two parts, the
/// second only once `release` is written to; it hands back the request
/// head it got.
fn slow_upstream() -> (u16, std::sync::mpsc::Receiver<String>, std::sync::mpsc::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (head_tx, head_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        head_tx.send(head).unwrap();
        stream
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n",
            )
            .unwrap();
        stream.flush().unwrap();
        release_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        stream.write_all(b"7\r\n second\r\n0\r\n\r\n").unwrap();
    });
    (port, head_rx, release_tx)
}

/// Settings that serve a plugin's one port on `port`.
fn on_port(port: u16) -> toml::Table {
    let mut settings = toml::Table::new();
    settings.insert("port".into(), i64::from(port).into());
    settings
}

/// The example plugin on a free port, forwarding `/proxy/…` to a
/// [`slow_upstream`].
struct Forwarding {
    hello: sinc_plugin_host::running::Running,
    port: u16,
    upstream: u16,
    heads: std::sync::mpsc::Receiver<String>,
    release: std::sync::mpsc::Sender<()>,
}

fn hello_forwarding_to_a_slow_upstream(h: &PluginHost) -> Forwarding {
    let port = free_port();
    let (upstream, heads, release) = slow_upstream();
    let mut settings = on_port(port);
    settings.insert("upstream".into(), format!("http://127.0.0.1:{upstream}").into());
    Forwarding { hello: h.start("hello", settings), port, upstream, heads, release }
}

#[test]
fn the_example_plugin_serves_its_page_body_events_socket_and_a_streamed_forward() {
    let h = PluginHost::new();
    let Forwarding { hello, port, upstream, heads, release } = hello_forwarding_to_a_slow_upstream(&h);
    let base = format!("http://127.0.0.1:{port}");

    assert_eq!(curl(&[&format!("{base}/")]), (200, "Hello, web! (0 session events seen)\n".into()));
    assert_eq!(curl(&["--data-binary", "some bytes", &format!("{base}/echo")]), (200, "some bytes".into()));
    let (status, body) = curl(&[&format!("{base}/nope")]);
    assert_eq!((status, body.as_str()), (404, "no route for GET /nope\n"));

    // Server-sent events: one per session event, as it happens.
    let mut events =
        Command::new("curl").args(["-sN", &format!("{base}/events")]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(events.stdout.take().unwrap()).lines();
    std::thread::sleep(Duration::from_millis(300));
    hello.event(Event::SessionCreated(session()));
    assert_eq!(lines.next().unwrap().unwrap(), "event: session-created");
    assert_eq!(lines.next().unwrap().unwrap(), "data: sinc-app-123456");
    events.kill().unwrap();
    let _ = events.wait();

    // A WebSocket.
    h.tokio.block_on(async {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (mut socket, _) =
            tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/ws"), stream).await.unwrap();
        socket.send(tokio_tungstenite::tungstenite::Message::text("shout this")).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(answer.into_text().unwrap().as_str(), "SHOUT THIS");
    });

    // A forward: the first chunk reaches the client before the upstream
    // sends the second, so the host streams rather than buffers.
    let mut proxied = Command::new("curl")
        .args(["-sN", "-H", "cookie: secret=1", &format!("{base}/proxy/v1/things?x=1")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let head = heads.recv_timeout(Duration::from_secs(10)).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("get /v1/things?x=1 http/1.1\r\n"), "{head}");
    assert!(head.contains("x-sinc-plugin: hello\r\n") && !head.contains("cookie"), "{head}");
    assert!(head.contains(&format!("host: 127.0.0.1:{upstream}\r\n")), "{head}");
    let mut out = proxied.stdout.take().unwrap();
    let mut first = [0u8; 5];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"first");
    release.send(()).unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, " second");
    proxied.wait().unwrap();
    // The report of a forward is held back until the plugin is idle, but
    // a subcommand comes after it: it sees the forward at once.
    let summary = h.command(&hello, "hello", &["--proxied"]);
    assert_eq!(summary, "1 requests proxied; last: status 200 bytes 12 tapped 12 error none\n");
    assert_eq!(hello.status(), Status::Running);
}

#[test]
fn a_plugin_that_loops_or_panics_is_restarted_then_disabled_and_its_timer_ticks() {
    let h = PluginHost::new();
    let port = free_port();
    let settings = on_port(port);
    let hostile = h.start("hostile", settings);
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(curl(&[&format!("{base}/")]), (200, "still here\n".into()));
    // `timer = 1` in its manifest.
    std::thread::sleep(Duration::from_millis(2500));
    let ticks: u64 = h.command(&hostile, "hostile-ticks", &[]).split(' ').next().unwrap().parse().unwrap();
    assert!((1..=3).contains(&ticks), "{ticks} ticks in 2.5 s");

    // A forward to a host it did not declare.
    let (status, body) = curl(&[&format!("{base}/forward")]);
    assert_eq!(status, 502);
    assert!(body.contains("denied: forwarding to 127.0.0.1:9 needs `hosts = [\"127.0.0.1\"]`"), "{body}");

    // A route that never returns: the call is stopped at its deadline, the
    // client hears 503, and the plugin comes back after a back-off.
    let started = Instant::now();
    let (status, body) = curl(&[&format!("{base}/loop")]);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("plugin hostile is not running"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    wait_until(Duration::from_secs(5), "the first stop", || {
        matches!(hostile.status(), Status::Restarting { failures: 1, .. }).then_some(())
    });
    wait_until(Duration::from_secs(5), "the restart", || (hostile.status() == Status::Running).then_some(()));
    assert_eq!(curl(&[&format!("{base}/")]), (200, "still here\n".into()));

    // Stopped three times within a minute of each restart: disabled, with
    // the reason.
    assert_eq!(curl(&[&format!("{base}/panic")]).0, 503);
    // (The client may hear 503 before the host marks the stop: wait for the
    // mark, or a loaded machine sees the old "running" and races on.)
    wait_until(Duration::from_secs(5), "the second stop", || {
        matches!(hostile.status(), Status::Restarting { failures: 2, .. }).then_some(())
    });
    wait_until(Duration::from_secs(5), "the second restart", || (hostile.status() == Status::Running).then_some(()));
    assert_eq!(curl(&[&format!("{base}/panic")]).0, 503);
    let Status::Disabled(why) = wait_until(Duration::from_secs(5), "disabled", || match hostile.status() {
        s @ Status::Disabled(_) => Some(s),
        _ => None,
    }) else {
        unreachable!()
    };
    assert!(why.contains("stopped 3 times in a row") && why.contains("it panicked"), "{why}");
    assert_eq!(curl(&[&format!("{base}/")]).0, 503);
    assert!(h.tokio.block_on(hostile.command("hostile-ok", Vec::new())).is_none());
}

#[test]
fn a_plugin_built_against_sdk_1_0_still_loads_and_runs() {
    // The published hello 0.1.1 was built against sinc:plugin@1.0.0; this
    // host links a later 1.x.
    let h = PluginHost::new();
    let wasm: Arc<[u8]> =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../registry/artifacts/hello/0.1.1/hello.wasm"))
            .unwrap()
            .into();
    let manifest = Manifest::from_component(&wasm).unwrap();
    assert_eq!(manifest.version.to_string(), "0.1.1");
    assert_eq!(sinc_plugin_host::manifest::sdk_version(&wasm), Some(semver::Version::new(1, 0, 0)));
    let current = std::fs::read(sinc_tests::plugin_component("hello")).unwrap();
    assert_eq!(sinc_plugin_host::manifest::sdk_version(&current), Some(sinc_plugin_host::SDK));
    let grants = Grants::new(h.dir.path().join("old"), h.dir.path().to_path_buf());
    let mut plugin = h.runtime.load(&manifest, &wasm, &grants).unwrap();
    assert!(!plugin.serves_http());
    plugin.init("{}", Duration::from_secs(1)).unwrap().unwrap();
    plugin.on_event(&Event::SessionCreated(session()), Duration::from_secs(1)).unwrap().unwrap();
    let out = plugin.run_command("hello", &["old".into()], Duration::from_secs(1)).unwrap();
    assert_eq!(out.stdout, "Hello, old! (1 session events seen; last session sinc-app-123456)\n");
}

#[test]
fn a_plugin_built_against_sdk_1_8_runs_and_serves_beside_1_9() {
    // The published mobile 0.1.0 was built against sinc:plugin@1.8.0,
    // before the host gained `websockets` (1.9): it still loads, starts,
    // and serves its page and API.
    let h = PluginHost::new();
    let wasm: Arc<[u8]> =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../registry/artifacts/mobile/0.1.0/mobile.wasm"))
            .unwrap()
            .into();
    assert_eq!(sinc_plugin_host::manifest::sdk_version(&wasm), Some(semver::Version::new(1, 8, 0)));
    assert!(sinc_plugin_host::SDK >= semver::Version::new(1, 9, 0));
    let manifest = Manifest::from_component(&wasm).unwrap();
    let port = free_port();
    let mut grants = Grants::new(h.dir.path().join("mobile"), h.dir.path().to_path_buf());
    grants.settings.insert("port".into(), i64::from(port).into());
    let spec = sinc_plugin_host::running::Spec { manifest, wasm, grants };
    let running = sinc_plugin_host::running::Running::start(h.runtime.clone(), spec, None).unwrap();
    wait_until(Duration::from_secs(30), "the old plugin to run", || {
        (running.status() == Status::Running).then_some(())
    });
    let (status, page) = curl(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!(status, 200);
    assert!(page.contains("<html"), "{page}");
    let (status, _) = curl(&[&format!("http://127.0.0.1:{port}/api/sessions")]);
    assert_eq!(status, 401, "its API still answers, for paired devices only");
}

#[test]
fn a_start_that_fails_inside_the_hosts_runtime_is_an_error_and_an_unload_lets_a_forward_finish() {
    let h = PluginHost::new();
    // The keeper and the daemon start plugins from their runtime's thread:
    // a port already taken is an error there, not a panic.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let wasm: Arc<[u8]> = std::fs::read(sinc_tests::plugin_component("hello")).unwrap().into();
    let mut grants = Grants::new(h.data_dir("hello"), h.dir.path().to_path_buf());
    grants.settings.insert("port".into(), i64::from(taken.local_addr().unwrap().port()).into());
    let spec = sinc_plugin_host::running::Spec { manifest: Manifest::from_component(&wasm).unwrap(), wasm, grants };
    let refused = h.tokio.block_on(async { sinc_plugin_host::running::Running::start(h.runtime.clone(), spec, None) });
    assert!(refused.unwrap_err().to_string().contains("cannot serve 127.0.0.1:"));

    // Unloaded in the middle of a forward: its listener closes, the
    // forward streams to its end.
    let Forwarding { hello, port, heads, release, .. } = hello_forwarding_to_a_slow_upstream(&h);
    let mut proxied = Command::new("curl")
        .args(["-sN", &format!("http://127.0.0.1:{port}/proxy/x")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    heads.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut out = proxied.stdout.take().unwrap();
    let mut first = [0u8; 5];
    out.read_exact(&mut first).unwrap();
    drop(hello);
    wait_until(Duration::from_secs(5), "the listener to close", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err().then_some(())
    });
    release.send(()).unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(format!("{}{rest}", String::from_utf8_lossy(&first)), "first second");
    assert!(proxied.wait().unwrap().success());
}

#[test]
fn a_plugin_replaced_in_the_middle_of_a_long_call_frees_its_port_at_once() {
    let h = PluginHost::new();
    let port = free_port();
    let settings = on_port(port);
    let old = h.start("hostile", settings.clone());
    // `/loop` keeps its thread busy until the call's deadline (1 s), longer
    // than a replacement waits for the port (0.5 s).
    let looping = Command::new("curl").args(["-s", &format!("http://127.0.0.1:{port}/loop")]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let replaced = Instant::now();
    drop(old);
    let new = h.start("hostile", settings);
    assert!(replaced.elapsed() < Duration::from_millis(900), "{:?}", replaced.elapsed());
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), (200, "still here\n".into()));
    drop(new);
    let _ = looping.wait_with_output();
}
