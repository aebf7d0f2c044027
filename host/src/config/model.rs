//! The resolved configuration: every value has been merged from its layers and
//! defaulted. Defaults are defined here and nowhere else.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::path::PathBuf;

/// The merged configuration a command runs with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Which VPS to reach.
    pub vps: VpsConfig,
    /// How the project folder is synced.
    pub sync: SyncConfig,
    /// The command run in the session's tmux window.
    pub agent: Agent,
    /// SSH transport settings.
    pub ssh: SshConfig,
    /// Each plugin's settings (`[plugins.NAME]`), handed to it as they are.
    pub plugins: std::collections::BTreeMap<String, toml::Table>,
    /// Where plugins are installed from: a folder, or an HTTPS URL.
    pub registry: String,
    /// The minisign public key registry artifacts must be signed with
    /// (none: signatures are not checked).
    pub registry_key: Option<String>,
    /// Secrets plugins may receive by name (`[secrets]`).
    pub secrets: std::collections::BTreeMap<String, Secret>,
    /// Extra patterns telling an agent's state from its screen
    /// (`[states.PROGRAM]`, `*` for every agent).
    pub states: std::collections::BTreeMap<String, StatePatterns>,
    /// The `sinc sessions` manager.
    pub sessions: SessionsConfig,
}

/// `[sessions]`: the `sinc sessions` manager.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SessionsConfig {
    /// A shell command run when a session's state changes, with
    /// `SINC_SESSION_ID`, `SINC_OLD_STATE`, `SINC_NEW_STATE`, `SINC_PROJECT`
    /// (and `SINC_HOST`) in its environment.
    pub on_state_change: Option<String>,
    /// More VPSes to list, besides `vps.host` and those of sessions started
    /// from this laptop.
    pub hosts: Vec<String>,
}

/// Regular expressions matched against the last lines of an agent's
/// screen, added to the built-in ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct StatePatterns {
    /// The agent asks the user something.
    pub waiting: Vec<String>,
    /// The agent is busy.
    pub working: Vec<String>,
}

/// A secret value: never printed, serialized or logged as itself.
#[derive(Clone, PartialEq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(hidden)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("(hidden)")
    }
}

/// The project's public registry, served from its repository.
pub const DEFAULT_REGISTRY: &str = "https://raw.githubusercontent.com/sincronizado/sinc/main/registry";

/// `[vps]`: values left unset come from `~/.ssh/config`, then OpenSSH's defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct VpsConfig {
    /// A `Host` alias from `~/.ssh/config` or a host name / address.
    pub host: Option<String>,
    /// Remote user name.
    pub user: Option<String>,
    /// SSH port.
    pub port: Option<Port>,
    /// Private key to authenticate with (tried before the ssh config's keys).
    pub identity_file: Option<PathBuf>,
    /// Where `sinc vps bootstrap` downloads a static sinc for a VPS of
    /// another platform (`{version}` and `{arch}` are filled in; the sha256
    /// is at the same URL plus `.sha256`).
    pub release_url: Option<String>,
}

/// The default of `vps.release_url`.
pub const DEFAULT_RELEASE_URL: &str =
    "https://github.com/sincronizado/sinc/releases/download/v{version}/sinc-{version}-{arch}-unknown-linux-musl";

/// `[sync]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncConfig {
    /// Sync direction and conflict policy.
    pub mode: SyncMode,
    /// Extra ignore patterns (gitignore syntax), added to the built-in ones.
    pub ignore: Vec<String>,
    /// Remote folder under which each project gets `<name>-<hash6>`.
    pub remote_base: String,
    /// An explicit remote folder for this project (usually set in `.sinc.toml`).
    pub remote_path: Option<String>,
    /// Whether `.gitignore` files also decide what is ignored.
    pub use_gitignore: bool,
    /// More deletions than this in one batch halt sync.
    pub max_delete: u32,
    /// Deleting more than this percentage of the files in one batch halts sync.
    pub max_delete_percent: Percent,
    /// Size bound of each side's trash, in MiB.
    pub trash_max_mb: u32,
    /// Trash items older than this many days are dropped.
    pub trash_max_days: u32,
    /// Minutes between full verification rescans (0: never).
    pub verify_minutes: u32,
}

/// `[ssh]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SshConfig {
    /// Seconds allowed for TCP connect and the SSH handshake.
    pub connect_timeout: Seconds,
    /// Seconds between keepalive probes on an idle connection.
    pub keepalive_interval: Seconds,
    /// Trust (and record) the key of a host never seen before without asking.
    pub accept_new_host: bool,
    /// Seconds an attached terminal keeps reconnecting after its link died
    /// before giving up (0: as long as the remote session exists).
    pub give_up_after: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            vps: VpsConfig::default(),
            sync: SyncConfig {
                mode: SyncMode::TwoWayResolved,
                ignore: Vec::new(),
                remote_base: DEFAULT_REMOTE_BASE.to_owned(),
                remote_path: None,
                use_gitignore: false,
                max_delete: 1000,
                max_delete_percent: Percent(50),
                trash_max_mb: 1024,
                trash_max_days: 30,
                verify_minutes: 60,
            },
            agent: Agent(DEFAULT_AGENT.to_owned()),
            ssh: SshConfig {
                connect_timeout: Seconds(10),
                keepalive_interval: Seconds(15),
                accept_new_host: false,
                give_up_after: 0,
            },
            plugins: std::collections::BTreeMap::new(),
            registry: DEFAULT_REGISTRY.to_owned(),
            registry_key: None,
            secrets: std::collections::BTreeMap::new(),
            states: std::collections::BTreeMap::new(),
            sessions: SessionsConfig::default(),
        }
    }
}

/// The default remote base folder (the original tool's `~/workspace`).
pub const DEFAULT_REMOTE_BASE: &str = "~/workspace";
/// The default agent.
pub const DEFAULT_AGENT: &str = "opencode";

/// How a project is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncMode {
    /// Two-way; on a conflict the local side wins and the remote loser is kept.
    TwoWayResolved,
    /// Two-way; conflicts are left untouched on both sides and reported.
    TwoWaySafe,
    /// One-way replica, local → remote.
    Push,
    /// One-way replica, remote → local.
    Pull,
    /// No sync: sessions only.
    None,
}

impl SyncMode {
    /// All modes with their config spelling.
    pub const ALL: [(SyncMode, &'static str); 5] = [
        (SyncMode::TwoWayResolved, "two-way-resolved"),
        (SyncMode::TwoWaySafe, "two-way-safe"),
        (SyncMode::Push, "push"),
        (SyncMode::Pull, "pull"),
        (SyncMode::None, "none"),
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(m, _)| *m == self).map(|(_, s)| *s).unwrap_or("two-way-resolved")
    }
}

/// The agent command line run in the session. `opencode` and `claude` are the
/// well-known agents; anything else is run as a shell command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Agent(String);

impl Agent {
    /// Validate an agent command line.
    pub fn new(line: &str) -> Result<Agent, String> {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Err("the agent command must not be empty".into());
        }
        if trimmed.contains('\n') || trimmed.contains('\0') {
            return Err("the agent command must be a single line".into());
        }
        Ok(Agent(trimmed.to_owned()))
    }

    /// The command line as written.
    pub fn command_line(&self) -> &str {
        &self.0
    }

    /// The program the command line runs (after any `VAR=value` prefixes), used
    /// to check that it is on the remote PATH. `None` when the line is not a
    /// plain command (shell syntax the check cannot follow).
    pub fn program(&self) -> Option<String> {
        let words = shlex::split(&self.0)?;
        words
            .into_iter()
            .find(|w| !is_env_assignment(w))
            .filter(|w| !w.contains(['$', '`', '(', ')', '|', '&', ';', '<', '>']))
    }
}

impl Agent {
    /// The command line that starts a well-known agent with `prompt` as
    /// its first message: OpenCode's `--prompt`, Claude Code's prompt
    /// argument. `None` for other agents (the prompt is typed into them
    /// once they start).
    pub fn with_initial_prompt(&self, prompt: &str) -> Option<String> {
        // One plain command only (a prompt appended to `a || b` would go to
        // `b`), and never a prompt that reads as an option.
        let plain = shlex::split(&self.0)?.iter().all(|w| !w.contains([';', '|', '&', '<', '>', '`', '$', '(', ')']));
        if !plain || prompt.starts_with('-') {
            return None;
        }
        let program = self.program()?;
        let name = program.rsplit('/').next().unwrap_or(&program);
        let quoted = crate::transport::quote::word(prompt);
        match name {
            "opencode" => Some(format!("{} --prompt {quoted}", self.0)),
            "claude" => Some(format!("{} {quoted}", self.0)),
            _ => None,
        }
    }
}

fn is_env_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Agent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Agent, D::Error> {
        let s = String::deserialize(d)?;
        Agent::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A whole number of seconds, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Seconds(pub u64);

impl Seconds {
    /// As a `Duration`.
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Seconds, D::Error> {
        let n = i64::deserialize(d)?;
        if !(1..=86_400).contains(&n) {
            return Err(serde::de::Error::custom(format!("expected a number of seconds from 1 to 86400, found {n}")));
        }
        Ok(Seconds(n.unsigned_abs()))
    }
}

/// A percentage, 1–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Percent(pub u8);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Percent, D::Error> {
        let n = i64::deserialize(d)?;
        match u8::try_from(n) {
            Ok(p) if (1..=100).contains(&p) => Ok(Percent(p)),
            _ => Err(serde::de::Error::custom(format!("expected a percentage from 1 to 100, found {n}"))),
        }
    }
}

/// A TCP port, 1–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Port, D::Error> {
        let n = i64::deserialize(d)?;
        match u16::try_from(n) {
            Ok(p) if p != 0 => Ok(Port(p)),
            _ => Err(serde::de::Error::custom(format!("expected a port number from 1 to 65535, found {n}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_program_skips_env_assignments() {
        let a = Agent::new("FOO=1 BAR=x claude --dangerously-skip-permissions").unwrap();
        assert_eq!(a.program().as_deref(), Some("claude"));
        assert_eq!(Agent::new("opencode").unwrap().program().as_deref(), Some("opencode"));
        assert_eq!(Agent::new("$HOME/bin/x").unwrap().program(), None);
        assert!(Agent::new("  ").is_err());
    }

    #[test]
    fn well_known_agents_take_a_first_prompt_as_an_argument() {
        let prompt = "carry on: it's in .sinc/handoff";
        assert_eq!(
            Agent::new("opencode").unwrap().with_initial_prompt(prompt).as_deref(),
            Some("opencode --prompt 'carry on: it'\\''s in .sinc/handoff'")
        );
        assert_eq!(
            Agent::new("FOO=1 /usr/local/bin/claude --verbose").unwrap().with_initial_prompt("go").as_deref(),
            Some("FOO=1 /usr/local/bin/claude --verbose go")
        );
        assert_eq!(Agent::new("aider").unwrap().with_initial_prompt(prompt), None);
        assert_eq!(Agent::new("$HOME/bin/opencode").unwrap().with_initial_prompt(prompt), None);
        assert_eq!(Agent::new("opencode || bash").unwrap().with_initial_prompt(prompt), None);
        assert_eq!(Agent::new("claude").unwrap().with_initial_prompt("--dangerous"), None);
    }

    #[test]
    fn modes_round_trip() {
        for (mode, name) in SyncMode::ALL {
            assert_eq!(mode.as_str(), name);
        }
    }
}
