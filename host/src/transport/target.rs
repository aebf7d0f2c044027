//! Resolving what the user named (`myvps`) into where and how to connect,
//! reading `~/.ssh/config` the way OpenSSH does: the first value found for a
//! key wins, sinc's own settings act like command-line options and so beat
//! the file.
//!
//! Understood: `Host` patterns (wildcards, negation), `Include`, `HostName`,
//! `User`, `Port`, `IdentityFile`, `IdentitiesOnly`, `IdentityAgent`,
//! `ProxyJump`, `ServerAliveInterval`, `ServerAliveCountMax`,
//! `ConnectTimeout`, `UserKnownHostsFile`, `GlobalKnownHostsFile`,
//! `StrictHostKeyChecking`, and the `%h %p %r %u %d %%` tokens. `ForwardAgent`
//! is deliberately ignored: sinc never forwards the agent.

use ssh2_config::{HostParams, ParseRule, SshConfig};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to do with a host key that is not yet known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Ask on a terminal; refuse without one.
    Ask,
    /// Record and trust it (`--accept-new-host`, `StrictHostKeyChecking accept-new`).
    AcceptNew,
    /// Never add keys (`StrictHostKeyChecking yes`).
    Strict,
}

/// Everything needed to reach one SSH server.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name the user gave (an ssh config alias or a host name).
    pub alias: String,
    /// The host name or address to connect to.
    pub hostname: String,
    /// TCP port.
    pub port: u16,
    /// Remote user.
    pub user: String,
    /// Identity files to try, in order (existing or not).
    pub identity_files: Vec<PathBuf>,
    /// Whether the identity files were given explicitly (else OpenSSH's defaults).
    pub identity_files_explicit: bool,
    /// Offer only the identity files' keys, also from the agent.
    pub identities_only: bool,
    /// The ssh-agent socket, if any.
    pub agent_socket: Option<PathBuf>,
    /// Jump hosts to go through, first hop first.
    pub jumps: Vec<Target>,
    /// known_hosts files; new keys are recorded in the first one.
    pub known_hosts_files: Vec<PathBuf>,
    /// System-wide known_hosts files (read only).
    pub global_known_hosts_files: Vec<PathBuf>,
    /// Policy for unknown host keys.
    pub host_key_policy: HostKeyPolicy,
    /// Budget for TCP connect and handshake.
    pub connect_timeout: Duration,
    /// Keepalive probe interval.
    pub keepalive_interval: Duration,
    /// Unanswered probes before the link is declared dead.
    pub keepalive_max: usize,
}

impl Target {
    /// `user@host:port`, for messages.
    pub fn describe(&self) -> String {
        format!("{}@{}:{}", self.user, self.hostname, self.port)
    }

    /// All known_hosts files to read.
    pub fn all_known_hosts_files(&self) -> Vec<PathBuf> {
        self.known_hosts_files.iter().chain(&self.global_known_hosts_files).cloned().collect()
    }
}

/// sinc's own settings, which take precedence over `~/.ssh/config`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `vps.user`.
    pub user: Option<String>,
    /// `vps.port`.
    pub port: Option<u16>,
    /// `vps.identity_file`.
    pub identity_file: Option<PathBuf>,
    /// `ssh.connect_timeout`, when set explicitly.
    pub connect_timeout: Option<Duration>,
    /// `ssh.keepalive_interval`, when set explicitly.
    pub keepalive_interval: Option<Duration>,
    /// `--accept-new-host` / `ssh.accept_new_host`.
    pub accept_new_host: bool,
    /// Jump hosts given on the command line (`-J`), replacing `ProxyJump`.
    pub proxy_jump: Option<String>,
}

/// Defaults when neither sinc nor ssh config says.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// Connect budget.
    pub connect_timeout: Duration,
    /// Keepalive interval.
    pub keepalive_interval: Duration,
}

/// A broken `~/.ssh/config`.
#[derive(Debug, thiserror::Error)]
#[error("cannot use {path}: {message}")]
pub struct SshConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// The parsed `~/.ssh/config` (empty when the file does not exist).
#[derive(Debug)]
pub struct SshConfigFile {
    config: SshConfig,
    home: PathBuf,
    local_user: String,
}

impl SshConfigFile {
    /// Parse `home/.ssh/config`.
    pub fn load(home: &Path) -> Result<SshConfigFile, SshConfigError> {
        Self::load_path(&home.join(".ssh/config"), home)
    }

    /// Parse a specific file.
    pub fn load_path(path: &Path, home: &Path) -> Result<SshConfigFile, SshConfigError> {
        let err = |message: String| SshConfigError { path: path.to_path_buf(), message };
        let base = SshConfig::default().home_dir(home);
        let config = match std::fs::File::open(path) {
            Ok(f) => base
                .parse(&mut BufReader::new(f), ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS)
                .map_err(|e| err(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => base,
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(SshConfigFile {
            config,
            home: home.to_path_buf(),
            local_user: whoami::username().unwrap_or_else(|_| "root".into()),
        })
    }

    /// The `Host` names that name one host (no wildcards, no negations), in
    /// file order: the hosts one can pick.
    pub fn aliases(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for host in self.config.get_hosts() {
            for clause in &host.pattern {
                let name = &clause.pattern;
                if !clause.negated && !name.contains(['*', '?', '!']) && !out.contains(name) {
                    out.push(name.clone());
                }
            }
        }
        out
    }

    /// Resolve `host` with sinc's overrides.
    pub fn resolve(&self, host: &str, ov: &Overrides, defaults: &Defaults) -> Result<Target, SshConfigError> {
        let mut target = self.resolve_one(host, ov, defaults);
        let jumps = match &ov.proxy_jump {
            Some(given) => Some(vec![given.clone()]),
            None => self.config.query(host).proxy_jump,
        };
        if let Some(jumps) = &jumps {
            for spec in jumps.iter().flat_map(|j| j.split(',')) {
                let spec = spec.trim();
                if spec.is_empty() || spec.eq_ignore_ascii_case("none") {
                    continue;
                }
                let hop = Destination::parse(spec).ok_or_else(|| SshConfigError {
                    path: self.home.join(".ssh/config"),
                    message: format!("ProxyJump `{spec}` for host {host} is not [user@]host[:port]"),
                })?;
                let hop_ov = Overrides {
                    user: hop.user,
                    port: hop.port,
                    connect_timeout: ov.connect_timeout,
                    keepalive_interval: ov.keepalive_interval,
                    accept_new_host: ov.accept_new_host,
                    identity_file: None,
                    proxy_jump: None,
                };
                target.jumps.push(self.resolve_one(&hop.host, &hop_ov, defaults));
            }
        }
        Ok(target)
    }

    fn resolve_one(&self, host: &str, ov: &Overrides, defaults: &Defaults) -> Target {
        let p: HostParams = self.config.query(host);
        let extra = |name: &str| -> Option<Vec<String>> { p.unsupported_fields.get(name).cloned() };
        let first_extra = |name: &str| extra(name).and_then(|v| v.into_iter().next());

        let user = ov.user.clone().or(p.user.clone()).unwrap_or_else(|| self.local_user.clone());
        let port = ov.port.or(p.port).unwrap_or(22);
        let tokens = Tokens { alias: host, port, user: &user, local_user: &self.local_user, home: &self.home };
        let hostname = p.host_name.as_deref().map_or_else(|| host.to_owned(), |h| tokens.expand(h));
        let tokens = Tokens { alias: &hostname, ..tokens };

        let mut identity_files: Vec<PathBuf> = ov.identity_file.iter().cloned().collect();
        identity_files
            .extend(p.identity_file.iter().flatten().map(|f| self.expand_path(&tokens.expand(&f.to_string_lossy()))));
        let identity_files_explicit = !identity_files.is_empty();
        if !identity_files_explicit {
            identity_files = ["id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk"]
                .iter()
                .map(|n| self.home.join(".ssh").join(n))
                .collect();
        }

        let agent_socket = match first_extra("identityagent") {
            Some(v) if v.eq_ignore_ascii_case("none") => None,
            Some(v) if v == "SSH_AUTH_SOCK" => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
            Some(v) if v.starts_with('$') => std::env::var_os(&v[1..]).map(PathBuf::from),
            Some(v) => Some(self.expand_path(&tokens.expand(&v))),
            None => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
        };

        let known_hosts_files = match extra("userknownhostsfile") {
            Some(files) if !files.is_empty() => files.iter().map(|f| self.expand_path(&tokens.expand(f))).collect(),
            _ => vec![self.home.join(".ssh/known_hosts"), self.home.join(".ssh/known_hosts2")],
        };
        let global_known_hosts_files = match extra("globalknownhostsfile") {
            Some(files) if !files.is_empty() => files.iter().map(PathBuf::from).collect(),
            _ => vec![PathBuf::from("/etc/ssh/ssh_known_hosts"), PathBuf::from("/etc/ssh/ssh_known_hosts2")],
        };
        let host_key_policy = if ov.accept_new_host {
            HostKeyPolicy::AcceptNew
        } else {
            match first_extra("stricthostkeychecking").map(|v| v.to_ascii_lowercase()).as_deref() {
                Some("yes") => HostKeyPolicy::Strict,
                Some("accept-new" | "no" | "off") => HostKeyPolicy::AcceptNew,
                _ => HostKeyPolicy::Ask,
            }
        };
        let identities_only = first_extra("identitiesonly").is_some_and(|v| v.eq_ignore_ascii_case("yes"));
        let keepalive_max = first_extra("serveralivecountmax").and_then(|v| v.parse().ok()).unwrap_or(3);

        Target {
            alias: host.to_owned(),
            hostname,
            port,
            user,
            identity_files,
            identity_files_explicit,
            identities_only,
            agent_socket,
            jumps: Vec::new(),
            known_hosts_files,
            global_known_hosts_files,
            host_key_policy,
            connect_timeout: ov.connect_timeout.or(p.connect_timeout).unwrap_or(defaults.connect_timeout),
            keepalive_interval: ov
                .keepalive_interval
                .or(p.server_alive_interval.filter(|d| !d.is_zero()))
                .unwrap_or(defaults.keepalive_interval),
            keepalive_max,
        }
    }

    fn expand_path(&self, path: &str) -> PathBuf {
        match path.strip_prefix("~/") {
            Some(rest) => self.home.join(rest),
            None => PathBuf::from(path),
        }
    }
}

struct Tokens<'a> {
    alias: &'a str,
    port: u16,
    user: &'a str,
    local_user: &'a str,
    home: &'a Path,
}

impl Tokens<'_> {
    fn expand(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('h') => out.push_str(self.alias),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('r') => out.push_str(self.user),
                Some('u') => out.push_str(self.local_user),
                Some('d') => out.push_str(&self.home.to_string_lossy()),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        out
    }
}

/// Where `ssh` is told to go: `[user@]host[:port]` or
/// `ssh://[user@]host[:port]`, an IPv6 address in brackets when it has a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The user, if given.
    pub user: Option<String>,
    /// A host alias, name or address.
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
}

impl Destination {
    /// Parse a destination; `None` when it is not one.
    pub fn parse(spec: &str) -> Option<Destination> {
        let spec = spec.strip_prefix("ssh://").unwrap_or(spec);
        let (user, rest) = match spec.rsplit_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u.to_owned()), r),
            Some(_) => return None,
            None => (None, spec),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p.parse().ok()?),
                None if after.is_empty() => None,
                None => return None,
            };
            (h.to_owned(), port)
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p.parse().ok()?)),
                None => (rest.to_owned(), None),
            }
        };
        if host.is_empty() || host.starts_with('-') {
            return None;
        }
        Some(Destination { user, host, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults { connect_timeout: Duration::from_secs(10), keepalive_interval: Duration::from_secs(15) }
    }

    fn config(text: &str) -> (tempfile::TempDir, SshConfigFile) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".ssh")).unwrap();
        std::fs::write(dir.path().join(".ssh/config"), text).unwrap();
        let cfg = SshConfigFile::load(dir.path()).unwrap();
        (dir, cfg)
    }

    #[test]
    fn aliases_wildcards_and_first_value_wins() {
        let (dir, cfg) = config(
            "Host myvps\n  HostName 10.1.2.3\n  User dev\n  IdentityFile ~/.ssh/vps_%h\n  IdentitiesOnly yes\n\
             Host *\n  User nobody\n  Port 2200\n  ServerAliveInterval 7\n  StrictHostKeyChecking accept-new\n",
        );
        let t = cfg.resolve("myvps", &Overrides::default(), &defaults()).unwrap();
        assert_eq!(t.hostname, "10.1.2.3");
        assert_eq!(t.user, "dev");
        assert_eq!(t.port, 2200);
        assert_eq!(t.identity_files, vec![dir.path().join(".ssh/vps_10.1.2.3")]);
        assert!(t.identities_only);
        assert_eq!(t.keepalive_interval, Duration::from_secs(7));
        assert_eq!(t.host_key_policy, HostKeyPolicy::AcceptNew);
        let other = cfg.resolve("elsewhere", &Overrides::default(), &defaults()).unwrap();
        assert_eq!(other.user, "nobody");
        assert_eq!(cfg.aliases(), vec!["myvps"], "wildcards are not hosts one can pick");
        assert_eq!(other.hostname, "elsewhere");
        assert!(!other.identity_files_explicit);
    }

    #[test]
    fn sinc_settings_beat_ssh_config() {
        let (_d, cfg) = config("Host b\n  User dev\n  Port 2200\n  IdentityFile ~/.ssh/a\n");
        let ov = Overrides {
            user: Some("me".into()),
            port: Some(22),
            identity_file: Some("/k".into()),
            ..Overrides::default()
        };
        let t = cfg.resolve("b", &ov, &defaults()).unwrap();
        assert_eq!((t.user.as_str(), t.port), ("me", 22));
        assert_eq!(t.identity_files[0], PathBuf::from("/k"));
    }

    #[test]
    fn include_and_negation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".ssh/conf.d")).unwrap();
        std::fs::write(dir.path().join(".ssh/conf.d/work"), "Host *.work !secret.work\n  User worker\n").unwrap();
        std::fs::write(dir.path().join(".ssh/config"), "Include conf.d/*\n").unwrap();
        let cfg = SshConfigFile::load(dir.path()).unwrap();
        assert_eq!(cfg.resolve("a.work", &Overrides::default(), &defaults()).unwrap().user, "worker");
        assert_ne!(cfg.resolve("secret.work", &Overrides::default(), &defaults()).unwrap().user, "worker");
    }

    #[test]
    fn proxy_jump_hops_are_resolved_through_the_config() {
        let (_d, cfg) = config(
            "Host vps\n  HostName 10.0.0.5\n  ProxyJump ops@bastion:2222,[fe80::1]:22\nHost bastion\n  HostName 192.0.2.1\n",
        );
        let t = cfg.resolve("vps", &Overrides::default(), &defaults()).unwrap();
        assert_eq!(t.jumps.len(), 2);
        assert_eq!(
            (t.jumps[0].hostname.as_str(), t.jumps[0].port, t.jumps[0].user.as_str()),
            ("192.0.2.1", 2222, "ops")
        );
        assert_eq!(t.jumps[1].hostname, "fe80::1");
    }

    #[test]
    fn destinations() {
        let d = |s: &str| Destination::parse(s).map(|d| (d.user, d.host, d.port));
        assert_eq!(d("vps"), Some((None, "vps".into(), None)));
        assert_eq!(d("me@vps:2222"), Some((Some("me".into()), "vps".into(), Some(2222))));
        assert_eq!(d("ssh://a@b@vps"), Some((Some("a@b".into()), "vps".into(), None)));
        assert_eq!(d("[::1]:22"), Some((None, "::1".into(), Some(22))));
        assert_eq!(d("::1"), None, "a bare IPv6 address with colons needs brackets");
        for bad in ["", "@vps", "me@", "vps:port", "vps:99999", "-oProxyCommand=x", "[::1]x"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_jump_given_on_the_command_line_replaces_proxy_jump() {
        let (_d, cfg) = config("Host vps\n  ProxyJump bastion\n");
        let ov = Overrides { proxy_jump: Some("ops@other:2200,third".into()), ..Overrides::default() };
        let t = cfg.resolve("vps", &ov, &defaults()).unwrap();
        let hops: Vec<_> = t.jumps.iter().map(|j| (j.hostname.as_str(), j.port)).collect();
        assert_eq!(hops, [("other", 2200), ("third", 22)]);
        let none = Overrides { proxy_jump: Some("none".into()), ..Overrides::default() };
        assert!(cfg.resolve("vps", &none, &defaults()).unwrap().jumps.is_empty());
    }

    #[test]
    fn bad_jump_spec_is_an_error() {
        let (_d, cfg) = config("Host vps\n  ProxyJump host:notaport\n");
        assert!(cfg.resolve("vps", &Overrides::default(), &defaults()).is_err());
    }
}
