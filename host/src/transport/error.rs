//! Why a connection failed, one clear message per cause.

use super::known_hosts::Location;
use std::time::Duration;

/// A failure to connect or authenticate. All map to exit code 76.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// DNS lookup failed.
    #[error("could not resolve host name {host}: {reason}")]
    Resolve {
        /// Host name.
        host: String,
        /// Resolver message.
        reason: String,
    },
    /// Nothing listens on the port.
    #[error("connection refused by {addr} (is sshd running there, and is the port right?)")]
    Refused {
        /// host:port.
        addr: String,
    },
    /// No answer within the budget.
    #[error("connection to {addr} timed out after {}s ({stage})", after.as_secs())]
    Timeout {
        /// host:port.
        addr: String,
        /// The budget.
        after: Duration,
        /// What was in progress.
        stage: &'static str,
    },
    /// Another network error.
    #[error("cannot reach {addr}: {reason}")]
    Network {
        /// host:port.
        addr: String,
        /// OS message.
        reason: String,
    },
    /// The host key differs from the recorded one.
    #[error("{}", changed_banner(host, key_type, fingerprint, recorded, at))]
    HostKeyChanged {
        /// known_hosts name.
        host: String,
        /// Key algorithm.
        key_type: String,
        /// Fingerprint offered now.
        fingerprint: String,
        /// Fingerprint recorded.
        recorded: String,
        /// Offending line.
        at: Location,
    },
    /// The host key is explicitly revoked.
    #[error("the {key_type} host key of {host} ({fingerprint}) is marked @revoked in {at}; refusing to connect")]
    HostKeyRevoked {
        /// known_hosts name.
        host: String,
        /// Key algorithm.
        key_type: String,
        /// Fingerprint.
        fingerprint: String,
        /// Where it is revoked.
        at: Location,
    },
    /// An unknown host key in a context that cannot ask.
    #[error(
        "the authenticity of host {host} cannot be established: {key_type} key {fingerprint} is not in your known_hosts{}. Verify the fingerprint, then connect once from a terminal to confirm it, or pass --accept-new-host",
        other_types_note(other_types)
    )]
    HostKeyUnknown {
        /// known_hosts name.
        host: String,
        /// Key algorithm.
        key_type: String,
        /// Fingerprint.
        fingerprint: String,
        /// Types the host is known with.
        other_types: Vec<String>,
    },
    /// `StrictHostKeyChecking yes` and the key is not recorded.
    #[error(
        "host key for {host} ({key_type} {fingerprint}) is not known and StrictHostKeyChecking is yes; add it to known_hosts first"
    )]
    HostKeyStrict {
        /// known_hosts name.
        host: String,
        /// Key algorithm.
        key_type: String,
        /// Fingerprint.
        fingerprint: String,
    },
    /// The user declined the host key.
    #[error("host key for {host} not accepted; not connecting")]
    HostKeyDeclined {
        /// known_hosts name.
        host: String,
    },
    /// Every method failed.
    #[error(
        "permission denied for {user}@{host} (tried: {}; the server accepts: {})",
        list(tried),
        list(server_accepts)
    )]
    AuthDenied {
        /// Remote user.
        user: String,
        /// Host.
        host: String,
        /// What was attempted.
        tried: Vec<String>,
        /// Methods the server offered.
        server_accepts: Vec<String>,
    },
    /// An established connection dropped.
    #[error("connection to {addr} lost")]
    Lost {
        /// host:port.
        addr: String,
    },
    /// The SSH layer failed.
    #[error("SSH error with {addr} while {stage}: {source}")]
    Ssh {
        /// host:port.
        addr: String,
        /// What was in progress.
        stage: &'static str,
        /// The cause.
        #[source]
        source: russh::Error,
    },
}

impl ConnectError {
    /// Whether trying again later may succeed (the network, not the server's
    /// identity or our credentials, was the problem).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConnectError::Resolve { .. }
                | ConnectError::Refused { .. }
                | ConnectError::Timeout { .. }
                | ConnectError::Network { .. }
                | ConnectError::Lost { .. }
                | ConnectError::Ssh { .. }
        )
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "nothing".into() } else { items.join(", ") }
}

fn other_types_note(types: &[String]) -> String {
    if types.is_empty() {
        String::new()
    } else {
        format!(
            " (but keys of other types are: {}; the server may have been reconfigured, or this is an impostor)",
            types.join(", ")
        )
    }
}

fn changed_banner(host: &str, key_type: &str, fingerprint: &str, recorded: &str, at: &Location) -> String {
    let rule = "@".repeat(59);
    format!(
        "{rule}\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n{rule}\n\
         IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
         Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
         It is also possible that the host key has just been changed.\n\
         The {key_type} key sent by {host} is {fingerprint};\n\
         the key recorded in {at} is {recorded}.\n\
         If the change is expected, remove the old entry (ssh-keygen -R '{host}') and connect again.\n\
         Host key verification failed; sinc refuses to connect."
    )
}
