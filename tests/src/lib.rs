//! The end-to-end test harness: real OpenSSH `sshd` on 127.0.0.1 with
//! throwaway keys, a throwaway "laptop" home for the `sinc` client, and a
//! terminal driver (a private tmux server) for attach tests.
//!
//! Each test gets its own sshd, its own remote tmux server (`TMUX_TMPDIR`) and
//! its own remote data folder (`XDG_DATA_HOME`), set through sshd's `SetEnv`,
//! so tests run in parallel without seeing each other.

pub mod bench_http;
pub mod discord;
pub mod http;
pub mod kimaki_site;
pub mod llm_stub;
pub mod mobile_site;
pub(crate) mod multipart;
pub mod netns;
pub mod opencode_stub;
pub mod plugin_host;
pub mod procs;
pub mod proxy;
pub mod pty;
pub mod sshd;
pub mod transcription_stub;
pub mod tree;

pub use http::HttpServer;
pub use llm_stub::LlmStub;
pub use netns::Netns;
pub use plugin_host::PluginHost;
pub use proxy::Proxy;
pub use pty::Pty;
pub use sshd::{Sshd, SshdOptions, TEST_PASSWORD, free_port};

/// `s` as one POSIX shell word.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The `sinc` binary under test: `$SINC_BIN`, else `target/<profile>/sinc`
/// of the build this executable belongs to.
pub fn sinc_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SINC_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // Test binaries live in target/<profile>/deps, other binaries next to sinc.
    let dir = exe.parent().expect("executable folder");
    let profile_dir = if dir.ends_with("deps") { dir.parent().expect("target/<profile>") } else { dir };
    let bin = profile_dir.join("sinc");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p sinc` (scripts/test does)",
        bin.display()
    );
    bin
}

/// Whether this process runs as root (needed for PTY sessions through sshd).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false)
}

/// Skip a test that needs root, saying why.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            eprintln!("SKIPPED: this test needs root (sshd must run as root to allocate PTYs)");
            return;
        }
    };
}

/// A remote program printing `line 1`, `line 2`, … every 10 ms: what a
/// cut link must not lose.
pub const COUNTER_SCRIPT: &str =
    "#!/bin/sh\ni=0\nwhile [ $i -lt 100000000 ]; do i=$((i+1)); echo \"line $i\"; sleep 0.01; done\n";

/// A client of `sshd` whose agent is the counter, with sync off, reaching
/// the server through a proxy that can cut the link, and with room in the
/// remote tmux history for every line of a long cut.
pub fn counter_behind_proxy(sshd: &Sshd) -> (Client, Proxy) {
    let counter = sshd.remote_script("counter", COUNTER_SCRIPT);
    let mut client = Client::new(sshd, &counter.to_string_lossy());
    client.set_env("SINC_SYNC_MODE", "none");
    let proxy = Proxy::start(sshd.port);
    client.route_through(sshd, proxy.port);
    client.ok(&["exec", "--", "tmux", "new-session", "-d", "-s", "keep-server-up", "sleep 100000000"]);
    client.ok(&["exec", "--", "tmux", "set-option", "-g", "history-limit", "1000000"]);
    (client, proxy)
}

/// An sshd in `net`'s server namespace and a client of it (to run in the
/// client namespace) whose agent is the counter, with sync off.
pub fn counter_across(net: &Netns) -> (Sshd, Client) {
    let sshd = Sshd::start_with(SshdOptions { netns: Some(net.server.clone()), ..Default::default() });
    let counter = sshd.remote_script("counter", COUNTER_SCRIPT);
    let mut client = Client::new(&sshd, &counter.to_string_lossy());
    client.set_env("SINC_SYNC_MODE", "none");
    client.route_to(&sshd, netns::SERVER_IP, sshd.port);
    (sshd, client)
}

/// The numbers of the counter's lines in `text` (a screen or a history).
pub fn counter_lines(text: &str) -> Vec<u64> {
    text.lines().filter_map(|l| l.trim().strip_prefix("line ")?.parse().ok()).collect()
}

/// The highest counter line in `text`, 0 when none.
pub fn last_counter_line(text: &str) -> u64 {
    counter_lines(text).into_iter().max().unwrap_or(0)
}

/// A plugin component built from `plugins/` for wasm32-wasip2 (the
/// plugins are built once per test process), by package name: `hello`,
/// `project-map`, the `hostile` fixture…
pub fn plugin_component(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(plugins.join("Cargo.toml"))
            .output()
            .expect("cargo");
        assert!(
            out.status.success(),
            "building the plugins failed (is the wasm32-wasip2 target installed? scripts/prerequisites adds it):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        plugins.join("target/wasm32-wasip2/release")
    });
    dir.join(format!("sinc_plugin_{}.wasm", name.replace('-', "_")))
}

/// Poll `f` until it returns `Some`, or panic with `what` after `timeout`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Text of a process's stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Text of a process's stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The "laptop": a home folder with `~/.ssh` and sinc's XDG folders, and a
/// project folder, all throwaway.
#[derive(Debug)]
pub struct Client {
    dir: tempfile::TempDir,
    /// `$HOME`.
    pub home: PathBuf,
    /// The project folder `sinc` runs in.
    pub project: PathBuf,
    env: Vec<(String, String)>,
}

impl Client {
    /// A client set up for `sshd`: `~/.ssh/config` has `Host sinc-test`, the
    /// key is the one sshd accepts, the host key is already known, and
    /// sinc's config points at the host with `agent` as the agent.
    pub fn new(sshd: &Sshd, agent: &str) -> Client {
        let client = Client::bare();
        let ssh = client.home.join(".ssh");
        std::fs::copy(sshd.client_key(), ssh.join("id_ed25519")).unwrap();
        std::fs::copy(sshd.client_key().with_extension("pub"), ssh.join("id_ed25519.pub")).unwrap();
        set_mode(&ssh.join("id_ed25519"), 0o600);
        std::fs::write(ssh.join("config"), sshd.ssh_config_entry("sinc-test")).unwrap();
        client.trust(sshd);
        client.write_config(&format!(
            "agent = {agent:?}\n[vps]\nhost = \"sinc-test\"\n[sync]\nremote_base = {:?}\n",
            sshd.remote_base().to_string_lossy()
        ));
        client
    }

    /// An empty home and project, no SSH setup.
    pub fn bare() -> Client {
        let dir = tempfile::Builder::new().prefix("sinc-client-").tempdir().unwrap();
        let home = dir.path().join("home");
        let project = dir.path().join("projects/demo-app");
        for d in [&home.join(".ssh"), &project] {
            std::fs::create_dir_all(d).unwrap();
        }
        set_mode(&home.join(".ssh"), 0o700);
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        let env = vec![
            ("HOME".into(), s(home.clone())),
            ("XDG_CONFIG_HOME".into(), s(home.join(".config"))),
            ("XDG_DATA_HOME".into(), s(home.join(".local/share"))),
            ("XDG_CACHE_HOME".into(), s(home.join(".cache"))),
            ("XDG_STATE_HOME".into(), s(home.join(".local/state"))),
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("TERM".into(), "xterm-256color".into()),
        ];
        Client { dir, home, project, env }
    }

    /// Scratch space next to the client's home.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Reach `sshd` through a proxy listening on `port` (host alias, key file
    /// and known host all follow).
    pub fn route_through(&self, sshd: &Sshd, port: u16) {
        self.route_to(sshd, "127.0.0.1", port);
    }

    /// Reach `sshd` at `host`:`port` (host alias, key file and known host all
    /// follow).
    pub fn route_to(&self, sshd: &Sshd, host: &str, port: u16) {
        let entry = sshd
            .ssh_config_entry("sinc-test")
            .replace(&format!("Port {}", sshd.port), &format!("Port {port}"))
            .replace("HostName 127.0.0.1", &format!("HostName {host}"));
        std::fs::write(self.home.join(".ssh/config"), entry).unwrap();
        std::fs::write(self.known_hosts(), format!("[{host}]:{port} {}\n", sshd.host_key_line())).unwrap();
    }

    /// Record sshd's host key in `~/.ssh/known_hosts` (replacing the file).
    pub fn trust(&self, sshd: &Sshd) {
        std::fs::write(self.known_hosts(), format!("[127.0.0.1]:{} {}\n", sshd.port, sshd.host_key_line())).unwrap();
    }

    /// `~/.ssh/known_hosts`.
    pub fn known_hosts(&self) -> PathBuf {
        self.home.join(".ssh/known_hosts")
    }

    /// Write an OpenSSH client config at `path` for host `alias`: the test
    /// sshd (or a proxy in front of it) on 127.0.0.1:`port`, this client's
    /// key and known_hosts as absolute paths (OpenSSH takes `~` from the
    /// passwd entry, not `$HOME`), no prompts.
    pub fn write_ssh_config(&self, path: &Path, alias: &str, port: u16, user: &str) {
        let config = format!(
            "Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  BatchMode yes\n",
            self.home.join(".ssh/id_ed25519").display(),
            self.known_hosts().display()
        );
        std::fs::write(path, config).unwrap();
    }

    /// `~/.config/sincronizado/config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.home.join(".config/sincronizado/config.toml")
    }

    /// Replace sinc's config file.
    pub fn write_config(&self, text: &str) {
        let p = self.config_file();
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Add or override an environment variable for `sinc` runs.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// The environment `sinc` runs with.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// A `sinc` command in the project folder with this client's environment
    /// only.
    pub fn sinc(&self) -> Command {
        let mut c = Command::new(sinc_bin());
        c.env_clear().envs(self.env.iter().map(|(k, v)| (k, v))).current_dir(&self.project);
        c.stdin(std::process::Stdio::null());
        c
    }

    /// Run `sinc args…` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.sinc().args(args).output().unwrap()
    }

    /// Run `sinc args…` with `input` on its stdin, to completion. The input is
    /// written from a thread, so a large one cannot deadlock against the
    /// output.
    pub fn run_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .sinc()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
        let out = child.wait_with_output().unwrap();
        // A command may end without reading all of it; that is its business.
        let _ = writer.join();
        out
    }

    /// Run `prefix… sinc args…` (e.g. in a network namespace) to completion.
    pub fn run_in(&self, prefix: &[String], args: &[&str]) -> Output {
        let mut c = Command::new(&prefix[0]);
        c.args(&prefix[1..]).arg(sinc_bin()).args(args);
        c.env_clear().envs(self.env.iter().map(|(k, v)| (k, v))).current_dir(&self.project);
        c.stdin(std::process::Stdio::null()).output().unwrap()
    }

    /// Run `prefix… sinc args…` (e.g. in a network namespace), assert
    /// success, return stdout.
    pub fn ok_in(&self, prefix: &[String], args: &[&str]) -> String {
        let o = self.run_in(prefix, args);
        assert!(
            o.status.success(),
            "{prefix:?} sinc {args:?} failed ({:?}):\n{}\n{}",
            o.status,
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    /// Run `sinc args…`, assert success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "sinc {args:?} failed ({:?}):\n{}\n{}", o.status, stdout(&o), stderr(&o));
        stdout(&o)
    }

    /// Run `sinc args… --json`, assert success, parse stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON from sinc {args:?}: {e}\n{out}"))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Background processes started for this client (keepers) run in its
        // project folder: stop them with it.
        let root = self.dir.path().to_path_buf();
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.flatten() {
                let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                if std::fs::read_link(p.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&root))
                    && pid != std::process::id()
                {
                    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                }
            }
        }
    }
}

/// A `uname` saying the machine is a Linux riscv64 (a VPS of another
/// platform than this one).
pub const RISCV_UNAME: &str = "#!/bin/sh\ncase \"$1\" in -s) echo Linux;; -m) echo riscv64;; *) echo Linux;; esac\n";

/// A PATH for the test sshd's sessions (a folder made at `dir`) that has
/// every program from /usr/bin except those `missing`, plus `fakes` (name,
/// script body).
pub fn path_without(dir: &Path, missing: &[&str], fakes: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir("/usr/bin").unwrap().filter_map(Result::ok) {
        let name = entry.file_name();
        if missing.iter().any(|m| name == *m) || fakes.iter().any(|(f, _)| name == *f) {
            continue;
        }
        let _ = std::os::unix::fs::symlink(entry.path(), dir.join(&name));
    }
    for (name, body) in fakes {
        write_script(&dir.join(name), body);
    }
    dir.to_string_lossy().into_owned()
}

/// chmod.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Write an executable script.
pub fn write_script(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    set_mode(path, 0o755);
}

/// A child process killed (and reaped) when dropped, even if a test fails.
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
