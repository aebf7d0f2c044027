//! The library's error type at the CLI boundary, and the exit code of each
//! failure. Library modules have their own typed errors; this gathers them.

use crate::config::ConfigError;
use crate::exit::ExitCode;
use crate::remote::InstallError;
use crate::session::AttachError;
use crate::transport::{ConnectError, SshConfigError};

/// Any failure a command can end with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Invalid `~/.ssh/config`.
    #[error(transparent)]
    SshConfig(#[from] SshConfigError),
    /// Connection or SSH failure.
    #[error(transparent)]
    Connect(Box<ConnectError>),
    /// The remote binary could not be installed.
    #[error(transparent)]
    Install(Box<InstallError>),
    /// Attaching failed.
    #[error(transparent)]
    Attach(Box<AttachError>),
    /// Wrong usage for the current state.
    #[error("{0}")]
    Usage(String),
    /// A dependency is missing on one side.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else.
    #[error("{0}")]
    Failure(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Config(_) | Error::SshConfig(_) => ExitCode::Config,
            Error::Connect(_) => ExitCode::Connect,
            Error::Install(e) => match e.as_ref() {
                InstallError::Platform { .. } | InstallError::DoesNotRun(_) => ExitCode::Unavailable,
                InstallError::Connect(_) => ExitCode::Connect,
                _ => ExitCode::Failure,
            },
            Error::Attach(e) => match e.as_ref() {
                AttachError::NotATerminal => ExitCode::Usage,
                AttachError::Connect(_) => ExitCode::Connect,
                AttachError::Io(_) => ExitCode::Failure,
            },
            Error::Usage(_) => ExitCode::Usage,
            Error::Unavailable(_) => ExitCode::Unavailable,
            Error::Failure(_) => ExitCode::Failure,
        }
    }
}

impl From<ConnectError> for Error {
    fn from(e: ConnectError) -> Error {
        Error::Connect(Box::new(e))
    }
}

impl From<InstallError> for Error {
    fn from(e: InstallError) -> Error {
        Error::Install(Box::new(e))
    }
}

impl From<AttachError> for Error {
    fn from(e: AttachError) -> Error {
        Error::Attach(Box::new(e))
    }
}

/// Shorthand for results at the CLI boundary.
pub type Result<T, E = Error> = std::result::Result<T, E>;
