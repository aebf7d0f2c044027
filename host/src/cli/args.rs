//! The command line, declared with clap. Only parsing lives here.

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;
use std::path::PathBuf;

/// Edit locally, run AI coding agents on your VPS: a persistent remote tmux
/// session per project, reached over SSH.
///
/// Run `sinc` in a project folder to create or attach its session.
#[derive(Debug, Parser)]
#[command(name = "sinc", version, max_term_width = 100)]
pub struct Cli {
    /// What to do (default: create or attach the project's session).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Attach only: fail (exit 2) when the project has no session.
    #[arg(short = 'r', long = "reattach", conflicts_with_all = ["list", "kill"])]
    pub reattach: bool,

    /// Same as `sinc list`.
    #[arg(short = 'l', long = "list", conflicts_with = "kill")]
    pub list: bool,

    /// Same as `sinc kill ID`.
    #[arg(short = 'k', long = "kill", value_name = "ID")]
    pub kill: Option<String>,

    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// Answer yes to confirmations.
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// Use this config file instead of ~/.config/sincronizado/config.toml.
    #[arg(long, global = true, value_name = "FILE", env = "SINC_CONFIG")]
    pub config: Option<PathBuf>,

    /// Use this profile from the config file.
    #[arg(long, global = true, value_name = "NAME", env = "SINC_PROFILE")]
    pub profile: Option<String>,

    /// Trust and record the host key of a host never seen before.
    #[arg(long, global = true)]
    pub accept_new_host: bool,

    /// A session this command creates carries on from the last one of its
    /// folder (with the session-handoff plugin: its agent starts with the
    /// hand-off).
    #[arg(long = "continue", global = true)]
    pub continue_session: bool,
}

/// The plugin tiers (`sinc tier set`, `sinc setup --tier`).
pub const TIERS: [&str; 4] = ["minimal", "standard", "full", "custom"];

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything `sinc` does except attaching a terminal (for scripts); idempotent.
    Start(StartArgs),
    /// Run one command in the project's remote folder; arguments are passed word for word.
    Exec(ExecArgs),
    /// List the sessions on the VPS (projects' and `sinc ssh`'s).
    #[command(alias = "ls")]
    List {
        /// List those on this host instead (`[user@]host[:port]`).
        #[arg(long, value_name = "DESTINATION")]
        host: Option<String>,
    },
    /// A full-screen manager over every agent session on the VPSes: state,
    /// sync, conflicts; attach, start, end, filter.
    Sessions,
    /// End a session (remote files are kept). Accepts a unique prefix of the id.
    Kill {
        /// Session id or a unique prefix of it.
        id: String,
        /// End it on this host instead of the VPS (`[user@]host[:port]`).
        #[arg(long, value_name = "DESTINATION")]
        host: Option<String>,
    },
    /// A terminal on any host that survives the network and this process,
    /// kept in a tmux session there: a drop-in for `ssh HOST` without sync.
    Ssh(SshArgs),
    /// Open a plugin's web page: its port on the VPS, forwarded to this
    /// machine through the SSH connection until Ctrl-C.
    Open {
        /// The plugin.
        name: String,
        /// The local port (default: the plugin's own, or a free one when
        /// that is taken).
        #[arg(long)]
        port: Option<u16>,
        /// Print the address without starting a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Print the session id of a folder (default: the current one).
    Id {
        /// The folder.
        path: Option<PathBuf>,
    },
    /// Write the configuration (~/.config/sincronizado/config.toml).
    Setup(SetupArgs),
    /// Check everything sinc needs, here and on the VPS, one line per check
    /// with the fix; exit 1 when a check fails.
    Doctor,
    /// Prepare the VPS.
    Vps {
        /// What to do.
        #[command(subcommand)]
        command: VpsCommand,
    },
    /// Stop the background sync and remove sinc's configuration, state and
    /// caches from this machine (and with --remote from the VPS); project
    /// folders are kept.
    Uninstall(UninstallArgs),
    /// Inspect the configuration.
    Config {
        /// What to do.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: Shell,
    },
    /// The project's sync: state, pending changes, conflicts, last sync.
    Status,
    /// Sync now; return once both sides agree (exit 1 if they cannot).
    Flush {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Force local → remote: show what would be overwritten or deleted, then do it.
    Push,
    /// Force remote → local: show what would be overwritten or deleted, then do it.
    Pull,
    /// Stop applying changes (both sides keep journaling them).
    Pause,
    /// Apply changes again.
    Resume {
        /// Also proceed past a safety halt (mass delete, emptied folder).
        #[arg(long)]
        confirm: bool,
    },
    /// What conflicted (both versions are kept); `conflicts resolve` settles them.
    Conflicts {
        /// What to do (default: list).
        #[command(subcommand)]
        command: Option<ConflictsCommand>,
    },
    /// Bring back a version that sync overwrote or deleted.
    Restore(RestoreArgs),
    /// Plugin bundles: minimal, standard, full, or custom.
    Tier {
        /// What to do.
        #[command(subcommand)]
        command: TierCommand,
    },
    /// Install and manage plugins.
    Plugin {
        /// What to do.
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// A command a plugin adds (`sinc plugin list` shows them).
    #[command(external_subcommand)]
    External(Vec<String>),
    /// Run the background sync of the current project (started by `sinc`).
    #[command(hide = true)]
    Keeper {
        /// Detach from the terminal.
        #[arg(long)]
        background: bool,
    },
    /// Run the VPS daemon, or bridge stdin/stdout to it.
    #[command(hide = true)]
    Daemon {
        /// Connect stdin/stdout to the daemon (starting it if needed).
        #[arg(long, conflicts_with = "background")]
        bridge: bool,
        /// Detach from the terminal.
        #[arg(long)]
        background: bool,
        /// Stop the running daemon (its sessions keep running in tmux).
        #[arg(long, conflicts_with_all = ["bridge", "background"])]
        stop: bool,
    },
}

/// `sinc start`.
#[derive(Debug, Default, Args)]
pub struct StartArgs {
    /// Return without waiting for the first sync to finish.
    #[arg(long)]
    pub no_wait: bool,
}

/// `sinc plugin …`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install a plugin from the registry (`NAME` or `NAME@REQ`) or a
    /// component file (a local build), after showing what it may do;
    /// replaces an installed one of the same name.
    Add {
        /// `NAME[@REQ]`, or the path of a `.wasm` component.
        #[arg(value_name = "NAME[@REQ]|PATH")]
        source: String,
    },
    /// Add a component to a registry folder: its artifact, and a line in its
    /// index (a published version never changes).
    Publish {
        /// The `.wasm` component.
        path: PathBuf,
        /// The registry folder.
        #[arg(long, value_name = "DIR")]
        registry: PathBuf,
        /// A minisign signature of the component (`minisign -Sm FILE`
        /// writes `FILE.minisig`), recorded in its index line.
        #[arg(long, value_name = "MINISIG")]
        signature: Option<PathBuf>,
    },
    /// Move plugins from the registry to the newest version their request
    /// allows (all of them, or one).
    Update {
        /// Only this plugin.
        name: Option<String>,
    },
    /// What the registry offers (newest version of each), with descriptions.
    Search {
        /// Only plugins whose name or description contains this.
        term: Option<String>,
    },
    /// Write a new plugin crate (with this sinc's SDK) that builds and
    /// passes its test.
    New {
        /// The plugin's name (lowercase letters, digits, `-`).
        name: String,
        /// The folder to create (default: ./NAME).
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
    },
    /// The installed plugins.
    #[command(alias = "ls")]
    List,
    /// One plugin: version, source, commands and what it may do.
    Info {
        /// Its name.
        name: String,
    },
    /// Uninstall a plugin (its data is kept).
    #[command(alias = "rm")]
    Remove {
        /// Its name.
        name: String,
    },
    /// Let an installed plugin run again.
    Enable {
        /// Its name.
        name: String,
    },
    /// Keep an installed plugin from running.
    Disable {
        /// Its name.
        name: String,
    },
}

impl PluginCommand {
    /// Whether it may change which plugins are installed or enabled.
    pub fn changes_lockfile(&self) -> bool {
        matches!(
            self,
            PluginCommand::Add { .. }
                | PluginCommand::Update { .. }
                | PluginCommand::Remove { .. }
                | PluginCommand::Enable { .. }
                | PluginCommand::Disable { .. }
        )
    }
}

/// `sinc tier …`.
#[derive(Debug, Subcommand)]
pub enum TierCommand {
    /// The current tier, and which plugins came with it.
    Show,
    /// Install exactly a tier's plugins (plugins added by hand stay).
    Set {
        /// The tier.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(TIERS))]
        tier: String,
        /// With `custom`: also these plugins (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "NAMES")]
        with: Vec<String>,
        /// With `custom`: not these plugins (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "NAMES")]
        without: Vec<String>,
    },
}

/// Whether `name` is one of sinc's own commands (plugins cannot take them).
pub fn is_builtin_command(name: &str) -> bool {
    use clap::CommandFactory;
    Cli::command().get_subcommands().any(|c| c.get_name() == name || c.get_all_aliases().any(|a| a == name))
        || name == "help"
}

/// `sinc conflicts …`.
#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// Settle conflicts by keeping one version (or both).
    Resolve {
        /// The conflicted path (relative to the project).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        path: Option<String>,
        /// Every unresolved conflict.
        #[arg(long)]
        all: bool,
        /// Which version to keep.
        #[arg(long, value_enum)]
        keep: KeepArg,
    },
}

/// `--keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeepArg {
    /// The laptop's version.
    Local,
    /// The VPS's version.
    Remote,
    /// Both: the remote one is kept beside the local one as a conflict copy.
    Both,
}

/// `sinc restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The path (relative to the project).
    pub path: String,
    /// List the kept versions instead of restoring.
    #[arg(long)]
    pub list: bool,
    /// Which version (1: the newest; see --list).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub version: usize,
}

/// `sinc exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Do not forward stdin (like `ssh -n`).
    #[arg(short = 'n', long = "no-stdin")]
    pub no_stdin: bool,

    /// The command and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `sinc ssh`.
#[derive(Debug, Args)]
pub struct SshArgs {
    /// `[user@]host[:port]` or `ssh://…`; a Host alias from ~/.ssh/config
    /// works (default: the configured VPS).
    #[arg(value_name = "DESTINATION")]
    pub destination: Option<String>,

    /// How to reach it.
    #[command(flatten)]
    pub host: HostFlags,

    /// Forward a local port to one reachable from the host (repeatable).
    #[arg(short = 'L', value_name = "[BIND:]PORT:HOST:HOSTPORT")]
    pub local: Vec<crate::transport::ForwardSpec>,

    /// Forward a port on the host to one reachable from here (repeatable).
    #[arg(short = 'R', value_name = "[BIND:]PORT:HOST:HOSTPORT")]
    pub remote: Vec<crate::transport::ForwardSpec>,

    /// Attach this session (its id, or the name after `sinc-ssh-`),
    /// creating it if it does not exist; default: a new session.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,

    /// The command to run instead of a login shell (after `--`), as `ssh`
    /// runs it: the words joined by spaces, read by the remote shell.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// The flags `ssh` uses to say how to reach a host.
#[derive(Debug, Clone, Default, Args)]
pub struct HostFlags {
    /// Port to connect to.
    #[arg(short = 'p', value_name = "PORT")]
    pub port: Option<u16>,
    /// Private key to authenticate with.
    #[arg(short = 'i', value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// User to log in as.
    #[arg(short = 'l', value_name = "USER")]
    pub user: Option<String>,
    /// Jump hosts, comma-separated (`[user@]host[:port]`), replacing ProxyJump.
    #[arg(short = 'J', value_name = "JUMPS")]
    pub jump: Option<String>,
}

/// `sinc setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The VPS: a Host alias from ~/.ssh/config, a host name or an address.
    #[arg(long)]
    pub host: Option<String>,
    /// Remote user (default: from ~/.ssh/config, else your local user name).
    #[arg(long)]
    pub user: Option<String>,
    /// SSH port (default: from ~/.ssh/config, else 22).
    #[arg(long)]
    pub port: Option<i64>,
    /// Private key to use (default: from ~/.ssh/config, else the usual keys).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// The agent: `opencode`, `claude`, or any command line.
    #[arg(long, value_name = "AGENT")]
    pub agent: Option<String>,
    /// Remote folder under which projects are placed.
    #[arg(long, value_name = "PATH")]
    pub remote_base: Option<String>,
    /// A pattern added to `sync.ignore` (gitignore syntax; repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub ignore: Vec<String>,
    /// Generate ~/.ssh/sinc_ed25519 (unless it exists), use it, and install
    /// it on the VPS with a one-time password login.
    #[arg(long, conflicts_with = "key")]
    pub generate_key: bool,
    /// Install the key's public half on the VPS with a one-time password
    /// login (like ssh-copy-id), then check that the key alone gets in.
    #[arg(long)]
    pub install_key: bool,
    /// Apply a plugin tier after writing the config.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(TIERS))]
    pub tier: Option<String>,
    /// With `--tier custom`: a plugin to add (repeatable).
    #[arg(long, value_name = "NAME", requires = "tier")]
    pub plugin: Vec<String>,
    /// Then prepare the VPS (`sinc vps bootstrap`); `--yes` never implies it.
    #[arg(long)]
    pub bootstrap: bool,
    /// Then lock the VPS down (`sinc vps harden`); `--yes` never implies it.
    #[arg(long)]
    pub harden: bool,
}

/// `sinc vps …`.
#[derive(Debug, Subcommand)]
pub enum VpsCommand {
    /// Install what sinc needs on the VPS (tmux, git, the workspace folder,
    /// sinc itself, a systemd user unit for its daemon); idempotent.
    Bootstrap(BootstrapArgs),
    /// Lock the VPS down: sshd without passwords, a firewall that lets in
    /// only SSH, fail2ban, unattended security upgrades; every change that
    /// could lock you out is proven with a fresh login or rolled back.
    Harden(HardenArgs),
}

/// `sinc vps harden`.
#[derive(Debug, Default, Args)]
pub struct HardenArgs {
    /// Print the plan (it all needs root) without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave the firewall alone.
    #[arg(long)]
    pub no_firewall: bool,
    /// Leave sshd's settings alone.
    #[arg(long)]
    pub no_sshd: bool,
    /// Do not install fail2ban.
    #[arg(long)]
    pub no_fail2ban: bool,
    /// Do not turn on unattended security upgrades.
    #[arg(long)]
    pub no_upgrades: bool,
    /// Keep SSH open on every interface even when Tailscale is up on the VPS.
    #[arg(long)]
    pub public_ssh: bool,
    /// An extra line for sshd's settings (e.g. "AllowUsers dev"); repeatable.
    #[arg(long, value_name = "LINE")]
    pub sshd_option: Vec<String>,
}

/// `sinc vps bootstrap`.
#[derive(Debug, Default, Args)]
pub struct BootstrapArgs {
    /// Print the plan (and what needs root) without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Upload this sinc build instead (for a VPS of another OS or CPU).
    #[arg(long, value_name = "PATH")]
    pub sinc_binary: Option<PathBuf>,
    /// Install the agent if it is missing (OpenCode or Claude Code, with
    /// their official installers).
    #[arg(long)]
    pub install_agent: bool,
    /// Do not install the systemd user unit (the daemon then starts on
    /// demand over SSH, as it always can).
    #[arg(long)]
    pub no_systemd: bool,
}

/// `sinc uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Also end the sessions on the VPS, stop its daemon and remove its
    /// binary, systemd unit, state and caches.
    #[arg(long)]
    pub remote: bool,
    /// Also delete the projects' folders on the VPS (each is named and
    /// confirmed). Local project folders are never deleted.
    #[arg(long, requires = "remote")]
    pub purge_remote_files: bool,
    /// Also delete the sync trash (the previous versions `sinc restore`
    /// brings back), on each side uninstalled.
    #[arg(long)]
    pub purge_trash: bool,
}

/// `sinc config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the merged configuration and where each value came from.
    Show,
}
