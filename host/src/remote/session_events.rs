//! Session events from two looks at the VPS's tmux sessions: what appeared,
//! what gained or lost its last client, what ended. Pure: the daemon takes
//! the looks (every [`LOOK_EVERY`]) and hands the events to its plugins, so
//! they hear of sessions however they were started, and of agents that exit
//! while the laptop is away.

use crate::session::tmux::RemoteSession;
use std::collections::BTreeMap;
use std::time::Duration;

/// How often the daemon looks, while remote plugins are loaded.
pub const LOOK_EVERY: Duration = Duration::from_secs(1);

/// What happened to a session between two looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It appeared.
    Created,
    /// A client attached where none was.
    Attached,
    /// Its last client detached.
    Detached,
    /// It is gone.
    Ended,
}

/// The sessions of one look, by id (project sessions only: `sinc ssh`
/// terminals are not agent sessions).
pub type Look = BTreeMap<String, RemoteSession>;

/// One look from `tmux list-sessions` as [`crate::session::tmux::list_script`] prints it.
pub fn look(sessions: Vec<RemoteSession>) -> Look {
    sessions.into_iter().filter(|s| !s.is_shell()).map(|s| (s.id.clone(), s)).collect()
}

/// The events between `before` and `now`, in a stable order: ended ones
/// first, then by id (created before attached).
pub fn changes<'a>(before: &'a Look, now: &'a Look) -> Vec<(Change, &'a RemoteSession)> {
    let mut out: Vec<(Change, &RemoteSession)> =
        before.iter().filter(|(id, _)| !now.contains_key(*id)).map(|(_, s)| (Change::Ended, s)).collect();
    for (id, session) in now {
        match before.get(id) {
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
