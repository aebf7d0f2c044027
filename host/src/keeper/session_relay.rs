//! What a local plugin reaches of a session's VPS, through that session's
//! keeper and its connection to the VPS daemon: the session's screen (after
//! it ended, its kept last output) — the `sessions` interface as the laptop
//! serves it; the rest of it (listing, typing, starting) is served on the
//! VPS only — and the services on the VPS's loopback its manifest names
//! (`sinc_plugin_host::vps_loopback`).

use super::KeeperPaths;
use super::control::{self, ControlRequest, ControlResponse};
use crate::paths::Dirs;
use crate::sync::wire::{Request, Response};
use sinc_plugin_host::sessions::{SessionHost, SessionInfo, Sink, StopWatching};
use sinc_plugin_host::vps_loopback::{HttpCall, HttpReply, VpsLoopback};
use std::time::Duration;

/// How long a screen may take to arrive.
const SCREEN_LIMIT: Duration = Duration::from_secs(15);

/// Sessions' screens and VPS services, through their keepers.
#[derive(Debug, Clone)]
pub struct SessionRelay {
    dirs: Dirs,
}

impl SessionRelay {
    /// The keepers of this user.
    pub fn new(dirs: &Dirs) -> SessionRelay {
        SessionRelay { dirs: dirs.clone() }
    }
}

fn vps_only() -> String {
    "listing, typing into, watching, starting and stopping sessions are served to plugins on the VPS (`runs-on = \"remote\"`); \
     a local plugin may read a session's screen"
        .into()
}

/// Ask the keeper at `socket` from a thread of its own, with a runtime of
/// its own (plugins call the host from threads that may belong to one), for
/// at most `limit`.
fn ask_keeper(socket: std::path::PathBuf, request: ControlRequest, limit: Duration) -> Result<ControlResponse, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("asking the session's keeper: {e}"))?;
                runtime.block_on(async {
                    match tokio::time::timeout(limit, control::request(&socket, &request)).await {
                        Ok(Ok(answer)) => Ok(answer),
                        Ok(Err(e)) => Err(format!("the session's sync is not running here ({e})")),
                        Err(_) => Err(format!("the session's keeper did not answer within {}s", limit.as_secs())),
                    }
                })
            })
            .join()
            .unwrap_or_else(|_| Err("asking the session's keeper failed".into()))
    })
}

impl SessionRelay {
    /// The control socket of the keeper of session `id`.
    fn keeper_of(&self, id: &str) -> Result<std::path::PathBuf, String> {
        if !crate::session_id::is_sinc_session(id) || id.contains(['/', '\0']) {
            return Err(format!("`{id}` is not a session id"));
        }
        Ok(KeeperPaths::new(&self.dirs, id).socket)
    }
}

impl VpsLoopback for SessionRelay {
    fn call(&self, session: &str, call: HttpCall) -> Result<HttpReply, String> {
        let socket = self.keeper_of(session)?;
        // The keeper gives up on the VPS a little after the call's own
        // time, and this a little after the keeper.
        let limit = call.wait() + 2 * super::control::RELAY_MARGIN;
        match ask_keeper(socket, ControlRequest::Plugin { request: Request::LoopbackHttp { call } }, limit)? {
            ControlResponse::Answer { response: Response::HttpReply { reply } } => Ok(reply),
            ControlResponse::Error { message } => Err(message),
            other => Err(format!("unexpected answer from the session's keeper: {other:?}")),
        }
    }
}

impl SessionHost for SessionRelay {
    fn list(&self) -> Result<Vec<SessionInfo>, String> {
        Err(vps_only())
    }

    fn screen(&self, id: &str, scrollback: u32) -> Result<String, String> {
        let socket = self.keeper_of(id)?;
        let request = ControlRequest::Plugin { request: Request::SessionScreen { session: id.to_owned(), scrollback } };
        match ask_keeper(socket, request, SCREEN_LIMIT)? {
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

    fn watch(&self, _: &str, _: u32, _: Sink) -> Result<StopWatching, String> {
        Err(vps_only())
    }

    fn stop(&self, _: &str) -> Result<(), String> {
        Err(vps_only())
    }
}
