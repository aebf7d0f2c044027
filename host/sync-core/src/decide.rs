//! The three-way decision for one path, from its ancestor (the last state both
//! sides agreed on) and its current state on each side.

use crate::entry::Entry;
use serde::{Deserialize, Serialize};

/// One of the two endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Side {
    /// The laptop.
    Local,
    /// The VPS.
    Remote,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Local => Side::Remote,
            Side::Remote => Side::Local,
        }
    }

    /// `local` or `remote`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Local => "local",
            Side::Remote => "remote",
        }
    }
}

/// How the two sides are kept in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Two-way; when both sides changed a path, the local version wins and the
    /// remote one is kept (trash, listed as a conflict).
    TwoWayResolved,
    /// Two-way; when both sides changed a path, neither is touched and the
    /// conflict is reported.
    TwoWaySafe,
    /// The remote side mirrors the local one.
    Push,
    /// The local side mirrors the remote one.
    Pull,
}

/// What to do with one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Both sides hold `state` (possibly absent); only the ancestor may need
    /// to learn it.
    InSync {
        /// The common state.
        state: Option<Entry>,
    },
    /// Copy the state of `from` to the other side.
    Propagate {
        /// The side whose state wins.
        from: Side,
        /// Whether the other side had changed the path too (its version is
        /// kept in its trash and the path is listed as a conflict).
        overrides_change: bool,
    },
    /// Both sides changed the path differently; leave both alone.
    Conflict,
}

/// Decide one path.
pub fn decide(ancestor: Option<&Entry>, local: Option<&Entry>, remote: Option<&Entry>, mode: Mode) -> Decision {
    if local == remote {
        return Decision::InSync { state: local.cloned() };
    }
    let local_changed = local != ancestor;
    let remote_changed = remote != ancestor;
    match mode {
        Mode::Push => Decision::Propagate { from: Side::Local, overrides_change: remote_changed },
        Mode::Pull => Decision::Propagate { from: Side::Remote, overrides_change: local_changed },
        Mode::TwoWayResolved | Mode::TwoWaySafe => {
            if !local_changed {
                Decision::Propagate { from: Side::Remote, overrides_change: false }
            } else if !remote_changed {
                Decision::Propagate { from: Side::Local, overrides_change: false }
            } else if local.is_none() {
                // A modification beats a deletion: bring the content back.
                Decision::Propagate { from: Side::Remote, overrides_change: false }
            } else if remote.is_none() {
                Decision::Propagate { from: Side::Local, overrides_change: false }
            } else if mode == Mode::TwoWayResolved {
                Decision::Propagate { from: Side::Local, overrides_change: true }
            } else {
                Decision::Conflict
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Digest;

    fn f(n: u8) -> Option<Entry> {
        Some(Entry::File { digest: Digest([n; 32]), size: 1, exec: false })
    }

    #[test]
    fn classic_three_way() {
        let m = Mode::TwoWaySafe;
        assert_eq!(
            decide(f(1).as_ref(), f(2).as_ref(), f(1).as_ref(), m),
            Decision::Propagate { from: Side::Local, overrides_change: false }
        );
        assert_eq!(
            decide(f(1).as_ref(), f(1).as_ref(), f(2).as_ref(), m),
            Decision::Propagate { from: Side::Remote, overrides_change: false }
        );
        assert_eq!(decide(f(1).as_ref(), f(2).as_ref(), f(2).as_ref(), m), Decision::InSync { state: f(2) });
        assert_eq!(decide(f(1).as_ref(), f(2).as_ref(), f(3).as_ref(), m), Decision::Conflict);
        assert_eq!(decide(None, f(2).as_ref(), f(3).as_ref(), m), Decision::Conflict);
    }

    #[test]
    fn modification_beats_deletion() {
        for m in [Mode::TwoWaySafe, Mode::TwoWayResolved] {
            assert_eq!(
                decide(f(1).as_ref(), None, f(2).as_ref(), m),
                Decision::Propagate { from: Side::Remote, overrides_change: false }
            );
            assert_eq!(
                decide(f(1).as_ref(), f(2).as_ref(), None, m),
                Decision::Propagate { from: Side::Local, overrides_change: false }
            );
        }
    }

    #[test]
    fn resolved_mode_prefers_local() {
        assert_eq!(
            decide(f(1).as_ref(), f(2).as_ref(), f(3).as_ref(), Mode::TwoWayResolved),
            Decision::Propagate { from: Side::Local, overrides_change: true }
        );
    }

    #[test]
    fn one_way_modes_mirror() {
        assert_eq!(
            decide(f(1).as_ref(), f(1).as_ref(), f(3).as_ref(), Mode::Push),
            Decision::Propagate { from: Side::Local, overrides_change: true }
        );
        assert_eq!(
            decide(f(1).as_ref(), f(2).as_ref(), f(1).as_ref(), Mode::Pull),
            Decision::Propagate { from: Side::Remote, overrides_change: true }
        );
    }
}
