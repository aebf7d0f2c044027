//! Paths relative to the sync root, in one canonical form on both sides.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::sync::{Arc, LazyLock};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// A relative path inside the sync root: `/`-separated, Unicode NFC (so a
/// macOS NFD name and its Linux NFC twin are the same path), no empty, `.` or
/// `..` components, no leading or trailing `/`. The root itself is the empty
/// path.
///
/// Paths order component by component, so a folder sorts right before its
/// contents (`a` < `a/b` < `a-c`): walking in order visits parents first.
///
/// The text is shared: a clone costs a reference count, not a copy, so the
/// many maps and sets that name the same path (an index, the ancestor, a
/// plan) hold its bytes once.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RelPath(Arc<str>);

/// Why a string is not a valid relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPath(pub String);

impl fmt::Display for InvalidPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid sync path: {}", self.0)
    }
}

impl std::error::Error for InvalidPath {}

impl RelPath {
    /// The sync root.
    pub fn root() -> RelPath {
        static ROOT: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));
        RelPath(ROOT.clone())
    }

    /// Validate and normalise (NFC) a relative path.
    pub fn new(s: &str) -> Result<RelPath, InvalidPath> {
        if s.is_empty() {
            return Ok(RelPath::root());
        }
        if s.starts_with('/') || s.ends_with('/') {
            return Err(InvalidPath(format!("{s:?} must not start or end with '/'")));
        }
        if s.contains('\0') || s.contains('\\') {
            return Err(InvalidPath(format!("{s:?} contains a NUL or a backslash")));
        }
        for part in s.split('/') {
            if part.is_empty() || part == "." || part == ".." {
                return Err(InvalidPath(format!("{s:?} has an empty, '.' or '..' component")));
            }
        }
        Ok(RelPath(match is_nfc_quick(s.chars()) {
            IsNormalized::Yes => Arc::from(s),
            _ => Arc::from(s.nfc().collect::<String>()),
        }))
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` holds the very same copy of the text (not only an
    /// equal one).
    pub fn shares_text_with(&self, other: &RelPath) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The parent folder (`None` for the root).
    pub fn parent(&self) -> Option<RelPath> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => RelPath(Arc::from(&self.0[..i])),
            None => RelPath::root(),
        })
    }

    /// The last component (empty for the root).
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// `self/name`.
    pub fn join(&self, name: &str) -> Result<RelPath, InvalidPath> {
        if self.is_root() { RelPath::new(name) } else { RelPath::new(&format!("{}/{name}", self.0)) }
    }

    /// Number of components (0 for the root).
    pub fn depth(&self) -> usize {
        if self.is_root() { 0 } else { self.0.matches('/').count() + 1 }
    }

    /// Whether `self` is `other` or inside it.
    pub fn starts_with(&self, other: &RelPath) -> bool {
        other.is_root()
            || *self.0 == *other.0
            || (self.0.len() > other.0.len()
                && self.0.starts_with(&*other.0)
                && self.0.as_bytes()[other.0.len()] == b'/')
    }

    /// Every ancestor folder, nearest first, ending with the root.
    pub fn ancestors(&self) -> impl Iterator<Item = RelPath> {
        std::iter::successors(self.parent(), RelPath::parent)
    }

    /// The lowercase form, to detect names that clash on a case-insensitive
    /// file system.
    pub fn case_fold(&self) -> String {
        self.0.to_lowercase()
    }
}

impl Ord for RelPath {
    /// Byte order with `/` below every other byte. Maps and sorts compare
    /// paths all the time, mostly ones sharing a long prefix: the common
    /// prefix is skipped 16 bytes at a time, and only the first differing
    /// byte is weighed.
    fn cmp(&self, other: &RelPath) -> Ordering {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        let same = common_prefix(a, b);
        match (a.get(same), b.get(same)) {
            (Some(&x), Some(&y)) => separator_first(x).cmp(&separator_first(y)),
            _ => a.len().cmp(&b.len()),
        }
    }
}

/// A byte's rank in path order: `/` first, then every byte by value.
fn separator_first(b: u8) -> u16 {
    if b == b'/' { 0 } else { u16::from(b) + 1 }
}

/// How many leading bytes `a` and `b` share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 16;
    let len = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= len && a[i..i + BLOCK] == b[i..i + BLOCK] {
        i += BLOCK;
    }
    while i < len && a[i] == b[i] {
        i += 1;
    }
    i
}

impl PartialOrd for RelPath {
    fn partial_cmp(&self, other: &RelPath) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() { f.write_str(".") } else { f.write_str(&self.0) }
    }
}

impl TryFrom<String> for RelPath {
    type Error = InvalidPath;
    fn try_from(s: String) -> Result<RelPath, InvalidPath> {
        RelPath::new(&s)
    }
}

impl From<RelPath> for String {
    fn from(p: RelPath) -> String {
        String::from(&*p.0)
    }
}

impl Serialize for RelPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RelPath, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RelPath;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a relative sync path")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RelPath, E> {
                RelPath::new(s).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    #[test]
    fn validation() {
        for bad in ["/a", "a/", "a//b", "a/./b", "../a", "a/..", "a\0b", "a\\b"] {
            assert!(RelPath::new(bad).is_err(), "{bad}");
        }
        assert!(p("").is_root());
    }

    #[test]
    fn nfd_and_nfc_are_one_path() {
        assert_eq!(p("cafe\u{301}"), p("caf\u{e9}"));
    }

    #[test]
    fn parents_sort_before_their_contents() {
        let mut v = vec![p("a-c"), p("a/b"), p("a"), p("a/b/c"), p("b"), p("")];
        v.sort();
        assert_eq!(v, vec![p(""), p("a"), p("a/b"), p("a/b/c"), p("a-c"), p("b")]);
    }

    proptest::proptest! {
        /// The same order as comparing the paths byte by byte with `/`
        /// ranked first.
        #[test]
        fn order_is_bytewise_with_the_separator_first(
            shared in proptest::collection::vec("[ab.-]{1,20}", 0..4),
            a in proptest::collection::vec("[ab.-]{1,20}", 0..3),
            b in proptest::collection::vec("[ab.-]{1,20}", 0..3),
        ) {
            let path = |own: &[String]| shared.iter().chain(own).cloned().collect::<Vec<_>>().join("/");
            let (Ok(pa), Ok(pb)) = (RelPath::new(&path(&a)), RelPath::new(&path(&b))) else { return Ok(()) };
            let expected = pa.as_str().bytes().map(separator_first).cmp(pb.as_str().bytes().map(separator_first));
            proptest::prop_assert_eq!(pa.cmp(&pb), expected);
        }
    }

    #[test]
    fn family() {
        assert_eq!(p("a/b/c").parent(), Some(p("a/b")));
        assert_eq!(p("a").parent(), Some(p("")));
        assert_eq!(p("").parent(), None);
        assert_eq!(p("a/b/c").name(), "c");
        assert_eq!(p("a/b/c").depth(), 3);
        assert!(p("a/b").starts_with(&p("a")));
        assert!(!p("ab").starts_with(&p("a")));
        assert!(p("a").starts_with(&p("")));
        assert_eq!(p("a/b/c").ancestors().collect::<Vec<_>>(), vec![p("a/b"), p("a"), p("")]);
        assert_eq!(p("").join("x").unwrap(), p("x"));
    }

    #[test]
    fn serialised_as_a_string_and_checked_when_read() {
        let json = serde_json::to_string(&p("a/b")).unwrap();
        assert_eq!(json, r#""a/b""#);
        assert_eq!(serde_json::from_str::<RelPath>(&json).unwrap(), p("a/b"));
        assert_eq!(serde_json::from_str::<RelPath>(r#""cafe\u0301""#).unwrap(), p("caf\u{e9}"));
        let err = serde_json::from_str::<RelPath>(r#""../etc""#).unwrap_err().to_string();
        assert!(err.contains("invalid sync path"), "{err}");
        assert!(serde_json::from_str::<RelPath>("7").is_err());
    }

    #[test]
    fn clones_share_their_text() {
        let a = p("a/b");
        assert!(a.clone().shares_text_with(&a));
        assert!(!p("a/b").shares_text_with(&a));
    }
}
