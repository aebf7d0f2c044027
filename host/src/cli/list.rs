//! `sinc list` and `sinc kill`: the sessions on the VPS (or another host):
//! projects' and `sinc ssh`'s.

use super::context::{self, Context};
use super::output;
use crate::error::{Error, Result};
use crate::session::Registry;
use crate::session::tmux::{self, Match, RemoteSession};
use crate::transport::{Link, quote};

/// Fetch the sinc sessions on the host, completed from the local records.
async fn sessions(ctx: &Context, link: &Link) -> Result<Vec<RemoteSession>> {
    match sessions_if_tmux(ctx, link).await? {
        Some(sessions) => Ok(sessions),
        None => Err(context::no_tmux(link, &link.target().alias).await),
    }
}

/// The sessions on the host, or `None` when it has no tmux.
pub(super) async fn sessions_if_tmux(ctx: &Context, link: &Link) -> Result<Option<Vec<RemoteSession>>> {
    let out = link.run(&tmux::list_script(), b"").await?;
    match out.status {
        crate::transport::RemoteStatus::Exited(0) => {}
        crate::transport::RemoteStatus::Exited(tmux::status::NO_TMUX) => return Ok(None),
        _ => return Err(Error::Failure(format!("listing sessions failed: {}", out.stderr_text()))),
    }
    let registry = Registry::new(&ctx.dirs.data);
    let mut sessions = tmux::parse_list(&out.stdout_text());
    for s in &mut sessions {
        if let Some(record) = registry.load(&s.id) {
            s.local_path.get_or_insert_with(|| record.local_path.to_string_lossy().into_owned());
            s.remote_path.get_or_insert(record.remote_path);
            s.agent.get_or_insert(record.agent);
        }
    }
    Ok(Some(sessions))
}

/// `sinc list [--host DESTINATION]`.
pub async fn run(ctx: &Context, host: Option<&str>) -> Result<i32> {
    let link = ctx.link_to(host)?;
    let sessions = sessions(ctx, &link).await?;
    link.close().await;
    let current = ctx.spec().id.to_string();
    let mut syncs = std::collections::HashMap::new();
    // Keepers sync projects with the VPS only.
    for s in sessions.iter().filter(|s| host.is_none() && !s.is_shell()) {
        let paths = crate::keeper::KeeperPaths::new(&ctx.dirs, &s.id);
        if let Some(report) = super::sync_cmds::keeper_status(&paths).await {
            syncs.insert(s.id.clone(), report);
        }
    }
    if ctx.global.json {
        let items: Vec<serde_json::Value> = sessions
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "kind": if s.is_shell() { "ssh" } else { "project" },
                    "local_path": s.local_path,
                    "remote_path": s.remote_path,
                    "agent": s.agent,
                    "attached_clients": s.attached,
                    "created": output::rfc3339(s.created),
                    "created_by": s.client,
                    "current_project": s.id == current,
                    "sync": syncs.get(&s.id).map(|r| super::sync_cmds::status_json(&s.id, Some(r))),
                })
            })
            .collect();
        output::json(&serde_json::Value::Array(items));
        return Ok(0);
    }
    if sessions.is_empty() {
        output::notice(ctx.global.quiet, &format!("No sinc sessions on {}.", link.target().alias));
        return Ok(0);
    }
    let dash = || "-".to_owned();
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                if s.id == current { format!("{} *", s.id) } else { s.id.clone() },
                s.local_path.clone().unwrap_or_else(dash),
                s.remote_path.clone().unwrap_or_else(dash),
                s.agent.clone().unwrap_or_else(dash),
                s.attached.to_string(),
                output::age(s.created),
                syncs.get(&s.id).map(|r| super::sync_cmds::summary(&r.sync)).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    anstream::print!(
        "{}",
        output::table(&["ID", "LOCAL PATH", "REMOTE PATH", "AGENT", "ATTACHED", "CREATED", "SYNC"], &rows)
    );
    Ok(0)
}

/// `sinc kill ID [--host DESTINATION]`.
pub async fn kill(ctx: &Context, wanted: &str, host: Option<&str>) -> Result<i32> {
    let link = ctx.link_to(host)?;
    let sessions = sessions(ctx, &link).await?;
    let ids: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    let listing = || {
        if ids.is_empty() { "there are no sinc sessions".to_owned() } else { format!("sessions: {}", ids.join(", ")) }
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
    end_tmux_session(&link, &id).await?;
    let project = host.is_none() && sessions.iter().any(|s| s.id == id && !s.is_shell());
    let s = sessions.iter().find(|s| s.id == id);
    let remote_path = s.and_then(|s| s.remote_path.clone());
    if project {
        let recorded = Registry::new(&ctx.dirs.data).load(&id);
        let session = crate::sync::wire::SessionRef {
            id: id.clone(),
            local_path: s
                .and_then(|s| s.local_path.clone())
                .or_else(|| recorded.as_ref().map(|r| r.local_path.to_string_lossy().into_owned())),
            remote_path: remote_path.clone().unwrap_or_default(),
            agent: s.and_then(|s| s.agent.clone()).unwrap_or_default(),
            created: s.map_or(0, |s| s.created),
        };
        wind_up(ctx, &link, session).await;
    } else if let Err(e) = Registry::new(&ctx.dirs.data).remove(&id) {
        tracing::warn!("could not forget {id} locally: {e}");
    }
    link.close().await;
    say_ended(ctx, &id, remote_path);
    Ok(0)
}

/// End the session of the project in `ctx` (a plugin's `end` follow-up,
/// e.g. `sinc task end`): its agent is stopped when it still runs, and the
/// rest is as `sinc kill` does — also when the session is gone already
/// (the agent exited while no keeper listened), so the local plugins hear
/// of its end.
pub async fn end_project(ctx: &Context) -> Result<i32> {
    let spec = ctx.spec();
    let id = spec.id.to_string();
    let link = ctx.link()?;
    let sessions = sessions(ctx, &link).await?;
    let running = sessions.iter().find(|s| s.id == id);
    if running.is_some() {
        end_tmux_session(&link, &id).await?;
    }
    // What the agent wrote last comes over before the end hooks see the
    // folder, also when the session ended while no keeper ran.
    if let Err(e) = super::sync_cmds::ensure_keeper(ctx, &link).await {
        output::warn(&format!("the sync could not start before the session's end: {e}"));
    }
    let session = crate::sync::wire::SessionRef {
        created: running.map_or(0, |s| s.created),
        ..crate::plugins::events::session(&spec)
    };
    let clean = wind_up(ctx, &link, session).await;
    link.close().await;
    say_ended(ctx, &id, Some(spec.remote_path));
    Ok(if clean { 0 } else { 1 })
}

/// Kill tmux session `id` on `link`'s host (the connection is closed when
/// that fails).
async fn end_tmux_session(link: &Link, id: &str) -> Result<()> {
    let out = link.run(&tmux::kill_script(id), b"").await?;
    if !out.status.success() {
        link.close().await;
        return Err(Error::Failure(format!("could not end {id}: {}", out.stderr_text())));
    }
    Ok(())
}

/// After a project's agent stopped: the local plugins hear of it and its
/// end hooks run (its sync flushed first), then its sync stops — the local
/// keeper and the daemon's watching — and the session is forgotten here.
/// Whether the end hooks all went well (what failed is shown).
async fn wind_up(ctx: &Context, link: &Link, session: crate::sync::wire::SessionRef) -> bool {
    let id = session.id.clone();
    let problems = super::plugin::ended(ctx, session).await.problems;
    for problem in &problems {
        output::warn(problem);
    }
    crate::keeper::stop(&ctx.dirs, &id).await;
    forget_remote(ctx, link, &id).await;
    if let Err(e) = Registry::new(&ctx.dirs.data).remove(&id) {
        tracing::warn!("could not forget {id} locally: {e}");
    }
    problems.is_empty()
}

fn say_ended(ctx: &Context, id: &str, remote_path: Option<String>) {
    if ctx.global.json {
        output::json(&serde_json::json!({ "killed": id, "remote_path": remote_path }));
    } else if !ctx.global.quiet {
        let kept = remote_path.map(|p| format!("; remote files kept in {}", quote::word(&p))).unwrap_or_default();
        output::line(&format!("ended {id}{kept}"));
    }
}

/// Tell the VPS daemon to stop serving `id` (when sinc is installed there).
async fn forget_remote(ctx: &Context, link: &Link, id: &str) {
    let Ok(local) = crate::remote::LocalBinary::current(&ctx.dirs.cache) else {
        return;
    };
    let Ok(installed) = crate::remote::ensure(link, &local, Box::new(|_| {})).await else {
        return;
    };
    let bridge = crate::keeper::bridge_command(installed.path());
    let opened = match link.open(&crate::transport::ChannelRequest::exec(&bridge)).await {
        Ok(channel) => crate::keeper::open_daemon(channel.into_stream(), std::future::pending()).await,
        Err(e) => Err(e.to_string()),
    };
    match opened {
        Ok((client, _)) => {
            let _ = client.call(crate::sync::wire::Request::Forget { session: id.to_owned() }).await;
        }
        Err(e) => tracing::debug!("could not reach the daemon: {e}"),
    }
}
