//! The command-line interface: parsing (clap), dispatch, output and exit
//! codes. Thin: each command is a few calls into the library.

pub mod args;
mod context;
mod exec;
mod launch;
mod list;
pub mod output;
mod setup;
mod show;
mod start;

pub use args::Cli;
pub use context::Context;

use crate::error::Result;
use args::{Command, ConfigCommand};
use clap::CommandFactory;

/// Run a parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> Result<i32> {
    let global = cli.global.clone();
    let command = match (cli.command, cli.list, cli.kill) {
        (Some(c), _, _) => Some(c),
        (None, true, _) => Some(Command::List),
        (None, _, Some(id)) => Some(Command::Kill { id }),
        (None, false, None) => None,
    };
    match command {
        Some(Command::Id { path }) => show::id(&global, path.as_deref()),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "sinc", &mut std::io::stdout());
            Ok(0)
        }
        Some(Command::Setup(args)) => setup::run(&global, &args),
        Some(Command::Config {
            command: ConfigCommand::Show,
        }) => show::config(&Context::load(&global)?),
        Some(Command::Start) => start::run(&Context::load(&global)?).await,
        Some(Command::Exec(args)) => exec::run(&Context::load(&global)?, &args).await,
        Some(Command::List) => list::run(&Context::load(&global)?).await,
        Some(Command::Kill { id }) => list::kill(&Context::load(&global)?, &id).await,
        None => launch::run(&Context::load(&global)?, cli.reattach).await,
    }
}
