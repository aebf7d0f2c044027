//! The `sinc` binary: parse the command line, run it, exit with its status.

use clap::Parser;
use sinc::cli::{self, Cli, output};
use sinc::exit::ExitCode;
use std::io::Write;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let code = if e.use_stderr() { ExitCode::Usage.code() } else { ExitCode::Success.code() };
            std::process::exit(code);
        }
    };
    let background = matches!(
        cli.command,
        Some(cli::args::Command::Keeper { background: true })
            | Some(cli::args::Command::Daemon { background: true, .. })
    );
    init_tracing(cli.global.verbose, cli.global.quiet, background);
    if background {
        sinc::memory::limit_fragmentation();
        sinc::open_files::raise_limit();
    }
    let json = cli.global.json;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sinc: cannot start the async runtime: {e}");
            std::process::exit(ExitCode::Failure.code());
        }
    };
    let code = match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            output::error(&err, json);
            err.exit_code().code()
        }
    };
    sinc::session::terminal::restore();
    let _ = std::io::stdout().flush();
    // Exit without dropping the runtime: a blocking stdin read may still be
    // pending and would otherwise hold the process open.
    std::process::exit(code);
}

/// Diagnostics on stderr: warnings by default, more with `-v`. Background
/// processes (the keeper, the daemon) log to a file with timestamps.
fn init_tracing(verbose: u8, quiet: bool, background: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose, background) {
        (_, 0, true) => "sinc=info,warn",
        (true, _, false) => "error",
        (false, 0, false) => "warn",
        (_, 1, _) => "sinc=info,warn",
        (_, 2, _) => "sinc=debug,info",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("SINC_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // tungstenite traces whole handshakes, a plugin's credentials with
    // them: never below debug, whatever was asked.
    let filter = match "tungstenite=debug".parse() {
        Ok(cap) => filter.add_directive(cap),
        Err(_) => filter,
    };
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(verbose >= 2);
    let _ = if background { builder.with_ansi(false).try_init() } else { builder.without_time().try_init() };
}
