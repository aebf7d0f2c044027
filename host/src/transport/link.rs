//! How a command reaches the VPS: through the project's keeper when it holds
//! a live connection to the same target (a relayed channel costs one local
//! round trip), else on a connection of our own, made on first use and kept
//! for the command's later channels.

use super::channel::{ChannelRequest, RemoteChannel};
use super::connect::{ConnectOptions, connect};
use super::connection::{Connection, Output, RemoteStatus};
use super::error::ConnectError;
use super::relay::{self, RelayError};
use super::target::Target;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OnceCell;

/// How long one TCP connect attempt may take while reconnecting.
const TCP_ATTEMPT: Duration = Duration::from_secs(1);

/// A way to open channels on the VPS.
#[derive(Debug)]
pub struct Link {
    target: Target,
    options: ConnectOptions,
    keeper: Option<PathBuf>,
    own: OnceCell<Arc<Connection>>,
}

impl Link {
    /// Channels to `target`, relayed by the keeper listening on
    /// `keeper_socket` when it can, else on a connection made with `options`.
    pub fn new(target: Target, options: ConnectOptions, keeper_socket: Option<PathBuf>) -> Link {
        Link { target, options, keeper: keeper_socket, own: OnceCell::new() }
    }

    /// Channels on an existing connection.
    pub fn on(conn: Arc<Connection>) -> Link {
        let options = ConnectOptions::unattended(None);
        Link { target: conn.target().clone(), options, keeper: None, own: OnceCell::new_with(Some(conn)) }
    }

    /// A new link to the same place for reconnecting after this one's link
    /// dropped: it never asks questions (the terminal is in use) and starts a
    /// fresh TCP attempt each second while the network is down.
    pub fn fresh(&self) -> Link {
        Link::new(self.target.clone(), ConnectOptions::unattended(Some(TCP_ATTEMPT)), self.keeper.clone())
    }

    /// Where it goes.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Open a channel running `request`.
    pub async fn open(&self, request: &ChannelRequest) -> Result<RemoteChannel, ConnectError> {
        if let (None, Some(socket)) = (self.own.get(), &self.keeper) {
            let target = self.target.describe();
            match relay::open(socket, &target, request, self.target.connect_timeout).await {
                Ok(channel) => {
                    tracing::debug!("channel relayed by the keeper's connection to {target}");
                    return Ok(channel);
                }
                Err(RelayError::Absent) => {}
                Err(e @ (RelayError::Refused(_) | RelayError::Gone)) => tracing::info!("connecting directly: {e}"),
                // A keeper that is still there may still run the request:
                // running it on a connection of our own could run it twice.
                Err(e) => return Err(ConnectError::Network { addr: target, reason: e.to_string() }),
            }
        }
        self.connection().await?.open(request).await
    }

    /// Our own connection, made now unless it already is.
    async fn connection(&self) -> Result<&Arc<Connection>, ConnectError> {
        self.own
            .get_or_try_init(|| async {
                tracing::info!("connecting to {}", self.target.describe());
                connect(&self.target, self.options).await
            })
            .await
    }

    /// Our own connection, if one was made.
    pub fn own_connection(&self) -> Option<Arc<Connection>> {
        self.own.get().cloned()
    }

    /// Make our own connection now rather than on first use (proves the VPS
    /// reachable; later channels use it, not the keeper's).
    pub async fn connect_own(&self) -> Result<(), ConnectError> {
        self.connection().await.map(|_| ())
    }

    fn lost(&self) -> ConnectError {
        ConnectError::Lost { addr: self.target.describe() }
    }

    /// Run `command` with `input` on its stdin and capture its output.
    pub async fn run(&self, command: &str, input: &[u8]) -> Result<Output, ConnectError> {
        let output = self.open(&ChannelRequest::exec(command)).await?.output(input).await;
        if output.status == RemoteStatus::Lost {
            return Err(self.lost());
        }
        Ok(output)
    }

    /// Run `command`, copying `stdin` to it (then EOF) and its output to
    /// `stdout`/`stderr` as it arrives.
    pub async fn run_streaming<I, O, E>(
        &self,
        command: &str,
        stdin: Option<I>,
        stdout: O,
        stderr: E,
    ) -> Result<RemoteStatus, ConnectError>
    where
        I: AsyncRead + Unpin + Send + 'static,
        O: AsyncWrite + Unpin,
        E: AsyncWrite + Unpin,
    {
        let status = self.open(&ChannelRequest::exec(command)).await?.run_streaming(stdin, stdout, stderr).await;
        if status == RemoteStatus::Lost {
            return Err(self.lost());
        }
        Ok(status)
    }

    /// Close our own connection, if one was made (the keeper's stays up).
    pub async fn close(&self) {
        if let Some(conn) = self.own.get() {
            conn.disconnect().await;
        }
    }
}
