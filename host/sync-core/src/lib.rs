//! sinc's sync decisions as pure data. Nothing here touches a file system or
//! a network: given the last agreed state (the ancestor) and both sides'
//! current states for the paths that changed, it decides what each side must
//! do, in what order, what conflicts, and when to stop for safety.
//!
//! - [`path`]: canonical relative paths (NFC, `/`), ordered parents first.
//! - [`entry`]: what a path holds (folder, file with digest and exec bit, link).
//! - [`decide`]: the three-way rule for one path, per mode.
//! - [`reconcile`]: a set of changed paths → an ordered [`Plan`] per side.
//! - [`conflict`]: conflicts and their resolution.
//! - [`guard`]: halts on root deletion, emptied root, mass deletes.
//!
//! The engine (`sinc::sync`) scans, watches and applies; it never decides.

pub mod conflict;
pub mod decide;
pub mod entry;
pub mod guard;
pub mod path;
pub mod reconcile;

pub use conflict::{Conflict, Resolution};
pub use decide::{Decision, Mode, Side, decide};
pub use entry::{Digest, Entry};
pub use guard::{DeleteLimits, Halt, Sizes};
pub use path::{InvalidPath, RelPath};
pub use reconcile::{Action, Plan, Step, TreeView, Views, reconcile};
