//! `sinc vps bootstrap`'s plan: from the facts, the steps that make a fresh
//! VPS ready — tmux and git, the workspace folder, sinc itself, a systemd
//! user unit for the daemon with lingering, and (only when asked) the agent.
//! Every step is idempotent; a step already satisfied is shown as such.

use super::facts::VpsFacts;
use crate::transport::quote;

/// The systemd user unit's name (`sinc uninstall --remote` removes it).
pub use crate::uninstall::SYSTEMD_UNIT;

/// Where the sinc for the VPS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SincSource {
    /// This very binary (same OS and architecture).
    ThisBinary,
    /// A file given with `--sinc-binary`.
    File(std::path::PathBuf),
    /// Downloaded on the VPS from this URL, checked against `URL.sha256`.
    Download(String),
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A script run as the login user.
    User(String),
    /// A script run as root (directly, or with `sudo -n`).
    Root(String),
    /// Put sinc on the VPS.
    InstallSinc(SincSource),
}

/// Whether a step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// It runs.
    ToDo,
    /// It does not need to (already so, or not applicable), and why.
    Skip(String),
    /// It cannot, and what to do instead.
    Impossible(String),
}

impl State {
    /// Why it cannot be done, if it cannot.
    pub fn impossible(&self) -> Option<&str> {
        match self {
            State::Impossible(why) => Some(why),
            State::ToDo | State::Skip(_) => None,
        }
    }

    /// Its name in `--json` output.
    pub fn name(&self) -> &'static str {
        match self {
            State::ToDo => "todo",
            State::Skip(_) => "skip",
            State::Impossible(_) => "impossible",
        }
    }
}

/// The first thing in a plan that cannot be done: its title and why.
pub fn first_impossible<'a>(plan: impl IntoIterator<Item = (&'a str, &'a State)>) -> Option<(&'a str, &'a str)> {
    plan.into_iter().find_map(|(title, state)| state.impossible().map(|why| (title, why)))
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What it is for.
    pub title: String,
    /// What it does.
    pub action: Action,
    /// Whether it runs.
    pub state: State,
}

/// The user's choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The workspace folder (`sync.remote_base`).
    pub remote_base: String,
    /// The agent's command line and its program.
    pub agent: (String, Option<String>),
    /// Install the agent when it is missing.
    pub install_agent: bool,
    /// Install the systemd unit where systemd runs.
    pub systemd: bool,
    /// `--sinc-binary`.
    pub sinc_binary: Option<std::path::PathBuf>,
    /// `vps.release_url` (with `{version}` and `{arch}`).
    pub release_url: String,
}

/// The packages sinc needs on the VPS.
pub const PACKAGES: [&str; 2] = ["tmux", "git"];

/// The unit file's text; `bin` is the remote sinc, `env` extra
/// `Environment=` lines (the session's XDG folders).
pub fn unit_text(bin: &str, env: &[String]) -> String {
    let env: String = env.iter().map(|e| format!("Environment={e}\n")).collect();
    format!(
        "[Unit]\nDescription=sinc daemon: the VPS side of sinc's sync and plugins\nAfter=network-online.target\n\n\
         [Service]\nType=simple\n{env}ExecStart={bin} daemon\nRestart=on-failure\nRestartSec=5\n\n\
         [Install]\nWantedBy=default.target\n"
    )
}

/// The script that writes the unit (with this session's data folder and
/// XDG settings) and enables it.
fn unit_script() -> String {
    let unit = unit_text("$BIN", &["XDG_DATA_HOME=$DATA_HOME".into(), "XDG_STATE_HOME=$STATE_HOME".into()]);
    format!(
        "DATA_HOME=\"${{XDG_DATA_HOME:-$HOME/.local/share}}\"
STATE_HOME=\"${{XDG_STATE_HOME:-$HOME/.local/state}}\"
BIN=\"$DATA_HOME/sincronizado/bin/sinc\"
DIR=\"${{XDG_CONFIG_HOME:-$HOME/.config}}/systemd/user\"
mkdir -p \"$DIR\"
cat > \"$DIR/{SYSTEMD_UNIT}.tmp\" <<EOF
{unit}EOF
mv -f \"$DIR/{SYSTEMD_UNIT}.tmp\" \"$DIR/{SYSTEMD_UNIT}\"
systemctl --user daemon-reload
systemctl --user enable --now {SYSTEMD_UNIT}"
    )
}

/// How to install a known agent (as the user), if sinc knows how.
fn agent_installer(program: &str) -> Option<&'static str> {
    match program {
        "opencode" => Some("curl -fsSL https://opencode.ai/install | bash"),
        "claude" => Some("curl -fsSL https://claude.ai/install.sh | bash"),
        _ => None,
    }
}

/// The release URL for this version and the VPS's architecture.
pub fn release_url(template: &str, arch: &str) -> String {
    let arch = match arch {
        "amd64" | "x86_64" => "x86_64",
        "arm64" | "aarch64" => "aarch64",
        other => other,
    };
    template.replace("{version}", env!("CARGO_PKG_VERSION")).replace("{arch}", arch)
}

/// The title of the step that installs the agent.
pub fn agent_title(o: &Options) -> String {
    format!("install the agent `{}`", o.agent.0)
}

/// The steps, in order.
pub fn plan(facts: &VpsFacts, o: &Options) -> Vec<Step> {
    let mut steps = Vec::new();

    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !facts.has(p)).collect();
    let packages_title =
        format!("install {}", if missing.is_empty() { PACKAGES.join(" and ") } else { missing.join(" and ") });
    steps.push(match (missing.is_empty(), facts.family.install_command(&missing)) {
        (true, _) => Step {
            title: packages_title,
            action: Action::Root(String::new()),
            state: State::Skip("already installed".into()),
        },
        (false, Some(cmd)) => Step { title: packages_title, action: Action::Root(cmd), state: State::ToDo },
        (false, None) => Step {
            title: packages_title,
            action: Action::Root(String::new()),
            state: State::Impossible(format!(
                "sinc installs packages with apt, dnf or apk, not on {}: install {} yourself",
                facts.os_name(),
                missing.join(" and ")
            )),
        },
    });

    steps.push(Step {
        title: format!("create the workspace folder {}", o.remote_base),
        action: Action::User(format!("mkdir -p {}", quote::remote_path(&o.remote_base))),
        state: State::ToDo,
    });

    let same = crate::remote::install::same_platform(&facts.kernel, &facts.arch);
    let ours = crate::remote::install::version_line();
    let source = match &o.sinc_binary {
        Some(file) => SincSource::File(file.clone()),
        None if same => SincSource::ThisBinary,
        None => SincSource::Download(release_url(&o.release_url, &facts.arch)),
    };
    let sinc_state = if o.sinc_binary.is_none() && facts.sinc_version.as_deref() == Some(ours.as_str()) {
        State::Skip(format!("{ours} is installed"))
    } else {
        State::ToDo
    };
    steps.push(Step {
        title: format!("install {ours} ({} {})", facts.kernel, facts.arch),
        action: Action::InstallSinc(source),
        state: sinc_state,
    });

    let no_systemd = |why: &str| State::Skip(format!("{why}: the daemon starts on demand over SSH"));
    let unit_state = match (facts.systemd, o.systemd) {
        (false, _) => no_systemd("no systemd"),
        (true, false) => no_systemd("--no-systemd"),
        (true, true) => State::ToDo,
    };
    steps.push(Step {
        title: format!("run the daemon as the systemd user unit {SYSTEMD_UNIT}"),
        action: Action::User(unit_script()),
        state: unit_state.clone(),
    });
    steps.push(Step {
        title: format!("keep {}'s units running without a login (lingering)", facts.user),
        action: Action::Root(format!("loginctl enable-linger {}", quote::word(&facts.user))),
        state: match unit_state {
            State::ToDo if facts.linger => State::Skip("already on".into()),
            other => other,
        },
    });

    let program = &o.agent.1;
    let agent_title = agent_title(o);
    steps.push(match (program, &facts.agent_path) {
        (None, _) => Step {
            title: agent_title,
            action: Action::User(String::new()),
            state: State::Skip("a command line, not one program: not checked".into()),
        },
        (Some(p), Some(path)) => Step {
            title: agent_title,
            action: Action::User(String::new()),
            state: State::Skip(format!("`{p}` is on the PATH: {path}")),
        },
        (Some(p), None) if !o.install_agent => Step {
            title: agent_title,
            action: Action::User(String::new()),
            state: State::Skip(format!("`{p}` is not on the VPS's PATH; --install-agent installs it")),
        },
        (Some(p), None) => match agent_installer(p) {
            Some(cmd) => Step { title: agent_title, action: Action::User(cmd.into()), state: State::ToDo },
            None => Step {
                title: agent_title,
                action: Action::User(String::new()),
                state: State::Impossible(format!("sinc does not know how to install `{p}`; install it yourself")),
            },
        },
    });
    steps
}

/// The `--dry-run` text of a plan.
pub fn describe(steps: &[Step], facts: &VpsFacts) -> String {
    let mut out = format!(
        "VPS: {} ({} {}), user {}, {}\n",
        facts.os_name(),
        facts.kernel,
        facts.arch,
        facts.user,
        match facts.privilege {
            super::facts::Privilege::Root => "root",
            super::facts::Privilege::Sudo => "sudo without a password",
            super::facts::Privilege::SudoNeedsPassword => "sudo asks for a password",
            super::facts::Privilege::None => "no sudo",
        }
    );
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        match &step.state {
            State::Skip(why) => out.push_str(&format!("{n}. {}: skip ({why})\n", step.title)),
            State::Impossible(why) => out.push_str(&format!("{n}. {}: CANNOT ({why})\n", step.title)),
            State::ToDo => {
                let (tag, what) = match &step.action {
                    Action::Root(script) => ("[root] ", script.clone()),
                    Action::User(script) => ("", script.clone()),
                    Action::InstallSinc(SincSource::ThisBinary) => {
                        ("", "upload this sinc over SSH, check its sha256 and that it runs".into())
                    }
                    Action::InstallSinc(SincSource::File(f)) => {
                        ("", format!("upload {} over SSH, check its sha256 and that it runs", f.display()))
                    }
                    Action::InstallSinc(SincSource::Download(url)) => {
                        ("", format!("download {url} on the VPS, check it against {url}.sha256 and that it runs"))
                    }
                };
                out.push_str(&format!("{n}. {tag}{}\n", step.title));
                for line in what.lines() {
                    out.push_str(&format!("     {line}\n"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::facts::tests::{ALPINE, ARCH, DEBIAN, FEDORA, ROCKY, UBUNTU, sample as facts};
    use super::*;

    fn options() -> Options {
        Options {
            remote_base: "~/workspace".into(),
            agent: ("opencode".into(), Some("opencode".into())),
            install_agent: false,
            systemd: true,
            sinc_binary: None,
            release_url: crate::config::DEFAULT_RELEASE_URL.into(),
        }
    }

    #[test]
    fn each_family_gets_its_package_manager() {
        for (os, expected) in [
            (DEBIAN, "apt-get install -y -qq --no-install-recommends tmux git"),
            (UBUNTU, "apt-get install -y -qq --no-install-recommends tmux git"),
            (FEDORA, "dnf install -y -q tmux git"),
            (ROCKY, "dnf install -y -q tmux git"),
            (ALPINE, "apk add --no-cache tmux git"),
        ] {
            let steps = plan(&facts(os, &[], true), &options());
            assert!(matches!(&steps[0].action, Action::Root(c) if c.contains(expected)), "{os}: {:?}", steps[0]);
            assert_eq!(steps[0].state, State::ToDo);
        }
        let only_git = plan(&facts(DEBIAN, &["tmux"], true), &options());
        assert!(
            matches!(&only_git[0].action, Action::Root(c) if c.ends_with("install -y -qq --no-install-recommends git"))
        );
        let other = plan(&facts(ARCH, &[], true), &options());
        assert!(matches!(&other[0].state, State::Impossible(w) if w.contains("Arch Linux")));
        assert_eq!(other.iter().filter(|s| s.state.impossible().is_some()).count(), 1);
        let done = plan(&facts(ARCH, &["tmux", "git"], true), &options());
        assert!(done.iter().all(|s| s.state.impossible().is_none()), "nothing to install on an unknown OS is fine");
    }

    #[test]
    fn systemd_unit_and_lingering_only_where_systemd_runs() {
        let with = plan(&facts(DEBIAN, &["tmux", "git"], true), &options());
        assert_eq!(with[3].state, State::ToDo);
        assert!(
            matches!(&with[3].action, Action::User(s) if s.contains("systemctl --user enable --now sinc-daemon.service"))
        );
        assert!(matches!(&with[4].action, Action::Root(s) if s == "loginctl enable-linger dev"));
        let without = plan(&facts(DEBIAN, &["tmux", "git"], false), &options());
        assert!(matches!(&without[3].state, State::Skip(w) if w.contains("no systemd")));
        assert!(matches!(&without[4].state, State::Skip(_)));
        let text = unit_text("/home/dev/.local/share/sincronizado/bin/sinc", &[]);
        assert!(text.contains("ExecStart=/home/dev/.local/share/sincronizado/bin/sinc daemon\n"), "{text}");
        assert!(text.contains("WantedBy=default.target"));
    }

    #[test]
    fn another_platform_downloads_the_release() {
        let mut f = facts(DEBIAN, &["tmux", "git"], false);
        f.arch = "riscv64".into();
        let steps = plan(&f, &options());
        let Action::InstallSinc(SincSource::Download(url)) = &steps[2].action else { panic!("{:?}", steps[2]) };
        assert!(url.contains(env!("CARGO_PKG_VERSION")) && url.contains("riscv64"), "{url}");
        f.arch = std::env::consts::ARCH.into();
        f.sinc_version = Some(crate::remote::install::version_line());
        assert!(matches!(plan(&f, &options())[2].state, State::Skip(_)), "already installed");
    }

    #[test]
    fn the_agent_is_installed_only_when_asked() {
        let f = facts(DEBIAN, &["tmux", "git"], false);
        assert!(matches!(&plan(&f, &options())[5].state, State::Skip(w) if w.contains("--install-agent")));
        let asked = Options { install_agent: true, ..options() };
        assert!(matches!(&plan(&f, &asked)[5].action, Action::User(c) if c.contains("opencode.ai/install")));
        let custom = Options { install_agent: true, agent: ("my-bot --x".into(), Some("my-bot".into())), ..options() };
        assert!(matches!(&plan(&f, &custom)[5].state, State::Impossible(_)));
    }

    #[test]
    fn the_dry_run_marks_root_steps() {
        let text = describe(&plan(&facts(FEDORA, &[], true), &options()), &facts(FEDORA, &[], true));
        assert!(text.contains("Fedora Linux 40"), "{text}");
        assert!(text.contains("1. [root] install tmux and git\n     dnf install -y -q tmux git"), "{text}");
        assert!(text.contains("[root] keep dev's units running"), "{text}");
    }
}
