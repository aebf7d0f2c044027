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
/// folder of this test — so sshd's settings, nftables.conf, fail2ban's jail
/// and anything else hardening writes stay private — /run and fail2ban's
/// database are fresh, and /var/log is a folder of this test, where sshd's
/// log goes with syslog's timestamps (as auth.log). sshd listens on port 22
/// and lets root in by key (and, until hardened, by password).
struct NsVps {
    net: sinc_tests::Netns,
    dir: tempfile::TempDir,
    client: Client,
}

/// What a [`NsVps`] has beyond the usual.
#[derive(Default)]
struct VpsSetup {
    /// Extra sshd_config lines (e.g. `SetEnv` for the sessions).
    sshd_lines: Vec<String>,
    /// Programs hidden (/dev/null mounted over them).
    hide: Vec<&'static str>,
    /// Files written into the VPS's /etc (path under /etc, text, mode).
    etc: Vec<(String, String, u32)>,
}

impl Drop for NsVps {
    fn drop(&mut self) {
        // sshd, its log's stamper, and whatever hardening started (fail2ban).
        self.net.kill_server_processes();
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

/// sshd's lines as syslog writes them to auth.log: a timestamp, a host
/// name and the program (fail2ban reads nothing without a date).
const SYSLOG_STAMPER: &str =
    r#"while IFS= read -r l; do printf '%s vps sshd[1]: %s\n' "$(date '+%b %e %H:%M:%S')" "$l"; done"#;

impl NsVps {
    fn start() -> NsVps {
        NsVps::start_with(VpsSetup::default())
    }

    fn start_with(setup: VpsSetup) -> NsVps {
        let net = sinc_tests::Netns::create();
        let dir = tempfile::Builder::new().prefix("sinc-vps-").tempdir().unwrap();
        let upper = dir.path().join("upper");
        for d in ["upper/ssh", "work", "sshd_config.d", "log"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        keygen(&upper.join("ssh/sinc_test_host_key"));
        keygen(&dir.path().join("client_key"));
        std::fs::copy(dir.path().join("client_key.pub"), upper.join("ssh/sinc_test_authorized_keys")).unwrap();
        for (path, text, mode) in &setup.etc {
            let file = upper.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, text).unwrap();
            sinc_tests::set_mode(&file, *mode);
        }
        let extra: String = setup.sshd_lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(
            upper.join("ssh/sshd_config"),
            extra
                + "Include /etc/ssh/sshd_config.d/*.conf\nListenAddress 0.0.0.0\nPort 22\nHostKey /etc/ssh/sinc_test_host_key\n\
                 PidFile /run/sinc-test-sshd.pid\nAuthorizedKeysFile /etc/ssh/sinc_test_authorized_keys\n\
                 PermitRootLogin yes\nPasswordAuthentication yes\nUsePAM no\nStrictModes no\nAllowUsers root\nLogLevel VERBOSE\n",
        )
        .unwrap();
        let hide: String = setup
            .hide
            .iter()
            .filter(|p| Path::new(p).exists())
            .map(|p| format!("mount --bind /dev/null {p} && "))
            .collect();
        // This machine's own unattended-upgrades settings are not the VPS's.
        let mount = format!(
            "mount -t overlay overlay -o lowerdir=/etc,upperdir={u},workdir={w} /etc && mount --bind {d} /etc/ssh/sshd_config.d && \
             mount -t tmpfs tmpfs /run && mkdir /run/sshd && mount --bind {log} /var/log && \
             {{ [ ! -d /var/lib/fail2ban ] || mount -t tmpfs tmpfs /var/lib/fail2ban; }} && \
             rm -f /etc/apt/apt.conf.d/20auto-upgrades && {hide}/usr/sbin/sshd -D -e 2>&1 | {SYSLOG_STAMPER} >> /var/log/auth.log",
            u = upper.display(),
            w = dir.path().join("work").display(),
            d = dir.path().join("sshd_config.d").display(),
            log = dir.path().join("log").display(),
        );
        let mut sshd = std::process::Command::new("ip")
            .args(["netns", "exec", &net.server, "unshare", "-m", "sh", "-c", &mount])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let client = Client::bare();
        let vps = NsVps { net, dir, client };
        sinc_tests::wait_until(Duration::from_secs(10), "the namespaced sshd", || {
            assert!(sshd.try_wait().unwrap().is_none(), "the namespaced sshd ended:\n{}", vps.sshd_log());
            vps.sshd_log().contains("Server listening").then_some(())
        });
        let key = vps.client.home.join(".ssh/id_ed25519");
        std::fs::copy(vps.dir.path().join("client_key"), &key).unwrap();
        sinc_tests::set_mode(&key, 0o600);
        vps.log_in_as("root", sinc_tests::netns::SERVER_IP);
        vps.client.write_config("agent = \"sleep 600\"\n[vps]\nhost = \"vps\"\n[sync]\nmode = \"none\"\n");
        vps
    }

    /// Point the client's `vps` host at `user@address` (trusting the VPS's
    /// host key there).
    fn log_in_as(&self, user: &str, address: &str) {
        std::fs::write(
            self.client.home.join(".ssh/config"),
            format!("Host vps\n  HostName {address}\n  User {user}\n  IdentityFile ~/.ssh/id_ed25519\n"),
        )
        .unwrap();
        let host_key = std::fs::read_to_string(self.dir.path().join("upper/ssh/sinc_test_host_key.pub")).unwrap();
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        std::fs::write(self.client.known_hosts(), format!("{address} {}\n", host_key.join(" "))).unwrap();
    }

    fn sinc(&self, args: &[&str]) -> std::process::Output {
        self.client.run_in(&self.net.in_client(), args)
    }

    /// What `command` prints when run on the VPS (over SSH, as `vps`'s user).
    fn run(&self, command: &[&str]) -> String {
        let out = self.sinc(&[&["exec", "--"], command].concat());
        assert!(out.status.success(), "{command:?}: {}", stderr(&out));
        stdout(&out)
    }

    fn sshd_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/auth.log")).unwrap_or_default()
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

/// The nftables way (ufw hidden).
fn without_ufw() -> VpsSetup {
    VpsSetup { hide: vec!["/usr/sbin/ufw"], ..VpsSetup::default() }
}

#[test]
fn harden_locks_the_vps_down_and_never_locks_the_user_out() {
    sinc_tests::require_root!();
    let vps = NsVps::start_with(without_ufw());
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
    assert_eq!(vps.run(&["echo", "still-in"]).trim(), "still-in");

    banned_after_failed_logins(&vps);
}

/// A stand-in `apt-get` in `scratch/bin` that "installs" a package by
/// putting a program of its name there, logging each call and who made it
/// to `scratch/apt.log`; and a PATH for the VPS's sessions with it and
/// without tmux.
fn stand_in_apt(scratch: &Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let bin = scratch.join("bin");
    let log = scratch.join("apt.log");
    let apt = format!(
        "#!/bin/sh\necho \"uid=$(id -u) $*\" >> {log}\n[ \"$1\" = update ] && exit 0\nfor p in \"$@\"; do case \"$p\" in -*|install) ;; *) printf '#!/bin/sh\\necho \"%s 9.9\"\\n' \"$p\" > {bin}/\"$p\"; chmod 755 {bin}/\"$p\";; esac; done\n",
        log = log.display(),
        bin = bin.display()
    );
    let path = sinc_tests::path_without(&bin, &["tmux"], &[("apt-get", &apt)]);
    (bin, log, path)
}

/// The sessions' PATH and XDG folders under `home`.
fn session_env(path: &str, home: &Path) -> String {
    format!(
        "SetEnv \"PATH={path}\" \"XDG_DATA_HOME={}\" \"XDG_STATE_HOME={}\"",
        home.join("data").display(),
        home.join("state").display()
    )
}

#[test]
fn bootstrap_as_root_installs_what_is_missing_with_the_package_manager() {
    sinc_tests::require_root!();
    let scratch = tempfile::Builder::new().prefix("sinc-root-").tempdir().unwrap();
    let (bin, log, path) = stand_in_apt(scratch.path());
    let vps =
        NsVps::start_with(VpsSetup { sshd_lines: vec![session_env(&path, scratch.path())], ..VpsSetup::default() });
    let work = scratch.path().join("work");
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
    assert!(work.is_dir() && scratch.path().join("data/sincronizado/bin/sinc").exists());
    let again = stdout(&vps.sinc(&["vps", "bootstrap", "--dry-run"]));
    assert!(again.contains("install tmux and git: skip (already installed)"), "{again}");
}

#[test]
fn bootstrap_as_a_user_with_sudo_installs_packages_as_root() {
    sinc_tests::require_root!();
    if !Path::new("/usr/bin/sudo").exists() {
        eprintln!("SKIPPED: sudo is not installed (scripts/prerequisites installs it)");
        return;
    }
    let user = sinc_tests::sshd::test_user();
    let scratch = tempfile::Builder::new().prefix("sinc-sudo-").tempdir().unwrap();
    sinc_tests::set_mode(scratch.path(), 0o755);
    let (bin, log, path) = stand_in_apt(scratch.path());
    let home = scratch.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let chown = std::process::Command::new("chown").arg(&user).arg(&home).status().unwrap();
    assert!(chown.success());
    // The VPS's sudo: this user may run anything as root without a password,
    // and root's PATH under sudo starts with the stand-in apt-get.
    let sudoers =
        format!("Defaults secure_path=\"{}:/usr/sbin:/usr/bin\"\n{user} ALL=(root) NOPASSWD: ALL\n", bin.display());
    let vps = NsVps::start_with(VpsSetup {
        sshd_lines: vec![session_env(&path, &home), format!("AllowUsers {user}")],
        etc: vec![("sudoers.d/sinc-test".into(), sudoers, 0o440)],
        ..VpsSetup::default()
    });
    vps.log_in_as(&user, sinc_tests::netns::SERVER_IP);
    let work = home.join("work");
    vps.client.write_config(&format!(
        "agent = \"sleep 600\"\n[vps]\nhost = \"vps\"\n[sync]\nmode = \"none\"\nremote_base = {:?}\n",
        work.to_string_lossy()
    ));
    let plan = stdout(&vps.sinc(&["vps", "bootstrap", "--dry-run"]));
    assert!(plan.contains("sudo") && plan.contains("1. [root] install tmux\n"), "{plan}");

    let out = vps.sinc(&["vps", "bootstrap", "--no-systemd"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains("uid=0 install -y -qq --no-install-recommends tmux"), "installed as root: {calls}");
    assert!(bin.join("tmux").exists(), "installed");
    assert!(work.is_dir() && home.join("data/sincronizado/bin/sinc").exists());
    let owner = std::process::Command::new("stat").args(["-c", "%U"]).arg(&work).output().unwrap();
    assert_eq!(stdout(&owner).trim(), user, "the workspace is the user's, not root's");
}

/// Harden `vps` (with `tool` doing the firewall) with a plugin's port open,
/// checking the doctor before and after, SSH still working, the port
/// closed, fail2ban watching sshd's log, unattended upgrades on, and a
/// second run; returns the plugin's server.
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
    let upgrades = |vps: &NsVps| vps.run(&["apt-config", "dump", "APT::Periodic"]);
    assert!(!upgrades(vps).contains("Unattended-Upgrade \"1\""), "{}", upgrades(vps));

    let plan = stdout(&vps.sinc(&["vps", "harden", "--dry-run"]));
    assert!(plan.contains("(you log in as root)"), "{plan}");
    assert!(plan.contains("[root] sshd: no password logins") && plan.contains("PasswordAuthentication no"), "{plan}");
    assert!(plan.contains(&format!("({tool})")), "{plan}");
    assert!(plan.contains("fail2ban") && plan.contains("20auto-upgrades"), "{plan}");
    assert!(plan.contains("a fresh SSH connection must log in with your key"), "{plan}");
    assert!(vps.drop_in().is_none() && vps.reaches(3000), "a dry run changes nothing");

    let out = vps.sinc(&["vps", "harden"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stderr(&out), vps.sshd_log());
    let said = stderr(&out);
    assert!(said.contains("(a fresh key login works)"), "{said}");
    assert!(said.contains("✓ fail2ban") && said.contains("✓ unattended security upgrades"), "{said}");
    assert!(vps.drop_in().unwrap().contains("PasswordAuthentication no"));
    assert!(!vps.reaches(3000), "the plugin's port is closed to the outside");
    assert_eq!(vps.run(&["echo", "still-in"]).trim(), "still-in");
    let jail = vps.run(&["fail2ban-client", "status", "sshd"]);
    assert!(jail.contains("/var/log/auth.log") && jail.contains("Currently banned:\t0"), "{jail}");
    assert!(upgrades(vps).contains("APT::Periodic::Unattended-Upgrade \"1\";"), "{}", upgrades(vps));
    // ...and, after, the firewall.
    let after = doctor(vps);
    assert_eq!(check(&after, "firewall")["status"], "pass", "{after:#}");
    assert!(check(&after, "firewall")["detail"].as_str().unwrap().contains(tool), "{after:#}");

    // Again: the same state, no error.
    let again = vps.sinc(&["vps", "harden"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(!vps.reaches(3000));
    plugin
}

/// An address that keeps failing SSH logins is banned by fail2ban (from
/// sshd's log), and the ban shuts it out of SSH.
fn banned_after_failed_logins(vps: &NsVps) {
    let ip = sinc_tests::netns::SERVER_IP;
    let mut attempts = 0;
    while vps.net.client_connects(ip, 22) {
        assert!(
            attempts < 20,
            "never banned:\n{}",
            std::fs::read_to_string(vps.dir.path().join("log/fail2ban.log")).unwrap_or_default()
        );
        attempts += 1;
        let _ = std::process::Command::new("ip")
            // `timeout`: a connection the ban cuts mid-handshake would wait on.
            .args(["netns", "exec", &vps.net.client, "timeout", "5", "ssh", "-o", "BatchMode=yes"])
            .args(["-o", "ConnectTimeout=2"])
            .args(["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=QUIET"])
            .arg(format!("no-such-user@{ip}"))
            .arg("true")
            .stdin(std::process::Stdio::null())
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = std::fs::read_to_string(vps.dir.path().join("log/fail2ban.log")).unwrap_or_default();
    assert!(log.contains(&format!("Ban {}", sinc_tests::netns::CLIENT_IP)), "{log}");
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
    banned_after_failed_logins(&vps);
}

/// The VPS's address on its tailnet (a second link, named `tailscale0` on
/// the VPS, stands in for Tailscale's interface).
const TAILNET_IP: &str = "100.100.100.1";

#[test]
fn harden_over_the_tailnet_keeps_ssh_on_the_tailnet_only() {
    sinc_tests::require_root!();
    let scratch = tempfile::tempdir().unwrap();
    let status = format!(
        "#!/bin/sh\ncat <<'EOF'\n{{\"BackendState\":\"Running\",\"Self\":{{\"DNSName\":\"vps.tail0000.ts.net.\",\"TailscaleIPs\":[\"{TAILNET_IP}\"]}}}}\nEOF\n"
    );
    let path = sinc_tests::path_without(&scratch.path().join("bin"), &[], &[("tailscale", &status)]) + ":/usr/sbin";
    let vps = NsVps::start_with(VpsSetup { sshd_lines: vec![format!("SetEnv \"PATH={path}\"")], ..without_ufw() });
    vps.net.add_link("tailscale0", TAILNET_IP, "100.100.100.2");
    let public = sinc_tests::netns::SERVER_IP;

    // Over the public address, SSH stays public (and sinc says why).
    let plan = vps.sinc(&["vps", "harden", "--dry-run"]);
    assert!(stderr(&plan).contains("sinc setup --host vps.tail0000.ts.net"), "{}", stderr(&plan));
    assert!(stdout(&plan).contains("except SSH (port 22) (nftables)"), "{}", stdout(&plan));

    vps.log_in_as("root", TAILNET_IP);
    let plan = stdout(&vps.sinc(&["vps", "harden", "--dry-run"]));
    assert!(plan.contains("SSH (port 22) on the tailnet only"), "{plan}");
    let out = vps.sinc(&["vps", "harden", "--no-fail2ban", "--no-upgrades"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stderr(&out), vps.sshd_log());
    assert!(stderr(&out).contains("on the tailnet only (nftables) (a fresh key login works)"), "{}", stderr(&out));
    assert_eq!(vps.run(&["echo", "still-in"]).trim(), "still-in");
    assert!(vps.net.client_connects(TAILNET_IP, 22), "SSH over the tailnet");
    assert!(!vps.net.client_connects(public, 22), "no SSH on the public address");
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
