//! `sinc start`: everything `sinc` does except attaching a terminal.

use super::context::Context;
use super::output;
use crate::error::{Error, Result};
use crate::progress;
use crate::remote::{self, Installed, LocalBinary};
use crate::session::{terminal, tmux};

/// Ensure the remote folder, binary and tmux session; idempotent.
pub async fn run(ctx: &Context) -> Result<i32> {
    let spec = ctx.spec();
    let conn = ctx.connect().await?;
    let script = tmux::start_script(&spec, terminal::size(), &Context::client_name());
    let create = conn.run(&script, b"");
    let install = async {
        let local = LocalBinary::current(&ctx.dirs.cache).map_err(remote::InstallError::from)?;
        let bar = progress::bytes_bar(
            local.size,
            "uploading sinc to the VPS",
            ctx.global.quiet || ctx.global.json,
        );
        let shown = bar.clone();
        let result = remote::ensure(&conn, &local, Box::new(move |n| shown.inc(n))).await;
        bar.finish_and_clear();
        result
    };
    let (created, installed) = tokio::join!(create, install);
    let out = created?;
    if !out.status.success() {
        let code = match out.status {
            crate::transport::RemoteStatus::Exited(c) => c,
            _ => 1,
        };
        return Err(match ctx.precondition_error(&conn, code, &spec).await {
            Some(e) => e,
            None => Error::Failure(format!("creating the session failed: {}", out.stderr_text())),
        });
    }
    let created = out.stdout_text().trim() == "created";
    ctx.remember_session(&spec);
    let binary = match &installed {
        Ok(i) => {
            serde_json::json!({ "path": i.path(), "uploaded": matches!(i, Installed::Uploaded { .. }) })
        }
        Err(e) => {
            if !ctx.global.json {
                output::warn(&e.to_string());
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
        }));
    } else if !ctx.global.quiet {
        let what = if created { "started" } else { "already running" };
        output::line(&format!(
            "{} {what} on {host} in {} (agent: {})",
            spec.id, spec.remote_path, spec.agent
        ));
        if let Ok(Installed::Uploaded { path, bytes }) = &installed {
            output::line(&format!(
                "installed sinc on the VPS: {path} ({:.1} MB)",
                *bytes as f64 / 1e6
            ));
        }
    }
    conn.disconnect().await;
    Ok(0)
}
