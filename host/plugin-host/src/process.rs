//! The `process` interface: running a program the plugin's manifest names,
//! with a minimal environment, in a declared folder, with a time limit and
//! bounded output. Every refusal names the missing permission.

use crate::manifest::Permissions;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a program may run.
pub const TIME_LIMIT: Duration = Duration::from_secs(60);
/// The most kept of each output stream.
pub const MAX_OUTPUT: u64 = 16 << 20;
/// The variables every program gets (from sinc's own environment).
pub const BASE_ENV: [&str; 5] = ["PATH", "HOME", "USER", "LANG", "TERM"];

/// What a program did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Its exit status (none if killed).
    pub status: Option<i32>,
    /// Its output.
    pub stdout: Vec<u8>,
    /// Its errors.
    pub stderr: Vec<u8>,
}

/// Why a program was not run, or failed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not allowed; says which permission is missing.
    Denied(String),
    /// Allowed, but it could not be run.
    Failed(String),
}

/// Expand a manifest folder (`~/…`) against `home`.
pub fn folder_path(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(path),
    }
}

/// Run `program` for a plugin allowed `permissions`.
pub fn run(
    permissions: &Permissions,
    home: &Path,
    default_cwd: &Path,
    program: &str,
    args: &[String],
    cwd: Option<&str>,
    stdin: &[u8],
) -> Result<Ran, Refusal> {
    if program.contains('/') || !permissions.programs.iter().any(|p| p == program) {
        return Err(Refusal::Denied(format!(
            "running `{program}` needs `programs = [\"{program}\"]` in the plugin's manifest, accepted by the user"
        )));
    }
    let dir = match cwd {
        None => {
            std::fs::create_dir_all(default_cwd).map_err(|e| Refusal::Failed(format!("its data folder: {e}")))?;
            default_cwd.to_path_buf()
        }
        Some(cwd) => {
            let wanted = std::fs::canonicalize(cwd).map_err(|e| Refusal::Failed(format!("folder {cwd}: {e}")))?;
            let inside = permissions
                .folders
                .iter()
                .any(|f| std::fs::canonicalize(folder_path(&f.path, home)).is_ok_and(|root| wanted.starts_with(root)));
            if !inside {
                return Err(Refusal::Denied(format!(
                    "running a program in {cwd} needs that folder (or one above it) in `folders` in the plugin's manifest"
                )));
            }
            wanted
        }
    };
    let mut command = Command::new(program);
    command.args(args).current_dir(&dir).env_clear();
    for name in BASE_ENV.iter().copied().chain(permissions.env.iter().map(String::as_str)) {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Refusal::Failed(format!("cannot run {program}: {e}")))?;
    let reader = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(s) = stream {
                let _ = s.take(MAX_OUTPUT).read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = reader(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let stderr = reader(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    if let Some(mut input) = child.stdin.take() {
        let data = stdin.to_vec();
        std::thread::spawn(move || std::io::Write::write_all(&mut input, &data));
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if started.elapsed() > TIME_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(Refusal::Failed(format!("waiting for {program}: {e}"))),
        }
    };
    Ok(Ran { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() })
}
