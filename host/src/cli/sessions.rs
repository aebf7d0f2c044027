//! `sinc sessions`: the full-screen manager (see [`crate::manager`]) on this
//! terminal. Each host is looked at once a second, each on its own; keys
//! are read between looks. Attaching, starting a session and showing
//! conflicts hand the terminal to a child `sinc` and take it back when it
//! ends (a detach returns to the list).

use super::context::Context;
use crate::error::{Error, Result};
use crate::manager::app::{Action, App};
use crate::manager::row::Row;
use crate::manager::{hook, poll, view};
use crate::session::Registry;
use crate::session::agent_state::PatternBook;
use crate::transport::Link;
use crossterm::event::{self, Event, KeyEventKind};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::sync::Notify;

/// Between two looks at a host.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// How often keys are checked for while waiting for looks.
const KEY_TICK: Duration = Duration::from_millis(30);

/// `sinc sessions`.
pub async fn run(ctx: &Context) -> Result<i32> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "`sinc sessions` needs a terminal; for scripts, `sinc list --json` lists the sessions".into(),
        ));
    }
    let config = ctx.config();
    let records = Registry::new(&ctx.dirs.data).all();
    let hosts = hosts(config.vps.host.as_deref(), records.iter().map(|r| r.host.as_str()), &config.sessions.hosts);
    if hosts.is_empty() {
        // The error that says how to configure one.
        ctx.host()?;
    }
    let links: Vec<Link> = hosts
        .iter()
        .map(|h| if Some(h.as_str()) == config.vps.host.as_deref() { ctx.link() } else { ctx.link_to(Some(h)) })
        .collect::<Result<_>>()?;
    let (book, bad) = PatternBook::compile(
        config.states.iter().map(|(program, p)| (program.as_str(), p.waiting.as_slice(), p.working.as_slice())),
    );
    for e in bad {
        tracing::warn!("{e}");
    }
    let mut projects: Vec<PathBuf> = records.iter().map(|r| r.local_path.clone()).filter(|p| p.is_dir()).collect();
    projects.sort();
    projects.dedup();
    let mut app = App::new(&hosts, projects);
    let look = view::Look { colors: std::env::var_os("NO_COLOR").is_none(), now: 0 };
    let refresh = Notify::new();

    let looking = |index: usize, delay: Duration| {
        let (link, host, book, dirs, refresh) = (&links[index], &hosts[index], &book, &ctx.dirs, &refresh);
        async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = refresh.notified() => {}
            }
            (index, poll::look(link, host, book, dirs).await)
        }
    };
    let mut looks: FuturesUnordered<_> = (0..hosts.len()).map(|i| looking(i, Duration::ZERO)).collect();
    let mut terminal = ratatui::try_init().map_err(|e| Error::Failure(format!("setting up the terminal: {e}")))?;
    let ended = loop {
        let now = view::Look { now: crate::clock::unix_secs(), ..look };
        if let Err(e) = terminal.draw(|f| view::draw(f, &app, &now)) {
            break Err(Error::Failure(format!("drawing: {e}")));
        }
        tokio::select! {
            Some((index, found)) = looks.next() => {
                for change in app.update_host(&hosts[index], found) {
                    if let Some(command) = &config.sessions.on_state_change {
                        hook::run(command, &change);
                    }
                }
                looks.push(looking(index, LOOK_EVERY));
            }
            () = tokio::time::sleep(KEY_TICK) => {}
        }
        let action = match next_key(&mut app) {
            Ok(action) => action,
            Err(e) => break Err(e),
        };
        let handed_over = matches!(action, Action::Attach(_) | Action::Start(_) | Action::Conflicts(_));
        match action {
            Action::Nothing => {}
            Action::Quit => break Ok(0),
            Action::Refresh => refresh.notify_waiters(),
            Action::Kill(row) => {
                app.message = Some(kill(&row, config.vps.host.as_deref()));
                refresh.notify_waiters();
            }
            Action::Attach(row) => match folder_of(&row) {
                Ok(folder) => away(&mut terminal, &mut app, || child(folder, &["-r"], false))?,
                Err(why) => app.message = Some(why),
            },
            Action::Start(folder) => away(&mut terminal, &mut app, || child(&folder, &[], false))?,
            Action::Conflicts(row) => match folder_of(&row) {
                Ok(folder) => away(&mut terminal, &mut app, || child(folder, &["conflicts"], true))?,
                Err(why) => app.message = Some(why),
            },
        }
        if handed_over {
            refresh.notify_waiters();
        }
    };
    let restored = ratatui::try_restore();
    let code = ended?;
    restored.map_err(|e| Error::Failure(format!("restoring the terminal: {e}")))?;
    Ok(code)
}

/// The hosts to look at: the configured VPS, those of sessions started
/// here, and `sessions.hosts` — each once, in that order.
fn hosts<'a>(configured: Option<&'a str>, recorded: impl Iterator<Item = &'a str>, extra: &'a [String]) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    for h in configured.into_iter().chain(recorded).chain(extra.iter().map(String::as_str)) {
        if !hosts.iter().any(|known| known == h) {
            hosts.push(h.to_owned());
        }
    }
    hosts
}

/// The action of the key pressed, if one was.
fn next_key(app: &mut App) -> Result<Action> {
    let pending = event::poll(Duration::ZERO).map_err(|e| Error::Failure(format!("reading keys: {e}")))?;
    if !pending {
        return Ok(Action::Nothing);
    }
    match event::read().map_err(|e| Error::Failure(format!("reading keys: {e}")))? {
        Event::Key(key) if key.kind != KeyEventKind::Release => Ok(app.key(key)),
        _ => Ok(Action::Nothing),
    }
}

/// The laptop folder `row`'s session syncs with, when it is on this laptop.
fn folder_of(row: &Row) -> std::result::Result<&Path, String> {
    match row.local_path.as_deref().map(Path::new) {
        Some(folder) if folder.is_dir() => Ok(folder),
        Some(folder) => {
            Err(format!("{} syncs with {} on another machine: attach it from there", row.id, folder.display()))
        }
        None => Err(format!("{} has no laptop folder on record", row.id)),
    }
}

/// Hand the terminal to `run`, then take it back.
fn away(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    run: impl FnOnce() -> std::result::Result<(), String>,
) -> Result<()> {
    ratatui::try_restore().map_err(|e| Error::Failure(format!("restoring the terminal: {e}")))?;
    if let Err(why) = run() {
        app.message = Some(why);
    }
    *terminal = ratatui::try_init().map_err(|e| Error::Failure(format!("setting up the terminal: {e}")))?;
    terminal.clear().map_err(|e| Error::Failure(format!("drawing: {e}")))?;
    Ok(())
}

/// Run `sinc args…` in `folder` on this terminal; with `pause`, wait for
/// Enter before coming back (so its output can be read).
fn child(folder: &Path, args: &[&str], pause: bool) -> std::result::Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding sinc: {e}"))?;
    let status = Command::new(exe).args(args).current_dir(folder).status().map_err(|e| format!("running sinc: {e}"))?;
    if pause {
        eprint!("\n(press Enter to go back to the sessions)");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    match status.code() {
        Some(0) => Ok(()),
        _ => Err(format!("`sinc {}` in {} ended with {status}", args.join(" "), folder.display())),
    }
}

/// End `row`'s session with `sinc kill`; what to tell the user.
fn kill(row: &Row, configured: Option<&str>) -> String {
    let Ok(exe) = std::env::current_exe() else { return "finding sinc failed".into() };
    let mut command = Command::new(exe);
    command.args(["kill", &row.id]);
    if Some(row.host.as_str()) != configured {
        command.args(["--host", &row.host]);
    }
    match command.output() {
        Ok(out) if out.status.success() => format!("ended {}", row.id),
        Ok(out) => format!("ending {} failed: {}", row.id, String::from_utf8_lossy(&out.stderr).trim()),
        Err(e) => format!("ending {} failed: {e}", row.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_host_is_looked_at_once_configured_first() {
        let extra = vec!["c".to_owned(), "a".to_owned()];
        assert_eq!(hosts(Some("a"), ["b", "a", "b"].into_iter(), &extra), ["a", "b", "c"]);
        assert!(hosts(None, std::iter::empty(), &[]).is_empty());
    }
}
