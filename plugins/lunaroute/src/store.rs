//! The recordings on disk: `recordings/<day>/<session>.jsonl` in the
//! plugin's own folder, appended in batches, read back at start (a broken
//! line is skipped with a warning), and kept within an age and a size.

use crate::record::{Record, parse_lines};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file name of records that name no session.
pub const NO_SESSION: &str = "no-session";

/// Where the recordings are.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// What reading the recordings found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every record, bodies dropped, oldest first.
    pub summaries: Vec<Record>,
    /// Lines that were not a record (file, count).
    pub bad: Vec<(PathBuf, usize)>,
}

impl Store {
    /// Recordings under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The file `record` goes in.
    pub fn file_of(&self, record: &Record) -> PathBuf {
        let session = record.session.as_deref().unwrap_or(NO_SESSION);
        self.root.join(record.day()).join(format!("{session}.jsonl"))
    }

    /// Append `lines` (file → JSONL text) to their files.
    pub fn append(&self, lines: &BTreeMap<PathBuf, String>) -> Result<(), String> {
        for (file, text) in lines {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .map_err(|e| format!("opening {}: {e}", file.display()))?;
            f.write_all(text.as_bytes()).map_err(|e| format!("writing {}: {e}", file.display()))?;
        }
        Ok(())
    }

    /// The day folders, oldest first, with their files.
    fn days(&self) -> Vec<(String, Vec<PathBuf>)> {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return Vec::new() };
        let mut days: Vec<(String, Vec<PathBuf>)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| {
                let mut files: Vec<PathBuf> = std::fs::read_dir(e.path())
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
                    .map(|f| f.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                    .collect();
                files.sort();
                (e.file_name().to_string_lossy().into_owned(), files)
            })
            .collect();
        days.sort();
        days
    }

    /// Every record's summary.
    pub fn load(&self) -> Loaded {
        let mut loaded = Loaded::default();
        for (_, files) in self.days() {
            for file in files {
                let text = std::fs::read(&file).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                let (records, bad) = parse_lines(&text);
                loaded.summaries.extend(records.into_iter().map(Record::into_summary));
                if bad > 0 {
                    loaded.bad.push((file, bad));
                }
            }
        }
        loaded.summaries.sort_by_key(|r| r.ts);
        loaded
    }

    /// The whole record `summary` stands for (read from its file).
    pub fn full(&self, summary: &Record) -> Option<Record> {
        let text = std::fs::read_to_string(self.file_of(summary)).ok()?;
        parse_lines(&text).0.into_iter().find(|r| r.id == summary.id)
    }

    /// Remove the days before `oldest_day` (`YYYY-MM-DD`), then whole files,
    /// oldest first, until everything fits in `max_bytes`; the files
    /// removed.
    pub fn keep_within(&self, oldest_day: &str, max_bytes: u64) -> Vec<PathBuf> {
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        for (day, files) in self.days() {
            if day.as_str() < oldest_day {
                removed.extend(files);
                let _ = std::fs::remove_dir_all(self.root.join(&day));
            } else {
                kept.extend(files);
            }
        }
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let mut total: u64 = kept.iter().map(|p| size(p)).sum();
        for file in kept {
            if total <= max_bytes {
                break;
            }
            total -= size(&file);
            if std::fs::remove_file(&file).is_ok() {
                if let Some(dir) = file.parent() {
                    let _ = std::fs::remove_dir(dir);
                }
                removed.push(file);
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Outcome, Timings};

    fn record(id: &str, ts: u64, session: Option<&str>) -> Record {
        Record {
            id: id.into(),
            ts,
            session: session.map(Into::into),
            provider: "anthropic".into(),
            endpoint: "messages".into(),
            method: "POST".into(),
            path: "/v1/messages".into(),
            model: Some("claude-haiku-4-5".into()),
            stream: false,
            status: 200,
            outcome: Outcome::Ok,
            error: None,
            usage: None,
            cost_usd: None,
            timings: Timings::default(),
            tool_calls: vec![],
            bytes: 10,
            request: Some(serde_json::json!({"model": "claude-haiku-4-5"})),
            response: Some(serde_json::json!("x".repeat(1000))),
        }
    }

    fn write(store: &Store, records: &[Record]) {
        let mut lines: BTreeMap<PathBuf, String> = BTreeMap::new();
        for r in records {
            lines.entry(store.file_of(r)).or_default().push_str(&(serde_json::to_string(r).unwrap() + "\n"));
        }
        store.append(&lines).unwrap();
    }

    #[test]
    fn records_are_kept_per_day_and_session_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let day = 86_400_000;
        let records =
            [record("a", day, Some("sinc-a-1")), record("b", day + 5, None), record("c", 2 * day, Some("sinc-a-1"))];
        write(&store, &records);
        assert!(dir.path().join("1970-01-02/sinc-a-1.jsonl").exists());
        assert!(dir.path().join("1970-01-02/no-session.jsonl").exists());
        // A broken line (a crash mid-write) is skipped and reported.
        let file = dir.path().join("1970-01-03/sinc-a-1.jsonl");
        let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
        f.write_all(b"{\"id\":\"d\",\"ts\"").unwrap();
        let loaded = store.load();
        let ids: Vec<&str> = loaded.summaries.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(loaded.summaries[0].request.is_none(), "summaries leave the bodies on disk");
        assert_eq!(loaded.bad, [(file, 1)]);
        assert_eq!(store.full(&loaded.summaries[2]).unwrap(), records[2]);
    }

    #[test]
    fn old_days_then_the_oldest_files_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let day = 86_400_000;
        write(
            &store,
            &[record("a", day, Some("s1")), record("b", 2 * day, Some("s1")), record("c", 3 * day, Some("s2"))],
        );
        let removed = store.keep_within("1970-01-03", u64::MAX);
        assert_eq!(removed, [dir.path().join("1970-01-02/s1.jsonl")]);
        let one_file = std::fs::metadata(dir.path().join("1970-01-04/s2.jsonl")).unwrap().len();
        let removed = store.keep_within("1970-01-01", one_file);
        assert_eq!(removed, [dir.path().join("1970-01-03/s1.jsonl")]);
        assert!(!dir.path().join("1970-01-03").exists());
        assert_eq!(store.load().summaries.len(), 1);
    }
}
