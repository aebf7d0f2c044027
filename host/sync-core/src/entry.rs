//! What sync knows about one path: its kind and content, never its timestamps.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A BLAKE3 digest of a file's content.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The synchronised state of a path. Modification times and owners are not
/// part of it; a file's executable bit is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Entry {
    /// A folder.
    Dir,
    /// A regular file.
    File {
        /// Content digest.
        digest: Digest,
        /// Size in bytes.
        size: u64,
        /// Whether any execute bit is set.
        exec: bool,
    },
    /// A symbolic link (only links that stay inside the root are synced).
    Symlink {
        /// The link's target, as stored.
        target: String,
    },
}

impl Entry {
    /// Whether this is a folder.
    pub fn is_dir(&self) -> bool {
        matches!(self, Entry::Dir)
    }

    /// A short name of the kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Dir => "folder",
            Entry::File { .. } => "file",
            Entry::Symlink { .. } => "symlink",
        }
    }

    /// Bytes a transfer of this entry carries.
    pub fn size(&self) -> u64 {
        match self {
            Entry::File { size, .. } => *size,
            _ => 0,
        }
    }

    /// Whether replacing `self` with `other` is a change of kind (which needs
    /// the old one removed first).
    pub fn kind_differs(&self, other: &Entry) -> bool {
        std::mem::discriminant(self) != std::mem::discriminant(other)
    }
}
