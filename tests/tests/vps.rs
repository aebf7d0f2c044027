//! `sinc vps bootstrap` against a real sshd: the plan, the real run (twice),
//! a missing package with no sudo, and a VPS of another platform that
//! downloads its sinc and checks it. (The plans for dnf and apk are checked
//! from `/etc/os-release` fixtures in the unit tests; there is no systemd
//! here, so the unit's text and commands are checked there too.)

use sinc_tests::{Client, HttpServer, Sshd, stderr, stdout};
use std::path::Path;
use std::time::Duration;

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
    let sshd = Sshd::start_with_path(&["tmux"], &[]);
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
    let sshd = Sshd::start_with_path(&[], &[("uname", sinc_tests::RISCV_UNAME)]);
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

    // A --sinc-binary that is not there: a usage error before any step.
    let out = client.run(&["vps", "bootstrap", "--sinc-binary", "/nonexistent/sinc"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot read --sinc-binary /nonexistent/sinc"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(bin_dir(&sshd)).unwrap().count(), 0, "nothing was done");

    // --sinc-binary: that file is uploaded instead.
    let own = scratch.path().join("my-sinc");
    let own_sum = fake_sinc(&own, &version);
    let out = client.run(&["vps", "bootstrap", "--sinc-binary", &own.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let link = std::fs::read_link(bin_dir(&sshd).join("sinc")).unwrap();
    assert!(link.to_string_lossy().ends_with(&own_sum[..12]), "{link:?}");
}

/// A "VPS" of its own: a network namespace (198.51.100.1, reached from the
/// client namespace), and a mount namespace in which /etc is an overlay on a
/// folder of this test — so sshd's settings, nftables.conf and anything else
/// hardening writes stay private — with sshd on port 22 letting root in by
/// key (and, until hardened, by password).
struct NsVps {
    net: sinc_tests::Netns,
    dir: tempfile::TempDir,
    sshd: std::process::Child,
    client: Client,
}

impl Drop for NsVps {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("upper/ssh/sinc-test-sshd.pid")) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn keygen(path: &Path) {
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

impl NsVps {
    fn start() -> NsVps {
        NsVps::start_with(&[], &[])
    }

    /// With extra sshd_config lines (e.g. `SetEnv` for root's sessions), and
    /// the programs at `hide` hidden (/dev/null mounted over them).
    fn start_with(extra: &[String], hide: &[&str]) -> NsVps {
        let net = sinc_tests::Netns::create();
        let dir = tempfile::Builder::new().prefix("sinc-vps-").tempdir().unwrap();
        let upper = dir.path().join("upper");
        for d in ["upper/ssh", "work", "sshd_config.d"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        keygen(&upper.join("ssh/sinc_test_host_key"));
        keygen(&dir.path().join("client_key"));
        std::fs::copy(dir.path().join("client_key.pub"), upper.join("ssh/sinc_test_authorized_keys")).unwrap();
        let extra: String = extra.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(
            upper.join("ssh/sshd_config"),
            extra
                + &format!(
                "Include /etc/ssh/sshd_config.d/*.conf\nListenAddress {}\nPort 22\nHostKey /etc/ssh/sinc_test_host_key\n\
                 PidFile /etc/ssh/sinc-test-sshd.pid\nAuthorizedKeysFile /etc/ssh/sinc_test_authorized_keys\n\
                 PermitRootLogin yes\nPasswordAuthentication yes\nUsePAM no\nStrictModes no\nAllowUsers root\nLogLevel VERBOSE\n",
                sinc_tests::netns::SERVER_IP
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
        let hide: String =
            hide.iter().filter(|p| Path::new(p).exists()).map(|p| format!("mount --bind /dev/null {p} && ")).collect();
        let mount = format!(
            "mount -t overlay overlay -o lowerdir=/etc,upperdir={u},workdir={w} /etc && mount --bind {d} /etc/ssh/sshd_config.d && {hide}exec /usr/sbin/sshd -D -e",
            u = upper.display(),
            w = dir.path().join("work").display(),
            d = dir.path().join("sshd_config.d").display(),
        );
        let sshd = std::process::Command::new("ip")
            .args(["netns", "exec", &net.server, "unshare", "-m", "sh", "-c", &mount])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let log_path = dir.path().join("sshd.log");
        sinc_tests::wait_until(Duration::from_secs(10), "the namespaced sshd", || {
            std::fs::read_to_string(&log_path).unwrap_or_default().contains("Server listening").then_some(())
        });
        let client = Client::bare();
        let key = client.home.join(".ssh/id_ed25519");
        std::fs::copy(dir.path().join("client_key"), &key).unwrap();
        sinc_tests::set_mode(&key, 0o600);
        std::fs::write(
            client.home.join(".ssh/config"),
            format!(
                "Host vps\n  HostName {}\n  User root\n  IdentityFile ~/.ssh/id_ed25519\n",
                sinc_tests::netns::SERVER_IP
            ),
        )
        .unwrap();
        let host_key = std::fs::read_to_string(upper.join("ssh/sinc_test_host_key.pub")).unwrap();
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        std::fs::write(client.known_hosts(), format!("{} {}\n", sinc_tests::netns::SERVER_IP, host_key.join(" ")))
            .unwrap();
        client.write_config("agent = \"sleep 600\"\n[vps]\nhost = \"vps\"\n[sync]\nmode = \"none\"\n");
        NsVps { net, dir, sshd, client }
    }

    fn sinc(&self, args: &[&str]) -> std::process::Output {
        self.client.run_in(&self.net.in_client(), args)
    }

    fn drop_in(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("sshd_config.d/00-sinc-harden.conf")).ok()
    }

    /// Whether the client namespace reaches `port` on the VPS (curl, 2 s).
    fn reaches(&self, port: u16) -> bool {
        std::process::Command::new("ip")
            .args(["netns", "exec", &self.net.client, "curl", "-s", "-o", "/dev/null", "-m", "2"])
            .arg(format!("http://{}:{port}/", sinc_tests::netns::SERVER_IP))
            .status()
            .unwrap()
            .success()
    }
}

#[test]
fn harden_locks_the_vps_down_and_never_locks_the_user_out() {
    sinc_tests::require_root!();
    // ufw hidden: the nftables way.
    let vps = NsVps::start_with(&[], &["/usr/sbin/ufw"]);
    let _plugin = hardened(&vps, "nftables");

    // A change that shuts the user out is rolled back.
    let before = vps.drop_in();
    let out = vps.sinc(&[
        "vps",
        "harden",
        "--no-firewall",
        "--no-fail2ban",
        "--no-upgrades",
        "--sshd-option",
        "AuthorizedKeysFile /nonexistent",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not log in with your key") && stderr(&out).contains("rolled back"),
        "{}",
        stderr(&out)
    );
    assert_eq!(vps.drop_in(), before, "the previous settings are back");
    let ssh = vps.client.run_in(&vps.net.in_client(), &["exec", "--", "echo", "still-in"]);
    assert_eq!(stdout(&ssh).trim(), "still-in", "{}", stderr(&ssh));
}

#[test]
fn bootstrap_as_root_installs_what_is_missing_with_the_package_manager() {
    sinc_tests::require_root!();
    // Root's sessions on the namespaced VPS: a PATH without tmux whose
    // apt-get "installs" a package by putting a program of its name on the
    // PATH (and logs how it was called), and XDG folders of this test's.
    let scratch = tempfile::Builder::new().prefix("sinc-root-").tempdir().unwrap();
    let bin = scratch.path().join("bin");
    let log = scratch.path().join("apt.log");
    let apt = format!(
        "#!/bin/sh\necho \"$*\" >> {log}\n[ \"$1\" = update ] && exit 0\nfor p in \"$@\"; do case \"$p\" in -*|install) ;; *) printf '#!/bin/sh\\necho \"%s 9.9\"\\n' \"$p\" > {bin}/\"$p\"; chmod 755 {bin}/\"$p\";; esac; done\n",
        log = log.display(),
        bin = bin.display()
    );
    let path = sinc_tests::path_without(&bin, &["tmux"], &[("apt-get", &apt)]);
    let (data, state, work) = (scratch.path().join("data"), scratch.path().join("state"), scratch.path().join("work"));
    let vps = NsVps::start_with(
        &[format!(
            "SetEnv \"PATH={path}\" \"XDG_DATA_HOME={}\" \"XDG_STATE_HOME={}\"",
            data.display(),
            state.display()
        )],
        &[],
    );
    vps.client.write_config(&format!(
        "agent = \"sleep 600\"\n[vps]\nhost = \"vps\"\n[sync]\nmode = \"none\"\nremote_base = {:?}\n",
        work.to_string_lossy()
    ));
    let plan = stdout(&vps.sinc(&["vps", "bootstrap", "--dry-run"]));
    assert!(plan.contains("root") && plan.contains("1. [root] install tmux\n"), "{plan}");

    let out = vps.sinc(&["vps", "bootstrap", "--no-systemd"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains("update -qq") && calls.contains("install -y -qq --no-install-recommends tmux"), "{calls}");
    assert!(bin.join("tmux").exists(), "installed");
    assert!(work.is_dir() && data.join("sincronizado/bin/sinc").exists());
    let again = stdout(&vps.sinc(&["vps", "bootstrap", "--dry-run"]));
    assert!(again.contains("install tmux and git: skip (already installed)"), "{again}");
}

/// Harden `vps` (with `tool` doing the firewall) with a plugin's port open,
/// checking the doctor before and after, SSH still working, the port
/// closed, and a second run; returns the plugin's server.
fn hardened(vps: &NsVps, tool: &str) -> sinc_tests::KillOnDrop {
    // A plugin's port, listening on every address of the VPS.
    let site = tempfile::tempdir().unwrap();
    let plugin = sinc_tests::KillOnDrop(
        std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &vps.net.server,
                "python3",
                "-m",
                "http.server",
                "3000",
                "--bind",
                "0.0.0.0",
                "--directory",
            ])
            .arg(site.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    sinc_tests::wait_until(Duration::from_secs(10), "the plugin's port", || vps.reaches(3000).then_some(()));

    // The doctor sees the open port and no firewall...
    let doctor =
        |vps: &NsVps| -> serde_json::Value { serde_json::from_str(&stdout(&vps.sinc(&["doctor", "--json"]))).unwrap() };
    let check = |j: &serde_json::Value, name: &str| -> serde_json::Value {
        j["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned().unwrap()
    };
    let before = doctor(vps);
    assert_eq!(check(&before, "listeners")["status"], "warn", "{before:#}");
    assert!(check(&before, "listeners")["detail"].as_str().unwrap().contains("3000"), "{before:#}");
    assert_eq!(check(&before, "firewall")["status"], "warn", "{before:#}");

    let plan = stdout(&vps.sinc(&["vps", "harden", "--dry-run"]));
    assert!(plan.contains("(you log in as root)"), "{plan}");
    assert!(plan.contains("[root] sshd: no password logins") && plan.contains("PasswordAuthentication no"), "{plan}");
    assert!(plan.contains(&format!("({tool})")), "{plan}");
    assert!(plan.contains("fail2ban") && plan.contains("unattended-upgrades"), "{plan}");
    assert!(plan.contains("a fresh SSH connection must log in with your key"), "{plan}");
    assert!(vps.drop_in().is_none() && vps.reaches(3000), "a dry run changes nothing");

    // fail2ban and the upgrades would install packages on this machine.
    let out = vps.sinc(&["vps", "harden", "--no-fail2ban", "--no-upgrades"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&out),
        std::fs::read_to_string(vps.dir.path().join("sshd.log")).unwrap_or_default()
    );
    assert!(stderr(&out).contains("(a fresh key login works)"), "{}", stderr(&out));
    assert!(vps.drop_in().unwrap().contains("PasswordAuthentication no"));
    assert!(!vps.reaches(3000), "the plugin's port is closed to the outside");
    let ssh = vps.client.run_in(&vps.net.in_client(), &["exec", "--", "echo", "still-in"]);
    assert_eq!(stdout(&ssh).trim(), "still-in", "{}", stderr(&ssh));
    // ...and, after, the firewall.
    let after = doctor(vps);
    assert_eq!(check(&after, "firewall")["status"], "pass", "{after:#}");
    assert!(check(&after, "firewall")["detail"].as_str().unwrap().contains(tool), "{after:#}");

    // Again: the same state, no error.
    let again = vps.sinc(&["vps", "harden", "--no-fail2ban", "--no-upgrades"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(!vps.reaches(3000));
    plugin
}

#[test]
fn harden_with_ufw_where_it_is_installed() {
    sinc_tests::require_root!();
    if !Path::new("/usr/sbin/ufw").exists() {
        eprintln!("SKIPPED: ufw is not installed (scripts/prerequisites installs it)");
        return;
    }
    let vps = NsVps::start();
    let _plugin = hardened(&vps, "ufw");
}

#[test]
fn harden_refuses_an_sshd_option_that_is_not_one_setting() {
    let client = Client::bare();
    for bad in ["Match User root", "AllowUsers a\nPasswordAuthentication yes", "NoValue"] {
        let out = client.run(&["vps", "harden", "--sshd-option", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("is not one sshd setting"), "{}", stderr(&out));
    }
}
