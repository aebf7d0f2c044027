//! A plugin's persistent key-value store: one file per key in the plugin's
//! own folder (named by the key's hex, so any key is a safe file name),
//! written atomically. Values up to [`MAX_VALUE`], [`MAX_TOTAL`] per plugin.

use std::path::{Path, PathBuf};

/// The largest value.
pub const MAX_VALUE: usize = 1 << 20;
/// The most a plugin may store.
pub const MAX_TOTAL: u64 = 64 << 20;
/// The longest key.
pub const MAX_KEY: usize = 1024;

/// One plugin's store.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store kept in `dir` (created on first write).
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    fn file(&self, key: &str) -> Result<PathBuf, String> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(format!("keys are 1 to {MAX_KEY} bytes"));
        }
        Ok(self.dir.join(hex::encode(key)))
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        match std::fs::read(self.file(key)?) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading {key:?}: {e}")),
        }
    }

    /// Store `value` under `key`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let file = self.file(key)?;
        if value.len() > MAX_VALUE {
            return Err(format!("a value is at most {MAX_VALUE} bytes; this one has {}", value.len()));
        }
        let replaced = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        if self.size() - replaced + value.len() as u64 > MAX_TOTAL {
            return Err(format!("the store would exceed {} MiB", MAX_TOTAL >> 20));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("creating the store: {e}"))?;
        let tmp = self.dir.join(format!(".{}.tmp", hex::encode(key)));
        std::fs::write(&tmp, value)
            .and_then(|()| std::fs::rename(&tmp, &file))
            .map_err(|e| format!("writing {key:?}: {e}"))
    }

    /// Forget `key`.
    pub fn delete(&self, key: &str) -> Result<(), String> {
        match std::fs::remove_file(self.file(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("deleting {key:?}: {e}")),
        }
    }

    /// The keys starting with `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, String> {
        let mut keys: Vec<String> = entries(&self.dir)
            .filter_map(|(name, _)| String::from_utf8(hex::decode(name).ok()?).ok())
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }

    fn size(&self) -> u64 {
        entries(&self.dir).map(|(_, len)| len).sum()
    }
}

/// The stored values: (file name, length), skipping temporary files.
fn entries(dir: &Path) -> impl Iterator<Item = (String, u64)> {
    std::fs::read_dir(dir).into_iter().flatten().flatten().filter_map(|e| {
        let name = e.file_name().into_string().ok()?;
        (!name.starts_with('.')).then(|| (name, e.metadata().map(|m| m.len()).unwrap_or(0)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_keys_list_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path().join("kv"));
        assert_eq!(s.get("a").unwrap(), None);
        assert_eq!(s.keys("").unwrap(), Vec::<String>::new());
        s.set("task/one", b"1").unwrap();
        s.set("task/two", b"22").unwrap();
        s.set("../../etc/passwd", b"x").unwrap();
        assert_eq!(s.get("task/two").unwrap().as_deref(), Some(&b"22"[..]));
        assert_eq!(s.keys("task/").unwrap(), ["task/one", "task/two"]);
        assert!(!dir.path().join("etc").exists(), "keys never become paths");
        s.delete("task/one").unwrap();
        s.delete("task/one").unwrap();
        assert_eq!(s.keys("task").unwrap(), ["task/two"]);
    }

    #[test]
    fn limits_are_enforced_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path().to_path_buf());
        assert!(s.set("", b"x").unwrap_err().contains("1 to"));
        assert!(s.set("big", &vec![0; MAX_VALUE + 1]).unwrap_err().contains("at most"));
        for i in 0..(MAX_TOTAL as usize / MAX_VALUE) {
            s.set(&format!("k{i}"), &vec![0; MAX_VALUE]).unwrap();
        }
        assert!(s.set("one-more", b"x").unwrap_err().contains("exceed"));
        // Replacing a value counts only the difference.
        s.set("k0", &vec![1; MAX_VALUE]).unwrap();
    }
}
