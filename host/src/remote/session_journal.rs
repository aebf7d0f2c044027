//! The daemon's journal of session events: the last [`KEPT`] events it
//! saw, numbered, so a laptop keeper that was away asks for what it missed
//! (`Request::SessionEvents`) and hands it to the laptop's local plugins.
//! It lives in memory: each daemon start begins a journal with a new id,
//! and a keeper holding a cursor of another journal hears the new one's
//! events of its session from the start (a restarted daemon re-derives
//! what happened meanwhile from its saved look).

use crate::sync::wire::{SessionChange, SessionEvent, SessionRef};
use std::collections::VecDeque;
use tokio::sync::watch;

/// How many events are kept.
pub const KEPT: usize = 1024;

/// Numbered session events.
#[derive(Debug)]
pub struct Journal {
    id: String,
    last: u64,
    events: VecDeque<SessionEvent>,
    news: watch::Sender<u64>,
}

impl Default for Journal {
    fn default() -> Self {
        Journal::new(format!("{:x}-{:x}", std::process::id(), crate::clock::unix_secs()))
    }
}

impl Journal {
    /// An empty journal called `id`.
    pub fn new(id: String) -> Journal {
        Journal { id, last: 0, events: VecDeque::new(), news: watch::channel(0).0 }
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The number of its last event.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Note an event.
    pub fn record(&mut self, change: SessionChange, session: SessionRef) {
        self.last += 1;
        if self.events.len() == KEPT {
            self.events.pop_front();
        }
        self.events.push_back(SessionEvent { seq: self.last, change, session });
        self.news.send_replace(self.last);
    }

    /// Wakes when an event is recorded.
    pub fn news(&self) -> watch::Receiver<u64> {
        self.news.subscribe()
    }

    /// The events of `session` a keeper holding `cursor` has not heard:
    /// none without a cursor (it starts from now), all of them for a
    /// cursor of another journal, else those after it.
    pub fn since(&self, session: &str, cursor: Option<(&str, u64)>) -> Vec<SessionEvent> {
        let after = match cursor {
            None => return Vec::new(),
            Some((journal, after)) if journal == self.id => after,
            Some(_) => 0,
        };
        self.events.iter().filter(|e| e.seq > after && e.session.id == session).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str) -> SessionRef {
        SessionRef { id: id.into(), local_path: None, remote_path: "/w".into(), agent: "opencode".into(), created: 0 }
    }

    fn changes(events: &[SessionEvent]) -> Vec<(u64, SessionChange)> {
        events.iter().map(|e| (e.seq, e.change)).collect()
    }

    #[test]
    fn a_keeper_hears_its_sessions_events_after_its_cursor() {
        let mut j = Journal::new("j1".into());
        j.record(SessionChange::Created, session("a"));
        j.record(SessionChange::Created, session("b"));
        j.record(SessionChange::Attached, session("a"));
        j.record(SessionChange::Ended, session("a"));
        assert_eq!(j.last(), 4);
        assert_eq!(
            changes(&j.since("a", Some(("j1", 1)))),
            vec![(3, SessionChange::Attached), (4, SessionChange::Ended)]
        );
        assert_eq!(changes(&j.since("b", Some(("j1", 0)))), vec![(2, SessionChange::Created)]);
        assert!(j.since("a", Some(("j1", 4))).is_empty());
    }

    #[test]
    fn without_a_cursor_a_keeper_starts_from_now_and_a_new_journal_is_heard_from_its_start() {
        let mut j = Journal::new("j2".into());
        j.record(SessionChange::Created, session("a"));
        assert!(j.since("a", None).is_empty());
        assert_eq!(changes(&j.since("a", Some(("an older journal", 7)))), vec![(1, SessionChange::Created)]);
    }

    #[test]
    fn only_the_newest_events_are_kept_and_news_wakes_a_follower() {
        let mut j = Journal::new("j3".into());
        let news = j.news();
        for _ in 0..KEPT + 10 {
            j.record(SessionChange::Attached, session("a"));
        }
        let kept = j.since("a", Some(("j3", 0)));
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].seq, 11);
        assert!(news.has_changed().unwrap());
    }
}
