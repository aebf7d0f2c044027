//! `sinc vps bootstrap` against a real sshd: the plan, the real run (twice),
//! a missing package with no sudo, and a VPS of another platform that
//! downloads its sinc and checks it. (The plans for dnf and apk are checked
//! from `/etc/os-release` fixtures in the unit tests; there is no systemd
//! here, so the unit's text and commands are checked there too.)

use sinc_tests::{Client, HttpServer, Sshd, SshdOptions, stderr, stdout};
use std::path::Path;

fn bin_dir(sshd: &Sshd) -> std::path::PathBuf {
    sshd.remote_data().join("sincronizado/bin")
}

#[test]
fn bootstrap_plans_then_installs_and_a_second_run_has_nothing_to_do() {
    let sshd = Sshd::start();
    let client = Client::new(&sshd, "sleep 600");
    let workspace = sshd.remote_base().join("fresh");
    client.write_config(&format!(
        "agent = \"sleep 600\"\n[vps]\nhost = \"sinc-test\"\n[sync]\nremote_base = {:?}\n",
        workspace.to_string_lossy()
    ));

    let plan = client.ok(&["vps", "bootstrap", "--dry-run"]);
    assert!(plan.contains("Debian") || plan.contains("Ubuntu"), "{plan}");
    assert!(plan.contains("install tmux and git: skip (already installed)"), "{plan}");
    assert!(plan.contains("create the workspace folder") && plan.contains("mkdir -p"), "{plan}");
    assert!(plan.contains("upload this sinc over SSH"), "{plan}");
    assert!(plan.contains("skip (no systemd: the daemon starts on demand over SSH)"), "{plan}");
    assert!(plan.contains("`sleep` is on the PATH"), "{plan}");
    assert!(!bin_dir(&sshd).exists() && !workspace.exists(), "a dry run changes nothing");
    let j = client.json(&["vps", "bootstrap", "--dry-run"]);
    assert_eq!(j["steps"][0]["state"], "skip", "{j}");
    assert_eq!(j["steps"][1]["state"], "todo", "{j}");

    let out = client.run(&["vps", "bootstrap"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(workspace.is_dir());
    assert!(bin_dir(&sshd).join("sinc").exists());
    assert!(stderr(&out).contains("✓ install sinc"), "{}", stderr(&out));
    assert!(stderr(&out).contains("The agent `sleep` is on the VPS's PATH"), "{}", stderr(&out));

    let again = client.json(&["vps", "bootstrap"]);
    assert_eq!(again["steps"][2]["state"], "skip", "sinc is there: {again}");
    assert_eq!(
        again["done"],
        serde_json::json!(["create the workspace folder ".to_owned() + &workspace.to_string_lossy()])
    );
}

#[test]
fn a_missing_package_without_sudo_names_the_command_and_changes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    sinc_tests::set_mode(scratch.path(), 0o755);
    let path = sinc_tests::path_without(&scratch.path().join("bin"), &["tmux"], &[]);
    let sshd = Sshd::start_with(SshdOptions { set_env: vec![("PATH".into(), path)], ..SshdOptions::default() });
    let client = Client::new(&sshd, "sleep 600");
    let plan = client.ok(&["vps", "bootstrap", "--dry-run"]);
    assert!(plan.contains("1. [root] install tmux\n") && plan.contains("apt-get install"), "{plan}");

    let out = client.run(&["vps", "bootstrap"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("needs root on the VPS") && err.contains("sudo sh -c") && err.contains("tmux"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(!bin_dir(&sshd).exists());
}

/// A fake sinc for another platform: a script that says its version.
fn fake_sinc(path: &Path, version: &str) -> String {
    sinc_tests::write_script(path, &format!("#!/bin/sh\necho 'sinc {version}'\n"));
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    stdout(&out).split_whitespace().next().unwrap().to_owned()
}

#[test]
fn another_platform_downloads_its_sinc_and_checks_it() {
    let scratch = tempfile::tempdir().unwrap();
    sinc_tests::set_mode(scratch.path(), 0o755);
    let uname = "#!/bin/sh\ncase \"$1\" in -s) echo Linux;; -m) echo riscv64;; *) echo Linux;; esac\n";
    let path = sinc_tests::path_without(&scratch.path().join("bin"), &[], &[("uname", uname)]);
    let sshd = Sshd::start_with(SshdOptions { set_env: vec![("PATH".into(), path)], ..SshdOptions::default() });
    let mut client = Client::new(&sshd, "sleep 600");
    client.set_env("SINC_SYNC_MODE", "none");
    let version = client.ok(&["-V"]).trim().trim_start_matches("sinc ").to_owned();
    let site = scratch.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    let file = format!("sinc-{version}-riscv64");
    let sum = fake_sinc(&site.join(&file), &version);
    std::fs::write(site.join(format!("{file}.sha256")), format!("{sum}  {file}\n")).unwrap();
    let server = HttpServer::serve(&site);
    let config = std::fs::read_to_string(client.config_file()).unwrap();
    let with_url =
        config.replace("[vps]\n", &format!("[vps]\nrelease_url = \"{}/sinc-{{version}}-{{arch}}\"\n", server.url));
    client.write_config(&with_url);

    let plan = client.ok(&["vps", "bootstrap", "--dry-run"]);
    assert!(plan.contains(&format!("download {}/{file} on the VPS", server.url)), "{plan}");
    let out = client.run(&["vps", "bootstrap"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let link = std::fs::read_link(bin_dir(&sshd).join("sinc")).unwrap();
    assert_eq!(link.to_string_lossy(), format!("sinc-{version}-{}", &sum[..12]));

    // A checksum that does not match: refused, the installed one stays.
    std::fs::write(site.join(format!("{file}.sha256")), format!("{}  {file}\n", "0".repeat(64))).unwrap();
    std::fs::remove_dir_all(bin_dir(&sshd)).unwrap();
    let out = client.run(&["vps", "bootstrap"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("checksum did not match"), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(bin_dir(&sshd)).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "no partial file: {left:?}");

    // --sinc-binary: that file is uploaded instead.
    let own = scratch.path().join("my-sinc");
    let own_sum = fake_sinc(&own, &version);
    let out = client.run(&["vps", "bootstrap", "--sinc-binary", &own.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let link = std::fs::read_link(bin_dir(&sshd).join("sinc")).unwrap();
    assert!(link.to_string_lossy().ends_with(&own_sum[..12]), "{link:?}");
}
