//! The mobile plugin for real: a loopback sshd with tmux, an agent session
//! started through sinc, the plugin serving its page on the "VPS" — pairing
//! and what an unpaired or foreign client is refused (curl), then the page
//! in headless Chromium on a phone-sized screen (tests/js/mobile_page.mjs):
//! the list with the agent's state, its live screen, the key bar and the
//! line box reaching the agent, a dropped connection resumed without a gap
//! or a repeat, stopping the session; screenshots kept in
//! target/mobile-screenshots.

use sinc_tests::http::curl;
use sinc_tests::mobile_site::{MobileSite, browser_tools};
use sinc_tests::{Sshd, wait_until};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Asks, then echoes every line it reads.
const AGENT: &str = r#"#!/bin/sh
echo "agent ready in $SINC_PROJECT"
printf 'continue? (y/n) '
read answer
echo "answer=$answer"
while IFS= read -r line; do echo "got: $line"; done
"#;

/// Pair through the API as the page does; the cookie.
fn pair(s: &MobileSite) -> String {
    let code = s.pairing_code();
    let origin = format!("origin: {}", s.url);
    let out = Command::new("curl")
        .args(["-s", "-i", "-H", &origin, "-H", "content-type: application/json", "--data-binary"])
        .arg(format!(r#"{{"code":"{code}","name":"curl"}}"#))
        .arg(format!("{}/api/pair", s.url))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let cookie = head.lines().find_map(|l| l.strip_prefix("set-cookie: ")).unwrap_or_else(|| panic!("{head}"));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    cookie.split(';').next().unwrap().to_owned()
}

fn websocket_status(s: &MobileSite, origin: &str, cookie: Option<&str>) -> u16 {
    let cookie = cookie.map(|c| format!("cookie: {c}")).unwrap_or_else(|| "x-none: 1".into());
    let origin = format!("origin: {origin}");
    let target = format!("{}/api/watch/{}", s.url, s.id);
    let args = [
        "-H",
        "connection: Upgrade",
        "-H",
        "upgrade: websocket",
        "-H",
        "sec-websocket-version: 13",
        "-H",
        "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
        "-H",
        &origin,
        "-H",
        &cookie,
        "-o",
        "/dev/null",
        "-m",
        "3",
        &target,
    ];
    curl(&args, None).0
}

#[test]
fn only_paired_devices_on_the_pages_own_origin_reach_the_sessions() {
    let s = MobileSite::start(AGENT);
    // The page's files hold nothing private; the rest needs pairing.
    assert_eq!(curl(&[&format!("{}/app.js", s.url)], None).0, 200);
    let (status, body) = curl(&[&format!("{}/api/sessions", s.url)], None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("sinc mobile pair"), "{body}");

    // A wrong code is refused; a right one pairs once.
    let origin = format!("origin: {}", s.url);
    let pair_url = format!("{}/api/pair", s.url);
    let wrong = curl(&["-H", &origin, &pair_url], Some(r#"{"code":"AAAA-AAAA","name":"x"}"#));
    assert_eq!(wrong.0, 403, "{}", wrong.1);
    // One try a second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let cookie = pair(&s);
    let with = format!("cookie: {cookie}");
    let (status, body) = curl(&["-H", &with, &format!("{}/api/sessions", s.url)], None);
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["sessions"][0]["id"], s.id.as_str(), "{listed}");
    assert_eq!(listed["sessions"][0]["project"], "demo-app", "{listed}");

    // Another site cannot drive the sessions through the user's browser.
    let evil = "origin: http://evil.example";
    let start = curl(&["-H", &with, "-H", evil, &format!("{}/api/sessions", s.url)], Some(r#"{"folder":"/tmp"}"#));
    assert_eq!(start.0, 403, "{}", start.1);
    assert_eq!(websocket_status(&s, "http://evil.example", Some(&cookie)), 403);
    assert_eq!(websocket_status(&s, &s.url, None), 401);
    assert_eq!(websocket_status(&s, &s.url, Some(&cookie)), 101);
    // A page at another name that resolves here (DNS rebinding) is not answered.
    let rebound = curl(&["-H", "host: evil.example:3000", &format!("{}/", s.url)], None);
    assert_eq!(rebound.0, 421, "{}", rebound.1);
    // Paths that only look like an API are refused, and the plugin lives on.
    let odd = curl(&["-H", &with, "-H", &origin, "-X", "POST", &format!("{}/api/sessions/stop", s.url)], None);
    assert_eq!(odd.0, 404, "{}", odd.1);

    // Devices are listed and revoked.
    let devices = s.client.json(&["mobile", "devices"]);
    assert_eq!(devices[0]["name"], "curl", "{devices}");
    let id = devices[0]["id"].as_str().unwrap().to_owned();
    assert!(s.client.ok(&["mobile", "revoke", &id]).contains("revoked 1"));
    assert_eq!(curl(&["-H", &with, &format!("{}/api/sessions", s.url)], None).0, 401);
    let unknown = s.client.run(&["mobile", "revoke", "ffffffff"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(s.client.run(&["mobile", "revoke"]).status.code(), Some(2));
    s.client.ok(&["kill", &s.id]);
}

#[test]
fn on_a_phone_the_page_lists_shows_and_steers_a_session() {
    let Some(tools) = browser_tools() else {
        eprintln!("SKIPPED: Chromium or playwright-core is missing (scripts/prerequisites installs both)");
        return;
    };
    let s = MobileSite::start(AGENT);
    s.wait_for_screen("continue? (y/n)");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/mobile-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("js/mobile_page.mjs");
    let out = Command::new("node")
        .arg(script)
        .args([&s.url, &s.pairing_code(), &s.id])
        .arg(s.tmux_socket())
        .arg(&shots)
        .env("NODE_TOOLS", &tools)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let found: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(found["state"], "waiting", "{found}");
    eprintln!("timings: {found}");
    // Stopped from the page: gone on the VPS.
    wait_until(Duration::from_secs(10), "the session's end", || {
        (!s.sshd.tmux(&["has-session", "-t", &format!("={}", s.id)]).status.success()).then_some(())
    });
    assert!(shots.join("list.png").exists() && shots.join("session.png").exists());
}

/// `bind = "tailnet"`: the page moves to the VPS's Tailscale address (a
/// stand-in `tailscale` says it is 127.0.0.2) and leaves 127.0.0.1; the
/// pairing link names the configured address.
#[test]
fn with_bind_tailnet_the_page_is_served_on_the_tailnet_address_only() {
    let tailscale = "#!/bin/sh\n[ \"$1 $2\" = 'status --json' ] || exit 1\n\
        echo '{\"BackendState\":\"Running\",\"Self\":{\"DNSName\":\"vps.tail0.ts.net.\",\"TailscaleIPs\":[\"127.0.0.2\",\"fd7a:115c:a1e0::2\"]}}'\n";
    let sshd = Sshd::start_with_path(&[], &[("tailscale", tailscale)]);
    let s = MobileSite::start_on(sshd, AGENT, "127.0.0.2", "bind = \"tailnet\"\nurl = \"http://127.0.0.2:PORT\"\n");
    let loopback = s.url.replace("127.0.0.2", "127.0.0.1");
    assert_eq!(curl(&[&format!("{loopback}/")], None).0, 0, "nothing on 127.0.0.1 any more");
    let paired = s.client.json(&["mobile", "pair"]);
    assert!(paired["url"].as_str().unwrap().starts_with(&format!("{}/#pair=", s.url)), "{paired}");
    let text = s.client.ok(&["mobile", "pair"]);
    assert!(text.contains("tailnet address") && text.contains('▀'), "{text}");
    s.client.ok(&["kill", &s.id]);
}
