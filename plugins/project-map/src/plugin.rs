//! The plugin: each running session's project kept mapped — before its
//! agent starts, when files arrive from the laptop, and on the timer (the
//! agent's own changes on the VPS).

use crate::outline::Language;
use crate::project::{Project, Refreshed};
use crate::settings::Settings;
use sinc_plugin_sdk::prelude::*;
use sinc_plugin_sdk::{debug, info, warn};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

sinc_plugin_sdk::manifest!("../sinc-plugin.toml");

/// Everything the plugin keeps between calls.
struct State {
    settings: Settings,
    /// The mapped projects, by session id.
    projects: BTreeMap<String, Mapped>,
}

/// One session's project, and the last problem logged for it (logged once,
/// not at every tick).
struct Mapped {
    session: Session,
    project: Project,
    problem: Option<String>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with<T>(f: impl FnOnce(&mut State) -> T) -> Option<T> {
    STATE.with(|s| s.borrow_mut().as_mut().map(f))
}

struct ProjectMap;

impl Plugin for ProjectMap {
    fn init(config: String) -> Result<(), String> {
        let settings = Settings::parse(&config)?;
        STATE.with(|s| *s.borrow_mut() = Some(State { settings, projects: BTreeMap::new() }));
        Ok(())
    }

    fn before_start(session: Session) -> Verdict {
        if let Some(Err(problem)) = with(|s| s.update(&session)) {
            notices::warn(&format!("the project map was not updated: {problem}"));
        }
        Verdict::Proceed(Launch { env: Vec::new(), prompt: None })
    }

    fn on_event(event: Event) -> Result<(), String> {
        with(|s| match event {
            Event::SessionCreated(session) | Event::SessionAttached(session)
                if !s.projects.contains_key(&session.id) =>
            {
                let _ = s.update(&session);
            }
            Event::SessionEnded(session) => {
                s.projects.remove(&session.id);
            }
            Event::FilesSynced(synced) if synced.paths.iter().any(|p| matters(p)) => s.update_id(&synced.session_id),
            Event::Timer(_) => s.tick(),
            _ => {}
        });
        Ok(())
    }
}

/// Whether a synced file can change the map: a source file, or a file
/// that changes what is walked.
fn matters(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    Language::of(path).is_some() || [".gitignore", ".ignore", ".syncignore"].contains(&name)
}

impl State {
    /// Map `session`'s project now (tracking it from now on); a problem is
    /// logged when it is not the one logged last.
    fn update(&mut self, session: &Session) -> Result<Refreshed, String> {
        let settings = &self.settings;
        let mapped = self.projects.entry(session.id.clone()).or_insert_with(|| Mapped {
            session: session.clone(),
            project: Project::new(Path::new(&session.remote_path), &session.agent),
            problem: None,
        });
        let refreshed = mapped.project.refresh(settings);
        match &refreshed {
            Ok(Refreshed::Written { file, files }) => {
                info!("{}: {files} files mapped in {}", session.id, mapped.project.root().join(file).display())
            }
            Err(problem) if mapped.problem.as_ref() != Some(problem) => {
                warn!("{}: the project map was not updated: {problem}", session.id)
            }
            _ => {}
        }
        mapped.problem = refreshed.as_ref().err().cloned();
        refreshed
    }

    /// Map the project of session `id` (looked up when not tracked yet).
    fn update_id(&mut self, id: &str) {
        let session = match self.projects.get(id) {
            Some(mapped) => Some(mapped.session.clone()),
            None => {
                sessions::list().ok().and_then(|all| all.into_iter().find(|i| i.session.id == id)).map(|i| i.session)
            }
        };
        match session {
            Some(session) => drop(self.update(&session)),
            None => debug!("files synced for {id}, which is not a running session"),
        }
    }

    /// Follow the running sessions: new ones mapped, ended ones dropped,
    /// the others checked for changed files.
    fn tick(&mut self) {
        let running = match sessions::list() {
            Ok(running) => running,
            Err(e) => {
                debug!("sessions not listed: {e:?}");
                return;
            }
        };
        let live: Vec<Session> =
            running.into_iter().filter(|i| !matches!(i.state, sessions::State::Exited)).map(|i| i.session).collect();
        self.projects.retain(|id, _| live.iter().any(|s| &s.id == id));
        for session in live {
            let _ = self.update(&session);
        }
    }
}

sinc_plugin_sdk::export_plugin!(ProjectMap);
