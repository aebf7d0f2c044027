//! The plugin: the session's start noted (when, at which commit), its end's
//! `record` stage writing the hand-off, the before-start hook giving it to
//! the next agent, and `sinc handoff list | show | note`.

use crate::args::{self, HandoffCommand};
use crate::handoff::{self, Handoff};
use crate::opencode;
use crate::redact::redact;
use crate::screen;
use crate::settings::Settings;
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

/// What is noted when a session starts.
#[derive(serde::Serialize, serde::Deserialize)]
struct Start {
    started: String,
    head: Option<String>,
}

/// Lines of scrollback asked for (the VPS keeps at most 2,000).
const SCROLLBACK: u32 = 2000;

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn kv_get<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
    kv::get(key).ok().flatten().and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

fn kv_set<T: serde::Serialize>(key: &str, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    kv::set(key, &bytes).map_err(|e| format!("keeping {key}: {}", e.reason()))
}

/// Where a session folder's hand-offs are kept: for a linked worktree
/// (a task), the repository's main worktree, so they outlive it; else the
/// folder itself.
fn project_of(folder: &str) -> String {
    match (git::toplevel(folder), git::main_worktree(folder)) {
        (Ok(top), Ok(main)) if top == folder && main != folder => main,
        _ => folder.to_owned(),
    }
}

/// The project whose hand-offs `sinc handoff` run in `cwd` shows: inside a
/// task worktree, its repository's; else the nearest folder from `cwd` up
/// to its repository's top that has hand-offs; else that top (or `cwd`).
fn command_project(cwd: &str) -> String {
    let top = git::toplevel(cwd).ok();
    if let (Some(top), Ok(main)) = (&top, git::main_worktree(cwd))
        && *top != main
    {
        return main;
    }
    let stop = top.clone().unwrap_or_else(|| cwd.to_owned());
    for dir in std::path::Path::new(cwd).ancestors() {
        let dir = dir.to_string_lossy();
        if project_files::list(&dir, handoff::FOLDER)
            .is_ok_and(|names| names.iter().any(|n| handoff::id_of(n).is_some()))
        {
            return dir.into_owned();
        }
        if dir == stop {
            break;
        }
    }
    stop
}

/// The note kept for `folder` or, failing that, for the nearest folder
/// above it (a note is left anywhere in a repository, and kept for its
/// top): its key and text.
fn note_for(folder: &str) -> Option<(String, String)> {
    std::path::Path::new(folder).ancestors().find_map(|dir| {
        let key = format!("note:{}", dir.to_string_lossy());
        kv_get::<String>(&key).map(|text| (key, text))
    })
}

/// The session folder a folder `sinc` runs in belongs to: its worktree's
/// top, else itself.
fn session_folder(folder: &str) -> String {
    git::toplevel(folder).unwrap_or_else(|_| folder.to_owned())
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim_end().to_owned()).filter(|l| !l.is_empty()).collect()
}

struct SessionHandoff;

impl Plugin for SessionHandoff {
    fn init(config: String) -> Result<(), String> {
        let parsed = Settings::parse(&config)?;
        SETTINGS.with(|s| *s.borrow_mut() = parsed);
        Ok(())
    }

    fn commands() -> Vec<Command> {
        vec![Command {
            name: "handoff".into(),
            summary: "What the last sessions left for the next: sinc handoff list | show [ID] | note TEXT".into(),
        }]
    }

    fn run_command(name: String, args: Vec<String>) -> CommandOutput {
        if name != "handoff" {
            return CommandOutput::usage(format!("no command `{name}`"));
        }
        let outcome = match args::parse(&args) {
            Err(why) if why.is_empty() => return CommandOutput::ok(args::USAGE),
            Err(why) => return CommandOutput::usage(format!("sinc handoff: {why}\n{}", args::USAGE)),
            Ok(HandoffCommand::List { json }) => list(json),
            Ok(HandoffCommand::Show { id }) => show(id.as_deref()),
            Ok(HandoffCommand::Note { text, clear }) => note(text, clear),
        };
        outcome.unwrap_or_else(|why| CommandOutput::fail(format!("sinc handoff: {why}\n")))
    }

    fn on_event(event: Event) -> Result<(), String> {
        // Sessions started without the before-start hook (by hand on the
        // VPS) are noted when the keeper hears of them.
        match event {
            Event::SessionCreated(session) if kv_get::<Start>(&start_key(&session.id)).is_none() => {
                note_start(&session)
            }
            _ => Ok(()),
        }
    }

    fn end_stages(session: Session) -> Vec<Stage> {
        match session.local_path {
            Some(_) => vec![Stage::Record],
            None => Vec::new(),
        }
    }

    fn on_end(ended: Ended, stage: Stage) -> Result<(), String> {
        if stage != Stage::Record {
            return Ok(());
        }
        let Some(folder) = ended.session.local_path.clone() else { return Ok(()) };
        let project = project_of(&folder);
        // An end asked for again (`sinc task end` after the keeper ran it)
        // keeps the hand-off this session's end wrote.
        let start: Option<Start> = kv_get(&start_key(&ended.session.id));
        let written = project_files::read(&project, &handoff::path(&ended.session.id)).ok().flatten();
        if let (Some(start), Some(text)) = (&start, written)
            && handoff::started_of(&String::from_utf8_lossy(&text)) == Some(start.started.as_str())
        {
            return Ok(());
        }
        let note = note_for(&folder);
        let handoff = gather(&ended, &folder, &project, start, note.as_ref().map(|(_, text)| text.clone()));
        write_handoff(&project, &ended.session.id, &redact(&handoff.render()))?;
        if let Some((key, _)) = note {
            let _ = kv::delete(&key);
        }
        Ok(())
    }

    fn before_start(session: Session) -> Verdict {
        if let Err(why) = note_start(&session) {
            warn!("{why}");
        }
        let none = Verdict::Proceed(Launch { env: Vec::new(), prompt: None });
        if !(start_options::continuing() || settings().always_continue) {
            return none;
        }
        let Some(folder) = session.local_path.clone() else { return none };
        let project = project_of(&folder);
        let Some((id, text)) = latest(&project, Some(&session.id)) else {
            notices::warn(&format!("no hand-off to continue from in {project}/.sinc/{}", handoff::FOLDER));
            return none;
        };
        // A task's hand-offs are kept in its repository: a copy in the
        // session's folder syncs to the VPS, where the agent reads it.
        if project != folder
            && let Err(why) = write_handoff(&folder, &id, &text)
        {
            notices::warn(&format!("the hand-off could not be copied into {folder}: {why}"));
        }
        let relative = format!(".sinc/{}", handoff::path(&id));
        let file = if session.remote_path.starts_with('/') {
            format!("{}/{relative}", session.remote_path.trim_end_matches('/'))
        } else {
            relative.clone()
        };
        notices::warn(&format!("continuing from the hand-off of {id} ({relative})"));
        Verdict::Proceed(Launch {
            env: vec![("SINC_HANDOFF_FILE".into(), file)],
            prompt: handoff::takes_prompt(&session.agent).then(|| handoff::prompt(&relative, &text)),
        })
    }
}

fn start_key(id: &str) -> String {
    format!("start:{id}")
}

/// Note when `session` started and at which commit (its commits are those
/// made after).
fn note_start(session: &Session) -> Result<(), String> {
    let Some(folder) = &session.local_path else { return Ok(()) };
    let head = git::run(folder, &["rev-parse", "--verify", "--quiet", "HEAD"]).ok().map(|h| h.trim().to_owned());
    kv_set(&start_key(&session.id), &Start { started: now(), head })
}

/// What the session left: git's view of the folder since `start`, the
/// agent's last output, the todo file, and the user's `note`.
fn gather(ended: &Ended, folder: &str, project: &str, start: Option<Start>, note: Option<String>) -> Handoff {
    let settings = settings();
    let id = &ended.session.id;
    let in_git = git::toplevel(folder).is_ok();
    let since = start.as_ref().and_then(|s| s.head.clone());
    let (commits, diffstat) = match (&since, in_git) {
        (Some(head), true) => {
            let range = format!("{head}..HEAD");
            (
                git::run(folder, &["log", "--no-color", "--format=%h %s", &range])
                    .map(|t| lines(&t))
                    .unwrap_or_default(),
                git::run(folder, &["diff", "--no-color", "--stat=100", &range]).map(|t| lines(&t)).unwrap_or_default(),
            )
        }
        _ => (Vec::new(), Vec::new()),
    };
    let uncommitted = if in_git {
        git::run(folder, &["status", "--short", "--untracked-files=all", "--", ".", ":(exclude).sinc/handoff"])
            .map(|t| lines(&t))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let (output, output_missing) = match sessions::screen(id, SCROLLBACK) {
        Ok(text) => (screen::last_lines(&text, settings.output_lines), None),
        Err(e) => (Vec::new(), Some(e.reason())),
    };
    let file_todos = settings.todo_files.iter().find_map(|file| {
        let text = git::run(folder, &["grep", "--no-index", "--no-color", "-h", "-I", "-e", "", "--", file]).ok()?;
        Some((file.clone(), handoff::open_todos(&text))).filter(|(_, t)| !t.is_empty())
    });
    let todos = file_todos.into_iter().chain(opencode_todos(&settings, &ended.session, start.as_ref())).collect();
    Handoff {
        session: id.clone(),
        folder: folder.to_owned(),
        task: (project != folder).then(|| folder.rsplit('/').next().unwrap_or(folder).to_owned()),
        branch: git::current_branch(folder),
        started: start.map(|s| s.started),
        ended: now(),
        commits,
        diffstat,
        uncommitted,
        output,
        output_missing,
        todos,
        note,
        synced: ended.synced,
    }
}

/// The open todos OpenCode's server on the VPS keeps for the session, when
/// its agent is OpenCode and the server answers.
fn opencode_todos(settings: &Settings, session: &Session, start: Option<&Start>) -> Option<(String, Vec<String>)> {
    if settings.opencode_url.is_empty() || handoff::program(&session.agent) != "opencode" {
        return None;
    }
    // Without the session's start, an older OpenCode session's todos
    // could pass for this one's.
    let since_ms = start
        .and_then(|s| humantime::parse_rfc3339(&s.started).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))?;
    let password = secrets::get("opencode_password").ok();
    let server = opencode::Server::new(&settings.opencode_url, &settings.opencode_user, password.as_deref());
    server.todos(&session.remote_path, since_ms).unwrap_or_else(|why| {
        info!("no todos from OpenCode's server: {why}");
        None
    })
}

/// Keep hand-off `text` of session `id` in `project`, with a `.gitignore`
/// that keeps hand-offs out of commits.
fn write_handoff(project: &str, id: &str, text: &str) -> Result<(), String> {
    let ignore = format!("{}/.gitignore", handoff::FOLDER);
    let fail = |e: HostError| format!("writing {project}/.sinc/{}: {}", handoff::path(id), e.reason());
    if project_files::read(project, &ignore).map_err(fail)?.is_none() {
        project_files::write(
            project,
            &ignore,
            b"# Hand-offs are notes, not code (delete this file to commit them).\n*\n",
        )
        .map_err(fail)?;
    }
    project_files::write(project, &handoff::path(id), text.as_bytes()).map_err(fail)
}

/// The project's hand-offs, newest first: (id, ended, text).
fn all(project: &str) -> Result<Vec<(String, String, String)>, String> {
    let names = project_files::list(project, handoff::FOLDER).map_err(|e| e.reason())?;
    let mut found: Vec<(String, String, String)> = names
        .iter()
        .filter_map(|name| {
            let id = handoff::id_of(name)?;
            let bytes = project_files::read(project, &handoff::path(id)).ok()??;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let ended = handoff::ended_of(&text).unwrap_or_default().to_owned();
            Some((id.to_owned(), ended, text))
        })
        .collect();
    found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(found)
}

/// The hand-off to continue from: session `own`'s when there is one, else
/// the project's newest.
fn latest(project: &str, own: Option<&str>) -> Option<(String, String)> {
    let found = all(project).ok()?;
    let pick = own.and_then(|o| found.iter().find(|(id, _, _)| id == o)).or(found.first())?;
    Some((pick.0.clone(), pick.2.clone()))
}

fn cwd() -> Result<String, String> {
    invocation::cwd().ok_or_else(|| "run it in a project folder (sinc did not say where it runs)".into())
}

fn list(json: bool) -> Result<CommandOutput, String> {
    let project = command_project(&cwd()?);
    let found = all(&project)?;
    if json {
        let items: Vec<serde_json::Value> = found
            .iter()
            .map(|(id, ended, _)| {
                serde_json::json!({ "id": id, "ended": ended, "file": format!("{project}/.sinc/{}", handoff::path(id)) })
            })
            .collect();
        return Ok(CommandOutput::ok(format!("{}\n", serde_json::Value::Array(items))));
    }
    if found.is_empty() {
        return Ok(CommandOutput::ok(format!("no hand-offs in {project} yet; one is written when a session ends\n")));
    }
    let width = found.iter().map(|(id, _, _)| id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (id, ended, text) in &found {
        let title = text.lines().next().and_then(|l| l.strip_prefix("# Hand-off: ")).unwrap_or("");
        out.push_str(&format!("{id:width$}  {ended}  {title}\n"));
    }
    Ok(CommandOutput::ok(out))
}

fn show(wanted: Option<&str>) -> Result<CommandOutput, String> {
    let project = command_project(&cwd()?);
    let found = all(&project)?;
    let hits: Vec<&(String, String, String)> = match wanted {
        None => found.iter().take(1).collect(),
        Some(w) => {
            let exact: Vec<_> = found.iter().filter(|(id, _, _)| id == w).collect();
            if exact.is_empty() {
                found
                    .iter()
                    .filter(|(id, _, _)| {
                        id.starts_with(w) || id.strip_prefix("sinc-").is_some_and(|r| r.starts_with(w))
                    })
                    .collect()
            } else {
                exact
            }
        }
    };
    match hits.as_slice() {
        [one] => Ok(CommandOutput::ok(one.2.clone())),
        [] => Err(match wanted {
            Some(w) => format!("no hand-off `{w}` in {project}; `sinc handoff list` shows them"),
            None => format!("no hand-offs in {project} yet; one is written when a session ends"),
        }),
        many => Err(format!(
            "`{}` matches several hand-offs: {}",
            wanted.unwrap_or_default(),
            many.iter().map(|(id, _, _)| id.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn note(text: Option<String>, clear: bool) -> Result<CommandOutput, String> {
    let folder = session_folder(&cwd()?);
    let key = format!("note:{folder}");
    if clear {
        kv::delete(&key).map_err(|e| e.reason())?;
        return Ok(CommandOutput::ok("note forgotten\n"));
    }
    match text {
        Some(text) => {
            kv_set(&key, &text)?;
            Ok(CommandOutput::ok(format!("noted for the next hand-off of {folder}\n")))
        }
        None => Ok(CommandOutput::ok(match kv_get::<String>(&key) {
            Some(note) => format!("{note}\n"),
            None => format!("no note for {folder}; `sinc handoff note TEXT` keeps one\n"),
        })),
    }
}

sinc_plugin_sdk::export_plugin!(SessionHandoff);
