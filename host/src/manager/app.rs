//! The manager's model: the sessions of every host, the selection (kept on
//! the same session across refreshes), the filter, and what a key does.
//! Pure: keys in, an [`Action`] for the terminal side to carry out.

use super::hook::{StateChange, changes};
use super::row::{Row, state_name};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What is known of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostState {
    /// Not looked at yet.
    Looking,
    /// Its last look worked.
    Seen,
    /// Its last look failed; its sessions are shown as last seen.
    Unreachable(String),
}

/// What the manager is doing with the keyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Moving through the list.
    List,
    /// Typing a filter.
    Filtering,
    /// Asking whether to end a session.
    ConfirmKill(Row),
    /// Picking a project to start a session for (index into the projects).
    NewSession(usize),
}

/// What the terminal side should do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond redrawing.
    Nothing,
    /// Leave.
    Quit,
    /// Look at every host now.
    Refresh,
    /// Attach this session's terminal, and come back when it detaches.
    Attach(Row),
    /// End this session (confirmed).
    Kill(Row),
    /// Start (and attach) a session for this project folder.
    Start(PathBuf),
    /// Show this session's sync conflicts.
    Conflicts(Row),
}

/// The manager's state.
#[derive(Debug)]
pub struct App {
    hosts: BTreeMap<String, HostState>,
    rows: Vec<Row>,
    selected: Option<(String, String)>,
    filter: String,
    mode: Mode,
    projects: Vec<PathBuf>,
    /// A line for the user (a result, a refusal), until the next key.
    pub message: Option<String>,
}

impl App {
    /// A manager over `hosts`, offering `projects` (laptop folders) for new
    /// sessions.
    pub fn new(hosts: &[String], projects: Vec<PathBuf>) -> App {
        App {
            hosts: hosts.iter().map(|h| (h.clone(), HostState::Looking)).collect(),
            rows: Vec::new(),
            selected: None,
            filter: String::new(),
            mode: Mode::List,
            projects,
            message: None,
        }
    }

    /// The hosts and what is known of each.
    pub fn hosts(&self) -> &BTreeMap<String, HostState> {
        &self.hosts
    }

    /// The filter typed.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The mode.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The projects offered for a new session.
    pub fn projects(&self) -> &[PathBuf] {
        &self.projects
    }

    /// The rows the filter lets through, in order.
    pub fn visible(&self) -> Vec<&Row> {
        let needle = self.filter.to_lowercase();
        self.rows.iter().filter(|r| needle.is_empty() || matches_filter(r, &needle)).collect()
    }

    /// The index of the selected row among the visible ones.
    pub fn selected_index(&self) -> Option<usize> {
        let visible = self.visible();
        let chosen =
            self.selected.as_ref().and_then(|(h, id)| visible.iter().position(|r| &r.host == h && &r.id == id));
        chosen.or((!visible.is_empty()).then_some(0))
    }

    fn selected_row(&self) -> Option<Row> {
        let index = self.selected_index()?;
        self.visible().get(index).map(|r| (*r).clone())
    }

    /// A host's look: its sessions now, or why it could not be looked at.
    /// Returns the sessions whose state changed since its last look.
    pub fn update_host(&mut self, host: &str, look: Result<Vec<Row>, String>) -> Vec<StateChange> {
        match look {
            Ok(mut now) => {
                let before: Vec<Row> = self.rows.iter().filter(|r| r.host == host).cloned().collect();
                let found = changes(&before, &now);
                self.rows.retain(|r| r.host != host);
                self.rows.append(&mut now);
                self.rows.sort_by(|a, b| (&a.host, &a.project, &a.id).cmp(&(&b.host, &b.project, &b.id)));
                self.hosts.insert(host.to_owned(), HostState::Seen);
                found
            }
            Err(why) => {
                self.hosts.insert(host.to_owned(), HostState::Unreachable(why));
                Vec::new()
            }
        }
    }

    /// What `key` does.
    pub fn key(&mut self, key: KeyEvent) -> Action {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Action::Quit;
        }
        self.message = None;
        match self.mode.clone() {
            Mode::List => self.list_key(key.code),
            Mode::Filtering => {
                match key.code {
                    KeyCode::Char(c) => self.filter.push(c),
                    KeyCode::Backspace => drop(self.filter.pop()),
                    KeyCode::Enter => self.mode = Mode::List,
                    KeyCode::Esc => {
                        self.filter.clear();
                        self.mode = Mode::List;
                    }
                    KeyCode::Up => self.step(-1),
                    KeyCode::Down => self.step(1),
                    _ => {}
                }
                Action::Nothing
            }
            Mode::ConfirmKill(row) => {
                self.mode = Mode::List;
                match key.code {
                    KeyCode::Char('y' | 'Y') => Action::Kill(row),
                    _ => {
                        self.message = Some(format!("{} kept", row.id));
                        Action::Nothing
                    }
                }
            }
            Mode::NewSession(index) => match key.code {
                KeyCode::Up | KeyCode::Char('k') => {
                    self.mode = Mode::NewSession(index.saturating_sub(1));
                    Action::Nothing
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    self.mode = Mode::NewSession((index + 1).min(self.projects.len().saturating_sub(1)));
                    Action::Nothing
                }
                KeyCode::Enter => {
                    self.mode = Mode::List;
                    self.projects.get(index).cloned().map_or(Action::Nothing, Action::Start)
                }
                _ => {
                    self.mode = Mode::List;
                    Action::Nothing
                }
            },
        }
    }

    fn list_key(&mut self, code: KeyCode) -> Action {
        let selected = || self.selected_row();
        match code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                Action::Nothing
            }
            KeyCode::Esc => Action::Quit,
            KeyCode::Up | KeyCode::Char('k') => {
                self.step(-1);
                Action::Nothing
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.step(1);
                Action::Nothing
            }
            KeyCode::Char('/') => {
                self.mode = Mode::Filtering;
                Action::Nothing
            }
            KeyCode::Char('r') => Action::Refresh,
            KeyCode::Enter | KeyCode::Char('a') => selected().map_or(Action::Nothing, Action::Attach),
            KeyCode::Char('c') => selected().map_or(Action::Nothing, Action::Conflicts),
            KeyCode::Char('x') => {
                if let Some(row) = selected() {
                    self.mode = Mode::ConfirmKill(row);
                }
                Action::Nothing
            }
            KeyCode::Char('n') if self.projects.is_empty() => {
                self.message = Some("no projects known on this laptop yet: run `sinc` in a project folder once".into());
                Action::Nothing
            }
            KeyCode::Char('n') => {
                self.mode = Mode::NewSession(0);
                Action::Nothing
            }
            _ => Action::Nothing,
        }
    }

    /// Move the selection by `by` rows (clamped).
    fn step(&mut self, by: isize) {
        let visible = self.visible();
        let Some(index) = self.selected_index() else { return };
        let next = index.saturating_add_signed(by).min(visible.len().saturating_sub(1));
        self.selected = visible.get(next).map(|r| (r.host.clone(), r.id.clone()));
    }
}

/// Whether `row` has `needle` (lowercase) in its project, id, agent, state,
/// host or last line.
fn matches_filter(row: &Row, needle: &str) -> bool {
    [row.project.as_str(), &row.id, &row.agent, state_name(row.state), &row.host, &row.last_line]
        .iter()
        .any(|f| f.to_lowercase().contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::agent_state::AgentState;

    fn row(host: &str, project: &str, state: AgentState) -> Row {
        Row {
            host: host.into(),
            id: format!("sinc-{project}-abc123"),
            project: project.into(),
            local_path: Some(format!("/l/{project}")),
            agent: "opencode".into(),
            state,
            last_line: format!("{project} says hi"),
            attached: 0,
            created: 0,
            sync: None,
            conflicts: 0,
        }
    }

    fn press(app: &mut App, code: KeyCode) -> Action {
        app.key(KeyEvent::from(code))
    }

    fn app() -> App {
        let mut app = App::new(&["a".into(), "b".into()], vec![PathBuf::from("/l/new")]);
        app.update_host("a", Ok(vec![row("a", "web", AgentState::Working), row("a", "api", AgentState::Idle)]));
        app.update_host("b", Ok(vec![row("b", "docs", AgentState::Waiting)]));
        app
    }

    fn names(app: &App) -> Vec<&str> {
        app.visible().iter().map(|r| r.project.as_str()).collect()
    }

    #[test]
    fn rows_are_sorted_and_the_selection_follows_its_session() {
        let mut app = app();
        assert_eq!(names(&app), ["api", "web", "docs"]);
        press(&mut app, KeyCode::Down);
        assert_eq!(app.selected_row().unwrap().project, "web");
        // A new session sorts in before it: the selection stays on "web".
        app.update_host("a", Ok(vec![row("a", "web", AgentState::Idle), row("a", "aaa", AgentState::Idle)]));
        assert_eq!(app.selected_row().unwrap().project, "web");
        assert_eq!(press(&mut app, KeyCode::Enter), Action::Attach(app.selected_row().unwrap()));
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Down);
        assert_eq!(app.selected_row().unwrap().project, "docs", "clamped at the end");
    }

    #[test]
    fn typing_a_filter_narrows_the_list_and_escape_clears_it() {
        let mut app = app();
        press(&mut app, KeyCode::Char('/'));
        for c in "WAIT".chars() {
            press(&mut app, KeyCode::Char(c));
        }
        assert_eq!(names(&app), ["docs"], "matched on the state, case-insensitively");
        assert_eq!(press(&mut app, KeyCode::Char('q')), Action::Nothing, "q is text while filtering");
        press(&mut app, KeyCode::Backspace);
        press(&mut app, KeyCode::Enter);
        assert_eq!(*app.mode(), Mode::List);
        assert_eq!(app.filter(), "WAIT");
        press(&mut app, KeyCode::Esc);
        assert_eq!(names(&app).len(), 3);
        assert_eq!(press(&mut app, KeyCode::Esc), Action::Quit);
    }

    #[test]
    fn killing_asks_first() {
        let mut app = app();
        assert_eq!(press(&mut app, KeyCode::Char('x')), Action::Nothing);
        assert!(matches!(app.mode(), Mode::ConfirmKill(r) if r.project == "api"));
        assert_eq!(press(&mut app, KeyCode::Char('n')), Action::Nothing);
        assert_eq!(app.message.as_deref(), Some("sinc-api-abc123 kept"));
        press(&mut app, KeyCode::Char('x'));
        assert!(matches!(press(&mut app, KeyCode::Char('y')), Action::Kill(r) if r.project == "api"));
    }

    #[test]
    fn a_new_session_is_picked_from_the_known_projects() {
        let mut app = app();
        press(&mut app, KeyCode::Char('n'));
        assert_eq!(*app.mode(), Mode::NewSession(0));
        assert_eq!(press(&mut app, KeyCode::Enter), Action::Start(PathBuf::from("/l/new")));
        let mut none = App::new(&["a".into()], Vec::new());
        assert_eq!(press(&mut none, KeyCode::Char('n')), Action::Nothing);
        assert!(none.message.as_deref().unwrap().contains("no projects known"));
    }

    #[test]
    fn an_unreachable_host_keeps_its_last_sessions_and_the_others_go_on() {
        let mut app = app();
        let changes = app.update_host("a", Err("connection refused".into()));
        assert!(changes.is_empty());
        assert_eq!(app.hosts()["a"], HostState::Unreachable("connection refused".into()));
        assert_eq!(names(&app), ["api", "web", "docs"]);
        let changes = app.update_host("b", Ok(vec![row("b", "docs", AgentState::Idle)]));
        assert_eq!(changes.len(), 1);
        assert_eq!(app.hosts()["b"], HostState::Seen);
    }

    #[test]
    fn ctrl_c_always_quits() {
        let mut app = app();
        press(&mut app, KeyCode::Char('/'));
        assert_eq!(app.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Action::Quit);
        assert_eq!(press(&mut App::new(&[], Vec::new()), KeyCode::Enter), Action::Nothing, "nothing to attach");
    }
}
