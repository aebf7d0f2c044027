//! The end of a session for the local plugins that take part in it (SDK
//! 1.6 `ending`): the session's sync is flushed and paused, every plugin's
//! part runs stage by stage — all `save`, then all `record`, then all
//! `clean-up`, in plugin name order within a stage — and the sync is
//! stopped (`crate::keeper::stop`). The order is decided here; the keeper hosting the local
//! plugins and the `sinc` that runs them itself both follow it.

use crate::keeper::KeeperPaths;
use crate::keeper::control::{self, ControlRequest, ControlResponse};
use crate::paths::Dirs;
use sinc_plugin_host::Stage;
use std::time::Duration;

/// How long the session's sync may take to agree before the hooks run
/// without it.
pub const FLUSH_LIMIT: Duration = Duration::from_secs(60);

/// How long the keeper may take to pause.
const PAUSE_LIMIT: Duration = Duration::from_secs(10);

/// How a session's end went.
#[derive(Debug, Default)]
pub struct Ending {
    /// Whether any plugin took part (the sync was flushed and paused).
    pub ran: bool,
    /// What failed, one line each.
    pub problems: Vec<String>,
}

/// The stages, in the order they run.
pub const STAGES: [Stage; 3] = [Stage::Save, Stage::Record, Stage::CleanUp];

/// Who does what, in order: for each stage, the plugins (sorted by name)
/// that take part in it.
pub fn order(takers: &[(String, Vec<Stage>)]) -> Vec<(Stage, String)> {
    let mut names: Vec<&(String, Vec<Stage>)> = takers.iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    STAGES
        .iter()
        .flat_map(|stage| {
            names.iter().filter(|(_, stages)| stages.contains(stage)).map(move |(name, _)| (*stage, name.clone()))
        })
        .collect()
}

/// The stage's name, as the user reads it.
pub fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Save => "save",
        Stage::Record => "record",
        Stage::CleanUp => "clean-up",
    }
}

/// One failed part, as the user reads it.
pub fn failure(plugin: &str, stage: Stage, why: &str) -> String {
    format!("plugin {plugin} ({} stage of the session's end): {why}", stage_name(stage))
}

/// Before the stages: flush session `id`'s sync, then pause it (its keeper
/// tells a `sinc` starting the folder's next session to wait for it to
/// stop). Whether it was flushed (false without a keeper, or when it did
/// not agree in time).
pub async fn prepare(dirs: &Dirs, id: &str) -> bool {
    let socket = KeeperPaths::new(dirs, id).socket;
    let flushed = matches!(
        tokio::time::timeout(FLUSH_LIMIT, control::request(&socket, &ControlRequest::Flush)).await,
        Ok(Ok(ControlResponse::Done))
    );
    if !flushed {
        tracing::warn!("{id}: the sync did not agree before the session's end hooks; they run without it");
    }
    let ending = tokio::time::timeout(PAUSE_LIMIT, control::request(&socket, &ControlRequest::Ending)).await;
    if matches!(ending, Ok(Ok(ControlResponse::Error { .. }))) {
        // A keeper of an older sinc knows pausing only.
        let _ = tokio::time::timeout(PAUSE_LIMIT, control::request(&socket, &ControlRequest::Pause)).await;
    }
    flushed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plugin_saves_before_any_records_and_cleans_up_last_in_name_order() {
        let takers = vec![
            ("worktree-session".to_owned(), vec![Stage::CleanUp, Stage::Save]),
            ("session-handoff".to_owned(), vec![Stage::Record]),
            ("audit".to_owned(), vec![Stage::Save, Stage::Record]),
        ];
        let order: Vec<(&str, String)> = order(&takers).into_iter().map(|(s, p)| (stage_name(s), p)).collect();
        assert_eq!(
            order,
            [
                ("save", "audit".to_owned()),
                ("save", "worktree-session".to_owned()),
                ("record", "audit".to_owned()),
                ("record", "session-handoff".to_owned()),
                ("clean-up", "worktree-session".to_owned()),
            ]
        );
        assert!(super::order(&[]).is_empty());
    }
}
