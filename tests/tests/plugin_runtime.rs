//! The plugin runtime against real components: the example plugin, and a
//! hostile fixture whose every command tries something a plugin must not do.
//! Both are built from `plugins/` for wasm32-wasip2 first.

use sinc_plugin_host::manifest::{Access, Folder};
use sinc_plugin_host::{Event, Grants, Manifest, PluginError, Runtime, Session};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn component(name: &str) -> Vec<u8> {
    std::fs::read(sinc_tests::plugin_component(name)).unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    runtime: Runtime,
    grants: Grants,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(dir.path().join("cache")).unwrap();
    let grants = Grants::new(dir.path().join("data"), dir.path().join("home"));
    std::fs::create_dir_all(&grants.home).unwrap();
    Setup { _dir: dir, runtime, grants }
}

const T: Duration = Duration::from_secs(1);

fn session() -> Session {
    Session {
        id: "sinc-app-123456".into(),
        local_path: Some("/home/me/app".into()),
        remote_path: "~/w/app".into(),
        agent: "opencode".into(),
    }
}

#[test]
fn the_example_plugin_greets_counts_events_and_keeps_its_store() {
    let s = setup();
    let wasm = component("hello");
    let manifest = Manifest::from_component(&wasm).unwrap();
    assert_eq!(manifest.name, "hello");
    let mut hello = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    hello.init(r#"{"greeting": "Hi"}"#, T).unwrap().unwrap();
    let commands = hello.commands(T).unwrap();
    assert_eq!(commands.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["hello"]);
    let out = hello.run_command("hello", &["Ana".into()], T).unwrap();
    assert_eq!((out.status, out.stdout.as_str()), (0, "Hi, Ana! (0 session events seen)\n"));
    hello.on_event(&Event::SessionCreated(session()), T).unwrap().unwrap();
    hello.on_event(&Event::Timer(1), T).unwrap().unwrap();

    // The store outlives the instance: a new one sees the same counts.
    drop(hello);
    let mut again = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    again.init("{}", T).unwrap().unwrap();
    let out = again.run_command("hello", &[], T).unwrap();
    assert_eq!(out.stdout, "Hello, world! (2 session events seen; last session sinc-app-123456)\n");
    let usage = again.run_command("nope", &[], T).unwrap();
    assert_eq!(usage.status, 2);
}

#[test]
fn compiled_components_are_cached_by_content() {
    let s = setup();
    let wasm = component("hello");
    let manifest = Manifest::from_component(&wasm).unwrap();
    s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    let cache = s._dir.path().join("cache");
    let files: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].to_string_lossy().into_owned();
    assert!(name.starts_with(&sinc_plugin_host::cache::sha256_hex(&wasm)) && name.ends_with(".cwasm"), "{name}");
    let started = Instant::now();
    s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    eprintln!("load from the cache: {:?}", started.elapsed());
    // A damaged cache file is compiled again, not trusted.
    std::fs::write(cache.join(&name), b"garbage").unwrap();
    let mut fresh = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    fresh.init("{}", T).unwrap().unwrap();
}

fn hostile() -> (Manifest, Vec<u8>) {
    let wasm = component("hostile");
    (Manifest::from_component(&wasm).unwrap(), wasm)
}

#[test]
fn nothing_undeclared_is_reachable() {
    let s = setup();
    let (mut manifest, wasm) = hostile();
    let allowed = s.grants.home.join("allowed");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::write(allowed.join("note.txt"), "inside").unwrap();
    std::fs::write(s.grants.home.join("secret.txt"), "outside").unwrap();
    manifest.permissions.folders = vec![Folder { path: "~/allowed".into(), access: Access::Read }];
    let mut p = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    p.init("{}", T).unwrap().unwrap();
    let run = |p: &mut sinc_plugin_host::Plugin, cmd: &str, arg: &Path| {
        p.run_command(cmd, &[arg.to_string_lossy().into_owned()], T).unwrap()
    };
    let inside = run(&mut p, "hostile-read-file", &allowed.join("note.txt"));
    assert_eq!(inside.stdout, format!("READ 6 bytes of {}\n", allowed.join("note.txt").display()));
    for outside in [s.grants.home.join("secret.txt"), PathBuf::from("/etc/passwd"), allowed.join("../secret.txt")] {
        let out = run(&mut p, "hostile-read-file", &outside);
        assert_eq!(out.status, 1, "{} was readable: {}", outside.display(), out.stdout);
    }
    let env = p.run_command("hostile-env", &[], T).unwrap();
    assert_eq!(env.stdout, "ENV []\n", "no ambient environment");
    let typed = p.run_command("hostile-sessions", &["sinc-app-123456".into()], T).unwrap();
    assert_eq!(typed.status, 1);
    assert!(typed.stderr.contains("denied: this needs `sessions = \"control\"`"), "{}", typed.stderr);
    // Granted, but on the laptop: the sessions are on the VPS.
    manifest.permissions.sessions = Some(sinc_plugin_host::manifest::SessionAccess::Control);
    let mut local = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    local.init("{}", T).unwrap().unwrap();
    let typed = local.run_command("hostile-sessions", &["sinc-app-123456".into()], T).unwrap();
    assert!(typed.stderr.contains("failed: sessions are served to plugins on the VPS"), "{}", typed.stderr);
    // A follow-up (open, start, end a folder's session) needs the same
    // permission; with it, the subcommand sees where `sinc` was run.
    let asked = p.run_command_in("hostile-then", &["/".into()], Some("/home/u/app"), T).unwrap();
    assert!(asked.output.stderr.contains("denied: opening, starting or ending a session needs"), "{asked:?}");
    assert!(asked.then.is_none());
    let asked = local.run_command_in("hostile-then", &["/srv/app".into()], Some("/home/u/app"), T).unwrap();
    assert_eq!(asked.output.stdout, "THEN in /home/u/app\n");
    assert!(matches!(asked.then, Some(sinc_plugin_host::FollowUp::Start(ref f)) if f == "/srv/app"), "{asked:?}");
    assert_eq!(local.run_command("hostile-then", &["/x".into()], T).unwrap().stdout, "THEN in none\n");

    // Project files: only with `project-files`, only in the folders it
    // names, only in the project the call is about.
    let project = s.grants.home.join("app");
    let other = s.grants.home.join("other");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let (app, elsewhere) = (project.to_string_lossy().into_owned(), other.to_string_lossy().into_owned());
    let cwd = project.join("src").to_string_lossy().into_owned();
    let write = |p: &mut sinc_plugin_host::Plugin, folder: &str, path: &str| {
        p.run_command_in("hostile-project", &[folder.into(), path.into()], Some(&cwd), T).unwrap().output
    };
    let denied = write(&mut local, &app, "handoff/x.md");
    assert!(denied.stderr.contains("denied: project files need `project-files"), "{denied:?}");
    manifest.permissions.project_files = vec!["handoff".into()];
    let mut files = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    files.init("{}", T).unwrap().unwrap();
    assert_eq!(write(&mut files, &app, "handoff/x.md").stdout, format!("WROTE handoff/x.md in {app}\n"));
    assert_eq!(std::fs::read_to_string(project.join(".sinc/handoff/x.md")).unwrap(), "planted");
    for (folder, path, said) in [
        (app.as_str(), "notes/x.md", "denied: `.sinc/notes/x.md` is outside the folders"),
        (app.as_str(), "handoff/../../x", "without `..`"),
        (elsewhere.as_str(), "handoff/x.md", "is not the project this call is about"),
        (s.grants.home.to_str().unwrap(), "handoff/x.md", "is not the project this call is about"),
    ] {
        let out = write(&mut files, folder, path);
        assert_eq!(out.status, 1, "{folder} {path}: {out:?}");
        assert!(out.stderr.contains(said), "{folder} {path}: {}", out.stderr);
    }
    let outside_a_call = files.run_command("hostile-project", &[app.clone(), "handoff/y.md".into()], T).unwrap();
    assert!(outside_a_call.stderr.contains("is not the project this call is about"), "{outside_a_call:?}");
    assert!(!other.join(".sinc").exists() && !s.grants.home.join(".sinc").exists());
}

#[test]
fn runaway_plugins_are_stopped_and_the_host_carries_on() {
    let s = setup();
    let (manifest, wasm) = hostile();
    let hello_wasm = component("hello");
    let hello_manifest = Manifest::from_component(&hello_wasm).unwrap();
    let mut hello = s.runtime.load(&hello_manifest, &hello_wasm, &s.grants).unwrap();
    hello.init("{}", T).unwrap().unwrap();

    for (command, expected) in [
        ("hostile-loop", "ran past its deadline"),
        ("hostile-alloc", "more memory than allowed"),
        ("hostile-panic", "panicked"),
    ] {
        let mut p = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
        let started = Instant::now();
        let err = p.run_command(command, &[], T).unwrap_err();
        assert!(matches!(&err, PluginError::Stopped { .. }), "{command}: {err}");
        assert!(err.to_string().contains(expected), "{command}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{command} took {:?}", started.elapsed());
        // A new instance of it works; the other plugin never noticed.
        let mut fresh = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
        assert_eq!(fresh.run_command("hostile-ok", &[], T).unwrap().stdout, "still here\n");
        assert_eq!(hello.run_command("hello", &[], T).unwrap().status, 0);
    }
}

#[test]
fn programs_run_only_when_declared_and_with_a_minimal_environment() {
    let s = setup();
    let (mut manifest, wasm) = hostile();
    let mut p = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    let denied = p.run_command("hostile-run", &["env".into()], T).unwrap();
    assert_eq!(denied.status, 1);
    assert!(denied.stderr.contains("needs `programs = [\"env\"]`"), "{}", denied.stderr);
    // Declared (and accepted): it runs, and sees only the minimal
    // environment plus what the manifest names.
    manifest.permissions.programs = vec!["env".into(), "sh".into()];
    manifest.permissions.env = vec!["CARGO_PKG_NAME".into()];
    let mut p = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    let ran = p.run_command("hostile-run", &["env".into()], T).unwrap();
    assert_eq!(ran.status, 0, "{}", ran.stderr);
    let names: Vec<&str> = ran.stdout.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    assert!(
        names.iter().all(|n| ["PATH", "HOME", "USER", "LANG", "TERM", "CARGO_PKG_NAME", "PWD"].contains(n)),
        "{names:?}"
    );
    assert!(names.contains(&"PATH") && !names.contains(&"CARGO_MANIFEST_DIR"), "{names:?}");
    let status = p.run_command("hostile-run", &["sh".into(), "-c".into(), "exit 3".into()], T).unwrap();
    assert_eq!(status.status, 3);
    let path = p.run_command("hostile-run", &["/bin/sh".into(), "-c".into(), "true".into()], T).unwrap();
    assert!(path.stderr.contains("needs `programs"), "a path is never a declared program: {}", path.stderr);
}

/// A one-line HTTP server on loopback: every request gets `200 hello`.
fn http_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            use std::io::{BufRead, Write};
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = stream;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
        }
    });
    port
}

#[test]
fn outbound_http_reaches_only_declared_hosts() {
    let s = setup();
    let (mut manifest, wasm) = hostile();
    let port = http_server();
    let url = format!("http://127.0.0.1:{port}/x");
    let mut p = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    let denied = p.run_command("hostile-fetch", std::slice::from_ref(&url), T).unwrap();
    assert_eq!(denied.status, 1);
    assert!(denied.stderr.contains("needs `hosts = [\\\"127.0.0.1\\\"]`"), "{}", denied.stderr);

    manifest.permissions.hosts = vec![format!("127.0.0.1:{port}")];
    let mut p = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    let fetched = p.run_command("hostile-fetch", std::slice::from_ref(&url), T).unwrap();
    assert_eq!((fetched.status, fetched.stdout.as_str()), (0, "200 hello"), "{}", fetched.stderr);
    let other = p.run_command("hostile-fetch", &[format!("http://127.0.0.1:{}/x", port + 1)], T).unwrap();
    assert_eq!(other.status, 1, "another port of the same host is another permission: {}", other.stdout);
}

#[test]
fn waiting_for_a_slow_server_does_not_count_against_the_deadline() {
    let s = setup();
    let (mut manifest, wasm) = hostile();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let (stream, _) = listener.accept().unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let mut stream = stream;
        // The head after 0.8 s, the body in two parts 0.8 s apart: 1.6 s
        // of waiting in a call allowed 1 s.
        std::thread::sleep(Duration::from_millis(800));
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhel");
        let _ = stream.flush();
        std::thread::sleep(Duration::from_millis(800));
        let _ = stream.write_all(b"lo");
    });
    manifest.permissions.hosts = vec![format!("127.0.0.1:{port}")];
    let mut p = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    let fetched = p.run_command("hostile-fetch", &[format!("http://127.0.0.1:{port}/x")], T).unwrap();
    assert_eq!((fetched.status, fetched.stdout.as_str()), (0, "200 hello"), "{}", fetched.stderr);
}

#[test]
fn a_url_setting_allows_the_host_it_names() {
    let s = setup();
    let (mut manifest, wasm) = hostile();
    let port = http_server();
    manifest.permissions.url_settings = vec![sinc_plugin_host::manifest::UrlSetting {
        key: "base_url".into(),
        default: "https://api.example.com/v1".into(),
        on: Default::default(),
    }];
    let url = format!("http://127.0.0.1:{port}/x");
    // The default names another host: denied.
    let mut p = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    assert_eq!(p.run_command("hostile-fetch", std::slice::from_ref(&url), T).unwrap().status, 1);
    // The user's value names this one: allowed.
    let mut grants = s.grants.clone();
    grants.settings.insert("base_url".into(), format!("http://127.0.0.1:{port}/v1").into());
    let mut p = s.runtime.load(&manifest, &wasm, &grants).unwrap();
    let fetched = p.run_command("hostile-fetch", &[url], T).unwrap();
    assert_eq!(fetched.stdout, "200 hello", "{}", fetched.stderr);
}

/// A laptop plugin's URL setting `on = "vps"` is never called from the
/// laptop: only through a session's connection, during its hooks (the
/// session-handoff end-to-end test covers the call itself).
#[test]
fn a_service_on_the_vps_is_not_called_from_the_laptop() {
    let s = setup();
    let (mut manifest, wasm) = hostile();
    let port = http_server();
    manifest.runs_on = sinc_plugin_host::manifest::RunsOn::Local;
    manifest.permissions.url_settings = vec![sinc_plugin_host::manifest::UrlSetting {
        key: "server".into(),
        default: format!("http://127.0.0.1:{port}"),
        on: sinc_plugin_host::manifest::Side::Vps,
    }];
    let mut p = s.runtime.load(&manifest, &wasm, &s.grants).unwrap();
    let fetched = p.run_command("hostile-fetch", &[format!("http://127.0.0.1:{port}/x")], T).unwrap();
    assert_eq!(fetched.status, 1, "{}", fetched.stdout);
    assert!(fetched.stderr.contains("on the VPS"), "{}", fetched.stderr);
}

#[test]
fn secrets_reach_only_the_plugins_that_declared_them() {
    let s = setup();
    let (mut manifest, wasm) = hostile();
    let mut grants = s.grants.clone();
    grants.secrets.insert("api_key".into(), "s3cr3t-value".into());
    let mut p = s.runtime.load(&manifest, &wasm, &grants).unwrap();
    let denied = p.run_command("hostile-secret", &["api_key".into()], T).unwrap();
    assert_eq!(denied.status, 1);
    assert!(
        denied.stderr.contains("needs `secrets = [\"api_key\"]`") && !denied.stderr.contains("s3cr3t"),
        "{}",
        denied.stderr
    );
    manifest.permissions.secrets = vec!["api_key".into(), "unset_one".into()];
    let mut p = s.runtime.load(&manifest, &wasm, &grants).unwrap();
    assert_eq!(p.run_command("hostile-secret", &["api_key".into()], T).unwrap().stdout, "SECRET s3cr3t-value\n");
    let unset = p.run_command("hostile-secret", &["unset_one".into()], T).unwrap();
    assert!(unset.stderr.contains("is not set: add `unset_one"), "{}", unset.stderr);
}
