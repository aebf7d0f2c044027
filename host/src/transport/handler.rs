//! The russh client handler: host key verification (known_hosts, prompts,
//! recording), server banners, and noting the server's signs of life for the
//! watchdog, and the channels of remote forwards it asked for. Everything
//! else uses russh's defaults, which refuse agent forwarding and other
//! server-initiated channels.

use super::deadline::Deadline;
use super::error::ConnectError;
use super::inbound::{Inbound, InboundChannel};
use super::known_hosts::{self, Verdict};
use super::prompt::Prompter;
use super::target::{HostKeyPolicy, Target};
use super::watchdog::Liveness;
use russh::client;
use russh::keys::PublicKey;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Verifies one server's host key.
#[derive(Debug)]
pub struct ClientHandler {
    host: String,
    port: u16,
    files: Vec<PathBuf>,
    record_to: Option<PathBuf>,
    policy: HostKeyPolicy,
    prompter: Prompter,
    deadline: Deadline,
    accepted: Option<PublicKey>,
    rejection: Arc<Mutex<Option<ConnectError>>>,
    quiet: bool,
    liveness: Arc<Liveness>,
    inbound: Arc<Inbound>,
}

impl ClientHandler {
    /// A handler for `target`; a rejection reason is left in `rejection`.
    pub fn new(
        target: &Target,
        prompter: Prompter,
        deadline: Deadline,
        rejection: Arc<Mutex<Option<ConnectError>>>,
        quiet: bool,
    ) -> ClientHandler {
        ClientHandler {
            host: target.hostname.clone(),
            port: target.port,
            files: target.all_known_hosts_files(),
            record_to: target.known_hosts_files.first().cloned(),
            policy: target.host_key_policy,
            prompter,
            deadline,
            accepted: None,
            rejection,
            quiet,
            liveness: Arc::default(),
            inbound: Arc::default(),
        }
    }

    /// Note the server's signs of life in `liveness`, and accept the remote
    /// forwards' channels `inbound` expects.
    pub fn watched_by(self, liveness: Arc<Liveness>, inbound: Arc<Inbound>) -> ClientHandler {
        ClientHandler { liveness, inbound, ..self }
    }

    fn reject(&self, err: ConnectError) -> bool {
        if let Ok(mut slot) = self.rejection.lock() {
            *slot = Some(err);
        }
        false
    }

    async fn verify(&mut self, key: &PublicKey) -> bool {
        // Rekeys present the same key again: it was decided already.
        if self.accepted.as_ref().is_some_and(|k| k.key_data() == key.key_data()) {
            return true;
        }
        let name = known_hosts::host_key_name(&self.host, self.port);
        let key_type = key.algorithm().to_string();
        let fingerprint = known_hosts::fingerprint(key);
        let accept = match known_hosts::lookup(&self.files, &self.host, self.port, key) {
            Verdict::Trusted => true,
            Verdict::Revoked { at } => {
                return self.reject(ConnectError::HostKeyRevoked { host: name, key_type, fingerprint, at });
            }
            Verdict::Changed { at, recorded } => {
                return self.reject(ConnectError::HostKeyChanged { host: name, key_type, fingerprint, recorded, at });
            }
            Verdict::Unknown { other_types } => match self.policy {
                HostKeyPolicy::Strict => {
                    return self.reject(ConnectError::HostKeyStrict { host: name, key_type, fingerprint });
                }
                HostKeyPolicy::AcceptNew => {
                    tracing::info!(host = %name, %fingerprint, "recording new host key");
                    self.record(key)
                }
                HostKeyPolicy::Ask if self.prompter.is_interactive() => {
                    if !self.ask(&name, &key_type, &fingerprint, &other_types).await {
                        return self.reject(ConnectError::HostKeyDeclined { host: name });
                    }
                    self.record(key)
                }
                HostKeyPolicy::Ask => {
                    return self.reject(ConnectError::HostKeyUnknown {
                        host: name,
                        key_type,
                        fingerprint,
                        other_types,
                    });
                }
            },
        };
        if accept {
            self.accepted = Some(key.clone());
        }
        accept
    }

    async fn ask(&self, name: &str, key_type: &str, fingerprint: &str, other_types: &[String]) -> bool {
        let mut message = format!(
            "The authenticity of host '{name}' can't be established.\n{key_type} key fingerprint is {fingerprint}."
        );
        if !other_types.is_empty() {
            message.push_str(&format!(
                "\nThis host is known with other key types ({}); a new key type may mean the server was reinstalled, or an impostor.",
                other_types.join(", ")
            ));
        }
        message.push_str("\nThis key is not known by any other names.");
        let prompter = self.prompter;
        self.deadline.pause();
        let answer = tokio::task::spawn_blocking(move || {
            prompter.confirm(&message, "Are you sure you want to continue connecting")
        })
        .await
        .unwrap_or(false);
        self.deadline.resume();
        answer
    }

    fn record(&self, key: &PublicKey) -> bool {
        if let Some(file) = &self.record_to {
            match known_hosts::record(file, &self.host, self.port, key) {
                Ok(()) => {
                    if !self.quiet {
                        eprintln!(
                            "Warning: permanently added '{}' ({}) to {}.",
                            known_hosts::host_key_name(&self.host, self.port),
                            key.algorithm(),
                            file.display()
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!("could not record the host key in {}: {e}", file.display())
                }
            }
        }
        true
    }
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => Ok(self.verify(key).await),
            russh::keys::PublicKeyOrCertificate::Certificate(cert) => {
                // sinc does not advertise certificate algorithms, so a server
                // should never send one; check the key inside like a plain key.
                let key = PublicKey::new(cert.public_key().clone(), "");
                Ok(self.verify(&key).await)
            }
        }
    }

    async fn data(
        &mut self,
        _channel: russh::ChannelId,
        _data: &[u8],
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.liveness.heard();
        Ok(())
    }

    async fn extended_data(
        &mut self,
        _channel: russh::ChannelId,
        _ext: u32,
        _data: &[u8],
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.liveness.heard();
        Ok(())
    }

    /// The server took more of our data: as good a sign of life as data, and
    /// the only one during a long upload.
    async fn window_adjusted(
        &mut self,
        _channel: russh::ChannelId,
        _new_size: u32,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.liveness.heard();
        Ok(())
    }

    /// A connection arrived at a remote forward's port: accepted only for a
    /// forward this connection asked for.
    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: russh::Channel<client::Msg>,
        _connected_address: &str,
        connected_port: u32,
        originator_address: &str,
        originator_port: u32,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        if !self.inbound.expects(connected_port) {
            tracing::warn!("refused a forwarded connection to port {connected_port}, which was never asked for");
            reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
            return Ok(());
        }
        reply.accept().await;
        let originator = format!("{originator_address}:{originator_port}");
        if !self.inbound.deliver(InboundChannel { channel, port: connected_port, originator }) {
            tracing::debug!("nobody takes forwarded connections any more");
        }
        Ok(())
    }

    /// Unix socket forwards are never asked for.
    async fn server_channel_open_forwarded_streamlocal(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        _socket_path: &str,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
        Ok(())
    }

    async fn auth_banner(&mut self, banner: &str, _session: &mut client::Session) -> Result<(), Self::Error> {
        if !self.quiet {
            eprint!("{banner}");
        }
        Ok(())
    }
}
