//! What `sinc vps` needs to know about the VPS before planning: its OS
//! family (from `/etc/os-release`), whether it is root or has password-less
//! sudo, what is installed, and whether systemd runs. One script gathers it;
//! [`VpsFacts::parse`] reads it back.

use crate::transport::quote;
use std::collections::BTreeMap;

/// The package manager family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsFamily {
    /// Debian, Ubuntu and derivatives (apt).
    Debian,
    /// Fedora, RHEL, CentOS Stream, Rocky, Alma (dnf).
    Fedora,
    /// Alpine (apk).
    Alpine,
    /// Anything else: packages are the user's to install.
    Other,
}

impl OsFamily {
    /// From `/etc/os-release`'s `ID` and `ID_LIKE`.
    pub fn from_os_release(fields: &BTreeMap<String, String>) -> OsFamily {
        let id = fields.get("ID").map(String::as_str).unwrap_or_default();
        let like = fields.get("ID_LIKE").map(String::as_str).unwrap_or_default();
        let all: Vec<&str> = std::iter::once(id).chain(like.split_whitespace()).collect();
        if all.iter().any(|i| matches!(*i, "debian" | "ubuntu")) {
            OsFamily::Debian
        } else if all.iter().any(|i| matches!(*i, "fedora" | "rhel" | "centos")) {
            OsFamily::Fedora
        } else if all.contains(&"alpine") {
            OsFamily::Alpine
        } else {
            OsFamily::Other
        }
    }

    /// The command that installs `packages` (as root), if sinc knows one.
    pub fn install_command(self, packages: &[&str]) -> Option<String> {
        let list = quote::words(packages);
        match self {
            OsFamily::Debian => Some(format!(
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {list}"
            )),
            OsFamily::Fedora => Some(format!("dnf install -y -q {list}")),
            OsFamily::Alpine => Some(format!("apk add --no-cache {list}")),
            OsFamily::Other => None,
        }
    }
}

/// How the VPS user can act as root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// It is root.
    Root,
    /// `sudo -n` works.
    Sudo,
    /// sudo asks for a password (or is not allowed).
    SudoNeedsPassword,
    /// No sudo.
    None,
}

impl Privilege {
    /// The command that runs a script given on its input as root, or `None`
    /// when there is none (the script goes on stdin, so it is quoted once
    /// whatever the login shell).
    pub fn root_shell(self) -> Option<&'static str> {
        match self {
            Privilege::Root => Some("/bin/sh -s"),
            Privilege::Sudo => Some("sudo -n /bin/sh -s"),
            Privilege::SudoNeedsPassword | Privilege::None => None,
        }
    }
}

/// Everything the planning needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpsFacts {
    /// `/etc/os-release`, parsed.
    pub os_release: BTreeMap<String, String>,
    /// The package family.
    pub family: OsFamily,
    /// `uname -s`.
    pub kernel: String,
    /// `uname -m`.
    pub arch: String,
    /// The login user.
    pub user: String,
    /// How it can act as root.
    pub privilege: Privilege,
    /// Programs found on the PATH, of those asked about.
    pub present: Vec<String>,
    /// systemd runs (`/run/systemd/system` exists).
    pub systemd: bool,
    /// Lingering is on for the user (its units run without a login).
    pub linger: bool,
    /// What the installed `sinc --version` prints.
    pub sinc_version: Option<String>,
    /// The agent's program, found by the login shell.
    pub agent_path: Option<String>,
    /// `/etc/ssh/sshd_config` includes `/etc/ssh/sshd_config.d/*.conf`.
    pub sshd_include: bool,
    /// Tailscale on the VPS, if installed.
    pub tailscale: Option<crate::tailnet::TailscaleNode>,
}

impl VpsFacts {
    /// A human name for the OS (`PRETTY_NAME`).
    pub fn os_name(&self) -> String {
        self.os_release
            .get("PRETTY_NAME")
            .or_else(|| self.os_release.get("ID"))
            .cloned()
            .unwrap_or_else(|| self.kernel.clone())
    }

    /// Whether `program` was found.
    pub fn has(&self, program: &str) -> bool {
        self.present.iter().any(|p| p == program)
    }
}

/// Parse `/etc/os-release` text (`KEY=value`, values optionally quoted).
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (k, v) = line.trim().split_once('=')?;
            if k.starts_with('#') || k.is_empty() {
                return None;
            }
            let v = v.trim();
            let unquoted = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.to_owned(), unquoted.replace("\\\"", "\"")))
        })
        .collect()
}

/// The script that prints the facts; `programs` are looked up on the PATH,
/// `agent` by the login shell.
pub fn script(programs: &[&str], agent: Option<&str>) -> String {
    let agent = match agent {
        Some(program) => {
            format!("printf 'agent=%s\\n' \"$({} 2>/dev/null | tail -n 1)\"\n", quote::login_shell_which(program))
        }
        None => String::new(),
    };
    quote::sh_script(&format!(
        "{with_sbin}
sed 's/^/os-release:/' /etc/os-release 2>/dev/null
printf 'kernel=%s\\narch=%s\\nuser=%s\\n' \"$(uname -s)\" \"$(uname -m)\" \"$(id -un)\"
if [ \"$(id -u)\" = 0 ]; then echo privilege=root
elif ! command -v sudo >/dev/null 2>&1; then echo privilege=none
elif sudo -n true 2>/dev/null; then echo privilege=sudo
else echo privilege=password; fi
for p in {programs}; do command -v \"$p\" >/dev/null 2>&1 && printf 'present=%s\\n' \"$p\"; done
[ -d /run/systemd/system ] && echo systemd=yes
[ -e \"/var/lib/systemd/linger/$(id -un)\" ] && echo linger=yes
printf 'sinc=%s\\n' \"$({installed})\"
grep -Eiq '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\\.d/' /etc/ssh/sshd_config 2>/dev/null && echo sshd_include=yes
command -v tailscale >/dev/null 2>&1 && printf 'tailscale=%s\\n' \"$(tailscale status --json 2>/dev/null | tr -d '\\n')\"
{agent}echo end=yes
",
        programs = quote::words(programs),
        with_sbin = quote::WITH_SBIN,
        installed = crate::remote::install::installed_version_command(),
    ))
}

impl VpsFacts {
    /// Read [`script`]'s output; `None` when it did not finish.
    pub fn parse(text: &str) -> Option<VpsFacts> {
        let mut os = String::new();
        let mut kv: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("os-release:") {
                os.push_str(rest);
                os.push('\n');
            } else if let Some((k, v)) = line.split_once('=') {
                kv.entry(k).or_default().push(v);
            }
        }
        kv.get("end")?;
        let one = |k: &str| kv.get(k).and_then(|v| v.first()).map(|v| (*v).to_owned());
        let os_release = parse_os_release(&os);
        Some(VpsFacts {
            family: OsFamily::from_os_release(&os_release),
            os_release,
            kernel: one("kernel").unwrap_or_default(),
            arch: one("arch").unwrap_or_default(),
            user: one("user").unwrap_or_default(),
            privilege: match one("privilege").as_deref() {
                Some("root") => Privilege::Root,
                Some("sudo") => Privilege::Sudo,
                Some("password") => Privilege::SudoNeedsPassword,
                _ => Privilege::None,
            },
            present: kv.get("present").map(|v| v.iter().map(|p| (*p).to_owned()).collect()).unwrap_or_default(),
            systemd: one("systemd").is_some(),
            linger: one("linger").is_some(),
            sinc_version: one("sinc").filter(|v| !v.is_empty()),
            agent_path: one("agent").filter(|v| v.starts_with('/')),
            sshd_include: one("sshd_include").is_some(),
            tailscale: one("tailscale").and_then(|j| crate::tailnet::TailscaleNode::parse(&j)),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `/etc/os-release` of the families sinc plans for.
    pub const DEBIAN: &str =
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
    pub const UBUNTU: &str = "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n";
    pub const FEDORA: &str =
        "NAME=\"Fedora Linux\"\nVERSION_ID=40\nID=fedora\nPRETTY_NAME=\"Fedora Linux 40 (Server Edition)\"\n";
    pub const ROCKY: &str = "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nPRETTY_NAME=\"Rocky Linux 9.4 (Blue Onyx)\"\n";
    pub const ALPINE: &str =
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n";
    pub const ARCH: &str = "NAME=\"Arch Linux\"\nID=arch\nPRETTY_NAME=\"Arch Linux\"\n";

    /// Facts of a VPS with `os`, the `present` programs, and systemd or not.
    pub fn sample(os: &str, present: &[&str], systemd: bool) -> VpsFacts {
        let os_release = parse_os_release(os);
        VpsFacts {
            family: OsFamily::from_os_release(&os_release),
            os_release,
            kernel: "Linux".into(),
            arch: std::env::consts::ARCH.into(),
            user: "dev".into(),
            privilege: Privilege::Sudo,
            present: present.iter().map(|p| (*p).to_owned()).collect(),
            systemd,
            linger: false,
            sinc_version: None,
            agent_path: None,
            sshd_include: true,
            tailscale: None,
        }
    }

    #[test]
    fn families_from_os_release() {
        let family = |text: &str| OsFamily::from_os_release(&parse_os_release(text));
        assert_eq!(family(DEBIAN), OsFamily::Debian);
        assert_eq!(family(UBUNTU), OsFamily::Debian);
        assert_eq!(family(FEDORA), OsFamily::Fedora);
        assert_eq!(family(ROCKY), OsFamily::Fedora);
        assert_eq!(family(ALPINE), OsFamily::Alpine);
        assert_eq!(family(ARCH), OsFamily::Other);
        assert_eq!(parse_os_release(ROCKY)["PRETTY_NAME"], "Rocky Linux 9.4 (Blue Onyx)");
    }

    #[test]
    fn install_commands_per_family() {
        assert!(
            OsFamily::Debian
                .install_command(&["tmux", "git"])
                .unwrap()
                .ends_with("install -y -qq --no-install-recommends tmux git")
        );
        assert_eq!(OsFamily::Fedora.install_command(&["tmux"]).unwrap(), "dnf install -y -q tmux");
        assert_eq!(OsFamily::Alpine.install_command(&["git"]).unwrap(), "apk add --no-cache git");
        assert_eq!(OsFamily::Other.install_command(&["git"]), None);
        assert_eq!(Privilege::Sudo.root_shell(), Some("sudo -n /bin/sh -s"));
        assert_eq!(Privilege::SudoNeedsPassword.root_shell(), None);
    }

    #[test]
    fn the_script_runs_here() {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script(&["sh", "no-such-tool"], Some("sh")))
            .output()
            .unwrap();
        let facts = VpsFacts::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert_eq!(facts.kernel, "Linux");
        assert!(facts.has("sh") && !facts.has("no-such-tool"));
        assert!(facts.agent_path.is_some_and(|p| p.ends_with("/sh")));
        assert_ne!(facts.family, OsFamily::Other, "this machine is Debian: {:?}", facts.os_release);
    }
}
