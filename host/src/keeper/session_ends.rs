//! The sessions whose end the local plugin host is to run: queued once
//! each, run one at a time, each answer kept for whoever asked for that
//! session, and written to a file until done — so an end the laptop
//! stopping interrupted runs again when a keeper next hosts the plugins.

use crate::plugins::ending::Ending;
use crate::sync::wire::SessionRef;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

/// The queue of session ends.
#[derive(Debug)]
pub struct SessionEnds {
    path: PathBuf,
    state: Mutex<State>,
    /// Held while ends run.
    pub running: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    /// To run, oldest first (the one running stays first until done).
    pending: Vec<SessionRef>,
    /// The one running.
    current: Option<String>,
    /// How each finished end went, until its asker takes it.
    results: BTreeMap<String, Ending>,
}

impl SessionEnds {
    /// The queue kept at `path`, with the ends it holds from before.
    pub fn load(path: PathBuf) -> SessionEnds {
        let pending: Vec<SessionRef> =
            std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        SessionEnds {
            path,
            state: Mutex::new(State { pending, ..State::default() }),
            running: tokio::sync::Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self, pending: &[SessionRef]) {
        let written = if pending.is_empty() {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            crate::atomic_file::write(&self.path, &serde_json::to_vec(pending).unwrap_or_default(), 0o600)
        };
        if let Err(e) = written {
            tracing::warn!("remembering the session ends to run: {e}");
        }
    }

    /// Whether any end waits.
    pub fn is_empty(&self) -> bool {
        self.state().pending.is_empty()
    }

    /// Have `session`'s end run, unless it is queued or running already.
    pub fn queue(&self, session: SessionRef) {
        let mut state = self.state();
        if state.current.as_deref() == Some(session.id.as_str()) || state.pending.iter().any(|s| s.id == session.id) {
            return;
        }
        state.results.remove(&session.id);
        state.pending.push(session);
        self.save(&state.pending);
    }

    /// The next end to run (hold [`SessionEnds::running`]).
    pub fn next(&self) -> Option<SessionRef> {
        let mut state = self.state();
        let next = state.pending.first().cloned();
        state.current = next.as_ref().map(|s| s.id.clone());
        next
    }

    /// The end of session `id` is done.
    pub fn done(&self, id: &str, ending: Ending) {
        let mut state = self.state();
        state.pending.retain(|s| s.id != id);
        state.current = None;
        state.results.insert(id.to_owned(), ending);
        self.save(&state.pending);
    }

    /// How the end of session `id` went, once.
    pub fn take(&self, id: &str) -> Option<Ending> {
        self.state().results.remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: &str) -> SessionRef {
        SessionRef { id: id.into(), local_path: None, remote_path: "/w".into(), agent: "a".into(), created: 0 }
    }

    #[test]
    fn each_end_is_queued_once_and_an_interrupted_one_is_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ending.json");
        let ends = SessionEnds::load(path.clone());
        ends.queue(s("a"));
        ends.queue(s("b"));
        ends.queue(s("a"));
        assert_eq!(ends.next().map(|s| s.id), Some("a".into()));
        ends.queue(s("a"));
        // The laptop stops here: both are still to run.
        let again = SessionEnds::load(path.clone());
        assert_eq!(again.next().map(|s| s.id), Some("a".into()));
        again.done("a", Ending { ran: true, problems: vec!["x".into()] });
        assert_eq!(again.take("a").map(|e| e.problems), Some(vec!["x".into()]));
        assert!(again.take("a").is_none());
        assert_eq!(again.next().map(|s| s.id), Some("b".into()));
        again.done("b", Ending::default());
        assert!(again.next().is_none() && !path.exists());
    }
}
