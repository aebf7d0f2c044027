//! The command-line interface: parsing (clap), dispatch, output and exit
//! codes. Thin: each command is a few calls into the library.

pub mod args;
mod context;
mod doctor;
mod exec;
mod follow_up;
mod launch;
mod list;
mod mcp;
mod open;
pub mod output;
pub mod plugin;
mod sessions;
mod setup;
mod setup_wizard;
mod show;
mod ssh;
mod start;
pub mod sync_cmds;
mod uninstall;
mod vps;

pub use args::Cli;
pub use context::Context;

use crate::error::{Error, Result};
use args::{Command, ConfigCommand};
use clap::CommandFactory;
use sinc_sync_core::Side;

/// Leave the terminal's session so closing it does not stop a background
/// process (its output already goes to a log file).
fn detach() {
    if let Err(e) = nix::unistd::setsid() {
        tracing::debug!("setsid: {e}");
    }
}

/// Run a parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> Result<i32> {
    let global = cli.global.clone();
    // (Global flags may come before a command; these three may not.)
    if cli.command.is_some() && (cli.reattach || cli.list || cli.kill.is_some()) {
        return Err(Error::Usage("-r, -l and -k cannot be combined with a command".into()));
    }
    let command = match (cli.command, cli.list, cli.kill) {
        (Some(c), _, _) => Some(c),
        (None, true, _) => Some(Command::List { host: None }),
        (None, _, Some(id)) => Some(Command::Kill { id, host: None }),
        (None, false, None) => None,
    };
    match command {
        Some(Command::Id { path }) => show::id(&global, path.as_deref()),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "sinc", &mut std::io::stdout());
            Ok(0)
        }
        Some(Command::Setup(args)) => setup::run(&global, &args).await,
        Some(Command::Doctor) => doctor::run(&global).await,
        Some(Command::Vps { command: args::VpsCommand::Bootstrap(args) }) => {
            vps::bootstrap(&Context::load(&global)?, &args).await
        }
        Some(Command::Vps { command: args::VpsCommand::Harden(args) }) => {
            vps::harden(&Context::load(&global)?, &args).await
        }
        Some(Command::Uninstall(args)) => uninstall::run(&global, &args).await,
        Some(Command::Config { command: ConfigCommand::Show }) => show::config(&Context::load(&global)?),
        Some(Command::Start(args)) => start::run(&Context::load(&global)?, &args).await,
        Some(Command::Exec(args)) => exec::run(&Context::load(&global)?, &args).await,
        Some(Command::List { host }) => list::run(&Context::load(&global)?, host.as_deref()).await,
        Some(Command::Kill { id, host }) => list::kill(&Context::load(&global)?, &id, host.as_deref()).await,
        Some(Command::Sessions) => sessions::run(&Context::load(&global)?).await,
        Some(Command::Ssh(args)) => ssh::run(&Context::load(&global)?, &args).await,
        Some(Command::Open { name, port, no_browser }) => {
            open::run(&Context::load(&global)?, &name, port, no_browser).await
        }
        Some(Command::Status) => sync_cmds::status(&Context::load(&global)?).await,
        Some(Command::Flush { timeout }) => sync_cmds::flush(&Context::load(&global)?, timeout).await,
        Some(Command::Push) => sync_cmds::force(&Context::load(&global)?, Side::Local).await,
        Some(Command::Pull) => sync_cmds::force(&Context::load(&global)?, Side::Remote).await,
        Some(Command::Pause) => sync_cmds::pause_resume(&Context::load(&global)?, true, false).await,
        Some(Command::Resume { confirm }) => sync_cmds::pause_resume(&Context::load(&global)?, false, confirm).await,
        Some(Command::Conflicts { command }) => sync_cmds::conflicts(&Context::load(&global)?, command.as_ref()).await,
        Some(Command::Restore(args)) => sync_cmds::restore(&Context::load(&global)?, &args).await,
        Some(Command::Plugin { command }) => {
            let ctx = Context::load(&global)?;
            let code = plugin::run(&ctx, &command)?;
            if command.changes_lockfile() {
                plugin::refresh_plugins(&ctx, true).await;
            }
            Ok(code)
        }
        Some(Command::Tier { command: args::TierCommand::Show }) => plugin::tier_show(&Context::load(&global)?),
        Some(Command::Tier { command: args::TierCommand::Set { tier, with, without } }) => {
            let ctx = Context::load(&global)?;
            let code = plugin::tier_set(&ctx, &tier, &with, &without)?;
            plugin::refresh_plugins(&ctx, true).await;
            Ok(code)
        }
        Some(Command::External(words)) => plugin::external(&Context::load(&global)?, &words).await,
        Some(Command::Keeper { background }) => {
            if background {
                detach();
            }
            crate::keeper::run(&Context::load(&global)?).await
        }
        Some(Command::Daemon { bridge, background, stop }) => {
            let paths = crate::remote::daemon::DaemonPaths::from_env()
                .map_err(|e| crate::error::Error::Failure(e.to_string()))?;
            if stop {
                let stopped = crate::remote::daemon::stop(&paths)
                    .await
                    .map_err(|e| crate::error::Error::Failure(format!("daemon: {e}")))?;
                output::notice(global.quiet, if stopped { "daemon stopped" } else { "no daemon was running" });
                return Ok(0);
            }
            if background {
                detach();
            }
            let result = if bridge {
                crate::remote::daemon::bridge(&paths).await
            } else {
                crate::remote::daemon::run(&paths).await
            };
            result.map(|_| 0).map_err(|e| crate::error::Error::Failure(format!("daemon: {e}")))
        }
        None => launch::run(&Context::load(&global)?, cli.reattach).await,
    }
}
