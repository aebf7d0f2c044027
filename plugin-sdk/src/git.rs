//! git for plugins that declare `programs = ["git"]`: run by the host
//! with `-C FOLDER`, never through a shell, every name passed as one
//! argument; failures as one line naming the subcommand.

use crate::process;

/// What git printed, when it succeeded; its error text otherwise.
pub fn run(dir: &str, args: &[&str]) -> Result<String, String> {
    run_with(dir, args, b"")
}

/// [`run`] with `stdin`.
pub fn run_with(dir: &str, args: &[&str], stdin: &[u8]) -> Result<String, String> {
    let mut all: Vec<String> = vec!["-C".into(), dir.into()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let out = process::run("git", &all, None, stdin).map_err(|e| format!("git: {}", e.reason()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    match out.status {
        Some(0) => Ok(stdout),
        status => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let why = stderr.trim();
            let why = if why.is_empty() { stdout.trim() } else { why };
            let sub = args.iter().find(|a| !a.starts_with('-')).copied().unwrap_or("git");
            Err(match status {
                Some(code) => format!("git {sub} failed ({code}): {why}"),
                None => format!("git {sub} was stopped: {why}"),
            })
        }
    }
}

/// Whether `git … args` succeeds (for questions: does this ref exist?).
pub fn ok(dir: &str, args: &[&str]) -> bool {
    run(dir, args).is_ok()
}

/// The repository's main worktree, for a folder inside it or inside one
/// of its worktrees.
pub fn main_worktree(dir: &str) -> Result<String, String> {
    let list = run(dir, &["worktree", "list", "--porcelain"])
        .map_err(|e| format!("{dir} is not in a git repository ({e})"))?;
    list.lines()
        .find_map(|l| l.strip_prefix("worktree "))
        .map(str::to_owned)
        .ok_or_else(|| format!("{dir}: git listed no worktree"))
}

/// The folder `dir`'s worktree starts at (as git writes it).
pub fn toplevel(dir: &str) -> Result<String, String> {
    run(dir, &["rev-parse", "--show-toplevel"]).map(|s| s.trim().to_owned())
}

/// The branch checked out in `dir` (none when detached).
pub fn current_branch(dir: &str) -> Option<String> {
    run(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok().map(|s| s.trim().to_owned())
}
