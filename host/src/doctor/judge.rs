//! The verdicts: facts in, one [`Check`] out, with the fix. No I/O here.

use super::Check;
use super::remote_probe::{AgentLookup, Disk, Firewall, RemoteFacts};
use crate::remote::packages::install_command;
use crate::sync::watch::{POLL_INTERVAL, RAISE_WATCH_LIMIT};
use crate::tailnet::{TailscaleNode, is_tailnet_address};
use crate::transport::ConnectError;
use std::net::IpAddr;

/// Below this much free space, a warning.
pub const LOW_DISK: u64 = 1 << 30;
/// Below this much free space, a failure.
pub const FULL_DISK: u64 = 100 << 20;
/// Clock skew (seconds) above which times in listings and commits disagree.
pub const CLOCK_WARN: f64 = 2.0;
/// Clock skew above which signed API requests (what agents make) are refused.
pub const CLOCK_FAIL: f64 = 300.0;

fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// The configuration loaded, or why not.
pub fn config(file: &str, loaded: Result<(), String>) -> Check {
    match loaded {
        Ok(()) => Check::pass("config", file.to_owned()),
        Err(why) => {
            Check::fail("config", why, format!("edit {file}; `sinc config show` shows where each setting comes from"))
        }
    }
}

/// Where the ssh connection failed, as the check it belongs to.
pub fn connect_failure(e: &ConnectError) -> Check {
    let text = e.to_string();
    match e {
        ConnectError::Resolve { .. } => Check::fail(
            "host",
            text,
            "check vps.host in the config, or the HostName in ~/.ssh/config (`sinc setup --host` changes it)",
        ),
        ConnectError::Refused { .. } | ConnectError::Network { .. } | ConnectError::Timeout { .. } => Check::fail(
            "ssh",
            text,
            "check that sshd runs on the VPS, that the port is right (vps.port) and that no firewall drops it",
        ),
        ConnectError::HostKeyUnknown { host, .. } | ConnectError::HostKeyStrict { host, .. } => Check::fail(
            "host key",
            format!("{host} is not in known_hosts"),
            "compare the fingerprint with the VPS's (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` there), then run `sinc doctor --accept-new-host`",
        ),
        ConnectError::HostKeyChanged { host, .. } => Check::fail(
            "host key",
            format!("the host key of {host} has CHANGED since it was recorded"),
            format!(
                "if the VPS was reinstalled, remove the old key (`ssh-keygen -R '{host}'`) and check again; otherwise do not connect"
            ),
        ),
        ConnectError::HostKeyRevoked { host, .. } | ConnectError::HostKeyDeclined { host } => {
            Check::fail("host key", text.clone(), format!("fix the known_hosts entry of {host}"))
        }
        ConnectError::AuthDenied { user, .. } => Check::fail(
            "auth",
            text.clone(),
            format!(
                "install a key for {user}: `sinc setup` generates one and installs it with your password, or pass --key PATH"
            ),
        ),
        ConnectError::Lost { .. } | ConnectError::Ssh { .. } => {
            Check::fail("ssh", text, "run with -vv to see the SSH exchange; check the VPS's sshd log")
        }
    }
}

/// How authentication went, once it worked.
pub fn auth(method: &str) -> Check {
    if method == "password" || method == "keyboard-interactive" {
        Check::warn(
            "auth",
            format!("logged in with {method}"),
            "the background sync reconnects without you: install a key (`sinc setup` generates and installs one)",
        )
    } else {
        Check::pass("auth", method.to_owned())
    }
}

/// The VPS's platform against this build's.
pub fn remote_system(f: &RemoteFacts, same_platform: bool) -> Check {
    let what = format!("{} {}", f.os, f.arch);
    if same_platform || f.sinc_version.as_deref() == Some(crate::remote::install::version_line().as_str()) {
        Check::pass("remote system", what)
    } else {
        Check::fail(
            "remote system",
            format!("{what}, but this sinc is built for {} {}", std::env::consts::OS, std::env::consts::ARCH),
            "`sinc vps bootstrap` has the VPS download the release built for it (or pass --sinc-binary PATH)",
        )
    }
}

/// The `sinc` installed on the VPS.
pub fn remote_sinc(installed: Option<&str>) -> Check {
    let ours = crate::remote::install::version_line();
    match installed {
        Some(v) if v == ours => Check::pass("remote sinc", v.to_owned()),
        Some(v) => Check::warn(
            "remote sinc",
            format!("{v} (this is {ours})"),
            "nothing to do: the next `sinc` or `sinc start` installs this build",
        ),
        None => Check::warn(
            "remote sinc",
            "not installed yet",
            "nothing to do: the first `sinc` or `sinc start` installs it",
        ),
    }
}

/// A tool the VPS needs (`tmux`, `git`).
pub fn tool(name: &'static str, version: Option<&str>, package_manager: &str) -> Check {
    match version {
        Some(v) => Check::pass(name, v.to_owned()),
        None => Check::fail(
            name,
            format!("{name} is not on the VPS's PATH"),
            format!("on the VPS: {}", install_command(package_manager, name)),
        ),
    }
}

/// tmux on the VPS: there at all, and new enough to watch a session from
/// a plugin (`attach -f ignore-size`, tmux 3.2) — the mobile page's live
/// view. A version it cannot read (a build from git) passes.
pub fn tmux(version: Option<&str>, package_manager: &str) -> Check {
    let found = tool("tmux", version, package_manager);
    match version.and_then(tmux_release) {
        Some(release) if release < (3, 2) => Check::warn(
            "tmux",
            format!(
                "{} is older than 3.2: sessions work, but plugins cannot watch them (the mobile page)",
                found.detail
            ),
            "on the VPS: install tmux 3.2 or later (Debian 12 and Ubuntu 22.04 have it)",
        ),
        _ => found,
    }
}

/// `tmux 3.3a` or `tmux next-3.4` → (3, 3) or (3, 4).
fn tmux_release(version: &str) -> Option<(u32, u32)> {
    let number = version.trim().strip_prefix("tmux ")?;
    let number = number.strip_prefix("next-").unwrap_or(number);
    let (major, rest) = number.split_once('.')?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The agent's program on the VPS.
pub fn agent(lookup: &AgentLookup, agent: &str) -> Check {
    match lookup {
        AgentLookup::Found(path) => Check::pass("agent", format!("{agent}: {path}")),
        AgentLookup::NotChecked => Check::pass("agent", format!("{agent} (a command line; not looked up)")),
        AgentLookup::Missing => Check::fail(
            "agent",
            format!("`{agent}` is not on the VPS's PATH (as your login shell there sees it)"),
            "install it on the VPS, or set `agent` to its full path in the config",
        ),
    }
}

/// The inotify watch limit against the folders one side watches.
pub fn watches(name: &'static str, limit: Option<u64>, folders: Option<u64>) -> Check {
    let Some(limit) = limit else {
        return Check::pass(name, "no inotify watch limit to read (not Linux)");
    };
    let Some(folders) = folders else {
        return Check::pass(name, format!("limit {limit}; the folder does not exist yet"));
    };
    let found = format!(
        "{folders} folder{} to watch; the limit is {limit} watches per user",
        if folders == 1 { "" } else { "s" }
    );
    if folders >= limit {
        Check::fail(
            name,
            format!("{found}: sync falls back to polling every {}s", POLL_INTERVAL.as_secs()),
            format!("raise it: {RAISE_WATCH_LIMIT}"),
        )
    } else if folders * 2 > limit {
        Check::warn(
            name,
            format!("{found}: other programs watching files may exhaust it"),
            format!("raise it: {RAISE_WATCH_LIMIT}"),
        )
    } else {
        Check::pass(name, found)
    }
}

/// Free space on one side.
pub fn disk(name: &'static str, disk: Option<Disk>) -> Check {
    let Some(d) = disk else {
        return Check::warn(name, "could not read the free space", "check with `df -h`");
    };
    let found = format!("{} free of {}", human_bytes(d.free), human_bytes(d.total));
    if d.free < FULL_DISK {
        Check::fail(name, found, "free some space: sync keeps the previous versions of what it overwrites")
    } else if d.free < LOW_DISK {
        Check::warn(name, found, "free some space before large syncs")
    } else {
        Check::pass(name, found)
    }
}

/// The VPS's clock against this one, `skew` seconds ahead (± `uncertainty`).
pub fn clock(skew: f64, uncertainty: f64) -> Check {
    let found = format!("the VPS is {skew:+.2}s from this machine (±{uncertainty:.2}s)");
    let off = skew.abs() - uncertainty;
    let fix = "enable time sync on both machines (`timedatectl set-ntp true`)";
    if off > CLOCK_FAIL {
        Check::fail("clock", format!("{found}: the agents' API requests will be refused"), fix)
    } else if off > CLOCK_WARN {
        Check::warn("clock", found, fix)
    } else {
        Check::pass("clock", found)
    }
}

/// The VPS's firewall.
pub fn firewall(fw: &Firewall) -> Check {
    let fix = "`sinc vps harden` sets up a firewall that lets in only SSH (and proves you can still log in)";
    match fw {
        Firewall::Active(tool) => Check::pass("firewall", format!("{tool} is filtering incoming traffic")),
        Firewall::Inactive(tool) => Check::warn("firewall", format!("{tool} is installed but inactive"), fix),
        Firewall::Unreadable(why) => Check::warn("firewall", format!("cannot tell: {why}"), fix),
        Firewall::Absent => Check::warn("firewall", "no firewall (ufw, nftables or iptables) found", fix),
    }
}

/// TCP listeners on every address of the VPS; `ssh_port` is expected.
pub fn listeners(ports: &[u16], ssh_port: u16) -> Check {
    let others: Vec<String> = ports.iter().filter(|p| **p != ssh_port).map(u16::to_string).collect();
    if others.is_empty() {
        Check::pass("listeners", "nothing but SSH listens on all addresses")
    } else {
        Check::warn(
            "listeners",
            format!("listening on all addresses (0.0.0.0 or ::): port {}", others.join(", ")),
            "bind them to 127.0.0.1 (sinc's plugins always do; `sinc open` reaches them over SSH), or firewall them",
        )
    }
}

/// Tailscale on both sides, and whether the connection uses the tailnet
/// (`peer`: the address the SSH connection reached).
pub fn tailscale(here: Option<&TailscaleNode>, vps: Option<&TailscaleNode>, peer: Option<IpAddr>) -> Check {
    let up = |n: Option<&TailscaleNode>| n.is_some_and(TailscaleNode::is_up);
    if peer.is_some_and(is_tailnet_address) {
        let name = vps.map(|n| n.dns_name.as_str()).filter(|n| !n.is_empty()).unwrap_or("the VPS");
        return Check::pass("tailscale", format!("the connection runs over the tailnet ({name})"));
    }
    match (up(here), vps) {
        (_, Some(node)) if node.is_up() => Check::warn(
            "tailscale",
            format!(
                "Tailscale runs on the VPS ({}) but sinc connects over a public address",
                if node.dns_name.is_empty() { "no MagicDNS name" } else { node.dns_name.as_str() }
            ),
            if node.dns_name.is_empty() {
                "set vps.host to the VPS's tailnet address".to_owned()
            } else {
                format!("sinc setup --host {}", node.dns_name)
            },
        ),
        (true, _) => Check::warn(
            "tailscale",
            "Tailscale runs here but not on the VPS",
            "install Tailscale on the VPS (https://tailscale.com/download/linux) to reach it with no public port",
        ),
        (false, _) => Check::warn(
            "tailscale",
            "not in use",
            "optional: with Tailscale on both machines, `sinc vps harden` lets SSH in only over the tailnet",
        ),
    }
}

/// Plugin states (`name`, where, state) as the hosts report them.
pub fn plugins(enabled: usize, states: &[(String, &'static str, String)], unreadable: Option<String>) -> Check {
    if let Some(why) = unreadable {
        return Check::fail("plugins", why, "fix or remove the plugin lockfile, then `sinc plugin list`");
    }
    let bad: Vec<String> = states
        .iter()
        .filter(|(_, _, s)| s != "running" && s != "starting")
        .map(|(name, place, s)| format!("{name} ({place}): {s}"))
        .collect();
    let failed = bad.iter().any(|b| !b.contains("restarting"));
    if bad.is_empty() {
        let running = states.len();
        Check::pass(
            "plugins",
            match (enabled, running) {
                (0, _) => "none enabled".to_owned(),
                (n, 0) => format!("{n} enabled; none running (no background sync for this project right now)"),
                (n, r) => format!("{n} enabled, {r} running"),
            },
        )
    } else if failed {
        Check::fail("plugins", bad.join("; "), "`sinc plugin info NAME` shows why; `sinc plugin disable NAME` stops it")
    } else {
        Check::warn("plugins", bad.join("; "), "`sinc plugin info NAME` shows why it restarts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn watch_limits() {
        assert_eq!(watches("watches here", Some(100), Some(100)).status, Status::Fail);
        assert!(watches("watches here", Some(100), Some(150)).detail.contains("polling"));
        assert!(watches("watches here", Some(100), Some(150)).fix.unwrap().contains("max_user_watches"));
        assert_eq!(watches("watches here", Some(100), Some(60)).status, Status::Warn);
        assert_eq!(watches("watches here", Some(8192), Some(60)).status, Status::Pass);
        assert_eq!(watches("watches on VPS", Some(8192), None).status, Status::Pass);
    }

    #[test]
    fn clock_skew_counts_what_is_certain() {
        assert_eq!(clock(1.0, 0.1).status, Status::Pass);
        assert_eq!(clock(-3.0, 0.5).status, Status::Warn);
        assert_eq!(clock(2.5, 1.0).status, Status::Pass, "within the measurement's uncertainty");
        assert_eq!(clock(400.0, 0.1).status, Status::Fail);
    }

    #[test]
    fn disk_space() {
        let gib = 1u64 << 30;
        assert_eq!(disk("disk here", Some(Disk { free: 10 * gib, total: 20 * gib })).status, Status::Pass);
        assert_eq!(disk("disk here", Some(Disk { free: gib / 2, total: 20 * gib })).status, Status::Warn);
        assert_eq!(disk("disk here", Some(Disk { free: 1 << 20, total: 20 * gib })).status, Status::Fail);
    }

    #[test]
    fn firewalls_and_listeners_only_warn() {
        for fw in [Firewall::Absent, Firewall::Inactive("ufw".into()), Firewall::Unreadable("x".into())] {
            assert_eq!(firewall(&fw).status, Status::Warn);
        }
        assert_eq!(firewall(&Firewall::Active("ufw".into())).status, Status::Pass);
        assert_eq!(listeners(&[22], 22).status, Status::Pass);
        let open = listeners(&[22, 3000], 22);
        assert_eq!(open.status, Status::Warn);
        assert!(open.detail.contains("3000") && !open.detail.contains("22,"));
    }

    #[test]
    fn tailscale_is_optional() {
        let node = |dns: &str, up: bool| TailscaleNode {
            backend_state: if up { "Running" } else { "Stopped" }.into(),
            dns_name: dns.into(),
            addresses: vec!["100.100.1.2".parse().unwrap()],
            peers: Vec::new(),
        };
        let vps = node("vps.tail.ts.net", true);
        assert_eq!(tailscale(None, Some(&vps), Some("100.100.1.2".parse().unwrap())).status, Status::Pass);
        let public = tailscale(Some(&node("me", true)), Some(&vps), Some("203.0.113.9".parse().unwrap()));
        assert_eq!(public.status, Status::Warn);
        assert!(public.fix.unwrap().contains("--host vps.tail.ts.net"));
        assert_eq!(tailscale(None, None, None).status, Status::Warn);
    }

    #[test]
    fn password_login_is_a_warning_and_keys_pass() {
        assert_eq!(auth("password").status, Status::Warn);
        assert_eq!(auth("key file /home/u/.ssh/id_ed25519").status, Status::Pass);
    }

    #[test]
    fn missing_tools_name_the_install_command() {
        let c = tool("tmux", None, "apk");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.fix.as_deref(), Some("on the VPS: sudo apk add tmux"));
    }

    #[test]
    fn tmux_before_3_2_is_a_warning() {
        assert_eq!(tmux(Some("tmux 3.3a"), "apt").status, Status::Pass);
        assert_eq!(tmux(Some("tmux next-3.6"), "apt").status, Status::Pass);
        assert_eq!(tmux(Some("tmux master"), "apt").status, Status::Pass);
        let old = tmux(Some("tmux 3.1c"), "apt");
        assert_eq!(old.status, Status::Warn);
        assert!(old.detail.contains("tmux 3.1c is older than 3.2"), "{}", old.detail);
        assert_eq!(tmux(Some("tmux 2.9"), "apt").status, Status::Warn);
        assert_eq!(tmux(None, "apt").status, Status::Fail);
        assert_eq!(tmux_release("tmux 10.0"), Some((10, 0)));
    }

    #[test]
    fn plugin_states() {
        assert_eq!(plugins(0, &[], None).status, Status::Pass);
        let running = vec![("lunaroute".to_owned(), "on the VPS", "running".to_owned())];
        assert_eq!(plugins(1, &running, None).status, Status::Pass);
        let restarting = vec![("x".to_owned(), "here", "restarting: trap".to_owned())];
        assert_eq!(plugins(1, &restarting, None).status, Status::Warn);
        let disabled = vec![("x".to_owned(), "here", "disabled: crashed 5 times".to_owned())];
        assert_eq!(plugins(1, &disabled, None).status, Status::Fail);
        assert_eq!(plugins(1, &[], Some("bad lockfile".into())).status, Status::Fail);
    }
}
