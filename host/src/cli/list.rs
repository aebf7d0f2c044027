//! `sinc list` and `sinc kill`: the project sessions on the VPS.

use super::context::Context;
use super::output;
use crate::error::{Error, Result};
use crate::session::Registry;
use crate::session::tmux::{self, Match, RemoteSession};
use crate::transport::{Connection, quote};

/// Fetch the sinc sessions on the VPS, completed from the local records.
async fn sessions(ctx: &Context, conn: &Connection) -> Result<Vec<RemoteSession>> {
    let out = conn.run(&tmux::list_script(), b"").await?;
    if let crate::transport::RemoteStatus::Exited(code) = out.status
        && code != 0
    {
        return Err(match ctx.precondition_error(conn, code, &ctx.spec()).await {
            Some(e) => e,
            None => Error::Failure(format!("listing sessions failed: {}", out.stderr_text())),
        });
    }
    let registry = Registry::new(&ctx.dirs.data);
    let mut sessions = tmux::parse_list(&out.stdout_text());
    for s in &mut sessions {
        if let Some(record) = registry.load(&s.id) {
            s.local_path
                .get_or_insert_with(|| record.local_path.to_string_lossy().into_owned());
            s.remote_path.get_or_insert(record.remote_path);
            s.agent.get_or_insert(record.agent);
        }
    }
    Ok(sessions)
}

/// `sinc list`.
pub async fn run(ctx: &Context) -> Result<i32> {
    let conn = ctx.connect().await?;
    let sessions = sessions(ctx, &conn).await?;
    conn.disconnect().await;
    let current = ctx.spec().id.to_string();
    if ctx.global.json {
        let items: Vec<serde_json::Value> = sessions
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "local_path": s.local_path,
                    "remote_path": s.remote_path,
                    "agent": s.agent,
                    "attached_clients": s.attached,
                    "created": output::rfc3339(s.created),
                    "created_by": s.client,
                    "current_project": s.id == current,
                })
            })
            .collect();
        output::json(&serde_json::Value::Array(items));
        return Ok(0);
    }
    if sessions.is_empty() {
        output::notice(ctx.global.quiet, &format!("No sinc sessions on {}.", ctx.host()?));
        return Ok(0);
    }
    let dash = || "-".to_owned();
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                if s.id == current {
                    format!("{} *", s.id)
                } else {
                    s.id.clone()
                },
                s.local_path.clone().unwrap_or_else(dash),
                s.remote_path.clone().unwrap_or_else(dash),
                s.agent.clone().unwrap_or_else(dash),
                s.attached.to_string(),
                output::age(s.created),
            ]
        })
        .collect();
    anstream::print!(
        "{}",
        output::table(
            &["ID", "LOCAL PATH", "REMOTE PATH", "AGENT", "ATTACHED", "CREATED"],
            &rows
        )
    );
    Ok(0)
}

/// `sinc kill ID`.
pub async fn kill(ctx: &Context, wanted: &str) -> Result<i32> {
    let conn = ctx.connect().await?;
    let sessions = sessions(ctx, &conn).await?;
    let ids: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    let listing = || {
        if ids.is_empty() {
            "there are no sinc sessions".to_owned()
        } else {
            format!("sessions: {}", ids.join(", "))
        }
    };
    let id = match tmux::match_id(wanted, &ids) {
        Match::One(id) => id.to_owned(),
        Match::None => {
            return Err(Error::Failure(format!("no session matches `{wanted}`; {}", listing())));
        }
        Match::Ambiguous(hits) => {
            return Err(Error::Failure(format!(
                "`{wanted}` matches several sessions: {}; give more of the id",
                hits.join(", ")
            )));
        }
    };
    let out = conn.run(&tmux::kill_script(&id), b"").await?;
    conn.disconnect().await;
    if !out.status.success() {
        return Err(Error::Failure(format!("could not end {id}: {}", out.stderr_text())));
    }
    if let Err(e) = Registry::new(&ctx.dirs.data).remove(&id) {
        tracing::warn!("could not forget {id} locally: {e}");
    }
    let remote_path = sessions.iter().find(|s| s.id == id).and_then(|s| s.remote_path.clone());
    if ctx.global.json {
        output::json(&serde_json::json!({ "killed": id, "remote_path": remote_path }));
    } else if !ctx.global.quiet {
        let kept = remote_path
            .map(|p| format!("; remote files kept in {}", quote::word(&p)))
            .unwrap_or_default();
        output::line(&format!("ended {id}{kept}"));
    }
    Ok(0)
}
