//! Process exit codes: one definition, shared by the CLI, the docs and the tests.
//!
//! The values come from sysexits.h and match the original sincronizado tool, so
//! scripts written for it keep working.

use std::fmt;

/// Every exit status `sinc` itself can produce. `sinc exec` additionally passes
/// the remote command's own status through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything worked.
    Success,
    /// A general failure: an unknown session, a cancelled confirmation, a remote
    /// step that failed.
    Failure,
    /// The command line was wrong, or the request does not fit the current state
    /// (e.g. `sinc -r` when the project has no session).
    Usage,
    /// Something `sinc` needs is missing on one side (tmux on the VPS, the agent).
    Unavailable,
    /// The SSH connection could not be made or was refused (host key, auth, network).
    Connect,
    /// The configuration is unreadable or invalid.
    Config,
}

impl ExitCode {
    /// All codes, in the order the docs list them.
    pub const ALL: [ExitCode; 6] = [
        ExitCode::Success,
        ExitCode::Failure,
        ExitCode::Usage,
        ExitCode::Unavailable,
        ExitCode::Connect,
        ExitCode::Config,
    ];

    /// The numeric process status.
    pub const fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Usage => 2,
            ExitCode::Unavailable => 69,
            ExitCode::Connect => 76,
            ExitCode::Config => 78,
        }
    }

    /// The sysexits.h name, for docs and `--json` error output.
    pub const fn name(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::Failure => "failure",
            ExitCode::Usage => "usage",
            ExitCode::Unavailable => "unavailable",
            ExitCode::Connect => "connect",
            ExitCode::Config => "config",
        }
    }

    /// One line on when the code is used.
    pub const fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::Failure => "general failure (unknown session, cancelled, remote step failed)",
            ExitCode::Usage => "usage error (bad flags, `-r` without a session, `--json` without `--yes`)",
            ExitCode::Unavailable => "a dependency is missing on either side (tmux, the agent, a usable remote binary)",
            ExitCode::Connect => "connection or SSH failure (network, host key, authentication)",
            ExitCode::Config => "configuration error (unreadable or invalid config)",
        }
    }
}

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_lists_every_code_with_its_meaning() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"));
        for code in ExitCode::ALL {
            let row = format!("| {} | {} |", code.code(), code.meaning());
            assert!(readme.contains(&row), "README.md lacks the row {row:?}");
        }
    }

    #[test]
    fn codes_are_the_sysexits_values() {
        let codes: Vec<i32> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes, [0, 1, 2, 69, 76, 78]);
    }
}
