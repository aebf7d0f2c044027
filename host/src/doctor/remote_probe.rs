//! What `sinc doctor` learns about the VPS: one POSIX shell script, run over
//! one SSH channel, prints a section per fact; [`RemoteFacts::parse`] reads
//! them back. Nothing in the script needs root; the firewall is read with
//! `sudo -n` when that works without a password, and is "unreadable" else.

use crate::tailnet::TailscaleNode;
use crate::transport::quote;
use std::collections::BTreeMap;

/// The marker that starts a section of the script's output.
const SECTION: &str = "--- sinc-doctor ";

/// Free and total bytes of the file system holding a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disk {
    /// Bytes available to the user.
    pub free: u64,
    /// Size of the file system.
    pub total: u64,
}

/// The VPS's firewall as far as sinc can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firewall {
    /// Filtering incoming traffic (the tool that does it).
    Active(String),
    /// Installed but not filtering.
    Inactive(String),
    /// Present but not readable without a password for sudo.
    Unreadable(String),
    /// No ufw, nftables or iptables.
    Absent,
}

/// Whether the agent's program is on the remote PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentLookup {
    /// The agent is a shell command line with no single program to look for.
    NotChecked,
    /// Found at this path by the login shell.
    Found(String),
    /// Not found.
    Missing,
}

/// Everything the script reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFacts {
    /// `uname -s`.
    pub os: String,
    /// `uname -m`.
    pub arch: String,
    /// What the installed `sinc --version` prints, if one is installed.
    pub sinc_version: Option<String>,
    /// `tmux -V`, if tmux is on the PATH.
    pub tmux: Option<String>,
    /// `git --version`, if git is on the PATH.
    pub git: Option<String>,
    /// The package manager (`apt-get`, `dnf`, `apk`, …, or `unknown`).
    pub package_manager: String,
    /// The agent.
    pub agent: AgentLookup,
    /// `fs.inotify.max_user_watches`.
    pub watch_limit: Option<u64>,
    /// Folders in the project's remote folder (`None`: it does not exist yet).
    pub folders: Option<u64>,
    /// The file system the remote folder is (or will be) on.
    pub disk: Option<Disk>,
    /// The firewall.
    pub firewall: Firewall,
    /// TCP ports listening on every address (0.0.0.0 or ::).
    pub wildcard_listeners: Vec<u16>,
    /// Tailscale on the VPS, if installed.
    pub tailscale: Option<TailscaleNode>,
}

/// The probe script for a project whose remote folder is `remote_path` and
/// whose agent's program is `agent_program`.
pub fn script(remote_path: &str, agent_program: Option<&str>) -> String {
    let dir = quote::remote_path(remote_path);
    let agent = match agent_program {
        Some(program) => format!("s agent; {} 2>/dev/null | tail -n 1\n", quote::login_shell_which(program)),
        None => String::new(),
    };
    quote::sh_script(&format!(
        "{with_sbin}
s() {{ printf '%s%s\\n' {marker} \"$1\"; }}
s os; uname -s
s arch; uname -m
s sinc; {installed}
s tmux; command -v tmux >/dev/null 2>&1 && tmux -V 2>&1 | head -n 1
s git; command -v git >/dev/null 2>&1 && git --version 2>&1 | head -n 1
s packages; ( {packages} )
{agent}s watches; cat /proc/sys/fs/inotify/max_user_watches 2>/dev/null
s folders; D={dir}; [ -d \"$D\" ] && find \"$D\" -xdev -type d 2>/dev/null | wc -l
s disk; D={dir}; while [ ! -d \"$D\" ]; do D=$(dirname \"$D\"); done; df -Pk \"$D\" 2>/dev/null | tail -n 1
s firewall
if [ \"$(id -u)\" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO='sudo -n'; else SUDO=no; fi
if command -v ufw >/dev/null 2>&1; then
  if [ \"$SUDO\" = no ]; then echo 'ufw unreadable'; else echo \"ufw $($SUDO ufw status 2>&1 | head -n 1)\"; fi
elif command -v nft >/dev/null 2>&1; then
  if [ \"$SUDO\" = no ]; then echo 'nftables unreadable'
  elif $SUDO nft list ruleset 2>/dev/null | grep -Eq 'hook input.*policy drop|[[:space:]](drop|reject)([[:space:];]|$)'; then echo 'nftables Status: active'
  else echo 'nftables Status: inactive'; fi
elif command -v iptables >/dev/null 2>&1; then
  if [ \"$SUDO\" = no ]; then echo 'iptables unreadable'
  elif [ \"$($SUDO iptables -S INPUT 2>/dev/null | grep -cv '^-P INPUT ACCEPT')\" -gt 0 ]; then echo 'iptables Status: active'
  else echo 'iptables Status: inactive'; fi
else echo none; fi
s listeners; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null
s tailscale; command -v tailscale >/dev/null 2>&1 && tailscale status --json 2>/dev/null
s end
",
        marker = quote::word(SECTION),
        packages = crate::remote::packages::PROBE,
        with_sbin = quote::WITH_SBIN,
        installed = crate::remote::install::installed_version_command(),
    ))
}

/// The command that prints the VPS's clock (seconds, with nanoseconds where
/// `date` has them).
pub const CLOCK_COMMAND: &str = "date +%s.%N";

/// Seconds since the epoch from [`CLOCK_COMMAND`]'s output (a `date`
/// without `%N` prints it literally: the whole seconds still count).
pub fn parse_clock(text: &str) -> Option<f64> {
    let text = text.trim();
    text.parse::<f64>().ok().or_else(|| text.split('.').next()?.parse::<u64>().ok().map(|s| s as f64))
}

fn sections(text: &str) -> BTreeMap<&str, String> {
    let mut out: BTreeMap<&str, String> = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix(SECTION) {
            current = Some(name.trim());
            out.entry(name.trim()).or_default();
        } else if let Some(name) = current {
            let body = out.entry(name).or_default();
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The ports listening on every address in `/proc/net/tcp{,6}` text.
fn wildcard_listeners(text: &str) -> Vec<u16> {
    const LISTEN: &str = "0A";
    let mut ports: Vec<u16> = text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state) = (fields.get(1)?, fields.get(3)?);
            let (addr, port) = local.split_once(':')?;
            (*state == LISTEN && addr.chars().all(|c| c == '0')).then(|| u16::from_str_radix(port, 16).ok())?
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn firewall(text: &str) -> Firewall {
    let text = text.trim();
    let (tool, state) = text.split_once(' ').unwrap_or((text, ""));
    match (tool, state.trim()) {
        ("" | "none", _) => Firewall::Absent,
        (tool, "Status: active") => Firewall::Active(tool.to_owned()),
        (tool, "Status: inactive") => Firewall::Inactive(tool.to_owned()),
        (tool, "unreadable") => Firewall::Unreadable(format!("{tool} needs root to read, and `sudo -n` did not work")),
        (tool, other) => Firewall::Unreadable(format!("{tool}: {other}")),
    }
}

fn disk(line: &str) -> Option<Disk> {
    // Filesystem 1024-blocks Used Available Capacity Mounted-on
    let fields: Vec<&str> = line.split_whitespace().collect();
    let total: u64 = fields.get(1)?.parse().ok()?;
    let free: u64 = fields.get(3)?.parse().ok()?;
    Some(Disk { free: free * 1024, total: total * 1024 })
}

impl RemoteFacts {
    /// Read the script's output; `None` when it did not run to the end.
    pub fn parse(text: &str) -> Option<RemoteFacts> {
        let s = sections(text);
        s.get("end")?;
        let get = |name: &str| non_empty(s.get(name));
        Some(RemoteFacts {
            os: get("os").unwrap_or_default(),
            arch: get("arch").unwrap_or_default(),
            sinc_version: get("sinc"),
            tmux: get("tmux"),
            git: get("git"),
            package_manager: get("packages").unwrap_or_else(|| "unknown".into()),
            agent: match s.get("agent") {
                None => AgentLookup::NotChecked,
                Some(found) => match found.trim() {
                    path if path.starts_with('/') => AgentLookup::Found(path.to_owned()),
                    _ => AgentLookup::Missing,
                },
            },
            watch_limit: get("watches").and_then(|v| v.parse().ok()),
            folders: get("folders").and_then(|v| v.parse().ok()),
            disk: get("disk").and_then(|v| disk(&v)),
            firewall: firewall(&get("firewall").unwrap_or_default()),
            wildcard_listeners: wildcard_listeners(s.get("listeners").map_or("", String::as_str)),
            tailscale: get("tailscale").and_then(|j| TailscaleNode::parse(&j)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_NET_TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 100 0 0 10 0
   2: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 3 1 0 100 0 0 10 0
   3: 0100007F:0016 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0
";

    #[test]
    fn reads_every_section() {
        let out = format!(
            "motd noise\n{m}os\nLinux\n{m}arch\nx86_64\n{m}sinc\nsinc 0.1.0\n{m}tmux\ntmux 3.3a\n{m}git\n{m}agent\n/usr/local/bin/opencode\n\
             {m}watches\n8192\n{m}folders\n      12\n{m}disk\n/dev/vda1 41152736 30000000 9000000 77% /\n\
             {m}firewall\nufw Status: active\n{m}listeners\n{PROC_NET_TCP}{m}tailscale\n{m}end\n",
            m = SECTION
        );
        let f = RemoteFacts::parse(&out).unwrap();
        assert_eq!(f.os, "Linux");
        assert_eq!(f.sinc_version.as_deref(), Some("sinc 0.1.0"));
        assert_eq!(f.tmux.as_deref(), Some("tmux 3.3a"));
        assert_eq!(f.git, None);
        assert_eq!(f.agent, AgentLookup::Found("/usr/local/bin/opencode".into()));
        assert_eq!(f.watch_limit, Some(8192));
        assert_eq!(f.folders, Some(12));
        assert_eq!(f.disk, Some(Disk { free: 9_000_000 * 1024, total: 41_152_736 * 1024 }));
        assert_eq!(f.firewall, Firewall::Active("ufw".into()));
        assert_eq!(f.wildcard_listeners, vec![22, 3000]);
        assert_eq!(f.tailscale, None);
    }

    #[test]
    fn an_interrupted_probe_is_no_answer() {
        assert_eq!(RemoteFacts::parse(&format!("{SECTION}os\nLinux\n")), None);
    }

    #[test]
    fn knows_each_firewall_answer() {
        assert_eq!(firewall("ufw Status: inactive"), Firewall::Inactive("ufw".into()));
        assert_eq!(firewall("none"), Firewall::Absent);
        assert!(matches!(firewall("nftables unreadable"), Firewall::Unreadable(w) if w.contains("sudo")));
        assert!(
            matches!(firewall("ufw ERROR: You need to be root to run this script"), Firewall::Unreadable(w) if w.contains("root"))
        );
    }

    #[test]
    fn reads_clocks_with_and_without_nanoseconds() {
        assert_eq!(parse_clock("1700000000.250000000\n"), Some(1_700_000_000.25));
        assert_eq!(parse_clock("1700000000.%N"), Some(1_700_000_000.0));
        assert_eq!(parse_clock("garbage"), None);
    }

    #[test]
    fn the_script_runs_here_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proj/a/b")).unwrap();
        let path = dir.path().join("proj");
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script(&path.to_string_lossy(), Some("sh")))
            .env("HOME", dir.path())
            .output()
            .unwrap();
        let f = RemoteFacts::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert_eq!(f.os, "Linux");
        assert_eq!(f.folders, Some(3));
        assert!(matches!(f.agent, AgentLookup::Found(ref p) if p.ends_with("/sh")), "{:?}", f.agent);
        assert!(f.disk.is_some_and(|d| d.total > 0));
        let missing = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script(&path.join("not/yet").to_string_lossy(), Some("no-such-agent-xyz")))
            .output()
            .unwrap();
        let f = RemoteFacts::parse(&String::from_utf8_lossy(&missing.stdout)).unwrap();
        assert_eq!(f.folders, None);
        assert_eq!(f.agent, AgentLookup::Missing);
        assert!(f.disk.is_some(), "the nearest existing parent's file system");
    }
}
