//! The local plugin host: of the laptop's keepers (one per project), the one
//! holding `<state>/plugins/host.lock` runs the enabled local plugins —
//! their ports on this machine's loopback, their timers, their subcommands
//! and before-start hooks — and hands them the session events every keeper
//! and `sinc` process sends to its socket, `<state>/plugins/host.sock`.
//! The others try for the lock every [`TAKE_OVER_EVERY`], so when the host
//! keeper stops, another takes over.

use super::TAKE_OVER_EVERY;
use super::control::{self, ControlRequest, ControlResponse};
use super::session_ends::SessionEnds;
use crate::paths::Dirs;
use crate::plugins::Installed;
use crate::plugins::ending::{self, Ending};
use crate::plugins::events::{self, Heard};
use crate::plugins::hosting::{Hosting, Source};
use crate::sync::wire::{PluginGrant, PluginState, Request, Response, SessionChange, SessionRef};
use sinc_plugin_host::{Ended, Event, RunsOn};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex, PoisonError};

/// How long this keeper waits, once it has answered, before stopping its
/// own session's sync after that session's end.
const OWN_STOP_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

/// The local plugins, run by this keeper.
#[derive(Debug)]
pub struct LocalHost {
    installed: Installed,
    config: crate::config::Reloading,
    dirs: Dirs,
    hosting: Hosting,
    /// One delivery of events at a time.
    delivering: Mutex<()>,
    /// The sessions whose end is to run.
    ends: SessionEnds,
    /// This keeper's own session.
    own: String,
}

/// Become the local plugin host once no other keeper is, then serve until
/// the process ends.
pub async fn run(installed: Installed, config: crate::config::Reloading, dirs: Dirs, own: String) {
    let lock = loop {
        match take_lock(&installed) {
            Ok(Some(lock)) => break lock,
            Ok(None) => {}
            Err(e) => tracing::warn!("the local plugins: {e}"),
        }
        tokio::time::sleep(TAKE_OVER_EVERY).await;
    };
    let socket = installed.host_socket();
    // Holding the lock, any socket there is a dead host's.
    let _ = std::fs::remove_file(&socket);
    let listener = match tokio::net::UnixListener::bind(&socket)
        .and_then(|l| std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).map(|()| l))
    {
        Ok(l) => l,
        Err(e) => return tracing::warn!("the local plugins cannot be hosted: {}: {e}", socket.display()),
    };
    tracing::info!("hosting the local plugins");
    let cache = installed.cache_dir();
    let host = Arc::new(LocalHost {
        ends: SessionEnds::load(installed.ending_path()),
        installed,
        config,
        dirs,
        hosting: Hosting::new("on this machine", cache),
        delivering: Mutex::default(),
        own,
    });
    match host.refresh() {
        Ok(states) => states.iter().for_each(|s| tracing::info!(plugin = %s.name, "here: {}", s.state)),
        Err(e) => tracing::warn!("the local plugins: {e}"),
    }
    // Ends a stopped host left unfinished.
    if !host.ends.is_empty() {
        tokio::spawn(host.clone().run_ends_in_background());
    }
    control::serve_requests(listener, move |request| {
        let host = host.clone();
        async move { host.answer(request).await }
    })
    .await;
    drop(lock);
}

/// The host lock, if no other keeper holds it.
fn take_lock(installed: &Installed) -> std::io::Result<Option<std::fs::File>> {
    // Its socket runs plugin subcommands: only this user may reach it.
    super::try_lock_file(&installed.host_lock())
}

impl LocalHost {
    /// Run exactly the enabled local plugins of the lockfile, with the
    /// configuration as it is now.
    pub fn refresh(&self) -> Result<Vec<PluginState>, String> {
        let set = self.installed.set(&self.config.current(), RunsOn::Local).map_err(|e| e.to_string())?;
        let grants: Vec<PluginGrant> = set.iter().map(|(g, _)| g.clone()).collect();
        let source = |grant: &PluginGrant| Source {
            wasm: set.iter().find(|(g, _)| g.name == grant.name).and_then(|(_, path)| std::fs::read(path).ok()),
            grants: self.installed.local_grants(&grant.name),
        };
        let missing = self.hosting.apply(grants, source);
        if !missing.is_empty() {
            tracing::warn!("{} local plugin components are missing; `sinc plugin add` them again", missing.len());
        }
        Ok(self.hosting.states())
    }

    /// Hand the local plugins the events they have not heard yet (none
    /// count as heard while no local plugin runs); the sessions among them
    /// that ended are queued for [`LocalHost::run_ends`].
    pub fn hear(&self, events: Vec<(SessionChange, SessionRef)>) {
        let events: Vec<(SessionChange, SessionRef)> =
            events.into_iter().map(|(c, s)| (c, events::vouched(s))).collect();
        let _one = self.delivering.lock().unwrap_or_else(PoisonError::into_inner);
        if self.hosting.is_empty() {
            return;
        }
        let ended: Vec<SessionRef> =
            events.iter().filter(|(change, _)| *change == SessionChange::Ended).map(|(_, s)| s.clone()).collect();
        for event in Heard::load(&self.installed.heard_path()).admit(events) {
            self.hosting.deliver(&event);
            if let Event::SessionEnded(session) = &event
                && let Some(asked) = ended.iter().find(|s| s.id == session.id)
            {
                self.ends.queue(asked.clone());
            }
        }
    }

    /// Run the end of every session queued (see [`ending`]), one after
    /// another, and answer how `asked`'s went (whichever way its news came
    /// first, a `sinc kill` returns after its session's end; an end asked
    /// for again runs again: plugins keep their ends repeatable). The sync
    /// of `asked` is left for the asker to stop; this keeper's own is
    /// stopped last, once it has answered.
    pub async fn run_ends(&self, asked: Option<&str>) -> Option<Ending> {
        let _one = self.ends.running.lock().await;
        let mut stop_own = false;
        while let Some(session) = self.ends.next() {
            let id = session.id.clone();
            let plugin_session = events::plugin_session(session);
            let takers = self.hosting.end_stages(&plugin_session).await;
            let mut done = Ending::default();
            if !takers.is_empty() {
                done.ran = true;
                let synced = ending::prepare(&self.dirs, &id).await;
                done.problems = self.hosting.end(&Ended { session: plugin_session, synced }, &takers).await;
                let left_to_asker = asked == Some(id.as_str());
                if id == self.own && !left_to_asker {
                    stop_own = true;
                } else if !left_to_asker {
                    super::stop(&self.dirs, &id).await;
                }
            }
            for problem in &done.problems {
                tracing::warn!("{problem}");
            }
            self.ends.done(&id, done);
        }
        if stop_own {
            // After the answer has gone out.
            let dirs = self.dirs.clone();
            let own = self.own.clone();
            tokio::spawn(async move {
                tokio::time::sleep(OWN_STOP_DELAY).await;
                super::stop(&dirs, &own).await;
            });
        }
        asked.and_then(|id| self.ends.take(id))
    }

    async fn run_ends_in_background(self: Arc<Self>) {
        self.run_ends(None).await;
    }

    async fn answer(self: Arc<Self>, request: ControlRequest) -> ControlResponse {
        match request {
            ControlRequest::LocalPlugins => match self.refresh() {
                Ok(states) => ControlResponse::Plugins { states },
                Err(message) => ControlResponse::Error { message },
            },
            ControlRequest::LocalEvents { events } => {
                self.hear(events);
                if !self.ends.is_empty() {
                    tokio::spawn(self.run_ends_in_background());
                }
                ControlResponse::Done
            }
            ControlRequest::EndSession { session } => {
                let session = events::vouched(session);
                let id = session.id.clone();
                self.hear(vec![(SessionChange::Ended, session.clone())]);
                // Asked for again (it ended before, or its end stopped): it
                // runs again, unless it is queued or running now.
                self.ends.queue(session);
                let Ending { ran, problems } = self.run_ends(Some(&id)).await.unwrap_or_default();
                ControlResponse::Ended { ran, problems }
            }
            ControlRequest::LocalCommand { plugin, command, args, cwd } => {
                match self.hosting.command_in(&plugin, &command, args, cwd).await {
                    Ok(invoked) => ControlResponse::Command {
                        status: invoked.output.status,
                        stdout: invoked.output.stdout,
                        stderr: invoked.output.stderr,
                        then: invoked.then.map(Into::into),
                    },
                    Err(message) => ControlResponse::Error { message },
                }
            }
            ControlRequest::LocalPlugin { request } => {
                let response = match request {
                    Request::PluginCommand { plugin, command, args } => {
                        self.hosting.command(&plugin, &command, args).await
                    }
                    Request::BeforeStart { session, continuing } => {
                        self.hosting.before_start(events::plugin_session(session), continuing).await
                    }
                    Request::Tools { command } => self.hosting.tools(&command).await,
                    Request::CallTool { command, tool, arguments } => {
                        self.hosting.call_tool(&command, &tool, arguments).await
                    }
                    _ => Response::Failed { message: "only plugin requests go to the local plugin host".into() },
                };
                match response {
                    Response::Failed { message } => ControlResponse::Error { message },
                    response => ControlResponse::Answer { response },
                }
            }
            _ => ControlResponse::Error { message: "this is the local plugin host's socket".into() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_keeper_at_a_time_hosts_and_another_takes_over_when_it_stops() {
        let home = tempfile::tempdir().unwrap();
        let dirs = crate::paths::Dirs::under(home.path());
        let installed = Installed::new(&dirs, &dirs.config.join("config.toml"));
        let host = take_lock(&installed).unwrap().expect("the first keeper hosts");
        assert!(take_lock(&installed).unwrap().is_none(), "a second keeper waits");
        drop(host);
        assert!(take_lock(&installed).unwrap().is_some(), "and takes over once the host stops");
    }
}
