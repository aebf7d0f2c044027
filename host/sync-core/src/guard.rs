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
                write!(f, "{count} of {total} entries would be deleted on the {} side", side.name())
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
        DeleteLimits { max_count: 1000, max_percent: 50, percent_floor: 20 }
    }
}

/// The sizes a guard needs to judge a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sizes {
    /// Files and links in the last agreed state.
    pub agreed_files: usize,
    /// Entries directly under the root in the last agreed state.
    pub agreed_top_level: usize,
    /// Whether the local tree is empty now.
    pub local_empty: bool,
    /// Whether the remote tree is empty now.
    pub remote_empty: bool,
}

/// Check a plan before it is applied.
///
/// Deleting content counts only when that content does not reappear on the
/// same side in the same plan, so moving a folder of many files is not a
/// mass delete.
pub fn check(plan: &Plan, sizes: Sizes, limits: DeleteLimits) -> Option<Halt> {
    for (side, empty, other_empty) in
        [(Side::Local, sizes.local_empty, sizes.remote_empty), (Side::Remote, sizes.remote_empty, sizes.local_empty)]
    {
        if empty && !other_empty && sizes.agreed_top_level >= 2 && !plan.steps(side.other()).is_empty() {
            return Some(Halt::RootEmptied { side });
        }
    }
    for side in [Side::Local, Side::Remote] {
        let steps = plan.steps(side);
        let arriving: std::collections::HashSet<&crate::entry::Entry> = steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Put { new, .. } => Some(new),
                Action::Remove { .. } => None,
            })
            .collect();
        let count = steps
            .iter()
            .filter(|s| matches!(&s.action, Action::Remove { expected } if !expected.is_dir() && !arriving.contains(expected)))
            .count();
        let over_percent =
            count >= limits.percent_floor && count * 100 > usize::from(limits.max_percent) * sizes.agreed_files.max(1);
        if count > limits.max_count || over_percent {
            return Some(Halt::MassDelete { side, count, total: sizes.agreed_files });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Digest, Entry};
    use crate::path::RelPath;
    use crate::reconcile::Step;

    fn file(n: u8) -> Entry {
        Entry::File { digest: Digest([n; 32]), size: 1, exec: false }
    }

    fn remove(path: &str, e: Entry) -> Step {
        Step { path: RelPath::new(path).unwrap(), action: Action::Remove { expected: e }, loser: false }
    }

    fn put(path: &str, e: Entry) -> Step {
        Step { path: RelPath::new(path).unwrap(), action: Action::Put { expected: None, new: e }, loser: false }
    }

    fn sizes(files: usize) -> Sizes {
        Sizes { agreed_files: files, agreed_top_level: 3, local_empty: false, remote_empty: false }
    }

    #[test]
    fn deletions_over_the_limits_halt() {
        let limits = DeleteLimits { max_count: 3, max_percent: 50, percent_floor: 2 };
        let plan = Plan { remote: (0..4).map(|i| remove(&format!("f{i}"), file(i))).collect(), ..Plan::default() };
        assert!(matches!(check(&plan, sizes(100), limits), Some(Halt::MassDelete { count: 4, .. })));
        let plan = Plan { remote: (0..3).map(|i| remove(&format!("f{i}"), file(i))).collect(), ..Plan::default() };
        assert!(check(&plan, sizes(100), limits).is_none());
        assert!(matches!(check(&plan, sizes(4), limits), Some(Halt::MassDelete { .. })), "75% of the files");
    }

    #[test]
    fn moves_and_folders_are_not_deletions() {
        let limits = DeleteLimits { max_count: 1, max_percent: 50, percent_floor: 1 };
        let mut remote: Vec<Step> = (0..10).map(|i| put(&format!("new/f{i}"), file(i))).collect();
        remote.extend((0..10).map(|i| remove(&format!("old/f{i}"), file(i))));
        remote.push(remove("old", Entry::Dir));
        assert!(check(&Plan { remote, ..Plan::default() }, sizes(10), limits).is_none());
    }

    #[test]
    fn an_emptied_root_halts() {
        let plan = Plan { remote: vec![remove("a", file(1))], ..Plan::default() };
        let s = Sizes { agreed_files: 2, agreed_top_level: 2, local_empty: true, remote_empty: false };
        assert_eq!(check(&plan, s, DeleteLimits::default()), Some(Halt::RootEmptied { side: Side::Local }));
        let single = Sizes { agreed_top_level: 1, ..s };
        assert_eq!(check(&plan, single, DeleteLimits::default()), None, "one top-level folder may go");
    }
}
