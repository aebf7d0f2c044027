//! The `sessions` interface as the laptop serves it to local plugins: a
//! session's screen (after it ended, its kept last output), fetched from the
//! VPS daemon by that session's keeper. The rest of the interface (listing,
//! typing, starting) is served on the VPS only.

use super::KeeperPaths;
use super::control::{self, ControlRequest, ControlResponse};
use crate::paths::Dirs;
use crate::sync::wire::{Request, Response};
use sinc_plugin_host::sessions::{SessionHost, SessionInfo};
use std::time::Duration;

/// How long a screen may take to arrive.
const LIMIT: Duration = Duration::from_secs(15);

/// Sessions' screens through their keepers.
#[derive(Debug, Clone)]
pub struct KeeperScreens {
    dirs: Dirs,
}

impl KeeperScreens {
    /// The keepers of this user.
    pub fn new(dirs: &Dirs) -> KeeperScreens {
        KeeperScreens { dirs: dirs.clone() }
    }
}

fn vps_only() -> String {
    "listing, typing into and starting sessions are served to plugins on the VPS (`runs-on = \"remote\"`); \
     a local plugin may read a session's screen"
        .into()
}

/// Ask the keeper at `socket` from a thread of its own, with a runtime of
/// its own: plugins call the host from threads that may belong to one.
fn ask_keeper(socket: std::path::PathBuf, request: ControlRequest) -> Result<ControlResponse, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("asking the session's keeper: {e}"))?;
                runtime.block_on(async {
                    match tokio::time::timeout(LIMIT, control::request(&socket, &request)).await {
                        Ok(Ok(answer)) => Ok(answer),
                        Ok(Err(e)) => Err(format!("the session's sync is not running here ({e})")),
                        Err(_) => Err(format!("the session's keeper did not answer within {}s", LIMIT.as_secs())),
                    }
                })
            })
            .join()
            .unwrap_or_else(|_| Err("asking the session's keeper failed".into()))
    })
}

impl SessionHost for KeeperScreens {
    fn list(&self) -> Result<Vec<SessionInfo>, String> {
        Err(vps_only())
    }

    fn screen(&self, id: &str, scrollback: u32) -> Result<String, String> {
        if !crate::session_id::is_sinc_session(id) || id.contains(['/', '\0']) {
            return Err(format!("`{id}` is not a session id"));
        }
        let socket = KeeperPaths::new(&self.dirs, id).socket;
        let request = ControlRequest::Plugin { request: Request::SessionScreen { session: id.to_owned(), scrollback } };
        match ask_keeper(socket, request)? {
            ControlResponse::Answer { response: Response::Screen { text } } => Ok(text),
            ControlResponse::Error { message } => Err(message),
            other => Err(format!("unexpected answer from the session's keeper: {other:?}")),
        }
    }

    fn send(&self, _: &str, _: &str, _: bool) -> Result<(), String> {
        Err(vps_only())
    }

    fn keys(&self, _: &str, _: &[String]) -> Result<(), String> {
        Err(vps_only())
    }

    fn start(&self, _: &str, _: Option<&str>) -> Result<String, String> {
        Err(vps_only())
    }
}
