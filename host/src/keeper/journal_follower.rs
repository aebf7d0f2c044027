//! Following the VPS daemon's journal of session events for this keeper's
//! session, while any local plugin is enabled: each answer's events go to
//! the local plugin host (see `local_host`), and only then does the cursor
//! (kept in the session's folder) move on — so events that happened while
//! the laptop was away, or while no keeper hosted the local plugins, reach
//! them once a keeper can deliver them.

use super::control::{self, ControlRequest, ControlResponse};
use super::plugins::CurrentClient;
use crate::plugins::Installed;
use crate::sync::wire::{Request, Response};
use sinc_plugin_host::RunsOn;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one request waits on the VPS for news.
const WAIT: Duration = Duration::from_secs(25);

/// Pause after a failure, and between looks at the lockfile while no local
/// plugin is enabled.
const PAUSE: Duration = Duration::from_secs(5);

/// Where this keeper is in the daemon's journal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    journal: String,
    last: u64,
}

fn load(path: &Path) -> Option<Cursor> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn save(path: &Path, cursor: &Cursor) {
    if let Err(e) = crate::atomic_file::write(path, &serde_json::to_vec(cursor).unwrap_or_default(), 0o600) {
        tracing::warn!("saving where the session events were heard up to: {e}");
    }
}

/// Follow `session`'s events on the connected daemon (`client`) until the
/// keeper stops; the cursor is kept at `cursor_path`.
pub async fn run(session: String, cursor_path: PathBuf, installed: Installed, mut client: CurrentClient) {
    let mut cursor = load(&cursor_path);
    loop {
        if !installed.any_enabled(RunsOn::Local) {
            // Nobody to hear them: once a local plugin is enabled, it hears
            // what happens from then on, not the journal's past.
            if cursor.take().is_some() {
                let _ = std::fs::remove_file(&cursor_path);
            }
            tokio::time::sleep(PAUSE).await;
            continue;
        }
        let current = client.borrow_and_update().clone();
        let Some(daemon) = current else {
            if client.changed().await.is_err() {
                return;
            }
            continue;
        };
        let request = Request::SessionEvents {
            session: session.clone(),
            journal: cursor.as_ref().map(|c| c.journal.clone()),
            after: cursor.as_ref().map(|c| c.last),
            wait_ms: u32::try_from(WAIT.as_millis()).unwrap_or(u32::MAX),
        };
        let (journal, last, events) = match daemon.call(request).await {
            Ok(Response::SessionEvents { journal, last, events }) => (journal, last, events),
            Ok(other) => {
                tracing::warn!("the VPS did not give the session events: {other:?}");
                tokio::time::sleep(PAUSE).await;
                continue;
            }
            Err(e) => {
                tracing::debug!("asking the VPS for session events: {e}");
                tokio::time::sleep(PAUSE).await;
                continue;
            }
        };
        if !events.is_empty() {
            let events = events.into_iter().map(|e| (e.change, e.session)).collect();
            let handed = tokio::time::timeout(
                PAUSE,
                control::request(&installed.host_socket(), &ControlRequest::LocalEvents { events }),
            )
            .await;
            match handed {
                Ok(Ok(ControlResponse::Done)) => {}
                other => {
                    // Kept for when a keeper hosts the local plugins again.
                    tracing::debug!("no local plugin host took the session events: {other:?}");
                    tokio::time::sleep(PAUSE).await;
                    continue;
                }
            }
        }
        let next = Cursor { journal, last };
        if cursor.as_ref() != Some(&next) {
            save(&cursor_path, &next);
            cursor = Some(next);
        }
    }
}
