//! The keeper's side of the remote plugins: after every (re)connection, and
//! when a command asks, it sends the VPS daemon exactly the set of remote
//! plugins the lockfile enables (uploading the components it lacks), and it
//! relays the remote plugins' subcommands.

use crate::plugins::Installed;
use crate::sync::client::RemoteClient;
use crate::sync::wire::{AgentStates, Chunk, PluginGrant, PluginState, Request, Response};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// Bytes per content chunk of an upload.
const CHUNK: usize = 1 << 20;

/// The connected daemon, when there is one.
pub type CurrentClient = watch::Receiver<Option<Arc<RemoteClient>>>;

/// A handle on the task that keeps the daemon's plugin set current.
#[derive(Debug, Clone)]
pub struct RemotePlugins {
    /// The connected daemon, once it has the current set.
    ready: CurrentClient,
    refresh: mpsc::Sender<oneshot::Sender<Result<Vec<PluginState>, String>>>,
}

/// How long a call waits for the daemon to be connected and given the set.
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the set is made from.
#[derive(Debug)]
pub struct SetSource {
    /// The installed plugins.
    pub installed: Installed,
    /// The configuration (settings, secrets, state patterns), read again
    /// for each push.
    pub config: crate::config::Reloading,
}

impl RemotePlugins {
    /// Start the task; it pushes the set whenever `client` changes to a
    /// connected daemon.
    pub fn start(source: SetSource, client: CurrentClient) -> RemotePlugins {
        let (refresh, asks) = mpsc::channel(4);
        let (ready_tx, ready) = watch::channel(None);
        tokio::spawn(keep_current(source, client, asks, ready_tx));
        RemotePlugins { ready, refresh }
    }

    /// Send the set again (the lockfile changed); answers each plugin's
    /// state on the VPS.
    pub async fn refresh(&self) -> Result<Vec<PluginState>, String> {
        let (tx, rx) = oneshot::channel();
        self.refresh.send(tx).await.map_err(|_| "the keeper is stopping".to_owned())?;
        rx.await.map_err(|_| "the keeper is stopping".to_owned())?
    }

    /// Ask the daemon's plugins (a subcommand, a before-start hook).
    /// Waits (a while) for the daemon to be connected and to have the set.
    pub async fn call(&self, request: Request) -> Result<Response, String> {
        let mut ready = self.ready.clone();
        let client = match tokio::time::timeout(READY_WAIT, ready.wait_for(Option::is_some)).await {
            Ok(Ok(client)) => client.clone(),
            _ => None,
        };
        let Some(client) = client else {
            return Err("the VPS is not connected right now; try again when `sinc status` shows it connected".into());
        };
        client.call(request).await.map_err(|e| e.to_string())
    }
}

async fn keep_current(
    source: SetSource,
    mut client: CurrentClient,
    mut asks: mpsc::Receiver<oneshot::Sender<Result<Vec<PluginState>, String>>>,
    ready: watch::Sender<Option<Arc<RemoteClient>>>,
) {
    // What this connection's daemon was last given, and its answer: a
    // refresh with an unchanged lockfile (each `sinc` in the project asks)
    // costs no round trip.
    let mut sent: Option<Sent> = None;
    loop {
        let reply = tokio::select! {
            changed = client.changed() => {
                if changed.is_err() {
                    return;
                }
                sent = None;
                None
            }
            ask = asks.recv() => match ask {
                Some(reply) => Some(reply),
                None => return,
            },
        };
        let current = client.borrow().clone();
        if current.is_none() {
            ready.send_replace(None);
        }
        let outcome = match current {
            Some(c) => {
                let pushed = push(&source, &c, &mut sent).await;
                // Calls go ahead even when the set could not be sent: the
                // daemon keeps the set it has.
                ready.send_replace(Some(c));
                pushed
            }
            None if reply.is_some() => {
                Err("the VPS is not connected right now; the plugins go there when it is".into())
            }
            None => continue,
        };
        match (&outcome, reply) {
            (_, Some(reply)) => drop(reply.send(outcome)),
            (Ok(states), None) => {
                for s in states {
                    tracing::info!(plugin = %s.name, "on the VPS: {}", s.state);
                }
            }
            (Err(e), None) => tracing::warn!("remote plugins: {e}"),
        }
    }
}

/// A set the daemon has, and its answer.
struct Sent {
    grants: Vec<PluginGrant>,
    patterns: Vec<AgentStates>,
    states: Vec<PluginState>,
}

/// Send the set unless this daemon has it (`sent`); then remember it.
async fn push(source: &SetSource, client: &RemoteClient, sent: &mut Option<Sent>) -> Result<Vec<PluginState>, String> {
    let config = source.config.current();
    let set = source.installed.set(&config, sinc_plugin_host::RunsOn::Remote).map_err(|e| e.to_string())?;
    let grants: Vec<PluginGrant> = set.iter().map(|(g, _)| g.clone()).collect();
    let patterns: Vec<AgentStates> = config
        .states
        .iter()
        .map(|(agent, p)| AgentStates { agent: agent.clone(), waiting: p.waiting.clone(), working: p.working.clone() })
        .collect();
    if let Some(s) = sent.as_ref().filter(|s| s.grants == grants && s.patterns == patterns) {
        return Ok(s.states.clone());
    }
    let states = send_set(client, &set, &grants, &patterns).await?;
    *sent = Some(Sent { grants, patterns, states: states.clone() });
    Ok(states)
}

/// Send the set; upload what the daemon lacks; send it again.
async fn send_set(
    client: &RemoteClient,
    set: &[(PluginGrant, PathBuf)],
    grants: &[PluginGrant],
    patterns: &[AgentStates],
) -> Result<Vec<PluginState>, String> {
    let (mut missing, states) = ask_set(client, grants, patterns).await?;
    if missing.is_empty() {
        return Ok(states);
    }
    missing.dedup();
    for sha256 in missing {
        let Some((_, path)) = set.iter().find(|(g, _)| g.sha256 == sha256) else { continue };
        upload(client, &sha256, path).await?;
    }
    ask_set(client, grants, patterns).await.map(|(_, states)| states)
}

async fn ask_set(
    client: &RemoteClient,
    grants: &[PluginGrant],
    states: &[AgentStates],
) -> Result<(Vec<String>, Vec<PluginState>), String> {
    let request = Request::PluginSet { plugins: grants.to_vec(), states: states.to_vec() };
    match client.call(request).await.map_err(|e| e.to_string())? {
        Response::Plugins { missing, states } => Ok((missing, states)),
        Response::Failed { message } => Err(message),
        other => Err(format!("unexpected answer to the plugin set: {other:?}")),
    }
}

async fn upload(client: &RemoteClient, sha256: &str, path: &Path) -> Result<(), String> {
    let wasm = tokio::fs::read(path).await.map_err(|e| format!("reading {}: {e}", path.display()))?;
    let (tx, rx) = mpsc::channel(4);
    let answer =
        client.upload(Request::PluginComponent { sha256: sha256.to_owned() }, rx).await.map_err(|e| e.to_string())?;
    for piece in wasm.chunks(CHUNK) {
        if tx.send(Chunk::Bytes(piece.to_vec())).await.is_err() {
            break;
        }
    }
    let _ = tx.send(Chunk::End).await;
    match answer.await.map_err(|_| "the VPS went away during the upload".to_owned())? {
        Response::Ok => Ok(()),
        Response::Failed { message } => Err(format!("the VPS refused {}: {message}", path.display())),
        other => Err(format!("unexpected answer to an upload: {other:?}")),
    }
}
