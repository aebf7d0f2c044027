//! Safety guards: situations where propagating would more likely destroy
//! work than sync it, so sync halts until the user confirms.

use crate::decide::Side;
use crate::reconcile::{Action, Plan};
use serde::{Deserialize, Serialize};

/// Why sync stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Halt {
    /// The sync root folder itself is gone on one side.
    RootDeleted {
        /// Where.
        side: Side,
    },
    /// The sync root is no longer a folder on one side.
    RootTypeChanged {
        /// Where.
        side: Side,
    },
    /// One side's root became empty while the other still has content.
    RootEmptied {
        /// The side that emptied.
        side: Side,
    },
    /// More deletions than the configured limit would be applied to a side.
    MassDelete {
        /// The side that would lose files.
        side: Side,
        /// How many entries would be removed.
        count: usize,
        /// How many files the last agreed state has.
        total: usize,
    },
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Halt::RootDeleted { side } => write!(f, "the {} sync folder was deleted", side.name()),
            Halt::RootTypeChanged { side } => write!(f, "the {} sync folder is no longer a folder", side.name()),
            Halt::RootEmptied { side } => write!(f, "the {} sync folder was emptied", side.name()),
            Halt::MassDelete { side, count, total } => {
                write!(
                    f,
                    "{count} of {total} entries would be deleted on the {} side",
                    side.name()
                )
            }
        }
    }
}

/// When a batch of deletions counts as a mass delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteLimits {
    /// More than this many removals on one side halts.
    pub max_count: usize,
    /// More than this percentage of the agreed entries halts…
    pub max_percent: u8,
    /// …once at least this many entries would go (small projects may lose
    /// most of a handful of files legitimately).
    pub percent_floor: usize,
}

impl Default for DeleteLimits {
    fn default() -> DeleteLimits {
        DeleteLimits {
            max_count: 1000,
            max_percent: 50,
            percent_floor: 20,
        }
    }
}

/// Check a plan before it is applied.
///
/// `agreed_entries` is the size of the ancestor; `empty` says whether each
/// side's tree is empty now.
pub fn check(
    plan: &Plan,
    agreed_entries: usize,
    local_empty: bool,
    remote_empty: bool,
    limits: DeleteLimits,
) -> Option<Halt> {
    for (side, empty, other_empty) in [
        (Side::Local, local_empty, remote_empty),
        (Side::Remote, remote_empty, local_empty),
    ] {
        if empty && !other_empty && agreed_entries >= 2 && !plan.steps(side.other()).is_empty() {
            return Some(Halt::RootEmptied { side });
        }
    }
    for side in [Side::Local, Side::Remote] {
        let count = plan
            .steps(side)
            .iter()
            .filter(|s| matches!(s.action, Action::Remove { .. }))
            .count();
        let over_percent =
            count >= limits.percent_floor && count * 100 > usize::from(limits.max_percent) * agreed_entries.max(1);
        if count > limits.max_count || over_percent {
            return Some(Halt::MassDelete {
                side,
                count,
                total: agreed_entries,
            });
        }
    }
    None
}
