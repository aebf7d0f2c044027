//! Session events for the local plugins. They come from two places: the
//! `sinc` process that causes one (creating, attaching, detaching, ending a
//! session) and, for what happens while the laptop is away, the VPS
//! daemon's journal, which each project's keeper follows. Both go to the
//! keeper that hosts the local plugins, or — when no keeper runs — are
//! delivered by the `sinc` process itself, loading each plugin for the
//! call. Whichever way an event arrives, [`Heard`] lets it through once:
//! a session's events must follow each other (created, attached, detached,
//! …, ended), so a repeat is recognised and dropped. Remote plugins hear
//! events from the daemon directly (see `remote::plugins`).

use super::{Installed, Locked};
use crate::sync::wire::{SessionChange, SessionRef};
use sinc_plugin_host::manifest::RunsOn;
use sinc_plugin_host::{Event, Session};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one plugin may take to start and handle one event.
const LIMIT: Duration = Duration::from_secs(1);

/// How many sessions [`Heard`] remembers.
const REMEMBERED: usize = 512;

/// A session as events name it.
pub fn session(spec: &crate::session::SessionSpec) -> SessionRef {
    SessionRef {
        id: spec.id.to_string(),
        local_path: Some(spec.local_path.to_string_lossy().into_owned()),
        remote_path: spec.remote_path.clone(),
        agent: spec.agent.to_string(),
        created: 0,
    }
}

/// A session as plugins see it.
pub fn plugin_session(s: SessionRef) -> Session {
    Session { id: s.id, local_path: s.local_path, remote_path: s.remote_path, agent: s.agent }
}

/// The plugin event for `change`.
pub fn event(change: SessionChange, session: Session) -> Event {
    match change {
        SessionChange::Created => Event::SessionCreated(session),
        SessionChange::Attached => Event::SessionAttached(session),
        SessionChange::Detached => Event::SessionDetached(session),
        SessionChange::Ended => Event::SessionEnded(session),
    }
}

/// What is known of a session's last event heard: the change, and when
/// the session was created (0: not known).
pub type Last = (SessionChange, u64);

/// Whether `next` (of a session created at `created`, 0: not known) is news
/// after `last`. Of two sessions of one id, the one created later is the
/// news and an event of the earlier one is stale; otherwise a session's
/// events must follow each other. An unknown session's events are all news
/// (its creation may have happened before any plugin listened).
pub fn is_news(last: Option<Last>, next: SessionChange, created: u64) -> bool {
    use SessionChange::{Created, Ended};
    if let Some((_, heard)) = last
        && heard != 0
        && created != 0
        && heard != created
    {
        return created > heard;
    }
    match (last.map(|(change, _)| change), next) {
        (None, _) => true,
        (Some(Ended), next) => next == Created,
        (Some(_), Created) => false,
        (Some(last), next) => last != next,
    }
}

/// The last event heard of each session, kept in a file so every process
/// that delivers events agrees.
#[derive(Debug)]
pub struct Heard {
    path: PathBuf,
    /// Session id → (order heard, last change, created).
    last: BTreeMap<String, (u64, SessionChange, u64)>,
}

impl Heard {
    /// What the file at `path` remembers (nothing, when it is missing or
    /// unreadable).
    pub fn load(path: &Path) -> Heard {
        let last = std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        Heard { path: path.to_path_buf(), last }
    }

    /// The events of `events` that are news, in order; they count as heard.
    pub fn admit(&mut self, events: Vec<(SessionChange, SessionRef)>) -> Vec<Event> {
        let mut news = Vec::new();
        for (change, session) in events {
            let last = self.last.get(&session.id).map(|(_, c, created)| (*c, *created));
            if !is_news(last, change, session.created) {
                tracing::debug!("{change:?} of {} was heard already", session.id);
                continue;
            }
            let created = match (session.created, last) {
                (0, _) if change == SessionChange::Created => 0,
                (0, Some((_, known))) => known,
                (created, _) => created,
            };
            let order = self.last.values().map(|(n, _, _)| *n).max().unwrap_or(0) + 1;
            self.last.insert(session.id.clone(), (order, change, created));
            news.push(event(change, plugin_session(session)));
        }
        if self.last.len() > REMEMBERED {
            let mut oldest: Vec<(u64, String)> = self.last.iter().map(|(id, (n, _, _))| (*n, id.clone())).collect();
            oldest.sort();
            for (_, id) in oldest.into_iter().take(self.last.len() - REMEMBERED) {
                self.last.remove(&id);
            }
        }
        if !news.is_empty() {
            self.save();
        }
        news
    }

    fn save(&self) {
        let saved = crate::atomic_file::write(&self.path, &serde_json::to_vec(&self.last).unwrap_or_default(), 0o600);
        if let Err(e) = saved {
            tracing::warn!("remembering the session events plugins heard: {e}");
        }
    }
}

/// Deliver `events` to every enabled local plugin in this process, on a
/// thread of its own (WASI's blocking calls need one without a Tokio
/// runtime), loading each plugin for the call. Failures are logged, never
/// returned: a plugin cannot break a session.
pub fn deliver_here(installed: &Installed, config: &crate::config::Config, events: &[Event]) {
    let lock = match installed.lockfile() {
        Ok(lock) => lock,
        Err(e) => {
            tracing::warn!("plugins get no events: {e}");
            return;
        }
    };
    let targets: Vec<&Locked> = lock.enabled(RunsOn::Local).collect();
    if targets.is_empty() || events.is_empty() {
        return;
    }
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let runtime = match installed.runtime() {
                Ok(r) => r,
                Err(e) => return tracing::warn!("plugins get no events: {e}"),
            };
            for locked in &targets {
                let outcome = installed.start(&runtime, locked, config, LIMIT).and_then(|mut plugin| {
                    let mut handled = Ok(());
                    for event in events {
                        if let Err(reason) = plugin.on_event(event, LIMIT)? {
                            handled = Err(reason);
                        }
                    }
                    let _ = plugin.shutdown(LIMIT);
                    Ok(handled)
                });
                match &outcome {
                    Ok(Ok(())) => tracing::debug!(plugin = %locked.name, "delivered {} events", events.len()),
                    Ok(Err(reason)) => tracing::warn!(plugin = %locked.name, "{reason}"),
                    Err(e) => tracing::warn!("{e}"),
                }
                let stopped = outcome.as_ref().err();
                if let Some(disabled) = installed.record(&locked.name, stopped.map_or(Ok(()), Err)) {
                    tracing::warn!("{disabled}");
                }
            }
        });
    });
}

/// `session` with its laptop folder only when the folder is the one its id
/// was made from: the folder comes from the VPS (a tmux option anyone
/// there can change), and local plugins act in it on the laptop.
pub fn vouched(mut session: SessionRef) -> SessionRef {
    let made_from = |folder: &str| crate::session_id::SessionId::for_path(std::path::Path::new(folder)).to_string();
    if let Some(folder) = session.local_path.take() {
        if made_from(&folder) == session.id {
            session.local_path = Some(folder);
        } else {
            tracing::warn!("{}: the VPS names {folder} as its laptop folder, which it is not; ignored", session.id);
        }
    }
    session
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_laptop_folder_the_id_was_not_made_from_is_not_believed() {
        let folder = "/home/u/app";
        let id = crate::session_id::SessionId::for_path(Path::new(folder)).to_string();
        let told = |local: &str| SessionRef {
            id: id.clone(),
            local_path: Some(local.into()),
            remote_path: "/w".into(),
            agent: "opencode".into(),
            created: 0,
        };
        assert_eq!(vouched(told(folder)).local_path.as_deref(), Some(folder));
        assert_eq!(vouched(told("/home/u/other-repo")).local_path, None);
    }
    use super::*;
    use SessionChange::{Attached, Created, Detached, Ended};

    fn s(id: &str) -> SessionRef {
        SessionRef { id: id.into(), local_path: None, remote_path: "/w".into(), agent: "opencode".into(), created: 0 }
    }

    #[test]
    fn a_sessions_events_are_news_once_in_their_order() {
        let heard = |c| Some((c, 0));
        assert!(is_news(None, Attached, 0));
        assert!(is_news(heard(Created), Attached, 0));
        assert!(!is_news(heard(Attached), Attached, 0));
        assert!(is_news(heard(Attached), Detached, 0));
        assert!(is_news(heard(Detached), Attached, 0));
        assert!(!is_news(heard(Attached), Created, 0));
        assert!(is_news(heard(Detached), Ended, 0));
        assert!(!is_news(heard(Ended), Ended, 0));
        assert!(!is_news(heard(Ended), Detached, 0));
        // The same project, started again.
        assert!(is_news(heard(Ended), Created, 0));
    }

    #[test]
    fn an_event_of_an_earlier_session_of_the_same_id_is_stale() {
        // Heard: the new session (created at 200) attached; the journal
        // then replays the old one's end (created at 100).
        assert!(!is_news(Some((Attached, 200)), Ended, 100));
        assert!(is_news(Some((Ended, 100)), Created, 200));
        assert!(is_news(Some((Attached, 100)), Created, 200), "the old one's end was missed");
        let dir = tempfile::tempdir().unwrap();
        let mut heard = Heard::load(&dir.path().join("heard.json"));
        let at = |id: &str, created| SessionRef { created, ..s(id) };
        let news = heard.admit(vec![(Ended, at("a", 100)), (Created, at("a", 200)), (Attached, at("a", 200))]);
        assert_eq!(news.len(), 3);
        let replay = heard.admit(vec![(Ended, at("a", 100)), (Created, at("a", 200)), (Attached, at("a", 200))]);
        assert!(replay.is_empty(), "{replay:?}");
    }

    #[test]
    fn an_event_heard_from_the_cli_is_not_heard_again_from_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heard.json");
        let mut cli = Heard::load(&path);
        assert_eq!(cli.admit(vec![(Created, s("a")), (Attached, s("a"))]).len(), 2);
        // Another process, later, replays the journal.
        let mut keeper = Heard::load(&path);
        let news = keeper.admit(vec![(Created, s("a")), (Attached, s("a")), (Detached, s("a")), (Ended, s("b"))]);
        assert_eq!(news.len(), 2, "{news:?}");
        assert!(matches!(news[0], Event::SessionDetached(ref x) if x.id == "a"));
        assert!(matches!(news[1], Event::SessionEnded(ref x) if x.id == "b"));
        assert!(Heard::load(&path).admit(vec![(Detached, s("a"))]).is_empty());
    }

    #[test]
    fn only_the_latest_sessions_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let mut heard = Heard::load(&dir.path().join("heard.json"));
        for i in 0..REMEMBERED + 5 {
            heard.admit(vec![(Created, s(&format!("s{i}")))]);
        }
        assert_eq!(heard.last.len(), REMEMBERED);
        assert!(!heard.last.contains_key("s0") && heard.last.contains_key(&format!("s{}", REMEMBERED + 4)));
    }
}
