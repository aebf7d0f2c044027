//! `sinc vps harden`'s plan: sshd without passwords, a firewall that lets in
//! only SSH, fail2ban, unattended security upgrades. Each change that could
//! lock the user out (sshd, firewall) comes with its rollback script; the
//! runner arms a dead man's switch on the VPS that rolls back on its own
//! unless a fresh connection proves that key login still works.

use super::bootstrap::State;
use super::facts::{OsFamily, VpsFacts};
use crate::transport::quote;

/// The sshd drop-in sinc writes (first in the folder: sshd keeps the first
/// value it reads, and cloud images ship `50-cloud-init.conf`).
pub const SSHD_DROP_IN: &str = "/etc/ssh/sshd_config.d/00-sinc-harden.conf";
/// The nftables rules file sinc writes and the system's nftables config
/// includes.
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
    /// Whether sinc reached the VPS over the tailnet (so closing public SSH
    /// keeps sinc's own way in).
    pub over_tailnet: bool,
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
    if up && !o.public_ssh && o.over_tailnet { SshScope::Tailnet } else { SshScope::Public }
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

/// Whether `line` may go into sshd's settings: one line, a keyword and a
/// value, not a `Match` or `Include` (which would change what follows).
pub fn valid_sshd_option(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let keyword = words.next().unwrap_or_default();
    !line.contains(['\n', '\r'])
        && keyword.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && keyword.chars().all(|c| c.is_ascii_alphanumeric())
        && words.next().is_some()
        && !keyword.eq_ignore_ascii_case("match")
        && !keyword.eq_ignore_ascii_case("include")
}

fn sshd_lines(o: &Options) -> String {
    let mut lines = vec![
        "# Written by `sinc vps harden` (which rolls it back if key login stops working).".to_owned(),
        "PasswordAuthentication no".into(),
        "KbdInteractiveAuthentication no".into(),
    ];
    lines.extend(o.sshd_options.iter().filter(|l| valid_sshd_option(l)).cloned());
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
    // Root by key only, unless sshd is stricter already.
    let root = "if sshd -T 2>/dev/null | grep -qi '^permitrootlogin yes'; then ROOT='PermitRootLogin prohibit-password'; else ROOT=; fi";
    let check = "sshd -t || { echo 'sshd -t rejects the new settings' >&2; exit 3; }
sshd -T 2>/dev/null | grep -qi '^passwordauthentication no' || { echo 'another sshd setting keeps password logins on (see sshd -T)' >&2; exit 3; }";
    let (file, write) = if facts.sshd_include {
        let f = SSHD_DROP_IN;
        (
            f,
            format!(
                "mkdir -p /etc/ssh/sshd_config.d
{{ cat <<'SINC_EOF'
{lines}SINC_EOF
[ -z \"$ROOT\" ] || echo \"$ROOT\"; }} > {f}.tmp
mv -f {f}.tmp {f}"
            ),
        )
    } else {
        let f = "/etc/ssh/sshd_config";
        (
            f,
            format!(
                "{{ echo '# >>> sinc harden'; cat <<'SINC_EOF'
{lines}SINC_EOF
[ -z \"$ROOT\" ] || echo \"$ROOT\"; echo '# <<< sinc harden'; cat {f}; }} > {f}.tmp
mv -f {f}.tmp {f}"
            ),
        )
    };
    Change {
        title: "sshd: no password logins, root by key only".into(),
        apply: format!("set -e\n{root}\nsave {file}\n{write}\n{check}\n{RELOAD_SSHD}"),
        rollback: Some(format!("restore {file}\n{RELOAD_SSHD}")),
        state: if o.sshd { State::ToDo } else { State::Skip("--no-sshd".into()) },
    }
}

/// Where the OS's nftables service reads its rules.
fn nft_conf(family: OsFamily) -> &'static str {
    match family {
        OsFamily::Fedora => "/etc/sysconfig/nftables.conf",
        OsFamily::Alpine => "/etc/nftables.nft",
        OsFamily::Debian | OsFamily::Other => "/etc/nftables.conf",
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
    let refuse = |why: String| Change {
        title: title.clone(),
        apply: String::new(),
        rollback: None,
        state: State::Impossible(why),
    };
    if !o.firewall {
        return Change { title, apply: String::new(), rollback: None, state: State::Skip("--no-firewall".into()) };
    }
    if facts.has("firewall-cmd") {
        return refuse(
            "firewalld manages this VPS's firewall and sinc leaves it alone; let in only SSH with firewall-cmd, or pass --no-firewall"
                .into(),
        );
    }
    if facts.has("ufw") {
        let allow = match scope {
            SshScope::Public => format!("ufw allow {port}/tcp"),
            SshScope::Tailnet => {
                format!("ufw allow in on tailscale0 to any port {port} proto tcp\nufw allow 41641/udp")
            }
        };
        return Change {
            title: format!("{title} (ufw)"),
            apply: format!(
                "set -e\nsave /etc/ufw\nufw status | head -n 1 > \"$B/ufw-state\"\nufw default deny incoming\nufw default allow outgoing\n{allow}\nufw --force enable"
            ),
            rollback: Some(
                "restore /etc/ufw\nif grep -q inactive \"$B/ufw-state\" 2>/dev/null; then ufw --force disable; else ufw reload; fi"
                    .into(),
            ),
            state: State::ToDo,
        };
    }
    if !facts.has("nft") {
        return refuse(format!(
            "neither ufw nor nft is installed; install one ({}), or pass --no-firewall",
            facts.family.install_command(&["nftables"]).unwrap_or_else(|| "nftables".into())
        ));
    }
    let rules = nft_rules(port, scope);
    let conf = nft_conf(facts.family);
    let inc = quote::word(&format!("include \"{NFT_RULES}\""));
    Change {
        title: format!("{title} (nftables)"),
        apply: format!(
            "set -e
save {NFT_RULES}
save {conf}
cat > {NFT_RULES}.tmp <<'SINC_EOF'
{rules}SINC_EOF
nft -c -f {NFT_RULES}.tmp
mv -f {NFT_RULES}.tmp {NFT_RULES}
nft delete table inet {NFT_TABLE} 2>/dev/null || true
nft -f {NFT_RULES}
if [ -e {conf} ]; then grep -qF {inc} {conf} || printf '%s\\n' {inc} >> {conf}
else mkdir -p \"$(dirname {conf})\"; printf '#!/usr/sbin/nft -f\\n%s\\n' {inc} > {conf}; fi
if [ -d /run/systemd/system ]; then systemctl enable nftables >/dev/null 2>&1 || true
elif command -v rc-update >/dev/null 2>&1; then rc-update add nftables default >/dev/null 2>&1 || true; fi"
        ),
        rollback: Some(format!(
            "nft delete table inet {NFT_TABLE} 2>/dev/null
restore {NFT_RULES}
restore {conf}
if [ -e {NFT_RULES} ]; then nft -f {NFT_RULES}; fi"
        )),
        state: State::ToDo,
    }
}

fn fail2ban_change(facts: &VpsFacts, o: &Options) -> Change {
    let title = "fail2ban: ban addresses that keep failing SSH logins".to_owned();
    if !o.fail2ban {
        return Change { title, apply: String::new(), rollback: None, state: State::Skip("--no-fail2ban".into()) };
    }
    // Without a log file for sshd (Debian 12 has no auth.log), fail2ban reads
    // systemd's journal.
    let journal = facts.systemd;
    let packages: &[&str] =
        if journal && facts.family == OsFamily::Debian { &["fail2ban", "python3-systemd"] } else { &["fail2ban"] };
    let Some(install) = install_unless(facts, "fail2ban-client", packages) else {
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
    let backend = if journal { "systemd" } else { "auto" };
    // Bans go where the firewall is: Debian's default action needs
    // iptables, which a VPS filtering with nftables may not have.
    let banaction = if facts.has("nft") && !facts.has("ufw") {
        "banaction = nftables-multiport\nbanaction_allports = nftables-allports\n"
    } else {
        ""
    };
    let jail = format!("[sshd]\nenabled = true\nport = {}\nbackend = {backend}\n{banaction}", o.ssh_port);
    Change {
        title,
        apply: format!(
            "set -e
{install}
mkdir -p /etc/fail2ban/jail.d
cat > /etc/fail2ban/jail.d/sinc-sshd.local <<'SINC_EOF'
{jail}SINC_EOF
if [ -d /run/systemd/system ]; then systemctl enable --now fail2ban >/dev/null && systemctl restart fail2ban
elif command -v rc-service >/dev/null 2>&1; then rc-update add fail2ban default >/dev/null; rc-service fail2ban restart >/dev/null
else mkdir -p /run/fail2ban; fail2ban-client reload >/dev/null 2>&1 || fail2ban-client start >/dev/null; fi"
        ),
        rollback: None,
        state: State::ToDo,
    }
}

/// The command that installs `packages` unless `program` is there already
/// (an empty script), or `None` when sinc knows no package manager here.
fn install_unless(facts: &VpsFacts, program: &str, packages: &[&str]) -> Option<String> {
    if facts.has(program) { Some(String::new()) } else { facts.family.install_command(packages) }
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
            install_unless(facts, "unattended-upgrade", &["unattended-upgrades"]).unwrap_or_default()
        ),
        OsFamily::Fedora => format!(
            "set -e
{}
sed -i 's/^upgrade_type *=.*/upgrade_type = security/; s/^apply_updates *=.*/apply_updates = yes/' /etc/dnf/automatic.conf
if [ -d /run/systemd/system ]; then systemctl enable --now dnf-automatic.timer; fi",
            install_unless(facts, "dnf-automatic", &["dnf-automatic"]).unwrap_or_default()
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

/// Shell functions the apply and rollback scripts use, with `$B` the
/// change's own backup folder: `save FILE` keeps a copy (or notes that
/// there was none) before a change, `restore FILE` puts it back — both
/// idempotent, so a rollback can run after a failure at any point.
const BACKUP_FUNCTIONS: &str = r#"save() { mkdir -p "$B$(dirname "$1")"; if [ -e "$1" ]; then rm -rf "$B$1"; cp -a "$1" "$B$1"; else : > "$B$1.absent"; fi; }
restore() { if [ -e "$B$1.absent" ]; then rm -rf "$1"; elif [ -e "$B$1" ]; then rm -rf "$1"; cp -a "$B$1" "$1"; fi; }"#;

/// The script that applies `change` and, for a change that can lock out,
/// arms the dead man's switch: unless the marker it prints (`marker=PATH`)
/// is removed within `seconds`, the rollback runs on its own. A failed apply
/// is rolled back at once. Reads nothing from its input.
pub fn armed(change: &Change, seconds: u32) -> String {
    let Some(rollback) = &change.rollback else {
        return format!("(\n{}\n) </dev/null", change.apply);
    };
    format!(
        "M=$(mktemp \"${{TMPDIR:-/tmp}}/sinc-harden.XXXXXX\")
B=\"$M.d\"
mkdir -p \"$B\"
cat > \"$M.rollback\" <<'SINC_ROLLBACK'
B=\"${{0%.rollback}}.d\"
{BACKUP_FUNCTIONS}
{rollback}
SINC_ROLLBACK
( {BACKUP_FUNCTIONS}
{apply}
) </dev/null
S=$?
if [ $S -ne 0 ]; then sh \"$M.rollback\" </dev/null >/dev/null 2>&1; rm -rf \"$M\" \"$M.rollback\" \"$B\"; exit $S; fi
setsid sh -c \"sleep {seconds}; if [ -e '$M' ]; then sh '$M.rollback'; rm -rf '$M' '$M.rollback' '$B'; fi\" </dev/null >/dev/null 2>&1 &
printf 'marker=%s\\n' \"$M\"
",
        apply = change.apply,
    )
}

/// The script that keeps a change (disarms its switch).
pub fn confirm(marker: &str) -> String {
    format!("rm -rf {m} {m}.rollback {m}.d", m = quote::word(marker))
}

/// The script that undoes a change now.
pub fn roll_back(marker: &str) -> String {
    let m = quote::word(marker);
    format!("if [ -e {m}.rollback ]; then sh {m}.rollback; fi; rm -rf {m} {m}.rollback {m}.d")
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
            over_tailnet: false,
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
        assert!(nft[1].apply.contains("nft -c -f /etc/sinc-harden.nft.tmp"), "{}", nft[1].apply);
        assert!(nft[1].rollback.as_ref().unwrap().contains("restore /etc/nftables.conf"), "the previous state returns");
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
        assert_eq!(ssh_scope(&facts, &options()), SshScope::Public, "sinc does not connect over the tailnet");
        let proven = Options { over_tailnet: true, ..options() };
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
        let with = plan(
            &sample(DEBIAN, &[], true),
            &Options { sshd_options: vec!["AllowUsers dev".into(), "Match all".into()], ..options() },
        );
        assert!(with[0].apply.contains(SSHD_DROP_IN) && with[0].apply.contains("sshd -t"), "{}", with[0].apply);
        assert!(with[0].apply.contains("PasswordAuthentication no\n") && with[0].apply.contains("AllowUsers dev\n"));
        assert!(!with[0].apply.contains("Match all"), "never a Match block");
        assert!(with[0].apply.contains("grep -qi '^passwordauthentication no'"), "the effective setting is checked");
        assert!(!with[0].apply.contains("\nPermitRootLogin"), "only where sshd allows root passwords");
        let mut old = sample(DEBIAN, &[], true);
        old.sshd_include = false;
        let without = plan(&old, &options());
        assert!(without[0].apply.contains("# >>> sinc harden"));
        assert!(without[0].rollback.as_ref().unwrap().starts_with("restore /etc/ssh/sshd_config\n"));
    }

    #[test]
    fn sshd_options_are_single_settings() {
        assert!(valid_sshd_option("AllowUsers dev ops"));
        assert!(valid_sshd_option("MaxAuthTries 3"));
        for bad in
            ["Match User x", "include /tmp/x", "AllowUsers a\nSINC_EOF", "NoValue", "", "# comment x", "Allow-Users x"]
        {
            assert!(!valid_sshd_option(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_nftables_config_is_the_one_the_os_loads() {
        let fedora = plan(&sample(FEDORA, &["nft"], true), &options());
        assert!(fedora[1].apply.contains("/etc/sysconfig/nftables.conf"), "{}", fedora[1].apply);
        let firewalld = plan(&sample(FEDORA, &["nft", "firewall-cmd"], true), &options());
        assert!(matches!(&firewalld[1].state, State::Impossible(w) if w.contains("firewalld")));
    }

    #[test]
    fn fail2ban_and_upgrades_per_family() {
        let fedora = plan(&sample(FEDORA, &["nft"], true), &options());
        assert!(fedora[2].apply.contains("dnf install -y -q fail2ban"));
        assert!(fedora[3].apply.contains("dnf-automatic") && fedora[3].apply.contains("upgrade_type = security"));
        let debian = plan(&sample(DEBIAN, &["nft", "fail2ban-client"], true), &options());
        assert!(!debian[2].apply.contains("apt-get"), "installed already");
        assert!(debian[3].apply.contains("Unattended-Upgrade \"1\"") && debian[3].apply.contains("apt-get"));
        assert!(debian[2].apply.contains("banaction = nftables-multiport"), "bans go to nftables");
        let ufw = plan(&sample(DEBIAN, &["nft", "ufw", "unattended-upgrade"], true), &options());
        assert!(!ufw[2].apply.contains("banaction"), "with ufw, the distribution's iptables action");
        assert!(!ufw[3].apply.contains("apt-get"), "installed already");
        let alpine = plan(&sample(ALPINE, &["nft"], false), &options());
        assert!(matches!(&alpine[3].state, State::Impossible(_)));
    }

    #[test]
    fn every_script_is_valid_shell() {
        for (os, programs) in [(DEBIAN, &["nft"][..]), (DEBIAN, &["ufw", "fail2ban-client"]), (FEDORA, &["nft"])] {
            for change in plan(&sample(os, programs, true), &options()) {
                let mut scripts = vec![armed(&change, DEAD_MAN_SECONDS), confirm("/tmp/m"), roll_back("/tmp/m")];
                scripts.extend(change.rollback.clone());
                for script in scripts {
                    let out = std::process::Command::new("/bin/sh").args(["-n", "-c", &script]).output().unwrap();
                    assert!(
                        out.status.success(),
                        "{}: {}\n{script}",
                        change.title,
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
    }

    #[test]
    fn save_and_restore_bring_back_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let (file, absent) = (dir.path().join("etc/a.conf"), dir.path().join("etc/new.conf"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "original").unwrap();
        let script = format!(
            "B={b}\n{BACKUP_FUNCTIONS}\nsave {f}; save {n}; echo changed > {f}; echo new > {n}\nrestore {f}; restore {n}; restore {f}",
            b = dir.path().join("backup").display(),
            f = file.display(),
            n = absent.display()
        );
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(script).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "original");
        assert!(!absent.exists(), "a file that was not there is removed again");
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
        // A failing apply is rolled back at once (also a failure in the
        // middle of a `set -e` script), and leaves no switch behind.
        let failing = Change { apply: format!("set -e\ntouch {}\nfalse\necho never", flag.display()), ..change };
        assert_eq!(run(armed(&failing, 60)), "");
        assert!(!flag.exists(), "rolled back");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
