//! The sync commands: `status`, `flush`, `push`, `pull`, `pause`, `resume`,
//! `conflicts`, `restore`. They talk to the project's keeper over its control
//! socket; `sinc` and `sinc start` start the keeper.

use super::args::{ConflictsCommand, KeepArg, RestoreArgs};
use super::context::Context;
use super::output;
use crate::error::{Error, Result};
use crate::keeper::control::{self, ControlError, ControlRequest, ControlResponse};
use crate::keeper::link::LinkStatus;
use crate::keeper::plugin_roots::{Carried, RootReport};
use crate::keeper::{KeeperPaths, core_mode};
use crate::sync::syncer::{Keep, Progress, SyncState, SyncStatus, trash_reason};
use crate::transport::Link;
use sinc_sync_core::{Resolution, Side};
use std::io::IsTerminal;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::time::Duration;

/// The keeper paths of the current project.
pub fn keeper_paths(ctx: &Context) -> KeeperPaths {
    KeeperPaths::new(&ctx.dirs, &ctx.spec().id.to_string())
}

/// Start the project's keeper unless it runs (or sync is off). Returns its
/// paths when sync is on.
pub async fn ensure_keeper(ctx: &Context, link: &Link) -> Result<Option<KeeperPaths>> {
    if core_mode(ctx.config().sync.mode).is_none() {
        return Ok(None);
    }
    let paths = keeper_paths(ctx);
    wait_for_ending_keeper(&paths).await;
    if control::is_running(&paths.socket).await {
        // Plugins added since it started go to the VPS now.
        super::plugin::refresh_plugins(ctx, false).await;
        return Ok(Some(paths));
    }
    // A VPS this command cannot reach gets no keeper retrying it forever.
    link.connect_own().await?;
    // Only this user may reach the keeper's sockets (the relay runs commands).
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&paths.dir)
        .and_then(|()| std::fs::set_permissions(&paths.dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| Error::Failure(format!("cannot create {}: {e}", paths.dir.display())))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log)
        .map_err(|e| Error::Failure(format!("cannot open {}: {e}", paths.log.display())))?;
    let exe = std::env::current_exe().map_err(|e| Error::Failure(format!("cannot find the sinc executable: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["keeper", "--background"]);
    if let Some(c) = &ctx.global.config {
        cmd.arg("--config").arg(c);
    }
    if let Some(p) = &ctx.global.profile {
        cmd.arg("--profile").arg(p);
    }
    let err = log.try_clone().map_err(|e| Error::Failure(e.to_string()))?;
    cmd.current_dir(&ctx.project_dir).stdin(std::process::Stdio::null()).stdout(log).stderr(err);
    let mut keeper = cmd.spawn().map_err(|e| Error::Failure(format!("cannot start the background sync: {e}")))?;
    // The keeper answers once its opening scan is done (milliseconds for a
    // small project): look often, for as long as it runs, up to a limit.
    let deadline = tokio::time::Instant::now() + KEEPER_START;
    while tokio::time::Instant::now() < deadline {
        if control::is_running(&paths.socket).await {
            return Ok(Some(paths));
        }
        if keeper.try_wait().is_ok_and(|status| status.is_some()) && !control::is_running(&paths.socket).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(Error::Failure(format!("the background sync did not start; see {}", paths.log.display())))
}

/// How long a starting keeper may take to answer (its opening scan of a
/// very large tree), unless it ends first.
const KEEPER_START: Duration = Duration::from_secs(120);

/// How long a keeper whose session ended may take to finish the end's
/// hooks before it is stopped to make way for the next session's.
const ENDING_WAIT: Duration = Duration::from_secs(120);

/// When the keeper at `paths` belongs to a session that ended (its end
/// hooks still run), wait for it to stop — stopping it after
/// [`ENDING_WAIT`] — so the next session gets a keeper of its own.
async fn wait_for_ending_keeper(paths: &KeeperPaths) {
    if !keeper_status(paths).await.is_some_and(|r| r.ending) {
        return;
    }
    output::line("waiting for the end of the folder's last session to finish…");
    let started = std::time::Instant::now();
    while control::is_running(&paths.socket).await {
        if started.elapsed() > ENDING_WAIT {
            let _ = control::request(&paths.socket, &ControlRequest::Stop).await;
            for _ in 0..100 {
                if !control::is_running(&paths.socket).await {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ask(paths: &KeeperPaths, req: ControlRequest) -> Result<ControlResponse> {
    match control::request(&paths.socket, &req).await {
        Ok(ControlResponse::Error { message }) => Err(Error::Failure(message)),
        Ok(r) => Ok(r),
        Err(ControlError::NotRunning) => {
            Err(Error::Failure("sync is not running for this project; `sinc start` starts it".into()))
        }
        Err(e) => Err(Error::Failure(e.to_string())),
    }
}

/// What a running keeper reports.
#[derive(Debug, Clone)]
pub struct KeeperReport {
    /// Its process id.
    pub pid: u32,
    /// The sync.
    pub sync: SyncStatus,
    /// Its connection to the VPS.
    pub link: LinkStatus,
    /// The folders plugins keep in sync beside the project.
    pub folders: Vec<RootReport>,
    /// Whether its session ended and it stops once the end hooks ran.
    pub ending: bool,
}

/// Ask the keeper at `paths` how things are; `None` when none runs.
pub async fn keeper_status(paths: &KeeperPaths) -> Option<KeeperReport> {
    match control::request(&paths.socket, &ControlRequest::Status).await {
        Ok(ControlResponse::Status { pid, status, link, folders, ending, .. }) => {
            Some(KeeperReport { pid, sync: *status, link, folders, ending })
        }
        _ => None,
    }
}

/// The link line of `sinc status`.
fn link_text(link: &LinkStatus) -> String {
    let mut text = match (link.connected, link.since) {
        (true, Some(t)) => format!("connected since {}", output::age(t)),
        (false, Some(t)) => format!("down since {}", output::age(t)),
        _ => "not connected yet".to_owned(),
    };
    if let Some(us) = link.rtt_us {
        text += &format!(", round trip {:.1} ms", us as f64 / 1000.0);
    }
    if link.reconnects > 0 {
        let last = link.last_reconnect.map(|t| format!(", last {}", output::age(t))).unwrap_or_default();
        text += &format!(", {} reconnects{last}, {} s down in all", link.reconnects, link.down_secs);
    }
    text
}

/// One line describing a sync state, for listings.
pub fn summary(status: &SyncStatus) -> String {
    status.summary()
}

/// The status as JSON (stable field names).
pub fn status_json(id: &str, running: Option<&KeeperReport>) -> serde_json::Value {
    match running {
        None => serde_json::json!({ "id": id, "running": false, "state": "stopped" }),
        Some(KeeperReport { pid, sync: st, link, folders, ending }) => serde_json::json!({
            "id": id,
            "running": true,
            "pid": pid,
            "ending": ending,
            "link": {
                "connected": link.connected,
                "since": link.since.map(output::rfc3339),
                "rtt_ms": link.rtt_us.map(|us| us as f64 / 1000.0),
                "reconnects": link.reconnects,
                "last_reconnect": link.last_reconnect.map(output::rfc3339),
                "down_secs": link.down_secs,
            },
            "state": st.state.name(),
            "halted": st.halted,
            "progress": st.progress,
            "pending": st.pending,
            "conflicts": st.conflicts,
            "problems": st.problems,
            "warnings": st.warnings,
            "last_sync": st.last_sync.map(output::rfc3339),
            "first_sync_done": st.first_sync_done,
            "last_error": st.last_error,
            "remote_root": st.remote_root,
            "applied": st.applied,
            "folders": folders.iter().map(folder_json).collect::<Vec<_>>(),
        }),
    }
}

/// A plugin's sync folder as JSON.
fn folder_json(f: &RootReport) -> serde_json::Value {
    let (here, state, reason, status) = match &f.carried {
        Carried::Here { status } => (true, status.state.name(), None, Some(status)),
        Carried::Elsewhere => (false, "elsewhere", None, None),
        Carried::Not { reason } => (false, "not-synced", Some(reason), None),
    };
    serde_json::json!({
        "plugin": f.plugin,
        "name": f.name,
        "path": f.path,
        "here": here,
        "state": state,
        "reason": reason,
        "halted": status.and_then(|s| s.halted.clone()),
        "pending": status.map(|s| s.pending),
        "applied": status.map(|s| s.applied),
        "last_sync": status.and_then(|s| s.last_sync).map(output::rfc3339),
        "last_error": status.and_then(|s| s.last_error.clone()),
        "problems": status.map(|s| s.problems.clone()).unwrap_or_default(),
    })
}

/// The line `sinc status` shows for a plugin's sync folder.
fn folder_text(f: &RootReport) -> String {
    let how = match &f.carried {
        Carried::Here { status } if status.halted.is_some() => {
            format!("{} — check both folders, then `sinc resume --confirm`", status.summary())
        }
        Carried::Here { status } => status.summary(),
        Carried::Elsewhere => "carried by another project's keeper".to_owned(),
        Carried::Not { reason } => format!("not synced: {reason}"),
    };
    format!("  folder  {} ({}): {how}", f.path, f.plugin)
}

/// `sinc status`.
pub async fn status(ctx: &Context) -> Result<i32> {
    let id = ctx.spec().id.to_string();
    let paths = keeper_paths(ctx);
    let found = keeper_status(&paths).await;
    if ctx.global.json {
        output::json(&status_json(&id, found.as_ref()));
        return Ok(0);
    }
    let Some(KeeperReport { pid, sync: st, link, folders, ending }) = found else {
        let why = if core_mode(ctx.config().sync.mode).is_none() {
            "sync.mode is none"
        } else {
            "start it with `sinc` or `sinc start`"
        };
        output::line(&format!("{id}: sync is not running ({why})"));
        return Ok(0);
    };
    let since = st.last_sync.map(|t| format!(" (last sync {})", output::age(t))).unwrap_or_default();
    let ending = if ending { " — the session ended; it stops once the end hooks ran" } else { "" };
    output::line(&format!("{id}: {}{since}{ending}", st.state.name()));
    output::line(&format!("  local   {}", ctx.project_dir.display()));
    let host = ctx.host().unwrap_or("the VPS");
    output::line(&format!("  remote  {host}:{}", st.remote_root.clone().unwrap_or_else(|| ctx.spec().remote_path)));
    output::line(&format!(
        "  pending {}, conflicts {}, applied {}, keeper pid {pid}",
        st.pending, st.conflicts, st.applied
    ));
    output::line(&format!("  link    {}", link_text(&link)));
    if let Some(p) = &st.progress {
        output::line(&format!("  progress {}", progress_text(p)));
    }
    if let Some(h) = &st.halted {
        output::line(&format!("  halted: {h} — check both folders, then `sinc resume --confirm`"));
    }
    if let Some(e) = &st.last_error {
        output::line(&format!("  last error: {e}"));
    }
    for p in &st.problems {
        output::line(&format!("  problem: {p}"));
    }
    for w in &st.warnings {
        output::line(&format!("  warning: {w}"));
    }
    for f in &folders {
        output::line(&folder_text(f));
    }
    Ok(0)
}

fn progress_text(p: &Progress) -> String {
    format!("{}/{} changes, {:.1}/{:.1} MB", p.done, p.total, p.bytes_done as f64 / 1e6, p.bytes_total as f64 / 1e6)
}

/// Show the keeper's progress until `until` completes.
async fn with_progress<T>(paths: &KeeperPaths, hidden: bool, until: impl std::future::Future<Output = T>) -> T {
    let bar = crate::progress::bytes_bar(0, "syncing", hidden);
    tokio::pin!(until);
    loop {
        tokio::select! {
            r = &mut until => {
                bar.finish_and_clear();
                return r;
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if let Some(KeeperReport { sync: st, .. }) = keeper_status(paths).await {
                    match &st.progress {
                        Some(p) => {
                            bar.set_length(p.bytes_total.max(1));
                            bar.set_position(p.bytes_done);
                            bar.set_message(format!("{} {}/{}", st.state.name(), p.done, p.total));
                        }
                        None => bar.set_message(st.state.name().to_owned()),
                    }
                }
            }
        }
    }
}

/// Wait for the keeper's first full sync (used by `sinc start`).
pub async fn wait_first_sync(ctx: &Context, paths: &KeeperPaths) -> Result<()> {
    let hidden = ctx.global.quiet || ctx.global.json;
    let started = std::time::Instant::now();
    let wait = async {
        loop {
            if let Some(KeeperReport { sync: st, .. }) = keeper_status(paths).await {
                if st.first_sync_done && st.state == SyncState::Watching {
                    return Ok(());
                }
                if let Some(h) = st.halted {
                    return Err(Error::Failure(format!(
                        "sync halted: {h}; check both folders, then `sinc resume --confirm`"
                    )));
                }
                if st.state == SyncState::Disconnected && started.elapsed() > Duration::from_secs(15) {
                    let why = st.last_error.unwrap_or_default();
                    return Err(Error::Failure(format!(
                        "the background sync cannot reach the VPS: {why} (it keeps retrying; see `sinc status`)"
                    )));
                }
            } else if started.elapsed() > Duration::from_secs(10) {
                return Err(Error::Failure(format!("the background sync stopped; see {}", paths.log.display())));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    with_progress(paths, hidden, wait).await
}

/// `sinc flush`.
pub async fn flush(ctx: &Context, timeout: u64) -> Result<i32> {
    let paths = keeper_paths(ctx);
    let hidden = ctx.global.quiet || ctx.global.json || !std::io::stderr().is_terminal();
    let flush = tokio::time::timeout(Duration::from_secs(timeout), ask(&paths, ControlRequest::Flush));
    match with_progress(&paths, hidden, flush).await {
        Ok(Ok(_)) => {
            if ctx.global.json {
                let report = keeper_status(&paths).await;
                output::json(&status_json(&ctx.spec().id.to_string(), report.as_ref()));
            } else {
                output::notice(ctx.global.quiet, "in sync");
            }
            Ok(0)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Failure(format!("not in sync after {timeout}s; see `sinc status`"))),
    }
}

/// `sinc push` / `sinc pull`.
pub async fn force(ctx: &Context, winner: Side) -> Result<i32> {
    let verb = if winner == Side::Local { "push" } else { "pull" };
    if ctx.global.json && !ctx.global.yes {
        return Err(Error::Usage(format!("`sinc {verb} --json` needs --yes (there is no one to confirm)")));
    }
    let link = ctx.link()?;
    let paths = ensure_keeper(ctx, &link).await?.ok_or_else(|| Error::Usage("sync.mode is none".into()))?;
    let ControlResponse::Plan { plan } = ask(&paths, ControlRequest::Plan { winner }).await? else {
        return Err(Error::Failure("unexpected answer from the keeper".into()));
    };
    let target = if plan.target == Side::Remote {
        format!("{} (remote)", ctx.host().unwrap_or("the VPS"))
    } else {
        "this laptop".into()
    };
    let total = plan.created.len() + plan.overwritten.len() + plan.deleted.len();
    if !ctx.global.json {
        output::line(&format!(
            "sinc {verb}: on {target}, {} created, {} overwritten, {} deleted ({:.1} MB to send); overwritten and deleted files go to the trash (`sinc restore`).",
            plan.created.len(),
            plan.overwritten.len(),
            plan.deleted.len(),
            plan.bytes as f64 / 1e6
        ));
        for (label, list) in [("overwrite", &plan.overwritten), ("delete", &plan.deleted), ("create", &plan.created)] {
            for p in list.iter().take(20) {
                output::line(&format!("  {label}  {p}"));
            }
            if list.len() > 20 {
                output::line(&format!("  … and {} more to {label}", list.len() - 20));
            }
        }
    }
    if total == 0 {
        if ctx.global.json {
            output::json(&serde_json::json!({ "applied": 0, "plan": plan }));
        } else {
            output::line("nothing to do: both sides already match");
        }
        return Ok(0);
    }
    output::confirm(ctx.global.yes, "", &format!("Proceed with the {verb}?"), verb)?;
    let ControlResponse::Applied { count } = ask(&paths, ControlRequest::Apply { id: plan.id }).await? else {
        return Err(Error::Failure("unexpected answer from the keeper".into()));
    };
    if ctx.global.json {
        output::json(&serde_json::json!({ "applied": count, "plan": plan }));
    } else {
        output::notice(ctx.global.quiet, &format!("{verb}: {count} changes applied"));
    }
    Ok(if count < total { 1 } else { 0 })
}

/// `sinc pause` / `sinc resume`.
pub async fn pause_resume(ctx: &Context, pause: bool, confirm: bool) -> Result<i32> {
    let paths = keeper_paths(ctx);
    let req = if pause { ControlRequest::Pause } else { ControlRequest::Resume { confirm } };
    ask(&paths, req).await?;
    output::notice(ctx.global.quiet, if pause { "sync paused (changes keep being journaled)" } else { "sync resumed" });
    Ok(0)
}

/// A path argument as the keeper wants it: relative to the project.
fn project_relative(ctx: &Context, path: &str) -> Result<String> {
    let p = std::path::Path::new(path);
    let rel = if p.is_absolute() {
        p.strip_prefix(&ctx.project_dir)
            .map_err(|_| Error::Usage(format!("{path} is not inside this project ({})", ctx.project_dir.display())))?
            .to_string_lossy()
            .into_owned()
    } else {
        path.trim_start_matches("./").to_owned()
    };
    if rel.is_empty() || rel.split('/').any(|c| c == "..") {
        return Err(Error::Usage(format!("{path} is not a path inside the project")));
    }
    Ok(rel.trim_end_matches('/').to_owned())
}

/// `sinc conflicts [resolve …]`.
pub async fn conflicts(ctx: &Context, command: Option<&ConflictsCommand>) -> Result<i32> {
    let paths = keeper_paths(ctx);
    if let Some(ConflictsCommand::Resolve { path, all, keep }) = command {
        let keep = match keep {
            KeepArg::Local => Keep::Local,
            KeepArg::Remote => Keep::Remote,
            KeepArg::Both => Keep::Both,
        };
        let targets = match (path, all) {
            (Some(p), false) => vec![project_relative(ctx, p)?],
            _ => Vec::new(),
        };
        let ControlResponse::Resolved { paths: done } =
            ask(&paths, ControlRequest::Resolve { paths: targets, keep }).await?
        else {
            return Err(Error::Failure("unexpected answer from the keeper".into()));
        };
        if ctx.global.json {
            output::json(&serde_json::json!({ "resolved": done }));
        } else {
            for p in &done {
                output::line(&format!("resolved {p}"));
            }
        }
        return Ok(0);
    }
    let store = crate::sync::conflicts::ConflictStore::open(&paths.sync);
    if ctx.global.json {
        let item = |r: &crate::sync::conflicts::Recorded| {
            serde_json::json!({
                "path": r.conflict.path.to_string(),
                "time": output::rfc3339(r.time),
                "local": r.conflict.local.as_ref().map(|e| e.kind()),
                "remote": r.conflict.remote.as_ref().map(|e| e.kind()),
                "resolved": !matches!(r.conflict.resolution, Resolution::Unresolved),
                "winner": match r.conflict.resolution { Resolution::Kept { winner } => Some(winner.name()), Resolution::Unresolved => None },
            })
        };
        let list: Vec<serde_json::Value> =
            store.unresolved.iter().chain(store.history.iter().rev()).map(item).collect();
        output::json(&serde_json::Value::Array(list));
        return Ok(0);
    }
    if store.unresolved.is_empty() && store.history.is_empty() {
        output::line("no conflicts");
        return Ok(0);
    }
    for r in &store.unresolved {
        output::line(&format!(
            "unresolved  {}  ({})  local and remote versions left untouched",
            r.conflict.path,
            output::age(r.time)
        ));
    }
    for r in store.history.iter().rev().take(50) {
        if let Resolution::Kept { winner } = r.conflict.resolution {
            let loser = winner.other().name();
            output::line(&format!(
                "resolved    {}  ({})  {} version kept; the {loser} one is in the {loser} trash (`sinc restore {} --list`)",
                r.conflict.path,
                output::age(r.time),
                winner.name(),
                r.conflict.path
            ));
        }
    }
    if !store.unresolved.is_empty() {
        output::line("settle with: sinc conflicts resolve PATH|--all --keep local|remote|both");
    }
    Ok(0)
}

/// `sinc restore`.
pub async fn restore(ctx: &Context, args: &RestoreArgs) -> Result<i32> {
    let paths = keeper_paths(ctx);
    let path = project_relative(ctx, &args.path)?;
    if args.list {
        let ControlResponse::Versions { versions } =
            ask(&paths, ControlRequest::Versions { path: path.clone() }).await?
        else {
            return Err(Error::Failure("unexpected answer from the keeper".into()));
        };
        if ctx.global.json {
            output::json(&serde_json::to_value(&versions).unwrap_or_default());
            return Ok(0);
        }
        if versions.is_empty() {
            output::line(&format!("no kept versions of {path}"));
            return Ok(0);
        }
        let rows: Vec<Vec<String>> = versions
            .iter()
            .map(|v| {
                vec![
                    v.number.to_string(),
                    output::rfc3339(v.item.time),
                    v.side.name().to_owned(),
                    format!("{} ({} bytes)", v.item.entry.kind(), v.item.entry.size()),
                    trash_reason(v.item.reason).to_owned(),
                ]
            })
            .collect();
        anstream::print!("{}", output::table(&["VERSION", "KEPT AT", "SIDE", "WHAT", "WHY"], &rows));
        return Ok(0);
    }
    let ControlResponse::Restored { version } =
        ask(&paths, ControlRequest::Restore { path: path.clone(), number: args.version }).await?
    else {
        return Err(Error::Failure("unexpected answer from the keeper".into()));
    };
    if ctx.global.json {
        output::json(&serde_json::to_value(&version).unwrap_or_default());
    } else {
        output::notice(
            ctx.global.quiet,
            &format!(
                "restored {path} (version {}, kept {} on the {} side); it syncs to the other side now",
                version.number,
                output::age(version.item.time),
                version.side.name()
            ),
        );
    }
    Ok(0)
}
