//! Everything that identifies one project session: its id, where it lives on
//! each side, and what runs in it.

use crate::config::{Agent, Config};
use crate::session_id::SessionId;
use std::path::PathBuf;

/// One project's session.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// `sinc-<name>-<hash6>`.
    pub id: SessionId,
    /// The canonical local project folder.
    pub local_path: PathBuf,
    /// The remote folder as configured (may start with `~/`).
    pub remote_path: String,
    /// The agent command line.
    pub agent: Agent,
}

impl SessionSpec {
    /// The session of the project at `local_path` (already canonical).
    pub fn new(local_path: PathBuf, config: &Config) -> SessionSpec {
        let id = SessionId::for_path(&local_path);
        let remote_path = config.sync.remote_path.clone().unwrap_or_else(|| {
            format!("{}/{}", config.sync.remote_base.trim_end_matches('/'), id.remote_folder_name())
        });
        SessionSpec { id, local_path, remote_path, agent: config.agent.clone() }
    }

    /// The project name shown to the agent as `SINC_PROJECT`.
    pub fn project_name(&self) -> &str {
        self.id.project_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_path_defaults_to_base_plus_name_and_hash() {
        let mut config = Config::default();
        let spec = SessionSpec::new("/home/user/myproject".into(), &config);
        assert_eq!(spec.remote_path, "~/workspace/myproject-f227ec");
        config.sync.remote_base = "/srv/code/".into();
        assert_eq!(SessionSpec::new("/home/user/myproject".into(), &config).remote_path, "/srv/code/myproject-f227ec");
        config.sync.remote_path = Some("~/legacy/myproject".into());
        assert_eq!(SessionSpec::new("/home/user/myproject".into(), &config).remote_path, "~/legacy/myproject");
    }
}
