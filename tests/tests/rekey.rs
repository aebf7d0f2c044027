//! Long-lived connections across SSH re-keying (sshd's `RekeyLimit`): bulk
//! transfers both ways and an idle attached terminal must survive.

use sinc_tests::{Client, Pty, Sshd, SshdOptions, require_root, stderr};
use std::time::Duration;

fn rekeying_sshd() -> Sshd {
    // Re-key every 256 KiB or every second, whichever comes first.
    Sshd::start_with(SshdOptions {
        extra_config: vec!["RekeyLimit 256K 1s".into(), "LogLevel DEBUG1".into()],
        ..SshdOptions::default()
    })
}

#[test]
fn bulk_output_and_input_cross_many_rekeys() {
    let sshd = rekeying_sshd();
    let client = Client::new(&sshd, "true");
    let out = client.run(&["exec", "--", "head", "-c", "20000000", "/dev/zero"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 20_000_000);

    let data: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    let out = client.run_with_input(&["exec", "--", "sha256sum"], &data);
    let local = {
        use std::io::Write;
        let mut c = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(&data).unwrap();
        c.wait_with_output().unwrap()
    };
    assert_eq!(
        sinc_tests::stdout(&out).split_whitespace().next(),
        sinc_tests::stdout(&local).split_whitespace().next()
    );
    let rekeys = sshd.log().matches("ssh_set_newkeys: rekeying out").count();
    assert!(rekeys >= 10, "expected many re-keys during 28 MB, sshd logged {rekeys}");
}

#[test]
fn idle_terminal_survives_time_based_rekeys() {
    require_root!();
    let sshd = rekeying_sshd();
    let agent =
        sshd.remote_script("echo-agent", "#!/bin/sh\necho ready\nwhile IFS= read -r l; do echo \"got: $l\"; done\n");
    let client = Client::new(&sshd, &agent.to_string_lossy());
    let pty = Pty::spawn(&client, &[]);
    pty.wait_for("ready", Duration::from_secs(20));
    let before = sshd.log().matches("ssh_set_newkeys: rekeying out").count();
    std::thread::sleep(Duration::from_secs(5));
    pty.type_text("still here");
    pty.keys(&["Enter"]);
    pty.wait_for("got: still here", Duration::from_secs(10));
    let after = sshd.log().matches("ssh_set_newkeys: rekeying out").count();
    assert!(after > before, "no re-key happened while idle ({before} → {after})");
}

#[test]
#[ignore = "long soak: scripts/test --long"]
fn a_gigabyte_stream_crosses_thousands_of_rekeys() {
    let sshd = rekeying_sshd();
    let client = Client::new(&sshd, "true");
    let mut child = client
        .sinc()
        .args(["exec", "--", "head", "-c", "1000000000", "/dev/zero"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let total = std::io::copy(&mut child.stdout.take().unwrap(), &mut std::io::sink()).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(total, 1_000_000_000);
    let rekeys = sshd.log().matches("ssh_set_newkeys: rekeying out").count();
    assert!(rekeys >= 1000, "expected thousands of re-keys during 1 GB, sshd logged {rekeys}");
}
