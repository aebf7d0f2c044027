//! `sinc vps harden`'s plan: sshd without passwords, a firewall that lets in
//! only SSH, fail2ban, unattended security upgrades. Each change that could
//! lock the user out (sshd, firewall) comes with its rollback script; the
//! runner arms a dead man's switch on the VPS that rolls back on its own
//! unless a fresh connection proves that key login still works.

use super::bootstrap::State;
use super::facts::{OsFamily, VpsFacts};
use crate::transport::quote;

/// The sshd drop-in sinc writes (or, without `Include` support, the marker
/// of the block it adds to `sshd_config`).
pub const SSHD_DROP_IN: &str = "/etc/ssh/sshd_config.d/60-sinc-harden.conf";
/// The nftables rules file sinc writes and `/etc/nftables.conf` includes.
pub const NFT_RULES: &str = "/etc/sinc-harden.nft";
/// The nftables table sinc owns.
pub const NFT_TABLE: &str = "sinc_harden";
/// Seconds after which an unconfirmed change rolls itself back.
pub const DEAD_MAN_SECONDS: u32 = 120;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What it is for.
    pub title: String,
    /// The script that applies it (as root); exits non-zero having undone
    /// itself when it cannot apply.
    pub apply: String,
    /// The script that undoes it (as root), for changes that can lock out.
    pub rollback: Option<String>,
    /// Whether it runs.
    pub state: State,
}

/// The user's choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Configure the firewall.
    pub firewall: bool,
    /// Turn off password logins in sshd.
    pub sshd: bool,
    /// Install fail2ban for sshd.
    pub fail2ban: bool,
    /// Turn on unattended security upgrades.
    pub upgrades: bool,
    /// Keep SSH open on every interface even when Tailscale is up.
    pub public_ssh: bool,
    /// Whether SSH over the tailnet was proven to work (by the runner).
    pub tailnet_ssh_works: bool,
    /// The SSH port on the VPS.
    pub ssh_port: u16,
    /// Extra sshd lines (`--sshd-option`).
    pub sshd_options: Vec<String>,
}

/// What the firewall lets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshScope {
    /// SSH on every interface.
    Public,
    /// SSH only on `tailscale0` (and Tailscale's own UDP port).
    Tailnet,
}

/// Whether SSH will be reachable only over the tailnet.
pub fn ssh_scope(facts: &VpsFacts, o: &Options) -> SshScope {
    let up = facts.tailscale.as_ref().is_some_and(crate::tailnet::TailscaleNode::is_up);
    if up && !o.public_ssh && o.tailnet_ssh_works { SshScope::Tailnet } else { SshScope::Public }
}

/// The nftables rules: drop incoming but SSH (and loopback, replies, ICMP).
pub fn nft_rules(port: u16, scope: SshScope) -> String {
    let ssh = match scope {
        SshScope::Public => format!("tcp dport {port} accept"),
        SshScope::Tailnet => format!("iifname \"tailscale0\" tcp dport {port} accept\n    udp dport 41641 accept"),
    };
    format!(
        "table inet {NFT_TABLE} {{\n  chain input {{\n    type filter hook input priority 0; policy drop;\n    \
         ct state established,related accept\n    iif \"lo\" accept\n    meta l4proto {{ icmp, ipv6-icmp }} accept\n    \
         {ssh}\n  }}\n}}\n"
    )
}

fn sshd_lines(o: &Options) -> String {
    let mut lines = vec![
        "# Written by `sinc vps harden`; `sinc vps harden` rolls it back if key login stops working.".to_owned(),
        "PasswordAuthentication no".into(),
        "KbdInteractiveAuthentication no".into(),
        "PermitRootLogin prohibit-password".into(),
    ];
    lines.extend(o.sshd_options.iter().cloned());
    lines.join("\n") + "\n"
}

/// Reload sshd: through systemd where it runs, else a SIGHUP to its pid file.
const RELOAD_SSHD: &str = "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl reload ssh 2>/dev/null || systemctl reload sshd
else
  PF=$(sshd -T 2>/dev/null | awk '$1 == \"pidfile\" { print $2 }')
  kill -HUP \"$(cat \"${PF:-/run/sshd.pid}\")\"
fi";

fn sshd_change(facts: &VpsFacts, o: &Options) -> Change {
    let lines = sshd_lines(o);
    let (apply, rollback) = if facts.sshd_include {
        let f = SSHD_DROP_IN;
        (
            format!(
                "set -e
[ -e {f} ] && cp -p {f} {f}.sinc-bak || rm -f {f}.sinc-bak
cat > {f}.tmp <<'SINC_EOF'
{lines}SINC_EOF
mv -f {f}.tmp {f}
if ! sshd -t; then
  if [ -e {f}.sinc-bak ]; then mv -f {f}.sinc-bak {f}; else rm -f {f}; fi
  echo 'sshd -t rejected the change; nothing was changed' >&2; exit 3
fi
{RELOAD_SSHD}"
            ),
            format!("if [ -e {f}.sinc-bak ]; then mv -f {f}.sinc-bak {f}; else rm -f {f}; fi\n{RELOAD_SSHD}"),
        )
    } else {
        let f = "/etc/ssh/sshd_config";
        (
            format!(
                "set -e
cp -p {f} {f}.sinc-bak
{{ printf '%s' {block}; cat {f}.sinc-bak; }} > {f}.tmp
mv -f {f}.tmp {f}
if ! sshd -t; then mv -f {f}.sinc-bak {f}; echo 'sshd -t rejected the change; nothing was changed' >&2; exit 3; fi
{RELOAD_SSHD}",
                block = quote::word(&format!("# >>> sinc harden\n{lines}# <<< sinc harden\n")),
            ),
            format!("mv -f {f}.sinc-bak {f}\n{RELOAD_SSHD}"),
        )
    };
    Change {
        title: "sshd: no password logins, root by key only".into(),
        apply,
        rollback: Some(rollback),
        state: if o.sshd { State::ToDo } else { State::Skip("--no-sshd".into()) },
    }
}

fn firewall_change(facts: &VpsFacts, o: &Options) -> Change {
    let scope = ssh_scope(facts, o);
    let port = o.ssh_port;
    let scope_text = match scope {
        SshScope::Public => format!("SSH (port {port})"),
        SshScope::Tailnet => format!("SSH (port {port}) on the tailnet only"),
    };
    let title = format!("firewall: deny incoming except {scope_text}");
    if !o.firewall {
        return Change { title, apply: String::new(), rollback: None, state: State::Skip("--no-firewall".into()) };
    }
    if facts.has("ufw") {
        let allow = match scope {
            SshScope::Public => format!("ufw allow {port}/tcp"),
            SshScope::Tailnet => {
                format!("ufw allow in on tailscale0 to any port {port} proto tcp && ufw allow 41641/udp")
            }
        };
        return Change {
            title: format!("{title} (ufw)"),
            apply: format!(
                "set -e\nufw default deny incoming\nufw default allow outgoing\n{allow}\nufw --force enable"
            ),
            rollback: Some("ufw --force disable".into()),
            state: State::ToDo,
        };
    }
    if facts.has("nft") {
        let rules = nft_rules(port, scope);
        let conf = "/etc/nftables.conf";
        let include = format!("include \"{NFT_RULES}\"");
        let enable = "if [ -d /run/systemd/system ]; then systemctl enable nftables >/dev/null 2>&1 || true; fi";
        return Change {
            title: format!("{title} (nftables)"),
            apply: format!(
                "set -e
cat > {NFT_RULES}.tmp <<'SINC_EOF'
{rules}SINC_EOF
nft delete table inet {NFT_TABLE} 2>/dev/null || true
nft -f {NFT_RULES}.tmp
mv -f {NFT_RULES}.tmp {NFT_RULES}
if [ -e {conf} ] && ! grep -qF {inc} {conf}; then cp -p {conf} {conf}.sinc-bak; printf '%s\\n' {inc} >> {conf}; fi
if [ ! -e {conf} ]; then printf '#!/usr/sbin/nft -f\\n%s\\n' {inc} > {conf}; fi
{enable}",
                inc = quote::word(&include),
            ),
            rollback: Some(format!(
                "nft delete table inet {NFT_TABLE} 2>/dev/null
rm -f {NFT_RULES}
if [ -e {conf}.sinc-bak ]; then mv -f {conf}.sinc-bak {conf}; fi"
            )),
            state: State::ToDo,
        };
    }
    Change {
        title,
        apply: String::new(),
        rollback: None,
        state: State::Impossible(format!(
            "neither ufw nor nft is installed; install one ({}), or pass --no-firewall",
            facts.family.install_command(&["ufw"]).unwrap_or_else(|| "ufw".into())
        )),
    }
}

fn fail2ban_change(facts: &VpsFacts, o: &Options) -> Change {
    let title = "fail2ban: ban addresses that keep failing SSH logins".to_owned();
    if !o.fail2ban {
        return Change { title, apply: String::new(), rollback: None, state: State::Skip("--no-fail2ban".into()) };
    }
    let install =
        if facts.has("fail2ban-client") { Some(String::new()) } else { facts.family.install_command(&["fail2ban"]) };
    let Some(install) = install else {
        return Change {
            title,
            apply: String::new(),
            rollback: None,
            state: State::Impossible(format!(
                "install fail2ban on {} yourself, or pass --no-fail2ban",
                facts.os_name()
            )),
        };
    };
    let jail = format!("[sshd]\nenabled = true\nport = {}\n", o.ssh_port);
    Change {
        title,
        apply: format!(
            "set -e
{install}
mkdir -p /etc/fail2ban/jail.d
cat > /etc/fail2ban/jail.d/sinc-sshd.local <<'SINC_EOF'
{jail}SINC_EOF
if [ -d /run/systemd/system ]; then systemctl enable --now fail2ban >/dev/null && systemctl restart fail2ban
else fail2ban-client reload >/dev/null 2>&1 || fail2ban-client start >/dev/null; fi"
        ),
        rollback: None,
        state: State::ToDo,
    }
}

fn upgrades_change(facts: &VpsFacts, o: &Options) -> Change {
    let title = "unattended security upgrades".to_owned();
    if !o.upgrades {
        return Change { title, apply: String::new(), rollback: None, state: State::Skip("--no-upgrades".into()) };
    }
    let apply = match facts.family {
        OsFamily::Debian => format!(
            "set -e
{}
cat > /etc/apt/apt.conf.d/20auto-upgrades <<'SINC_EOF'
APT::Periodic::Update-Package-Lists \"1\";
APT::Periodic::Unattended-Upgrade \"1\";
SINC_EOF",
            OsFamily::Debian.install_command(&["unattended-upgrades"]).unwrap_or_default()
        ),
        OsFamily::Fedora => format!(
            "set -e
{}
sed -i 's/^upgrade_type *=.*/upgrade_type = security/; s/^apply_updates *=.*/apply_updates = yes/' /etc/dnf/automatic.conf
if [ -d /run/systemd/system ]; then systemctl enable --now dnf-automatic.timer; fi",
            OsFamily::Fedora.install_command(&["dnf-automatic"]).unwrap_or_default()
        ),
        OsFamily::Alpine | OsFamily::Other => {
            return Change {
                title,
                apply: String::new(),
                rollback: None,
                state: State::Impossible(format!(
                    "sinc sets these up with apt or dnf, not on {}; pass --no-upgrades",
                    facts.os_name()
                )),
            };
        }
    };
    Change { title, apply, rollback: None, state: State::ToDo }
}

/// The changes, in the order they are applied: sshd first (then proven),
/// the firewall (then proven), fail2ban, upgrades.
pub fn plan(facts: &VpsFacts, o: &Options) -> Vec<Change> {
    vec![sshd_change(facts, o), firewall_change(facts, o), fail2ban_change(facts, o), upgrades_change(facts, o)]
}

/// The script that applies `change` and arms the dead man's switch: unless
/// the marker it prints (`marker=PATH`) is removed within `seconds`, the
/// rollback runs on its own.
pub fn armed(change: &Change, seconds: u32) -> String {
    let Some(rollback) = &change.rollback else {
        return change.apply.clone();
    };
    format!(
        "M=$(mktemp \"${{TMPDIR:-/tmp}}/sinc-harden.XXXXXX\")
cat > \"$M.rollback\" <<'SINC_ROLLBACK'
{rollback}
SINC_ROLLBACK
( {apply} ) || {{ S=$?; rm -f \"$M\" \"$M.rollback\"; exit $S; }}
setsid sh -c \"sleep {seconds}; if [ -e '$M' ]; then sh '$M.rollback'; rm -f '$M' '$M.rollback'; fi\" </dev/null >/dev/null 2>&1 &
printf 'marker=%s\\n' \"$M\"
",
        apply = change.apply,
    )
}

/// The script that keeps a change (disarms its switch).
pub fn confirm(marker: &str) -> String {
    format!("rm -f {m} {m}.rollback", m = quote::word(marker))
}

/// The script that undoes a change now.
pub fn roll_back(marker: &str) -> String {
    let m = quote::word(marker);
    format!("if [ -e {m}.rollback ]; then sh {m}.rollback; fi; rm -f {m} {m}.rollback")
}

/// The `--dry-run` text: every change, what it runs, all needing root.
pub fn describe(changes: &[Change], facts: &VpsFacts) -> String {
    let mut out = format!("VPS: {} — every change runs as root", facts.os_name());
    out.push_str(match facts.privilege {
        super::facts::Privilege::Root => " (you log in as root)\n",
        super::facts::Privilege::Sudo => " (with sudo, no password needed)\n",
        _ => " (NOT available: log in as root or get sudo without a password)\n",
    });
    for (i, c) in changes.iter().enumerate() {
        let n = i + 1;
        match &c.state {
            State::Skip(why) => out.push_str(&format!("{n}. {}: skip ({why})\n", c.title)),
            State::Impossible(why) => out.push_str(&format!("{n}. {}: CANNOT ({why})\n", c.title)),
            State::ToDo => {
                out.push_str(&format!("{n}. [root] {}\n", c.title));
                for line in c.apply.lines() {
                    out.push_str(&format!("     {line}\n"));
                }
                if c.rollback.is_some() {
                    out.push_str(&format!(
                        "     → then a fresh SSH connection must log in with your key; if not, it is rolled back (on its own after {DEAD_MAN_SECONDS}s if the connection is gone)\n"
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::facts::tests::{ALPINE, DEBIAN, FEDORA, sample};
    use super::*;

    fn options() -> Options {
        Options {
            firewall: true,
            sshd: true,
            fail2ban: true,
            upgrades: true,
            public_ssh: false,
            tailnet_ssh_works: false,
            ssh_port: 22,
            sshd_options: Vec::new(),
        }
    }

    #[test]
    fn ufw_where_present_else_nftables_else_refused() {
        let ufw = plan(&sample(DEBIAN, &["ufw", "nft"], true), &options());
        assert!(
            ufw[1].apply.contains("ufw allow 22/tcp") && ufw[1].apply.contains("ufw --force enable"),
            "{:?}",
            ufw[1]
        );
        let nft = plan(&sample(DEBIAN, &["nft"], true), &options());
        assert!(nft[1].apply.contains("nft -f /etc/sinc-harden.nft.tmp"), "{}", nft[1].apply);
        assert!(nft[1].rollback.as_ref().unwrap().contains("nft delete table inet sinc_harden"));
        let none = plan(&sample(DEBIAN, &[], true), &options());
        assert!(matches!(&none[1].state, State::Impossible(w) if w.contains("apt-get")));
        let skipped = plan(&sample(DEBIAN, &[], true), &Options { firewall: false, ..options() });
        assert!(matches!(&skipped[1].state, State::Skip(_)));
    }

    #[test]
    fn ssh_goes_tailnet_only_when_proven_and_not_refused() {
        let mut facts = sample(DEBIAN, &["nft"], true);
        facts.tailscale =
            crate::tailnet::TailscaleNode::parse(r#"{"BackendState":"Running","Self":{"DNSName":"vps.ts.net."}}"#);
        assert_eq!(ssh_scope(&facts, &options()), SshScope::Public, "not proven yet");
        let proven = Options { tailnet_ssh_works: true, ..options() };
        assert_eq!(ssh_scope(&facts, &proven), SshScope::Tailnet);
        assert_eq!(ssh_scope(&facts, &Options { public_ssh: true, ..proven.clone() }), SshScope::Public);
        let rules = nft_rules(2222, SshScope::Tailnet);
        assert!(
            rules.contains("iifname \"tailscale0\" tcp dport 2222 accept") && rules.contains("policy drop"),
            "{rules}"
        );
        assert!(!nft_rules(22, SshScope::Public).contains("tailscale0"));
    }

    #[test]
    fn sshd_uses_a_drop_in_where_included_and_validates() {
        let with =
            plan(&sample(DEBIAN, &[], true), &Options { sshd_options: vec!["AllowUsers dev".into()], ..options() });
        assert!(with[0].apply.contains(SSHD_DROP_IN) && with[0].apply.contains("sshd -t"), "{}", with[0].apply);
        assert!(with[0].apply.contains("PasswordAuthentication no\n") && with[0].apply.contains("AllowUsers dev\n"));
        let mut old = sample(DEBIAN, &[], true);
        old.sshd_include = false;
        let without = plan(&old, &options());
        assert!(
            without[0].apply.contains("# >>> sinc harden")
                && without[0].rollback.as_ref().unwrap().contains("sinc-bak")
        );
    }

    #[test]
    fn fail2ban_and_upgrades_per_family() {
        let fedora = plan(&sample(FEDORA, &["nft"], true), &options());
        assert!(fedora[2].apply.contains("dnf install -y -q fail2ban"));
        assert!(fedora[3].apply.contains("dnf-automatic") && fedora[3].apply.contains("upgrade_type = security"));
        let debian = plan(&sample(DEBIAN, &["nft", "fail2ban-client"], true), &options());
        assert!(!debian[2].apply.contains("apt-get"), "installed already");
        assert!(debian[3].apply.contains("Unattended-Upgrade \"1\""));
        let alpine = plan(&sample(ALPINE, &["nft"], false), &options());
        assert!(matches!(&alpine[3].state, State::Impossible(_)));
    }

    #[test]
    fn the_switch_rolls_back_unless_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("applied");
        let change = Change {
            title: "t".into(),
            apply: format!("touch {}", flag.display()),
            rollback: Some(format!("rm -f {}", flag.display())),
            state: State::ToDo,
        };
        let run = |script: String| {
            let out =
                std::process::Command::new("/bin/sh").arg("-c").arg(script).env("TMPDIR", dir.path()).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        // Unconfirmed: rolled back after the delay.
        let marker = run(armed(&change, 1)).strip_prefix("marker=").unwrap().to_owned();
        assert!(flag.exists());
        std::thread::sleep(std::time::Duration::from_millis(2500));
        assert!(!flag.exists(), "rolled back on its own");
        assert!(!std::path::Path::new(&marker).exists());
        // Confirmed: kept.
        let marker = run(armed(&change, 1)).strip_prefix("marker=").unwrap().to_owned();
        run(confirm(&marker));
        std::thread::sleep(std::time::Duration::from_millis(2000));
        assert!(flag.exists(), "kept");
        // Rolled back at once.
        std::fs::remove_file(&flag).unwrap();
        let marker = run(armed(&change, 60)).strip_prefix("marker=").unwrap().to_owned();
        run(roll_back(&marker));
        assert!(!flag.exists());
        // A failing apply leaves no switch behind.
        let failing = Change { apply: "exit 3".into(), ..change };
        assert_eq!(run(armed(&failing, 60)), "");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
