//! `sinc` and `sinc -r`: create-or-attach (or attach-only) the project's
//! remote tmux session on a PTY.

use super::context::Context;
use super::output;
use crate::error::{Error, Result};
use crate::plugins::events;
use crate::remote::{self, LocalBinary};
use crate::session::{self, AttachEnd, AttachError, terminal, tmux};
use crate::sync::wire::SessionChange;
use crate::transport::{ConnectError, RemoteStatus};

/// Attach the terminal to the project's session; create it first unless
/// `attach_only`.
pub async fn run(ctx: &Context, attach_only: bool) -> Result<i32> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(AttachError::NotATerminal.into());
    }
    let spec = ctx.spec();
    let link = ctx.link()?;
    if !attach_only {
        // The background sync starts now; attaching does not wait for it.
        match super::sync_cmds::ensure_keeper(ctx, &link).await {
            Ok(_) => {}
            Err(e @ Error::Connect(_)) => return Err(e),
            Err(e) => output::warn(&e.to_string()),
        }
    }
    let script = if attach_only {
        tmux::attach_script(&spec)
    } else {
        ctx.remember_session(&spec);
        let extras = super::start::hooks(ctx, &link, &spec).await?;
        tmux::create_and_attach_script(&spec, terminal::size(), &Context::client_name(), &extras)
    };
    // The keeper makes sure the VPS has this build each time it connects;
    // without sync, this command does, on a second channel while attaching.
    let keeper_installs = crate::keeper::core_mode(ctx.config().sync.mode).is_some();
    let install = async {
        if keeper_installs {
            return Ok(());
        }
        let local = LocalBinary::current(&ctx.dirs.cache).map_err(remote::InstallError::from)?;
        remote::ensure(&link, &local, Box::new(|_| {})).await.map(drop)
    };
    let again = tmux::attach_script(&spec);
    let reattach = session::Reattach { command: &again, give_up_after: ctx.give_up_after(), on_link: None };
    super::plugin::notify(ctx, SessionChange::Attached, events::session(&spec)).await;
    let (end, installed) = tokio::join!(session::attach(&link, &script, Some(reattach)), install);
    let end = end?;
    if let Err(e) = installed {
        output::warn(&e.to_string());
    }
    if super::plugin::wants_events(ctx) {
        let ended = match &end {
            AttachEnd::SessionEnded => Some(true),
            // tmux exits 0 both on a detach and when the agent ended.
            AttachEnd::Exited(RemoteStatus::Exited(0)) => {
                let probe = link.run(&tmux::exists_script(&spec), b"").await;
                Some(probe.is_ok_and(|o| o.status == RemoteStatus::Exited(tmux::status::NO_SESSION)))
            }
            AttachEnd::EscapeDisconnect | AttachEnd::Signal(_) => Some(false),
            AttachEnd::Exited(_) | AttachEnd::ConnectionLost => None,
        };
        match ended {
            Some(true) => {
                let ending = super::plugin::ended(ctx, events::session(&spec)).await;
                for problem in &ending.problems {
                    output::warn(problem);
                }
                if ending.ran {
                    crate::keeper::stop(&ctx.dirs, &spec.id.to_string()).await;
                }
            }
            Some(false) => super::plugin::notify(ctx, SessionChange::Detached, events::session(&spec)).await,
            None => {}
        }
    }
    let code = match end {
        AttachEnd::Exited(RemoteStatus::Exited(code)) => match ctx.precondition_error(&link, code, &spec).await {
            Some(err) => return Err(err),
            None => i32::try_from(code).unwrap_or(1),
        },
        AttachEnd::Exited(status) => status.exit_code(),
        AttachEnd::EscapeDisconnect => {
            output::notice(
                ctx.global.quiet,
                &format!("\r\nDisconnected; {} keeps running on {}. `sinc -r` re-attaches.", spec.id, ctx.host()?),
            );
            0
        }
        AttachEnd::Signal(n) => 128 + n,
        AttachEnd::SessionEnded => {
            output::notice(ctx.global.quiet, &format!("\r\n{} ended while the link was down.", spec.id));
            0
        }
        AttachEnd::ConnectionLost => {
            return Err(ConnectError::Lost { addr: link.target().describe() }.into());
        }
    };
    link.close().await;
    Ok(code)
}
