//! `sinc ssh [DESTINATION] [-- COMMAND]`: the resilient terminal without
//! sync or agent. The shell (or command) runs in a tmux session on the host,
//! so it outlives the network and this process; `-L`/`-R` forwards follow
//! the connection through reconnections. Without a terminal on stdin, a
//! command runs directly, as `ssh HOST COMMAND` would run it.

use super::args::SshArgs;
use super::context::{self, Context};
use super::output;
use crate::error::{Error, Result};
use crate::session::tmux::status;
use crate::session::{self, AttachEnd, AttachError, shell, terminal};
use crate::transport::{ConnectError, Forwarder, Link, RemoteStatus};

/// Run `sinc ssh`; returns the exit status.
pub async fn run(ctx: &Context, args: &SshArgs) -> Result<i32> {
    use std::io::IsTerminal;
    let command = (!args.command.is_empty()).then(|| args.command.join(" "));
    let interactive = std::io::stdin().is_terminal();
    if !interactive {
        if command.is_none() {
            return Err(Error::Usage(format!(
                "{} (give a command after `--` to run it without one)",
                AttachError::NotATerminal
            )));
        }
        if args.session.is_some() {
            return Err(Error::Usage("--session attaches a terminal, and stdin is not a TTY".into()));
        }
    }
    let name = shell::session_name(args.session.as_deref()).map_err(Error::Usage)?;
    let target = ctx.target_to(args.destination.as_deref(), &args.host)?;
    let destination = args.destination.clone().unwrap_or_else(|| target.alias.clone());
    // Listen first: a busy port fails before anything happens on the host.
    let forwarder = Forwarder::bind(&args.local, &args.remote).await.map_err(|e| Error::Failure(e.to_string()))?;
    let link = Link::new(target, ctx.connect_options(), None);
    link.connect_own().await?;
    let conn = link.own_connection().ok_or_else(|| Error::Failure("the connection vanished".into()))?;
    let remote = forwarder.follow(conn).await.map_err(|e| Error::Failure(e.to_string()))?;
    for (spec, address) in forwarder.local_addresses.iter().filter(|(spec, _)| spec.port == 0) {
        output::notice(ctx.global.quiet, &format!("Forwarding {address} to {}:{}", spec.host, spec.host_port));
    }
    for (spec, port) in remote.iter().filter(|(spec, _)| spec.port == 0) {
        output::notice(
            ctx.global.quiet,
            &format!("Allocated port {port} for remote forward to {}:{}", spec.host, spec.host_port),
        );
    }

    let code = match command {
        Some(command) if !interactive => {
            let status = link
                .run_streaming(&command, Some(tokio::io::stdin()), tokio::io::stdout(), tokio::io::stderr())
                .await?;
            status.exit_code()
        }
        command => attached(ctx, &link, &forwarder, &name, command.as_deref(), &destination).await?,
    };
    link.close().await;
    Ok(code)
}

/// Create or attach the tmux session and keep the terminal on it.
async fn attached(
    ctx: &Context,
    link: &Link,
    forwarder: &Forwarder,
    name: &str,
    command: Option<&str>,
    destination: &str,
) -> Result<i32> {
    let script = shell::create_and_attach_script(name, command, terminal::size(), &Context::client_name());
    let again = shell::attach_script(name);
    let follow = |next: &Link| {
        if let Some(conn) = next.own_connection() {
            forwarder.follow_in_background(conn);
        }
    };
    let reattach = session::Reattach { command: &again, give_up_after: ctx.give_up_after(), on_link: Some(&follow) };
    let host = &link.target().alias;
    let short = name.strip_prefix(shell::PREFIX).unwrap_or(name);
    Ok(match session::attach(link, &script, Some(reattach)).await? {
        AttachEnd::Exited(RemoteStatus::Exited(status::NO_TMUX)) => return Err(context::no_tmux(link, host).await),
        AttachEnd::Exited(status) => status.exit_code(),
        AttachEnd::EscapeDisconnect => {
            output::notice(
                ctx.global.quiet,
                &format!(
                    "\r\nDisconnected; {name} keeps running on {host}. `sinc ssh {destination} --session {short}` re-attaches."
                ),
            );
            0
        }
        AttachEnd::Signal(n) => 128 + n,
        AttachEnd::SessionEnded => {
            output::notice(ctx.global.quiet, &format!("\r\n{name} ended while the link was down."));
            0
        }
        AttachEnd::ConnectionLost => return Err(ConnectError::Lost { addr: link.target().describe() }.into()),
    })
}
