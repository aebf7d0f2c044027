//! `sinc start`: everything `sinc` does except attaching a terminal.

use super::context::Context;
use super::output;
use super::sync_cmds;
use crate::error::{Error, Result};
use crate::progress;
use crate::remote::{self, Installed, LocalBinary};
use crate::session::{terminal, tmux};
use crate::sync::wire::SessionChange;

/// Ensure the remote binary, the background sync (waiting for its first
/// pass unless `--no-wait`), and the tmux session; idempotent.
pub async fn run(ctx: &Context, args: &super::args::StartArgs) -> Result<i32> {
    let spec = ctx.spec();
    let link = ctx.link()?;
    let installed = async {
        let local = LocalBinary::current(&ctx.dirs.cache).map_err(remote::InstallError::from)?;
        let bar = progress::bytes_bar(local.size, "uploading sinc to the VPS", ctx.global.quiet || ctx.global.json);
        let shown = bar.clone();
        let result = remote::ensure(&link, &local, Box::new(move |n| shown.inc(n))).await;
        bar.finish_and_clear();
        result
    }
    .await;
    // Sync first, so the agent starts in a folder that has the project.
    let keeper = match &installed {
        Ok(_) => sync_cmds::ensure_keeper(ctx, &link).await?,
        Err(_) => None,
    };
    if let Some(paths) = &keeper
        && !args.no_wait
    {
        sync_cmds::wait_first_sync(ctx, paths).await?;
    }
    let extras = hooks(ctx, &link, &spec).await?;
    let out = link.run(&tmux::start_script(&spec, terminal::size(), &Context::client_name(), &extras), b"").await?;
    if !out.status.success() {
        let code = match out.status {
            crate::transport::RemoteStatus::Exited(c) => c,
            _ => 1,
        };
        return Err(match ctx.precondition_error(&link, code, &spec).await {
            Some(e) => e,
            None => Error::Failure(format!("creating the session failed: {}", out.stderr_text())),
        });
    }
    link.close().await;
    let created = out.stdout_text().trim() == "created";
    ctx.remember_session(&spec);
    if created {
        super::plugin::notify(ctx, SessionChange::Created, crate::plugins::events::session(&spec)).await;
    }
    let sync = match &keeper {
        Some(paths) => sync_cmds::keeper_status(paths).await.map(|r| sync_cmds::summary(&r.sync)),
        None => None,
    };
    let binary = match &installed {
        Ok(i) => serde_json::json!({ "path": i.path(), "uploaded": matches!(i, Installed::Uploaded { .. }) }),
        Err(e) => {
            if !ctx.global.json {
                output::warn(&format!("{e}; sessions work, sync needs it"));
            }
            serde_json::json!({ "error": e.to_string() })
        }
    };
    let host = ctx.host()?;
    if ctx.global.json {
        output::json(&serde_json::json!({
            "id": spec.id.to_string(),
            "created": created,
            "host": host,
            "local_path": spec.local_path,
            "remote_path": spec.remote_path,
            "agent": spec.agent.to_string(),
            "remote_binary": binary,
            "sync": sync,
        }));
    } else if !ctx.global.quiet {
        let what = if created { "started" } else { "already running" };
        output::line(&format!("{} {what} on {host} in {} (agent: {})", spec.id, spec.remote_path, spec.agent));
        if let Ok(Installed::Uploaded { path, bytes }) = &installed {
            output::line(&format!("installed sinc on the VPS: {path} ({:.1} MB)", *bytes as f64 / 1e6));
        }
        if let Some(s) = sync {
            output::line(&format!("sync: {s}"));
        }
    }
    Ok(0)
}

/// What the plugins' before-start hooks add, when the session does not
/// exist yet (and there are plugins to ask).
pub async fn hooks(
    ctx: &Context,
    link: &crate::transport::Link,
    spec: &crate::session::SessionSpec,
) -> Result<tmux::Extras> {
    if !super::plugin::any_enabled(ctx) {
        return Ok(tmux::Extras::default());
    }
    let probe = link.run(&tmux::exists_script(spec), b"").await?;
    if probe.status.success() {
        return Ok(tmux::Extras::default());
    }
    super::plugin::before_start(ctx, spec).await
}
