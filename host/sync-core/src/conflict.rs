//! Conflicts: a path both sides changed differently since they last agreed.

use crate::decide::Side;
use crate::entry::Entry;
use crate::path::RelPath;
use serde::{Deserialize, Serialize};

/// A conflict and how it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// Where (for a folder-level clash, the folder).
    pub path: RelPath,
    /// The last agreed entry.
    pub ancestor: Option<Entry>,
    /// The local entry when the conflict was found.
    pub local: Option<Entry>,
    /// The remote entry when the conflict was found.
    pub remote: Option<Entry>,
    /// What happened.
    pub resolution: Resolution,
}

/// How a conflict was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    /// Nothing was touched (two-way-safe): the user decides.
    Unresolved,
    /// One side's version was applied to both; the other side's version is
    /// kept in that side's trash.
    Kept {
        /// The side whose version now stands on both sides.
        winner: Side,
    },
}
