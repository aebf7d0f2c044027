//! The local record of each project session (local path ↔ id ↔ remote path),
//! one small JSON file per session under `$XDG_DATA_HOME/sincronizado/sessions`,
//! so `sinc list` can name local folders from anywhere.

use crate::atomic_file;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What is remembered about a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Session id.
    pub id: String,
    /// Local project folder.
    pub local_path: PathBuf,
    /// Remote folder (absolute once known).
    pub remote_path: String,
    /// The VPS (`vps.host`).
    pub host: String,
    /// Agent command.
    pub agent: String,
    /// When sinc first started it, seconds since the epoch.
    pub created: u64,
}

/// The folder of records.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// Records under `data_dir/sessions`.
    pub fn new(data_dir: &Path) -> Registry {
        Registry { dir: data_dir.join("sessions") }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Save (replace) a record.
    pub fn save(&self, record: &SessionRecord) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        atomic_file::write(&self.path(&record.id), &json, 0o600)
    }

    /// The record of `id`, if any (an unreadable record counts as none).
    pub fn load(&self, id: &str) -> Option<SessionRecord> {
        let bytes = std::fs::read(self.path(id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Every readable record, by id.
    pub fn all(&self) -> Vec<SessionRecord> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut records: Vec<SessionRecord> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").and_then(|id| self.load(id)))
            .collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        records
    }

    /// Forget `id`.
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_remove() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(dir.path());
        let r = SessionRecord {
            id: "sinc-a-123456".into(),
            local_path: "/l".into(),
            remote_path: "/r".into(),
            host: "h".into(),
            agent: "opencode".into(),
            created: 1,
        };
        reg.save(&r).unwrap();
        assert_eq!(reg.load(&r.id), Some(r.clone()));
        std::fs::write(dir.path().join("sessions/broken.json"), "{").unwrap();
        assert_eq!(reg.all(), vec![r.clone()], "unreadable records are skipped");
        reg.remove(&r.id).unwrap();
        reg.remove(&r.id).unwrap();
        assert_eq!(reg.load(&r.id), None);
    }
}
