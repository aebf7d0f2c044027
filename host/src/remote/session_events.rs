//! Session events from two looks at the VPS's tmux sessions: what appeared,
//! what gained or lost its last client, what ended. Pure: the daemon takes
//! the looks (every [`LOOK_EVERY`]) and hands the events to its plugins, so
//! they hear of sessions however they were started, and of agents that exit
//! while the laptop is away.

use crate::session::tmux::RemoteSession;
use std::collections::BTreeMap;
use std::time::Duration;

/// How often the daemon looks, while plugins are loaded or a keeper
/// follows its journal.
pub const LOOK_EVERY: Duration = Duration::from_secs(1);

/// What happened to a session between two looks.
pub use crate::sync::wire::SessionChange as Change;

/// The sessions of one look, by id (project sessions only: `sinc ssh`
/// terminals are not agent sessions).
pub type Look = BTreeMap<String, RemoteSession>;

/// One look from `tmux list-sessions` as [`crate::session::tmux::list_script`] prints it.
pub fn look(sessions: Vec<RemoteSession>) -> Look {
    sessions.into_iter().filter(|s| !s.is_shell()).map(|s| (s.id.clone(), s)).collect()
}

/// The events between `before` and `now`, in a stable order: ended ones
/// first, then by id (created before attached). A session created at
/// another time than the one of the same id seen before is a new one: the
/// old one ended between the looks.
pub fn changes<'a>(before: &'a Look, now: &'a Look) -> Vec<(Change, &'a RemoteSession)> {
    let replaced =
        |old: &RemoteSession, new: &RemoteSession| old.created != 0 && new.created != 0 && old.created != new.created;
    let mut out: Vec<(Change, &RemoteSession)> = before
        .iter()
        .filter(|(id, old)| now.get(*id).is_none_or(|new| replaced(old, new)))
        .map(|(_, s)| (Change::Ended, s))
        .collect();
    for (id, session) in now {
        match before.get(id).filter(|old| !replaced(old, session)) {
            None => {
                out.push((Change::Created, session));
                if session.attached > 0 {
                    out.push((Change::Attached, session));
                }
            }
            Some(old) if old.attached == 0 && session.attached > 0 => out.push((Change::Attached, session)),
            Some(old) if old.attached > 0 && session.attached == 0 => out.push((Change::Detached, session)),
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ended_and_started_again_between_two_looks_is_an_end_and_a_start() {
        let first = RemoteSession { created: 100, ..session("a", 0) };
        let again = RemoteSession { created: 107, ..session("a", 1) };
        let before = look(vec![first]);
        let now = look(vec![again]);
        assert_eq!(
            names(&changes(&before, &now)),
            vec![(Change::Ended, "a".into()), (Change::Created, "a".into()), (Change::Attached, "a".into())]
        );
        // A saved look from an older build knows no creation time.
        let unknown = look(vec![session("a", 0)]);
        assert!(changes(&unknown, &look(vec![RemoteSession { created: 107, ..session("a", 0) }])).is_empty());
    }

    fn session(id: &str, attached: u32) -> RemoteSession {
        RemoteSession {
            id: id.into(),
            attached,
            created: 0,
            local_path: None,
            remote_path: Some("/w/app".into()),
            agent: Some("opencode".into()),
            client: None,
            kind: None,
        }
    }

    fn names(events: &[(Change, &RemoteSession)]) -> Vec<(Change, String)> {
        events.iter().map(|(c, s)| (*c, s.id.clone())).collect()
    }

    #[test]
    fn a_session_is_created_attached_detached_and_ended() {
        let empty = Look::new();
        let one = look(vec![session("sinc-a-111111", 1)]);
        let alone = look(vec![session("sinc-a-111111", 0)]);
        let again = look(vec![session("sinc-a-111111", 2)]);
        use Change::*;
        assert_eq!(
            names(&changes(&empty, &one)),
            [(Created, "sinc-a-111111".into()), (Attached, "sinc-a-111111".into())]
        );
        assert_eq!(names(&changes(&one, &alone)), [(Detached, "sinc-a-111111".into())]);
        assert_eq!(names(&changes(&alone, &again)), [(Attached, "sinc-a-111111".into())]);
        assert_eq!(names(&changes(&again, &again)), []);
        assert_eq!(names(&changes(&again, &empty)), [(Ended, "sinc-a-111111".into())]);
    }

    #[test]
    fn ssh_terminals_are_not_agent_sessions() {
        let mut shell = session("sinc-ssh-abcdef", 1);
        shell.kind = Some(crate::session::shell::KIND.into());
        assert!(look(vec![shell]).is_empty());
    }
}
