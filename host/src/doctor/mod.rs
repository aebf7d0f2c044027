//! `sinc doctor`: everything sinc needs, checked one line at a time, each
//! failure with the command that fixes it. Gathering facts (here and on the
//! VPS) is I/O; judging them is pure and lives in [`judge`].

pub mod judge;
pub mod local_probe;
pub mod remote_probe;

use serde::Serialize;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// All good.
    Pass,
    /// Works, but worth a look.
    Warn,
    /// Broken: sinc will not work (well) until it is fixed.
    Fail,
    /// Not checked, because an earlier check failed.
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked (`tmux`, `host key`, …).
    pub name: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about a warning or failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    /// A passed check.
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, status: Status::Pass, detail: detail.into(), fix: None }
    }

    /// A warning with its fix.
    pub fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, status: Status::Warn, detail: detail.into(), fix: Some(fix.into()) }
    }

    /// A failure with its fix.
    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, status: Status::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }

    /// A check that could not run, and why.
    pub fn skip(name: &'static str, why: impl Into<String>) -> Check {
        Check { name, status: Status::Skip, detail: why.into(), fix: None }
    }
}

/// Whether any check failed (the exit status of `sinc doctor`).
pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}
