//! Looking at one host: its sessions and their screens in one round trip
//! over its own SSH connection, and each session's sync from this laptop's
//! keeper. A host that does not answer within the time limit is reported
//! unreachable; the others never wait for it.

use super::row::{Row, rows};
use crate::keeper::{KeeperPaths, control};
use crate::paths::Dirs;
use crate::session::agent_state::PatternBook;
use crate::session::tmux;
use crate::transport::{Link, RemoteStatus};
use std::time::Duration;

/// The most one look may take.
pub const LOOK_LIMIT: Duration = Duration::from_secs(20);

/// The sessions on the host `link` reaches (called `host`), with states read
/// with `book` and sync from the keepers under `dirs`.
pub async fn look(link: &Link, host: &str, book: &PatternBook, dirs: &Dirs) -> Result<Vec<Row>, String> {
    let out = tokio::time::timeout(LOOK_LIMIT, link.run(&tmux::snapshot_script(), b""))
        .await
        .map_err(|_| format!("no answer in {} s", LOOK_LIMIT.as_secs()))?
        .map_err(|e| e.to_string())?;
    match out.status {
        RemoteStatus::Exited(0) => {}
        RemoteStatus::Exited(tmux::status::NO_TMUX) => return Err("no tmux there".into()),
        _ => return Err(format!("listing failed: {}", out.stderr_text().trim())),
    }
    let (sessions, screens) = tmux::parse_snapshot(&out.stdout_text());
    let mut found = rows(host, sessions, &screens, book);
    for row in &mut found {
        let paths = KeeperPaths::new(dirs, &row.id);
        if let Ok(control::ControlResponse::Status { status, .. }) =
            control::request(&paths.socket, &control::ControlRequest::Status).await
        {
            row.conflicts = status.conflicts;
            row.sync = Some(status.summary());
        }
    }
    Ok(found)
}
