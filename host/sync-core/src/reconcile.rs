//! Reconciliation of a set of changed paths into a plan: per-path decisions,
//! then structural fix-ups so each side stays a valid tree (a kept file needs
//! its folder; a folder turned into a file on one side while the other side
//! changed something inside it is a conflict), then ordered steps per side.
//!
//! Work is proportional to the paths given, never to the tree.

use crate::conflict::{Conflict, Resolution};
use crate::decide::{Decision, Mode, Side, decide};
use crate::entry::Entry;
use crate::path::RelPath;
use std::collections::{BTreeMap, BTreeSet};

/// Read access to one tree (ancestor, local or remote).
pub trait TreeView {
    /// The entry at `path`, if any.
    fn get(&self, path: &RelPath) -> Option<&Entry>;
}

impl TreeView for BTreeMap<RelPath, Entry> {
    fn get(&self, path: &RelPath) -> Option<&Entry> {
        BTreeMap::get(self, path)
    }
}

/// The three trees a reconciliation reads.
#[derive(Clone, Copy)]
pub struct Views<'a> {
    /// The last agreed state.
    pub ancestor: &'a dyn TreeView,
    /// The laptop's current state.
    pub local: &'a dyn TreeView,
    /// The VPS's current state.
    pub remote: &'a dyn TreeView,
}

impl std::fmt::Debug for Views<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Views")
    }
}

impl Views<'_> {
    fn side(&self, side: Side) -> &dyn TreeView {
        match side {
            Side::Local => self.local,
            Side::Remote => self.remote,
        }
    }
}

/// One change to apply to one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The path.
    pub path: RelPath,
    /// What to do.
    pub action: Action,
    /// Whether the content being replaced or removed was itself a change on
    /// this side (a conflict's loser): it is kept and listed as such.
    pub loser: bool,
}

/// What a step does. Every step names what the path is expected to hold now;
/// the endpoint checks it before acting and refuses if the path changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Make the path hold `new`. A file or link it replaces goes to the trash.
    Put {
        /// The current entry (`None`: nothing there).
        expected: Option<Entry>,
        /// The entry to create.
        new: Entry,
    },
    /// Remove the path (files and links go to the trash; folders must be empty).
    Remove {
        /// The current entry.
        expected: Entry,
    },
}

impl Step {
    /// The ancestor entry to record once the step succeeded.
    pub fn resulting(&self) -> Option<&Entry> {
        match &self.action {
            Action::Put { new, .. } => Some(new),
            Action::Remove { .. } => None,
        }
    }
}

/// The outcome of a reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Steps for the local side, in the order to apply them.
    pub local: Vec<Step>,
    /// Steps for the remote side, in the order to apply them.
    pub remote: Vec<Step>,
    /// Paths already in the same state on both sides whose ancestor must be
    /// updated (no work needed).
    pub in_sync: Vec<(RelPath, Option<Entry>)>,
    /// Conflicts found (unresolved in two-way-safe mode; resolved with the
    /// loser kept otherwise).
    pub conflicts: Vec<Conflict>,
}

impl Plan {
    /// The steps for one side.
    pub fn steps(&self, side: Side) -> &[Step] {
        match side {
            Side::Local => &self.local,
            Side::Remote => &self.remote,
        }
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.local.is_empty() && self.remote.is_empty() && self.in_sync.is_empty() && self.conflicts.is_empty()
    }
}

struct Reconciler<'a> {
    views: Views<'a>,
    mode: Mode,
    decisions: BTreeMap<RelPath, Decision>,
    conflict_roots: BTreeSet<RelPath>,
}

impl Reconciler<'_> {
    fn current(&self, side: Side, path: &RelPath) -> Option<&Entry> {
        self.views.side(side).get(path)
    }

    /// The state `side` will have at `path` once the plan is applied.
    fn final_state(&self, side: Side, path: &RelPath) -> Option<&Entry> {
        match self.decisions.get(path) {
            Some(Decision::InSync { state }) => state.as_ref(),
            Some(Decision::Propagate { from, .. }) => self.current(*from, path),
            Some(Decision::Conflict) | None => self.current(side, path),
        }
    }

    /// Both sides changed the subtree at `root` in ways that cannot both
    /// stand: apply the mode's conflict rule to the whole subtree.
    fn conflict_subtree(&mut self, root: &RelPath) {
        let inside: Vec<RelPath> = self
            .decisions
            .range(root.clone()..)
            .take_while(|(p, _)| p.starts_with(root))
            .map(|(p, _)| p.clone())
            .chain(std::iter::once(root.clone()))
            .collect();
        for p in inside {
            let decision = if self.current(Side::Local, &p) == self.current(Side::Remote, &p) {
                Decision::InSync { state: self.current(Side::Local, &p).cloned() }
            } else if self.mode == Mode::TwoWayResolved {
                Decision::Propagate { from: Side::Local, overrides_change: false }
            } else {
                Decision::Conflict
            };
            self.decisions.insert(p, decision);
        }
        self.conflict_roots.retain(|c| !c.starts_with(root));
        self.conflict_roots.insert(root.clone());
    }

    /// One pass of structural fix-ups; returns whether anything changed.
    fn fix_structure(&mut self) -> bool {
        let mut changed = false;
        let paths: Vec<RelPath> = self.decisions.keys().cloned().collect();
        for path in paths {
            let Some(parent) = path.parent().filter(|p| !p.is_root()) else {
                continue;
            };
            for side in [Side::Local, Side::Remote] {
                if self.final_state(side, &path).is_none() {
                    continue;
                }
                match self.final_state(side, &parent) {
                    Some(Entry::Dir) => {}
                    None => {
                        let holder = [Side::Local, Side::Remote]
                            .into_iter()
                            .find(|s| self.current(*s, &parent).is_some_and(Entry::is_dir));
                        let parent_in_conflict = self.decisions.get(&parent) == Some(&Decision::Conflict);
                        match holder {
                            Some(from) if !parent_in_conflict => {
                                self.decisions
                                    .insert(parent.clone(), Decision::Propagate { from, overrides_change: false });
                            }
                            _ => self.conflict_subtree(&parent),
                        }
                        changed = true;
                    }
                    Some(_) => {
                        self.conflict_subtree(&parent);
                        changed = true;
                    }
                }
            }
        }
        changed
    }
}

/// Reconcile the paths that changed on either side.
pub fn reconcile(views: Views<'_>, changed: impl IntoIterator<Item = RelPath>, mode: Mode) -> Plan {
    let mut r = Reconciler { views, mode, decisions: BTreeMap::new(), conflict_roots: BTreeSet::new() };
    for path in changed {
        if path.is_root() || r.decisions.contains_key(&path) {
            continue;
        }
        let d = decide(views.ancestor.get(&path), views.local.get(&path), views.remote.get(&path), mode);
        if d == Decision::Conflict {
            r.conflict_roots.insert(path.clone());
        }
        r.decisions.insert(path, d);
    }
    // Each fix adds a parent or turns a subtree into its terminal conflict
    // form, so a few passes settle it; the bound guards against a logic error.
    for _ in 0..64 {
        if !r.fix_structure() {
            break;
        }
    }
    build_plan(&r)
}

fn build_plan(r: &Reconciler<'_>) -> Plan {
    let mut plan = Plan::default();
    let mut local = Steps::default();
    let mut remote = Steps::default();
    for (path, decision) in &r.decisions {
        let ancestor = r.views.ancestor.get(path);
        match decision {
            Decision::InSync { state } => {
                if ancestor != state.as_ref() {
                    plan.in_sync.push((path.clone(), state.clone()));
                }
            }
            Decision::Conflict => {
                if r.conflict_roots.contains(path) {
                    plan.conflicts.push(conflict(r, path, Resolution::Unresolved));
                }
            }
            Decision::Propagate { from, overrides_change } => {
                let target = from.other();
                let expected = r.current(target, path).cloned();
                let new = r.current(*from, path).cloned();
                if expected == new {
                    if ancestor != new.as_ref() {
                        plan.in_sync.push((path.clone(), new));
                    }
                    continue;
                }
                let loser = *overrides_change || r.conflict_roots.iter().any(|c| path.starts_with(c));
                if loser && (r.conflict_roots.contains(path) || *overrides_change) {
                    plan.conflicts.push(conflict(r, path, Resolution::Kept { winner: *from }));
                }
                let steps = match target {
                    Side::Local => &mut local,
                    Side::Remote => &mut remote,
                };
                steps.add(path.clone(), expected, new, loser);
            }
        }
    }
    plan.local = local.ordered();
    plan.remote = remote.ordered();
    plan
}

fn conflict(r: &Reconciler<'_>, path: &RelPath, resolution: Resolution) -> Conflict {
    Conflict {
        path: path.clone(),
        ancestor: r.views.ancestor.get(path).cloned(),
        local: r.views.local.get(path).cloned(),
        remote: r.views.remote.get(path).cloned(),
        resolution,
    }
}

/// Steps for one side, sorted into the three phases that keep the tree valid:
/// puts that change no kind (parents first), removals (children first), then
/// puts of changed kinds and everything beneath them (parents first).
#[derive(Default)]
struct Steps {
    puts: Vec<Step>,
    removes: Vec<Step>,
    kind_changes: BTreeSet<RelPath>,
}

impl Steps {
    fn add(&mut self, path: RelPath, expected: Option<Entry>, new: Option<Entry>, loser: bool) {
        match (expected, new) {
            (Some(old), None) => self.removes.push(Step { path, action: Action::Remove { expected: old }, loser }),
            (None, Some(new)) => self.puts.push(Step { path, action: Action::Put { expected: None, new }, loser }),
            (Some(old), Some(new)) if old.kind_differs(&new) => {
                self.kind_changes.insert(path.clone());
                self.removes.push(Step { path: path.clone(), action: Action::Remove { expected: old }, loser });
                self.puts.push(Step { path, action: Action::Put { expected: None, new }, loser });
            }
            (Some(old), Some(new)) => {
                self.puts.push(Step { path, action: Action::Put { expected: Some(old), new }, loser });
            }
            (None, None) => {}
        }
    }

    fn ordered(mut self) -> Vec<Step> {
        let after_kind_change =
            |p: &RelPath| self.kind_changes.contains(p) || p.ancestors().any(|a| self.kind_changes.contains(&a));
        let (mut late, mut early): (Vec<Step>, Vec<Step>) =
            self.puts.drain(..).partition(|s| after_kind_change(&s.path));
        early.sort_by(|a, b| a.path.cmp(&b.path));
        late.sort_by(|a, b| a.path.cmp(&b.path));
        self.removes.sort_by(|a, b| b.path.cmp(&a.path));
        early.into_iter().chain(self.removes).chain(late).collect()
    }
}
