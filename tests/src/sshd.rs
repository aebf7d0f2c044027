//! A real OpenSSH sshd on 127.0.0.1 and a free port, with a temporary host
//! key, a temporary client key, `UsePAM no`, `StrictModes no`, and a dedicated
//! test user when running as root (PTY sessions need sshd to run as root).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The user the tests log in as when they run as root.
pub const TEST_USER: &str = "sinc-test";

/// The test user's password (root runs only; a throwaway local account).
pub const TEST_PASSWORD: &str = "sinc-test-password";

/// Extra settings for one sshd.
#[derive(Debug, Default, Clone)]
pub struct SshdOptions {
    /// Lines for sshd_config (e.g. `RekeyLimit 1M 2s`); they take precedence
    /// over the harness's defaults.
    pub extra_config: Vec<String>,
    /// Extra `SetEnv` variables for sessions (e.g. a PATH without tmux).
    pub set_env: Vec<(String, String)>,
    /// Run in this network namespace (see [`crate::Netns`]), listening on
    /// its server address too.
    pub netns: Option<String>,
}

/// A running sshd; stopped (with its sessions' tmux server) on drop.
#[derive(Debug)]
pub struct Sshd {
    dir: tempfile::TempDir,
    /// The port it listens on.
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    uid: u32,
    gid: u32,
    child: Child,
    /// The folder of a custom session PATH ([`Sshd::start_with_path`]).
    _path_dir: Option<tempfile::TempDir>,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The user id of `user`.
pub fn uid_of(user: &str) -> u32 {
    id_of(user, "-u")
}

fn id_of(user: &str, flag: &str) -> u32 {
    let out = run(Command::new("id").arg(flag).arg(user));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The login user for tests: `sinc-test` (created if needed) as root, else
/// the current user.
pub fn test_user() -> String {
    if !crate::is_root() {
        return String::from_utf8_lossy(&run(Command::new("id").arg("-un")).stdout).trim().to_owned();
    }
    let lock = File::create(std::env::temp_dir().join("sinc-test-user.lock")).unwrap();
    lock.lock().unwrap();
    let exists =
        Command::new("id").arg(TEST_USER).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap().success();
    if !exists {
        run(Command::new("useradd").args(["--create-home", "--shell", "/bin/sh", TEST_USER]));
    }
    // With UsePAM no, sshd refuses a locked account ("!" in /etc/shadow). Give
    // the test user a known password instead: it unlocks the account and lets
    // the password-authentication test log in.
    let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = chpasswd.stdin.take().unwrap();
        writeln!(stdin, "{TEST_USER}:{TEST_PASSWORD}").unwrap();
    }
    assert!(chpasswd.wait().unwrap().success(), "chpasswd failed");
    TEST_USER.to_owned()
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "sinc-test", "-f"]).arg(path));
}

impl Sshd {
    /// Start with default settings.
    pub fn start() -> Sshd {
        Sshd::start_with(SshdOptions::default())
    }

    /// Start with extra settings.
    pub fn start_with(opts: SshdOptions) -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(sshd.exists(), "/usr/sbin/sshd is missing: install openssh-server (scripts/test does)");
        let user = test_user();
        let (uid, gid) = (id_of(&user, "-u"), id_of(&user, "-g"));
        let dir = tempfile::Builder::new().prefix("sinc-sshd-").tempdir().unwrap();
        crate::set_mode(dir.path(), 0o755);
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        crate::set_mode(&keys, 0o755);
        keygen(&keys.join("host_ed25519"));
        keygen(&keys.join("client_ed25519"));
        std::fs::copy(keys.join("client_ed25519.pub"), keys.join("authorized_keys")).unwrap();
        crate::set_mode(&keys.join("authorized_keys"), 0o644);
        if crate::is_root() {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }

        let mut this =
            Sshd { dir, port: 0, user, uid, gid, child: Command::new("true").spawn().unwrap(), _path_dir: None };
        for sub in ["remote", "remote/tmux", "remote/data", "remote/state", "remote/work", "remote/bin"] {
            let p = this.dir.path().join(sub);
            std::fs::create_dir_all(&p).unwrap();
            this.chown(&p);
        }
        crate::set_mode(&this.dir.path().join("remote/tmux"), 0o700);

        let mut env = vec![
            ("TMUX_TMPDIR".to_owned(), this.remote_root().join("tmux").to_string_lossy().into_owned()),
            ("XDG_DATA_HOME".to_owned(), this.remote_data().to_string_lossy().into_owned()),
            ("XDG_STATE_HOME".to_owned(), this.remote_root().join("state").to_string_lossy().into_owned()),
        ];
        env.extend(opts.set_env.iter().cloned());
        let set_env: Vec<String> = env.iter().map(|(k, v)| format!("\"{k}={v}\"")).collect();
        // sshd keeps the first value it reads for a keyword: extras go first.
        let mut config: String = opts.extra_config.iter().map(|l| format!("{l}\n")).collect();
        if opts.netns.is_some() {
            config += &format!("ListenAddress {}\n", crate::netns::SERVER_IP);
        }
        config += &format!(
            "ListenAddress 127.0.0.1\nHostKey {keys}/host_ed25519\nPidFile {dir}/sshd.pid\nAuthorizedKeysFile {keys}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nAllowUsers {user}\nAllowTcpForwarding yes\nLogLevel VERBOSE\nMaxStartups 100\n\
             SetEnv {set_env}\n",
            keys = keys.display(),
            dir = this.dir.path().display(),
            user = this.user,
            set_env = set_env.join(" "),
        );
        let config_path = this.dir.path().join("sshd_config");
        std::fs::write(&config_path, config).unwrap();
        run(Command::new(sshd).arg("-t").arg("-f").arg(&config_path));

        for _ in 0..10 {
            let port = free_port();
            let log = File::create(this.dir.path().join("sshd.log")).unwrap();
            let mut command = match &opts.netns {
                Some(ns) => {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", ns]).arg(sshd);
                    c
                }
                None => Command::new(sshd),
            };
            let mut child = command
                .args(["-D", "-e", "-f"])
                .arg(&config_path)
                .arg("-p")
                .arg(port.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                // In a namespace, sshd's own log says when it listens.
                let listening = match opts.netns {
                    Some(_) => this.log().contains(&format!("Server listening on {} ", crate::netns::SERVER_IP)),
                    None => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
                };
                if listening {
                    let _ = this.child.wait();
                    this.child = child;
                    this.port = port;
                    return this;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("sshd did not start:\n{}", this.log());
    }

    /// A sshd whose sessions' PATH has every program of /usr/bin but those
    /// `missing`, plus `fakes` (name, script).
    pub fn start_with_path(missing: &[&str], fakes: &[(&str, &str)]) -> Sshd {
        let scratch = tempfile::Builder::new().prefix("sinc-path-").tempdir().unwrap();
        crate::set_mode(scratch.path(), 0o755);
        let path = crate::path_without(&scratch.path().join("bin"), missing, fakes);
        let mut sshd = Sshd::start_with(SshdOptions { set_env: vec![("PATH".into(), path)], ..SshdOptions::default() });
        sshd._path_dir = Some(scratch);
        sshd
    }

    /// The private key sshd accepts.
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("keys/client_ed25519")
    }

    /// `ssh-ed25519 AAAA…` of the host key.
    pub fn host_key_line(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("keys/host_ed25519.pub")).unwrap();
        text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    }

    /// An `~/.ssh/config` block for this server under `alias`.
    pub fn ssh_config_entry(&self, alias: &str) -> String {
        format!(
            "Host {alias}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile ~/.ssh/id_ed25519\n",
            self.port, self.user
        )
    }

    /// A folder owned by the login user: remote tmux, data, work and bin live here.
    pub fn remote_root(&self) -> PathBuf {
        self.dir.path().join("remote")
    }

    /// `XDG_DATA_HOME` of remote sessions (the uploaded binary goes under it).
    pub fn remote_data(&self) -> PathBuf {
        self.remote_root().join("data")
    }

    /// The remote base folder projects are placed under.
    pub fn remote_base(&self) -> PathBuf {
        self.remote_root().join("work")
    }

    /// Give a path to the login user.
    pub fn chown(&self, path: &Path) {
        if crate::is_root() {
            std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).unwrap();
        }
    }

    /// The login user's home folder (from the passwd database).
    pub fn home(&self) -> PathBuf {
        let out = run(Command::new("getent").args(["passwd", &test_user()]));
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().split(':').nth(5).unwrap())
    }

    /// A folder in the login user's home, owned by them and removed when
    /// dropped: a remote base for plugins that may only touch `~/`.
    pub fn home_folder(&self, prefix: &str) -> tempfile::TempDir {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(self.home()).unwrap();
        self.chown(dir.path());
        dir
    }

    /// Write an executable script into the remote bin folder; returns its path.
    pub fn remote_script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.remote_root().join("bin").join(name);
        crate::write_script(&p, body);
        self.chown(&p);
        p
    }

    /// Run tmux against the sessions' tmux server (as the caller; root may).
    pub fn tmux(&self, args: &[&str]) -> Output {
        let socket = self.remote_root().join(format!("tmux/tmux-{}/default", self.uid));
        Command::new("tmux").arg("-S").arg(socket).args(args).output().unwrap()
    }

    /// Stop accepting connections while the established ones carry on (the
    /// listener exits on SIGTERM; each connection has its own process).
    pub fn stop_listening(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        let refused = || std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err();
        crate::wait_until(Duration::from_secs(10), "sshd to stop listening", || refused().then_some(()));
    }

    /// sshd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        // The sync daemon (started through this sshd) exits with its socket gone.
        let _ = Command::new("pkill").args(["-f", &format!("{}/", self.remote_data().display())]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Sessions' leftover processes (exec channels without a PTY are not
        // hung up by sshd) belong to the login user; only kill them when the
        // user is ours alone.
        if self.user == TEST_USER {
            let _ = Command::new("pkill").args(["-u", TEST_USER, "-f", &self.dir.path().to_string_lossy()]).status();
        }
    }
}
