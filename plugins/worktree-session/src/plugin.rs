//! The plugin: `sinc task` (make and open a task, list them, end one), the
//! task sessions' events, and their end — save (commit, push), clean up
//! (remove the worktree).

use crate::args::{self, TaskCommand};
use crate::message;
use crate::names;
use crate::settings::Settings;
use crate::task::{self, SessionState, Task};
use sinc_plugin_sdk::git;
use sinc_plugin_sdk::prelude::*;
use std::cell::RefCell;

sinc_plugin_sdk::manifest!("../sinc-plugin.toml");

thread_local! {
    static SETTINGS: RefCell<Settings> = RefCell::new(Settings::default());
}

fn settings() -> Settings {
    SETTINGS.with(|s| s.borrow().clone())
}

struct WorktreeSession;

impl Plugin for WorktreeSession {
    fn init(config: String) -> Result<(), String> {
        let parsed = Settings::parse(&config)?;
        SETTINGS.with(|s| *s.borrow_mut() = parsed);
        Ok(())
    }

    fn commands() -> Vec<Command> {
        vec![Command {
            name: "task".into(),
            summary: "One git worktree and session per task: sinc task NAME | list | end NAME".into(),
        }]
    }

    fn run_command(name: String, args: Vec<String>) -> CommandOutput {
        if name != "task" {
            return CommandOutput::usage(format!("no command `{name}`"));
        }
        let outcome = match args::parse(&args) {
            Err(why) if why.is_empty() => return CommandOutput::ok(args::USAGE),
            Err(why) => return CommandOutput::usage(format!("sinc task: {why}\n{}", args::USAGE)),
            Ok(TaskCommand::Open { name, from, branch, detach }) => {
                open(&settings(), &name, from.as_deref(), branch.as_deref(), detach)
            }
            Ok(TaskCommand::List { json, all }) => list(json, all),
            Ok(TaskCommand::End { name }) => end(&name),
        };
        outcome.unwrap_or_else(|why| CommandOutput::fail(format!("sinc task: {why}\n")))
    }

    fn on_event(event: Event) -> Result<(), String> {
        let (session, state) = match event {
            Event::SessionCreated(s) | Event::SessionDetached(s) => (s, SessionState::Detached),
            Event::SessionAttached(s) => (s, SessionState::Attached),
            Event::SessionEnded(s) => (s, SessionState::Ended),
            _ => return Ok(()),
        };
        if let Some(mut t) = session.local_path.as_deref().and_then(load) {
            t.session = state;
            store(&t)?;
        }
        Ok(())
    }

    fn end_stages(session: Session) -> Vec<Stage> {
        // Only its tasks' sessions; any other's end is none of its business.
        match session.local_path.as_deref().and_then(load) {
            Some(_) => vec![Stage::Save, Stage::CleanUp],
            None => Vec::new(),
        }
    }

    fn on_end(ended: Ended, stage: Stage) -> Result<(), String> {
        let Some(mut t) = ended.session.local_path.as_deref().and_then(load) else { return Ok(()) };
        match stage {
            Stage::Save => save_stage(&settings(), &mut t, ended.synced),
            Stage::CleanUp => clean_up(&t),
            Stage::Record => Ok(()),
        }
    }
}

sinc_plugin_sdk::export_plugin!(WorktreeSession);

/// The task whose worktree is `worktree`.
fn load(worktree: &str) -> Option<Task> {
    let bytes = kv::get(&task::key(worktree)).ok()??;
    serde_json::from_slice(&bytes).ok()
}

fn store(t: &Task) -> Result<(), String> {
    let bytes = serde_json::to_vec(t).map_err(|e| e.to_string())?;
    kv::set(&task::key(&t.worktree), &bytes).map_err(|e| e.reason())
}

fn forget(t: &Task) -> Result<(), String> {
    kv::delete(&task::key(&t.worktree)).map_err(|e| e.reason())
}

fn all_tasks() -> Vec<Task> {
    let keys = kv::keys("task:").unwrap_or_default();
    keys.iter().filter_map(|k| k.strip_prefix("task:")).filter_map(load).collect()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn cwd() -> Result<String, String> {
    invocation::cwd().ok_or_else(|| "run it in a folder of the repository (sinc did not say where it runs)".into())
}

/// The worktrees git knows in `repo`: (folder, branch).
fn worktrees(repo: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let list = git::run(repo, &["worktree", "list", "--porcelain"])?;
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for line in list.lines() {
        if let Some(path) = line.strip_prefix("worktree ") {
            out.push((path.to_owned(), None));
        } else if let (Some(b), Some(last)) = (line.strip_prefix("branch refs/heads/"), out.last_mut()) {
            last.1 = Some(b.to_owned());
        }
    }
    Ok(out)
}

/// The names the repository's default branch goes by.
fn default_branches(repo: &str) -> Vec<String> {
    let init = git::run(repo, &["config", "--get", "init.defaultBranch"]).ok();
    let heads: Vec<String> = git::run(repo, &["remote"])
        .unwrap_or_default()
        .lines()
        .filter_map(|r| git::run(repo, &["symbolic-ref", "--quiet", &format!("refs/remotes/{r}/HEAD")]).ok())
        .collect();
    names::default_branches(init.as_deref(), &heads)
}

/// `sinc task NAME`: make the task's worktree (or find it), then open its
/// session.
fn open(
    s: &Settings,
    name: &str,
    from: Option<&str>,
    branch: Option<&str>,
    detach: bool,
) -> Result<CommandOutput, String> {
    names::check_task(name)?;
    let here = cwd()?;
    let repo = git::main_worktree(&here)?;
    let then = |folder: &str| if detach { FollowUp::Start(folder.into()) } else { FollowUp::Open(folder.into()) };
    if let Some(t) = all_tasks().into_iter().find(|t| t.repo == repo && t.name == name) {
        if t.end.is_some() {
            return Err(format!("task {name} is ending ({}); `sinc task end {name}` finishes it", t.state()));
        }
        invocation::then(&then(&t.worktree)).map_err(|e| e.reason())?;
        return Ok(CommandOutput::ok(format!("task {name}: {} on {}\n", t.worktree, t.branch)));
    }
    if !git::ok(&repo, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]) {
        return Err(format!("{repo} has no commit yet: a task's branch starts from one"));
    }
    let branch = branch.map_or_else(|| format!("{}{name}", s.branch_prefix), str::to_owned);
    if branch.starts_with('-') {
        return Err(format!("`{branch}` is not a valid branch name"));
    }
    let branch = git::run(&repo, &["check-ref-format", "--branch", &branch])
        .map(|b| b.trim().to_owned())
        .map_err(|_| format!("`{branch}` is not a valid branch name (see `git help check-ref-format`)"))?;
    names::check_not_default(&branch, &default_branches(&repo))?;
    let folder = names::worktree_path(&repo, &s.worktrees, name);
    let known = worktrees(&repo)?;
    if known.iter().any(|(path, _)| *path == folder) {
        return Err(format!(
            "{folder} is a worktree already, not one of sinc's tasks; remove it or name the task otherwise"
        ));
    }
    if let Some((path, _)) = known.iter().find(|(_, b)| b.as_deref() == Some(branch.as_str())) {
        return Err(format!("branch {branch} is checked out in {path} already; a task needs it to itself"));
    }
    let exists = git::ok(&repo, &["show-ref", "--verify", "--quiet", &format!("refs/heads/{branch}")]);
    let started_from = if exists {
        git::run(&repo, &["worktree", "add", "--quiet", &folder, &branch])?;
        None
    } else {
        let base = match from {
            Some(r) => r.to_owned(),
            None => git::current_branch(&here).unwrap_or_else(|| "HEAD".into()),
        };
        let commit =
            git::run(&here, &["rev-parse", "--verify", "--quiet", "--end-of-options", &format!("{base}^{{commit}}")])
                .map_err(|_| format!("`{base}` names no commit here"))?;
        git::run(&repo, &["worktree", "add", "--quiet", "-b", &branch, &folder, commit.trim()])?;
        Some(base)
    };
    let worktree = git::toplevel(&folder)?;
    let t = Task {
        name: name.to_owned(),
        repo,
        worktree: worktree.clone(),
        branch: branch.clone(),
        from: started_from.clone(),
        created: now(),
        session: SessionState::NotStarted,
        end: None,
    };
    store(&t)?;
    invocation::then(&then(&worktree)).map_err(|e| e.reason())?;
    let how = match started_from {
        Some(base) => format!("new branch {branch} from {base}"),
        None => format!("existing branch {branch}"),
    };
    Ok(CommandOutput::ok(format!("task {name}: worktree {worktree} on {how}\n")))
}

/// The uncommitted changes in a task's worktree (none when it is gone).
fn changes(t: &Task) -> Option<usize> {
    git::run(&t.worktree, &["status", "--porcelain"]).ok().map(|s| s.lines().count())
}

/// `sinc task list`.
fn list(json: bool, all: bool) -> Result<CommandOutput, String> {
    let repo = if all { None } else { cwd().ok().and_then(|c| git::main_worktree(&c).ok()) };
    let mut tasks: Vec<Task> = all_tasks().into_iter().filter(|t| repo.as_ref().is_none_or(|r| *r == t.repo)).collect();
    tasks.sort_by(|a, b| (&a.repo, &a.name).cmp(&(&b.repo, &b.name)));
    if json {
        let items: Vec<serde_json::Value> = tasks
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name,
                    "repo": t.repo,
                    "worktree": t.worktree,
                    "branch": t.branch,
                    "from": t.from,
                    "created": t.created,
                    "session": t.session,
                    "state": t.state(),
                    "uncommitted": changes(t),
                    "end": t.end,
                })
            })
            .collect();
        return Ok(CommandOutput::ok(format!("{}\n", serde_json::Value::Array(items))));
    }
    if tasks.is_empty() {
        return Ok(CommandOutput::ok("no tasks; `sinc task NAME` starts one\n"));
    }
    let mut out = String::new();
    for t in &tasks {
        let pending = match changes(t) {
            Some(0) => "clean".to_owned(),
            Some(n) => format!("{n} uncommitted"),
            None => "worktree missing".to_owned(),
        };
        out.push_str(&format!("{}  {}  {}  {}  {}\n", t.name, t.branch, t.state(), pending, t.worktree));
    }
    Ok(CommandOutput::ok(out))
}

/// `sinc task end NAME`: end its session (which commits and removes it),
/// or finish an end that stopped.
fn end(name: &str) -> Result<CommandOutput, String> {
    let repo = git::main_worktree(&cwd()?)?;
    let Some(t) = all_tasks().into_iter().find(|t| t.name == name && t.repo == repo) else {
        return Err(format!(
            "no task {name} in {repo}; `sinc task list --all` shows every repository's (end one in its repository)"
        ));
    };
    let registered = worktrees(&t.repo)?.iter().any(|(path, _)| *path == t.worktree);
    if !registered {
        let _ = git::run(&t.repo, &["worktree", "prune"]);
        forget(&t)?;
        return Ok(CommandOutput::ok(format!("task {name}: its worktree is gone already; branch {} kept\n", t.branch)));
    }
    invocation::then(&FollowUp::End(t.worktree.clone())).map_err(|e| e.reason())?;
    Ok(CommandOutput::ok(format!("ending task {name} ({})\n", t.worktree)))
}

/// The save stage: commit what the worktree holds on the task's branch,
/// push when configured; recorded as it goes, so an end that stops can
/// be finished.
fn save_stage(s: &Settings, t: &mut Task, synced: bool) -> Result<(), String> {
    // This end's flush and commit decide; an earlier one's do not.
    let mut end = t.end.clone().unwrap_or_default();
    end.synced = synced;
    end.saved = false;
    end.problem = None;
    t.end = Some(end.clone());
    store(t)?;
    match commit(s, t) {
        Ok(made) => {
            end.saved = true;
            end.commit = made.or(end.commit);
        }
        Err(why) => {
            end.problem = Some(why.clone());
            t.end = Some(end);
            store(t)?;
            return Err(format!("task {}: nothing was committed: {why}", t.name));
        }
    }
    let pushed = if s.push { Some(push(s, t)) } else { None };
    end.push = pushed.clone().map(|p| p.unwrap_or_else(|e| e));
    t.end = Some(end);
    store(t)?;
    match pushed {
        Some(Err(why)) => Err(format!("task {}: committed on {}, but {why}", t.name, t.branch)),
        _ => Ok(()),
    }
}

/// Commit every change in the worktree on the task's branch; the commit,
/// or none when there was nothing to commit.
fn commit(s: &Settings, t: &Task) -> Result<Option<String>, String> {
    let on = git::current_branch(&t.worktree);
    if on.as_deref() != Some(t.branch.as_str()) {
        return Err(format!(
            "the worktree is on {}, not the task's branch {}",
            on.as_deref().unwrap_or("a detached HEAD"),
            t.branch
        ));
    }
    names::check_not_default(&t.branch, &default_branches(&t.repo))?;
    // Everything but a file sync is still writing (none once it is paused;
    // one a crash left behind).
    git::run(&t.worktree, &["add", "--all", "--", ".", ":(exclude,glob)**/.sinc-tmp-*"])?;
    let staged = git::run(&t.worktree, &["diff", "--cached", "--name-status", "-z", "--find-renames"])?;
    let changes = message::parse_name_status(&staged);
    if changes.is_empty() {
        return Ok(None);
    }
    let stat = git::run(&t.worktree, &["diff", "--cached", "--shortstat"])?;
    let text = message::render(&s.commit_message, &t.name, &t.branch, &changes, &stat);
    git::run_with(&t.worktree, &["commit", "--quiet", "--file=-"], text.as_bytes())?;
    git::run(&t.worktree, &["rev-parse", "HEAD"]).map(|sha| Some(sha.trim().to_owned()))
}

/// Push the task's branch to the configured remote, when it has one.
fn push(s: &Settings, t: &Task) -> Result<String, String> {
    let remotes = git::run(&t.repo, &["remote"])?;
    if !remotes.lines().any(|r| r == s.remote) {
        return Ok(format!("not pushed: the repository has no remote `{}`", s.remote));
    }
    let refspec = format!("refs/heads/{0}:refs/heads/{0}", t.branch);
    match git::run(&t.worktree, &["push", "--quiet", &s.remote, &refspec]) {
        Ok(_) => Ok(format!("pushed to {}", s.remote)),
        Err(why) => Err(format!("the push to {} failed: {why}", s.remote)),
    }
}

/// The clean-up stage: remove the worktree once its work is safe; the
/// branch stays.
fn clean_up(t: &Task) -> Result<(), String> {
    if let Err(why) = t.removable() {
        return Err(format!("task {}: {why}", t.name));
    }
    let clean = changes(t) == Some(0);
    let mut args = vec!["worktree", "remove"];
    // What git still counts as present after the commit is only what it
    // ignores (build output); the work itself is on the branch.
    if clean {
        args.push("--force");
    }
    args.push(&t.worktree);
    git::run(&t.repo, &args).map_err(|why| format!("task {}: the worktree was not removed: {why}", t.name))?;
    let _ = git::run(&t.repo, &["worktree", "prune"]);
    forget(t)
}
