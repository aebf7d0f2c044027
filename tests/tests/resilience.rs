//! Attached sessions survive a cut link: the watchdog notices the silence
//! within seconds, the terminal shows a status line while sinc reconnects,
//! and once the network is back the session is re-attached with nothing lost
//! (the remote program's output in between is in the session's history).

use sinc_tests::{
    Client, Proxy, Pty, Sshd, counter_behind_proxy, counter_lines, last_counter_line, require_root, stdout,
};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// A terminal attached to the counter through a proxy that can cut the link.
struct Attached {
    sshd: Sshd,
    /// Its home and configuration must outlive the terminal.
    client: Client,
    proxy: Proxy,
    id: String,
    pty: Pty,
}

fn attached_counter() -> Attached {
    let sshd = Sshd::start();
    let (client, proxy) = counter_behind_proxy(&sshd);
    let id = client.ok(&["id"]).trim().to_owned();
    let pty = Pty::spawn(&client, &[]);
    pty.wait_for("line 30", T);
    Attached { sshd, client, proxy, id, pty }
}

fn cut_and_resume(cut_for: Duration) {
    let Attached { sshd, client: _client, proxy, id, pty } = attached_counter();
    proxy.pause();
    let cut = Instant::now();
    let before = last_counter_line(&pty.screen());
    pty.wait_for("reconnecting", T);
    let detected = cut.elapsed();
    assert!(detected < Duration::from_secs(6), "the dead link was noticed after {detected:?}");

    // Keys typed while the link is down are dropped, and the user is told.
    pty.type_text("xyz");
    pty.wait_for("3 typed bytes discarded", T);
    std::thread::sleep(cut_for.saturating_sub(cut.elapsed()));
    proxy.resume();
    let back = Instant::now();
    sinc_tests::wait_until(T, "the counter on the restored screen", || {
        (last_counter_line(&pty.screen()) > before + 100).then_some(())
    });
    let resumed = back.elapsed();
    assert!(resumed < Duration::from_secs(5), "resumed {resumed:?} after the network came back");
    pty.keys(&["C-b", "d"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    assert!(pty.terminal_restored());

    assert_history_complete(&sshd, &id, before);
    eprintln!("cut {cut_for:?}: noticed after {detected:?}, resumed {resumed:?} after the network came back");
}

/// The session's history has every line, once, in order, from before line
/// `before` to well after it.
fn assert_history_complete(sshd: &Sshd, id: &str, before: u64) {
    let history = stdout(&sshd.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", id]));
    let numbers = counter_lines(&history);
    assert!(numbers.len() > 100, "{history}");
    for pair in numbers.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "a gap or a duplicate in the session's history");
    }
    assert!(numbers[0] <= before && *numbers.last().unwrap() > before + 100);
}

/// Attach to the counter across two network namespaces (behind an uplink of
/// `upload_kbit` when given), drop every packet in the client's firewall for
/// `drop_for` or until sinc notices, whichever is later, then let them
/// through: sinc notices within 6 s, the screen moves again within 5 s, and
/// the session's history has every line. Returns both times.
fn survive_a_firewall_drop(upload_kbit: Option<u32>, drop_for: Duration) -> (Duration, Duration) {
    let net = sinc_tests::Netns::create();
    let (sshd, client) = sinc_tests::counter_across(&net);
    if let Some(kbit) = upload_kbit {
        net.limit_upload(kbit);
    }
    // (5 s of lines fit in tmux's default history of 2000.)
    let id = client.ok(&["id"]).trim().to_owned();

    let pty = Pty::spawn_in(&client, &net.in_client(), &[]);
    // Behind a slow uplink the attach's own messages queue behind the
    // upload's, so the first screen may come when line 30 has scrolled by.
    sinc_tests::wait_until(T, "the counter on the screen", || (last_counter_line(&pty.screen()) >= 30).then_some(()));
    let before = last_counter_line(&pty.screen());
    net.drop_traffic();
    let cut = Instant::now();
    pty.wait_for("reconnecting", T);
    let detected = cut.elapsed();
    assert!(detected < Duration::from_secs(6), "silent loss noticed after {detected:?}");
    std::thread::sleep(drop_for.saturating_sub(cut.elapsed()));
    net.allow_traffic();
    let back = Instant::now();
    sinc_tests::wait_until(T, "the counter on the restored screen", || {
        (last_counter_line(&pty.screen()) > before + 100).then_some(())
    });
    let resumed = back.elapsed();
    assert!(resumed < Duration::from_secs(5), "resumed {resumed:?} after the firewall let packets through");
    pty.keys(&["C-b", "d"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    assert_history_complete(&sshd, &id, before);
    sshd.tmux(&["kill-session", "-t", &id]);
    (detected, resumed)
}

#[test]
fn packets_dropped_by_a_firewall_are_survived_with_nothing_lost() {
    require_root!();
    let (detected, resumed) = survive_a_firewall_drop(None, Duration::from_secs(5));
    eprintln!("iptables DROP for 5 s: noticed after {detected:?}, resumed {resumed:?} after");
}

/// Without sync, `sinc` installs its build on the VPS on a second channel
/// while it attaches. Behind a slow uplink that upload is still going when the
/// link dies: sinc is then stuck writing into the dead link, with the
/// server's last bytes waiting unread — which must not pass for a slow reader
/// (a CI run once waited 30 s for a verdict here).
#[test]
fn a_link_dropped_in_the_middle_of_an_upload_is_noticed() {
    require_root!();
    let (detected, resumed) = survive_a_firewall_drop(Some(4000), Duration::ZERO);
    eprintln!("iptables DROP during an upload: noticed after {detected:?}, resumed {resumed:?} after");
}

#[test]
fn a_two_second_cut_resumes_the_attach_with_nothing_lost() {
    require_root!();
    cut_and_resume(Duration::from_secs(2));
}

#[test]
fn a_ten_second_cut_resumes_the_attach_with_nothing_lost() {
    require_root!();
    cut_and_resume(Duration::from_secs(10));
}

#[test]
#[ignore = "long soak: scripts/test --long"]
fn a_two_minute_cut_resumes_the_attach_with_nothing_lost() {
    require_root!();
    cut_and_resume(Duration::from_secs(120));
}

#[test]
fn edits_on_both_sides_during_a_cut_arrive_after_it() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "sleep 100000");
    let proxy = Proxy::start(sshd.port);
    client.route_through(&sshd, proxy.port);
    let id = client.ok(&["id"]).trim().to_owned();
    let _stop = StopKeeper(&client, id.clone());
    let remote = sshd.remote_base().join(format!("demo-app-{}", &id[id.len() - 6..]));
    std::fs::write(client.project.join("before.txt"), "before\n").unwrap();
    client.ok(&["start"]);
    assert_eq!(std::fs::read_to_string(remote.join("before.txt")).unwrap(), "before\n");

    proxy.pause();
    let status = || client.json(&["status"])["state"].as_str().unwrap_or_default().to_owned();
    sinc_tests::wait_until(T, "the keeper to notice the cut", || (status() != "watching").then_some(()));
    std::fs::write(client.project.join("local.txt"), "typed on the laptop\n").unwrap();
    std::fs::write(remote.join("remote.txt"), "written by the agent\n").unwrap();
    sshd.chown(&remote.join("remote.txt"));
    std::thread::sleep(Duration::from_secs(2));
    proxy.resume();
    sinc_tests::wait_until(T, "both edits on both sides", || {
        let up = std::fs::read_to_string(remote.join("local.txt")).ok()?;
        let down = std::fs::read_to_string(client.project.join("remote.txt")).ok()?;
        (up == "typed on the laptop\n" && down == "written by the agent\n").then_some(())
    });

    // `sinc status` tells the story: one reconnect, seconds down, a round trip.
    let link = sinc_tests::wait_until(T, "a measured round trip", || {
        let link = client.json(&["status"])["link"].clone();
        link["rtt_ms"].is_f64().then_some(link)
    });
    assert_eq!(link["connected"], true, "{link}");
    assert!(link["reconnects"].as_u64() >= Some(1), "{link}");
    assert!(link["down_secs"].as_u64() >= Some(2), "{link}");
    let text = client.ok(&["status"]);
    assert!(text.contains("link    connected since") && text.contains("reconnects"), "{text}");
}

/// Stops the test's keeper however the test ends.
struct StopKeeper<'a>(&'a Client, String);

impl Drop for StopKeeper<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["kill", &self.1]);
    }
}

#[test]
fn the_session_outlives_a_killed_client_and_reattaches_intact() {
    require_root!();
    let sshd = Sshd::start();
    let agent = sshd.remote_script(
        "echo-agent",
        "#!/bin/sh\necho agent ready\nwhile IFS= read -r l; do echo \"agent got: $l\"; done\n",
    );
    let client = Client::new(&sshd, &agent.to_string_lossy());
    let pty = Pty::spawn(&client, &[]);
    pty.wait_for("agent ready", T);
    pty.type_text("before the crash");
    pty.keys(&["Enter"]);
    pty.wait_for("agent got: before the crash", T);
    std::process::Command::new("kill").arg("-KILL").arg(pty.sinc_pid().to_string()).status().unwrap();
    assert_eq!(pty.exit_code(T), 137);

    let again = Pty::spawn(&client, &["-r"]);
    again.wait_for("agent got: before the crash", T);
    again.type_text("after the crash");
    again.keys(&["Enter"]);
    again.wait_for("agent got: after the crash", T);
    again.keys(&["C-b", "d"]);
    assert_eq!(again.exit_code(T), 0, "{}", again.screen());
    let _ = client.run(&["kill", client.ok(&["id"]).trim()]);
}

#[test]
fn a_new_local_address_is_noticed_at_once_and_the_attach_moves_to_it() {
    require_root!();
    let net = sinc_tests::Netns::create();
    let (sshd, client) = sinc_tests::counter_across(&net);

    let pty = Pty::spawn_in(&client, &net.in_client(), &[]);
    pty.wait_for("line 30", T);
    let before = last_counter_line(&pty.screen());
    net.change_client_address("198.51.100.3");
    let changed = Instant::now();
    pty.wait_for("reconnecting", T);
    let noticed = changed.elapsed();
    // Silence alone would take 2.5 s to notice; the address check is faster.
    assert!(noticed < Duration::from_secs(2), "noticed {noticed:?} after the address changed");
    sinc_tests::wait_until(T, "the counter from the new address", || {
        (last_counter_line(&pty.screen()) > before + 100).then_some(())
    });
    let moved = changed.elapsed();
    assert!(sshd.log().contains("Connection from 198.51.100.3"), "{}", sshd.log());
    pty.keys(&["C-b", "d"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    eprintln!("address change: noticed after {noticed:?}, counter flowing from the new address after {moved:?}");
}

#[test]
fn ctrl_c_cuts_through_an_output_flood() {
    require_root!();
    let sshd = Sshd::start();
    let flood = sshd.remote_script(
        "flood",
        "#!/bin/sh\ntrap 'echo INTERRUPTED-BY-USER; exec sleep 100000' INT\necho flooding\nyes 'the agent prints a lot'\n",
    );
    let mut client = Client::new(&sshd, &flood.to_string_lossy());
    client.set_env("SINC_SYNC_MODE", "none");
    let pty = Pty::spawn(&client, &[]);
    pty.wait_for("the agent prints a lot", T);
    std::thread::sleep(Duration::from_secs(1));
    let pressed = Instant::now();
    pty.keys(&["C-c"]);
    pty.wait_for("INTERRUPTED-BY-USER", T);
    let took = pressed.elapsed();
    assert!(took < Duration::from_secs(1), "Ctrl-C took {took:?} to reach the agent through the flood");
    eprintln!("Ctrl-C through a flood: {took:?}");
    pty.keys(&["C-b", "d"]);
    assert_eq!(pty.exit_code(T), 0);
}

#[test]
fn reconnecting_gives_up_after_the_configured_time() {
    require_root!();
    let sshd = Sshd::start();
    let mut client = Client::new(&sshd, "sleep 100000");
    client.set_env("SINC_SYNC_MODE", "none");
    client.set_env("SINC_GIVE_UP_AFTER", "2");
    let proxy = Proxy::start(sshd.port);
    client.route_through(&sshd, proxy.port);
    let pty = Pty::spawn(&client, &[]);
    sinc_tests::wait_until(T, "the session", || stdout(&sshd.tmux(&["ls"])).contains("sinc-demo-app").then_some(()));
    std::thread::sleep(Duration::from_millis(500));
    proxy.pause();
    pty.wait_for("reconnecting", T);
    let since = Instant::now();
    assert_eq!(pty.exit_code(T), 76, "{}", pty.screen());
    assert!(since.elapsed() < Duration::from_secs(5), "gave up after {:?}", since.elapsed());
    assert!(pty.screen().contains("lost"), "{}", pty.screen());
    assert!(pty.terminal_restored());
    proxy.resume();
}

#[test]
fn a_reader_that_pauses_is_not_a_dead_link() {
    // `sinc exec -- cat big | less` with the pager waiting: sinc stops
    // reading, the connection backs up, and pings go unanswered — but the
    // server's bytes waiting in the socket say it is alive.
    let sshd = Sshd::start();
    let mut client = Client::new(&sshd, "true");
    client.set_env("SINC_SYNC_MODE", "none");
    let mut child = client
        .sinc()
        .args(["exec", "--", "head", "-c", "50000000", "/dev/zero"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let total = std::io::copy(&mut child.stdout.take().unwrap(), &mut std::io::sink()).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0), "the link was declared dead while the reader paused");
    assert_eq!(total, 50_000_000);
}

#[test]
fn a_slow_upload_is_not_a_dead_link() {
    // On a slow uplink a ping waits behind the upload for longer than the
    // watchdog allows; the server's acknowledgements say the link is alive.
    let sshd = Sshd::start();
    let mut client = Client::new(&sshd, "true");
    client.set_env("SINC_SYNC_MODE", "none");
    let proxy = Proxy::start(sshd.port);
    client.route_through(&sshd, proxy.port);
    client.ok(&["exec", "--", "true"]);
    proxy.throttle(100_000);
    let out = client.run_with_input(&["exec", "--", "wc", "-c"], &vec![7u8; 1_500_000]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the link was declared dead during a slow upload: {}",
        sinc_tests::stderr(&out)
    );
    assert_eq!(stdout(&out).trim(), "1500000");
}

#[test]
fn a_session_that_ends_during_a_cut_ends_the_attach_cleanly() {
    require_root!();
    let Attached { sshd, client: _client, proxy, id, pty } = attached_counter();
    proxy.pause();
    pty.wait_for("reconnecting", T);
    sshd.tmux(&["kill-session", "-t", &id]);
    proxy.resume();
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    assert!(pty.screen().contains("ended while the link was down"), "{}", pty.screen());
    assert!(pty.terminal_restored());
}

#[test]
fn a_reset_link_is_resumed_at_once_with_nothing_lost() {
    require_root!();
    let Attached { sshd, client: _client, proxy, id, pty } = attached_counter();
    let before = last_counter_line(&pty.screen());
    let reset = Instant::now();
    proxy.reset();
    sinc_tests::wait_until(T, "the counter after the reset", || {
        (last_counter_line(&pty.screen()) > before + 100).then_some(())
    });
    let back = reset.elapsed();
    // A reset is an error, not a silence: no 2.5 s wait for the watchdog.
    assert!(back < Duration::from_secs(4), "resumed {back:?} after the reset");
    pty.keys(&["C-b", "d"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    assert_history_complete(&sshd, &id, before);
    eprintln!("reset: the counter moving again after {back:?}");
}

#[test]
fn a_slow_link_is_not_taken_for_a_dead_one() {
    require_root!();
    let sshd = Sshd::start();
    let agent = sshd.remote_script(
        "echo-agent",
        "#!/bin/sh\necho agent ready\nwhile IFS= read -r l; do echo \"agent got: $l\"; done\n",
    );
    let mut client = Client::new(&sshd, &agent.to_string_lossy());
    client.set_env("SINC_SYNC_MODE", "none");
    let proxy = Proxy::start(sshd.port);
    client.route_through(&sshd, proxy.port);
    let pty = Pty::spawn(&client, &[]);
    pty.wait_for("agent ready", T);
    // 300 ms each way (a poor mobile link): quiet seconds, pings answered late.
    let logins = || sshd.log().matches("Accepted publickey").count();
    let before = logins();
    proxy.delay(Duration::from_millis(300));
    for round in 0..4 {
        std::thread::sleep(Duration::from_secs(2));
        pty.type_text(&format!("slow {round}"));
        pty.keys(&["Enter"]);
        pty.wait_for(&format!("agent got: slow {round}"), T);
    }
    assert_eq!(logins(), before, "a slow link was declared dead and reconnected:\n{}", sshd.log());
    proxy.delay(Duration::ZERO);
    pty.keys(&["C-b", "d"]);
    assert_eq!(pty.exit_code(T), 0, "{}", pty.screen());
    let _ = client.run(&["kill", client.ok(&["id"]).trim()]);
}
