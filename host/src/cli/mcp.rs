//! `sinc NAME mcp`: the MCP stdio server (see [`crate::mcp`]) for the tools
//! of the plugin that adds the command NAME, each request taken where that
//! plugin runs — the local plugin host, the VPS through the project's
//! keeper, or (on the VPS itself) the user's daemon.

use super::plugin::{CALL_LIMIT, ask_local_host};
use crate::error::{Error, Result};
use crate::keeper::KeeperPaths;
use crate::keeper::control::{self, ControlError, ControlRequest, ControlResponse};
use crate::plugins::Installed;
use crate::remote::daemon::DaemonPaths;
use crate::sync::wire::{Request, Response};

/// Where the plugin's tools are asked for.
pub(super) enum Route {
    /// The local plugin host (a keeper's).
    LocalHost(Installed),
    /// The VPS, through this project's keeper.
    Keeper(KeeperPaths),
    /// This machine's daemon (on the VPS).
    Daemon(DaemonPaths),
}

impl Route {
    async fn ask(&self, request: Request) -> std::result::Result<Response, String> {
        let answer = |r: ControlResponse| match r {
            ControlResponse::Answer { response } => Ok(response),
            ControlResponse::Error { message } => Err(message),
            other => Err(format!("unexpected answer: {other:?}")),
        };
        match self {
            Route::LocalHost(installed) => {
                match ask_local_host(installed, &ControlRequest::LocalPlugin { request }, CALL_LIMIT).await {
                    Ok(Some(r)) => answer(r),
                    Ok(None) => {
                        Err("the local plugin host is not running: it runs with a session (`sinc start`)".into())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            Route::Keeper(paths) => match control::request(&paths.socket, &ControlRequest::Plugin { request }).await {
                Ok(r) => answer(r),
                Err(ControlError::NotRunning) => {
                    Err("the plugin runs on the VPS, reached through this project's session: `sinc start` starts one"
                        .into())
                }
                Err(e) => Err(e.to_string()),
            },
            Route::Daemon(paths) => crate::remote::daemon::request(paths, request).await,
        }
    }
}

/// Serve MCP on stdin/stdout for `command`'s plugin, reached by `route`.
pub(super) async fn serve(route: Route, command: &str) -> Result<i32> {
    let ask = |request: Request| {
        let route = &route;
        async move { route.ask(request).await }
    };
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    crate::mcp::serve(stdin, tokio::io::stdout(), command, ask)
        .await
        .map_err(|e| Error::Failure(format!("MCP over stdio: {e}")))?;
    Ok(0)
}

/// Whether this machine's daemon has a plugin adding `command` (on the
/// VPS, where no lockfile says so).
pub(super) async fn daemon_route(command: &str) -> Option<Route> {
    let paths = crate::remote::daemon::hosting_here()?;
    let probe = crate::remote::daemon::request(&paths, Request::Tools { command: command.to_owned() }).await;
    matches!(probe, Ok(Response::Tools { .. })).then_some(Route::Daemon(paths))
}
