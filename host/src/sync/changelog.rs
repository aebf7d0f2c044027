//! Which paths changed at which sequence number: "what changed since N" is
//! answered from the changes after N, without walking every path ever seen.

use sinc_sync_core::RelPath;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Each path at the sequence number of its latest change.
#[derive(Debug, Default)]
pub struct ChangeLog {
    by_seq: BTreeMap<u64, BTreeSet<RelPath>>,
    by_path: HashMap<RelPath, u64>,
}

impl ChangeLog {
    /// Record that `paths` changed at `seq` (greater than any before).
    pub fn record<'a>(&mut self, seq: u64, paths: impl IntoIterator<Item = &'a RelPath>) {
        for p in paths {
            if let Some(old) = self.by_path.insert(p.clone(), seq)
                && let Some(set) = self.by_seq.get_mut(&old)
            {
                set.remove(p);
                if set.is_empty() {
                    self.by_seq.remove(&old);
                }
            }
            self.by_seq.entry(seq).or_default().insert(p.clone());
        }
    }

    /// The paths whose latest change came after `seq`, in path order.
    pub fn since(&self, seq: u64) -> BTreeSet<&RelPath> {
        self.by_seq.range(seq.saturating_add(1)..).flat_map(|(_, paths)| paths).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    #[test]
    fn a_path_counts_once_at_its_latest_change() {
        let mut log = ChangeLog::default();
        log.record(1, &[p("a"), p("b")]);
        log.record(2, &[p("c")]);
        log.record(3, &[p("a")]);
        assert_eq!(log.since(0), [&p("a"), &p("b"), &p("c")].into_iter().collect());
        assert_eq!(log.since(1), [&p("a"), &p("c")].into_iter().collect());
        assert_eq!(log.since(2), [&p("a")].into_iter().collect());
        assert!(log.since(3).is_empty());
        // The emptied entry for seq 1's `a` is gone; `b` stays.
        assert_eq!(log.by_seq.len(), 3);
        assert!(log.since(u64::MAX).is_empty());
    }
}
