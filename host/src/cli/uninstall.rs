//! `sinc uninstall [--remote] [--purge-remote-files] [--purge-trash]`: every
//! question first (and the VPS reached, so an unreachable one changes
//! nothing), then the keepers stopped, the VPS's part, this machine's. The
//! plan is `crate::uninstall`'s.

use super::args::{GlobalArgs, UninstallArgs};
use super::context::Context;
use super::output;
use crate::error::{Error, Result};
use crate::keeper::control;
use crate::paths::Dirs;
use crate::session::Registry;
use crate::session::tmux;
use crate::transport::{Link, quote};
use crate::uninstall::{self, RemoteOutcome};
use std::path::PathBuf;

/// The VPS's part, as planned.
struct RemotePlan {
    link: Link,
    host: String,
    sessions: Vec<String>,
    projects: Vec<String>,
    purge: Vec<String>,
}

/// Run it.
pub async fn run(global: &GlobalArgs, args: &UninstallArgs) -> Result<i32> {
    let (dirs, ctx) = match Context::load(global) {
        Ok(ctx) => (ctx.dirs.clone(), Some(ctx)),
        // A broken config must not stand in the way of removing it.
        Err(e) if !args.remote => {
            output::warn(&format!("{e} (uninstalling anyway)"));
            (Dirs::from_env().map_err(|e| Error::Failure(e.to_string()))?, None)
        }
        Err(e) => return Err(e),
    };
    if !global.yes && (global.json || !std::io::IsTerminal::is_terminal(&std::io::stdin())) {
        return Err(Error::Usage("pass --yes to uninstall without a confirmation".into()));
    }
    let registry = Registry::new(&dirs.data);
    let records = registry.all();
    let projects: Vec<PathBuf> = records.iter().map(|r| r.local_path.clone()).collect();
    let keepers = running_keepers(&dirs).await;
    let mut plan = uninstall::local_plan(&dirs, args.purge_trash, &projects);

    let mut remote = match (&ctx, args.remote) {
        (Some(ctx), true) => Some(plan_remote(ctx, args, &records).await?),
        _ => None,
    };

    // Every question before anything changes.
    let yes = global.yes;
    let what = "uninstall";
    if let Some(r) = &mut remote {
        let sessions = if r.sessions.is_empty() { "no sessions".to_owned() } else { r.sessions.join(", ") };
        output::confirm(
            yes,
            &format!(
                "On {}: end the sessions ({sessions}), stop the sinc daemon, and remove its binary, state and caches (project folders stay).",
                r.host
            ),
            "Go ahead?",
            what,
        )?;
        if !r.purge.is_empty() {
            let listing: Vec<String> = r.purge.iter().map(|p| format!("  {p}")).collect();
            let delete = output::ask(
                yes,
                &format!(
                    "--purge-remote-files DELETES these project folders on {} and everything in them:\n{}",
                    r.host,
                    listing.join("\n")
                ),
                "Delete them?",
                what,
            )?;
            if !delete {
                r.purge.clear();
            }
        }
    }
    if !keepers.is_empty() {
        output::confirm(
            yes,
            &format!("The background sync of {} project(s) stops: {}.", keepers.len(), keepers.join(", ")),
            "Stop it?",
            what,
        )?;
    }
    let mut declined = Vec::new();
    plan.removals.retain(|r| {
        let keep_note = if r.except.is_empty() { String::new() } else { format!(" (except {})", r.except.join(", ")) };
        let asked = output::ask(yes, "", &format!("Remove {}{keep_note} — {}?", r.path.display(), r.what), what);
        match asked {
            Ok(true) => true,
            Ok(false) | Err(_) => {
                declined.push(r.path.clone());
                false
            }
        }
    });

    // The keepers stop first: left running, they would reconnect and bring
    // back on the VPS what is being removed there. (The VPS was reached
    // already: one that cannot be is exit 76 before anything changes.)
    let mut stopped = Vec::new();
    for id in &keepers {
        if crate::keeper::stop(&dirs, id).await {
            stopped.push(id.clone());
        } else {
            output::warn(&format!("the keeper of {id} did not confirm it stopped"));
        }
    }
    let remote_outcome = match &remote {
        Some(r) => Some(uninstall_remote(r, args.purge_trash).await?),
        None => None,
    };
    let mut removed = Vec::new();
    for r in &plan.removals {
        match uninstall::remove(r) {
            Ok(()) => removed.push(r.path.clone()),
            Err(e) => output::warn(&format!("could not remove {}: {e}", r.path.display())),
        }
    }
    report(global, &stopped, &removed, &plan.kept, &declined, remote.as_ref(), remote_outcome.as_ref());
    Ok(0)
}

/// Ids of the sessions whose keeper runs here.
async fn running_keepers(dirs: &Dirs) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(crate::keeper::KeeperPaths::all(dirs)) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for entry in entries.filter_map(std::result::Result::ok) {
        let id = entry.file_name().to_string_lossy().into_owned();
        if control::is_running(&crate::keeper::KeeperPaths::new(dirs, &id).socket).await {
            ids.push(id);
        }
    }
    ids.sort();
    ids
}

/// Reach the VPS (on a connection of our own: the keepers are about to go)
/// and list what is there.
async fn plan_remote(
    ctx: &Context,
    args: &UninstallArgs,
    records: &[crate::session::SessionRecord],
) -> Result<RemotePlan> {
    let host = ctx.host()?.to_owned();
    let link = Link::new(ctx.target()?, ctx.connect_options(), None);
    link.connect_own().await?;
    let sessions = super::list::sessions_if_tmux(ctx, &link).await?.unwrap_or_default();
    let mut projects: Vec<String> = sessions
        .iter()
        .filter_map(|s| s.remote_path.clone())
        .chain(records.iter().filter(|r| r.host == host).map(|r| r.remote_path.clone()))
        .filter(|p| !p.is_empty())
        .collect();
    projects.sort();
    projects.dedup();
    let purge = if args.purge_remote_files { projects.clone() } else { Vec::new() };
    Ok(RemotePlan { link, host, sessions: sessions.into_iter().map(|s| s.id).collect(), projects, purge })
}

async fn uninstall_remote(r: &RemotePlan, purge_trash: bool) -> Result<RemoteOutcome> {
    for id in &r.sessions {
        let out = r.link.run(&tmux::kill_script(id), b"").await?;
        if !out.status.success() {
            output::warn(&format!("could not end {id} on {}: {}", r.host, out.stderr_text()));
        }
    }
    let out = r.link.run(&uninstall::remote_script(&r.projects, &r.purge, purge_trash), b"").await?;
    r.link.close().await;
    if !out.status.success() {
        return Err(Error::Failure(format!("uninstalling on {} failed: {}", r.host, out.stderr_text())));
    }
    Ok(uninstall::parse_remote(&out.stdout_text()))
}

fn report(
    global: &GlobalArgs,
    stopped: &[String],
    removed: &[PathBuf],
    kept: &[uninstall::Kept],
    declined: &[PathBuf],
    remote: Option<&RemotePlan>,
    outcome: Option<&RemoteOutcome>,
) {
    if global.json {
        output::json(&serde_json::json!({
            "stopped": stopped,
            "removed": removed,
            "kept": kept.iter().map(|k| serde_json::json!({ "path": k.path, "why": k.why }))
                .chain(declined.iter().map(|p| serde_json::json!({ "path": p, "why": "declined" })))
                .collect::<Vec<_>>(),
            "remote": remote.zip(outcome).map(|(r, o)| serde_json::json!({
                "host": r.host,
                "sessions_ended": r.sessions,
                "daemon_stopped": o.daemon_stopped,
                "unit_removed": o.unit_removed,
                "removed": o.removed,
                "kept": o.kept.iter().map(|(p, why)| serde_json::json!({ "path": p, "why": why })).collect::<Vec<_>>(),
                "purged": o.purged,
            })),
        }));
        return;
    }
    if global.quiet {
        return;
    }
    let mut lines = Vec::new();
    if let (Some(r), Some(o)) = (remote, outcome) {
        lines.push(format!("On {}:", r.host));
        lines.extend(r.sessions.iter().map(|s| format!("  ended {s}")));
        if o.daemon_stopped {
            lines.push("  stopped the daemon".into());
        }
        if o.unit_removed {
            lines.push(format!("  removed the systemd unit {}", uninstall::SYSTEMD_UNIT));
        }
        lines.extend(o.removed.iter().map(|p| format!("  removed {}", quote::word(p))));
        lines.extend(o.purged.iter().map(|p| format!("  DELETED project folder {}", quote::word(p))));
        lines.extend(o.kept.iter().map(|(p, why)| format!("  kept {} ({why})", quote::word(p))));
        lines.extend(r.projects.iter().filter(|p| !r.purge.contains(p)).map(|p| format!("  kept project folder {p}")));
        lines.push("Here:".into());
    }
    lines.extend(stopped.iter().map(|s| format!("  stopped the background sync of {s}")));
    lines.extend(removed.iter().map(|p| format!("  removed {}", p.display())));
    lines.extend(kept.iter().map(|k| format!("  kept {} ({})", k.path.display(), k.why)));
    lines.extend(declined.iter().map(|p| format!("  kept {} (you said no)", p.display())));
    if let Ok(exe) = std::env::current_exe() {
        lines
            .push(format!("The sinc binary itself is {}; remove it with `cargo uninstall sinc` or rm.", exe.display()));
    }
    output::line(&lines.join("\n"));
}
