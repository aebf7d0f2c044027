//! Property tests of reconciliation over random histories: random ancestor
//! trees, random edits on both sides (creates, deletes, edits, exec-bit and
//! kind changes, folder moves look like delete + create), applied to model
//! trees exactly as an endpoint would (checking the expected entry, refusing
//! to remove non-empty folders, keeping replaced content in a trash).

#![allow(clippy::unwrap_used)] // test code

use proptest::prelude::*;
use sinc_sync_core::{Action, Digest, Entry, Mode, Plan, RelPath, Resolution, Side, Views, reconcile};
use std::collections::{BTreeMap, BTreeSet};

type Tree = BTreeMap<RelPath, Entry>;

const NAMES: [&str; 3] = ["a", "b", "c"];

fn universe() -> Vec<RelPath> {
    let mut out = Vec::new();
    let mut level = vec![RelPath::root()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for parent in &level {
            for n in NAMES {
                next.push(parent.join(n).unwrap());
            }
        }
        out.extend(next.iter().cloned());
        level = next;
    }
    out.sort();
    out
}

fn entry_of(choice: u8, content: u8) -> Option<Entry> {
    match choice % 7 {
        0 | 1 => None,
        2 | 3 => Some(Entry::Dir),
        4 | 5 => {
            Some(Entry::File { digest: Digest([content % 4; 32]), size: u64::from(content % 4), exec: content >= 4 })
        }
        _ => Some(Entry::Symlink { target: format!("t{}", content % 2) }),
    }
}

/// Build a valid tree: an entry survives only inside a folder.
fn valid(mut raw: BTreeMap<RelPath, Option<Entry>>) -> Tree {
    let mut tree = Tree::new();
    for (path, entry) in std::mem::take(&mut raw) {
        let parent_ok = path.parent().is_some_and(|p| p.is_root() || matches!(tree.get(&p), Some(Entry::Dir)));
        if let (true, Some(e)) = (parent_ok, entry) {
            tree.insert(path, e);
        }
    }
    tree
}

fn arbitrary_tree(choices: &[(u8, u8)]) -> Tree {
    valid(universe().into_iter().zip(choices).map(|(p, (c, d))| (p, entry_of(*c, *d))).collect())
}

/// Edit a tree: each path keeps its entry unless its edit says otherwise.
fn edited(base: &Tree, edits: &[(u8, u8, u8)]) -> Tree {
    valid(
        universe()
            .into_iter()
            .zip(edits)
            .map(|(p, (keep, c, d))| {
                let e = if *keep < 7 { base.get(&p).cloned() } else { entry_of(*c, *d) };
                (p, e)
            })
            .collect(),
    )
}

/// What applying a side's steps did.
struct Applied {
    tree: Tree,
    trash: Vec<(RelPath, Entry)>,
}

/// Apply steps like an endpoint: check, keep, act. Panics on a step an
/// endpoint would have to refuse (the plan must never produce one).
fn apply(side: Side, mut tree: Tree, plan: &Plan, ancestor: &mut Tree) -> Applied {
    let mut trash = Vec::new();
    for step in plan.steps(side) {
        let p = &step.path;
        match &step.action {
            Action::Put { expected, new } => {
                assert_eq!(tree.get(p), expected.as_ref(), "{side:?}: {p:?} is not what the plan expected");
                let parent = p.parent().unwrap();
                assert!(
                    parent.is_root() || matches!(tree.get(&parent), Some(Entry::Dir)),
                    "{side:?}: no folder for {p:?}"
                );
                if let Some(old) = expected {
                    assert!(!old.is_dir(), "a folder is never replaced in place");
                    trash.push((p.clone(), old.clone()));
                }
                tree.insert(p.clone(), new.clone());
            }
            Action::Remove { expected } => {
                assert_eq!(tree.get(p), Some(expected), "{side:?}: {p:?} is not what the plan expected");
                if expected.is_dir() {
                    let child = tree.keys().find(|k| *k != p && k.starts_with(p));
                    assert!(child.is_none(), "{side:?}: removing non-empty folder {p:?} (holds {child:?})");
                } else {
                    trash.push((p.clone(), expected.clone()));
                }
                tree.remove(p);
            }
        }
        match step.resulting() {
            Some(e) => ancestor.insert(p.clone(), e.clone()),
            None => ancestor.remove(p),
        };
    }
    Applied { tree, trash }
}

fn changed_paths(ancestor: &Tree, local: &Tree, remote: &Tree) -> Vec<RelPath> {
    let mut all: BTreeSet<RelPath> = BTreeSet::new();
    all.extend(ancestor.keys().cloned());
    all.extend(local.keys().cloned());
    all.extend(remote.keys().cloned());
    all.into_iter().filter(|p| local.get(p) != ancestor.get(p) || remote.get(p) != ancestor.get(p)).collect()
}

fn valid_tree(t: &Tree) -> bool {
    t.keys().all(|p| p.parent().is_some_and(|q| q.is_root() || matches!(t.get(&q), Some(Entry::Dir))))
}

fn modes() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::TwoWayResolved), Just(Mode::TwoWaySafe), Just(Mode::Push), Just(Mode::Pull)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn sync_converges_and_loses_nothing(
        base in prop::collection::vec((0u8..7, 0u8..8), 39),
        local_edits in prop::collection::vec((0u8..10, 0u8..7, 0u8..8), 39),
        remote_edits in prop::collection::vec((0u8..10, 0u8..7, 0u8..8), 39),
        mode in modes(),
    ) {
        let ancestor = arbitrary_tree(&base);
        let local = edited(&ancestor, &local_edits);
        let remote = edited(&ancestor, &remote_edits);
        let changed = changed_paths(&ancestor, &local, &remote);
        let plan = reconcile(Views { ancestor: &ancestor, local: &local, remote: &remote }, changed.clone(), mode);

        let mut new_ancestor = ancestor.clone();
        for (p, state) in &plan.in_sync {
            match state {
                Some(e) => { new_ancestor.insert(p.clone(), e.clone()); }
                None => { new_ancestor.remove(p); }
            }
        }
        let l = apply(Side::Local, local.clone(), &plan, &mut new_ancestor);
        let r = apply(Side::Remote, remote.clone(), &plan, &mut new_ancestor);

        // Both sides stay valid trees.
        prop_assert!(valid_tree(&l.tree));
        prop_assert!(valid_tree(&r.tree));

        // Nothing is lost: whatever a side held and no longer holds is in its trash.
        for (before, after) in [(&local, &l), (&remote, &r)] {
            for (p, e) in before.iter() {
                if e.is_dir() || after.tree.get(p) == Some(e) {
                    continue;
                }
                prop_assert!(after.trash.contains(&(p.clone(), e.clone())), "{p:?} {e:?} vanished without a trace");
            }
        }

        let unresolved: Vec<&RelPath> = plan.conflicts.iter().filter(|c| c.resolution == Resolution::Unresolved).map(|c| &c.path).collect();
        if mode == Mode::TwoWaySafe {
            // Conflicting subtrees are untouched on both sides; the rest converges.
            for root in &unresolved {
                for (before, after) in [(&local, &l.tree), (&remote, &r.tree)] {
                    let b: Vec<_> = before.iter().filter(|(p, _)| p.starts_with(root)).collect();
                    let a: Vec<_> = after.iter().filter(|(p, _)| p.starts_with(root)).collect();
                    prop_assert_eq!(b, a, "conflict {:?} was touched", root);
                }
            }
            let outside = |t: &Tree| -> Tree { t.iter().filter(|(p, _)| !unresolved.iter().any(|c| p.starts_with(c))).map(|(p, e)| (p.clone(), e.clone())).collect() };
            prop_assert_eq!(outside(&l.tree), outside(&r.tree));
            prop_assert_eq!(outside(&l.tree), outside(&new_ancestor));
        } else {
            prop_assert!(unresolved.is_empty());
            prop_assert_eq!(&l.tree, &r.tree);
            prop_assert_eq!(&l.tree, &new_ancestor);
        }

        // Each mode's rule.
        match mode {
            Mode::Push => prop_assert_eq!(&l.tree, &local),
            Mode::Pull => prop_assert_eq!(&r.tree, &remote),
            Mode::TwoWayResolved => {
                for c in &plan.conflicts {
                    prop_assert_eq!(c.resolution, Resolution::Kept { winner: Side::Local });
                    prop_assert_eq!(l.tree.get(&c.path), local.get(&c.path));
                }
            }
            Mode::TwoWaySafe => {}
        }

        // A second round finds nothing to do: no re-transfer, no invented conflict.
        let again = changed_paths(&new_ancestor, &l.tree, &r.tree);
        let plan2 = reconcile(Views { ancestor: &new_ancestor, local: &l.tree, remote: &r.tree }, again, mode);
        prop_assert!(plan2.local.is_empty() && plan2.remote.is_empty(), "second round still has work: {:?}", plan2);
        prop_assert!(plan2.in_sync.is_empty());
        prop_assert_eq!(plan2.conflicts.len(), unresolved.len());
    }
}

#[test]
fn folder_deleted_on_one_side_while_a_file_inside_changed_on_the_other() {
    let p = |s: &str| RelPath::new(s).unwrap();
    let f = |n: u8| Entry::File { digest: Digest([n; 32]), size: 1, exec: false };
    let ancestor: Tree = [(p("d"), Entry::Dir), (p("d/x"), f(1)), (p("d/y"), f(1))].into();
    let local: Tree = Tree::new();
    let remote: Tree = [(p("d"), Entry::Dir), (p("d/x"), f(2)), (p("d/y"), f(1))].into();
    let changed = changed_paths(&ancestor, &local, &remote);
    let plan = reconcile(Views { ancestor: &ancestor, local: &local, remote: &remote }, changed, Mode::TwoWaySafe);
    // The edited file comes back locally, in its folder; the untouched one goes.
    assert_eq!(plan.local.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(), ["d", "d/x"]);
    assert_eq!(plan.remote.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(), ["d/y"]);
}
