//! Drawing the manager: a header with each host's status, the table of
//! sessions (the selected one reversed), a prompt line and the keys; the
//! project picker over it when starting a session. ratatui redraws only
//! the cells that changed, so refreshing does not flicker. Colours only
//! when wanted (`NO_COLOR`, not a terminal: none).

use super::app::{App, HostState, Mode};
use super::row::{Row, state_name};
use crate::session::agent_state::AgentState;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, List, ListItem, ListState, Paragraph, Row as TableRow, Table, TableState,
};

/// How to draw.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    /// Whether to use colours.
    pub colors: bool,
    /// Now, in seconds since the epoch (for ages).
    pub now: u64,
}

impl Look {
    fn style(&self, color: Color) -> Style {
        if self.colors { Style::new().fg(color) } else { Style::new() }
    }
}

const KEYS: &str = "enter attach · n new · x kill · c conflicts · / filter · r refresh · q quit";

/// Draw `app` on `frame`.
pub fn draw(frame: &mut Frame, app: &App, look: &Look) {
    let [header, body, prompt, keys] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(1), Constraint::Length(1)])
            .areas(frame.area());
    frame.render_widget(Paragraph::new(header_line(app, look)), header);
    let visible = app.visible();
    if visible.is_empty() {
        let text = if app.filter().is_empty() {
            "No agent sessions. Press n to start one.".to_owned()
        } else {
            format!("No session matches \"{}\".", app.filter())
        };
        frame.render_widget(Paragraph::new(text), body);
    } else {
        let many_hosts = app.hosts().len() > 1;
        let mut state = TableState::default().with_selected(app.selected_index());
        frame.render_stateful_widget(table(&visible, many_hosts, look), body, &mut state);
    }
    frame.render_widget(Paragraph::new(prompt_line(app, look)), prompt);
    frame.render_widget(Paragraph::new(Span::styled(KEYS, look.style(Color::DarkGray))), keys);
    if let Mode::NewSession(index) = app.mode() {
        picker(frame, app, *index);
    }
}

fn header_line(app: &App, look: &Look) -> Line<'static> {
    let mut spans = vec![Span::styled("sinc sessions", Style::new().add_modifier(Modifier::BOLD))];
    for (host, state) in app.hosts() {
        let count = app.visible().iter().filter(|r| &r.host == host).count();
        let (text, style) = match state {
            HostState::Looking => (format!("{host}: looking…"), Style::new()),
            HostState::Seen => (format!("{host}: {count} sessions"), Style::new()),
            HostState::Unreachable(why) => (format!("{host}: unreachable ({why})"), look.style(Color::Red)),
        };
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}

fn table<'a>(rows: &[&'a Row], many_hosts: bool, look: &Look) -> Table<'a> {
    let mut header = vec!["STATE", "PROJECT", "AGENT"];
    if many_hosts {
        header.push("HOST");
    }
    header.extend(["SYNC", "ATT", "STARTED", "LAST LINE"]);
    let widest = |f: fn(&Row) -> usize, min: usize, max: usize| {
        let w = rows.iter().map(|r| f(r)).max().unwrap_or(0).clamp(min, max);
        Constraint::Length(u16::try_from(w).unwrap_or(u16::MAX))
    };
    let mut widths = vec![
        Constraint::Length(7),
        widest(|r| r.project.chars().count(), 7, 28),
        widest(|r| r.agent.chars().count(), 5, 12),
    ];
    if many_hosts {
        widths.push(widest(|r| r.host.chars().count(), 4, 20));
    }
    widths.extend([
        widest(|r| r.sync.as_deref().map_or(1, |s| s.chars().count()), 4, 26),
        Constraint::Length(3),
        Constraint::Length(8),
        Constraint::Fill(1),
    ]);
    let lines = rows.iter().map(|r| {
        let mut cells = vec![
            Cell::from(Span::styled(state_name(r.state), state_style(r.state, look))),
            Cell::from(r.project.as_str()),
            Cell::from(r.agent.as_str()),
        ];
        if many_hosts {
            cells.push(Cell::from(r.host.as_str()));
        }
        let sync_style = if r.conflicts > 0 { look.style(Color::Red) } else { Style::new() };
        cells.extend([
            Cell::from(Span::styled(r.sync.clone().unwrap_or_else(|| "-".into()), sync_style)),
            Cell::from(r.attached.to_string()),
            Cell::from(crate::clock::ago(look.now, r.created)),
            Cell::from(r.last_line.as_str()),
        ]);
        TableRow::new(cells)
    });
    Table::new(lines, widths)
        .header(TableRow::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
}

fn state_style(state: AgentState, look: &Look) -> Style {
    match state {
        AgentState::Waiting => look.style(Color::Yellow).add_modifier(Modifier::BOLD),
        AgentState::Working => look.style(Color::Green),
        AgentState::Idle => Style::new(),
        AgentState::Exited => look.style(Color::DarkGray),
    }
}

fn prompt_line(app: &App, look: &Look) -> Line<'static> {
    if let Some(message) = &app.message {
        return Line::from(message.clone());
    }
    match app.mode() {
        Mode::Filtering => Line::from(format!("filter: {}▏ (enter keeps it, esc clears it)", app.filter())),
        Mode::ConfirmKill(row) => Line::from(Span::styled(
            format!("End {} ({}) on {}? Its agent stops; the files stay. (y/n)", row.id, row.project, row.host),
            look.style(Color::Yellow).add_modifier(Modifier::BOLD),
        )),
        _ if !app.filter().is_empty() => Line::from(format!("filter: {} (esc clears it)", app.filter())),
        _ => Line::default(),
    }
}

/// The project picker, centred over the list.
fn picker(frame: &mut Frame, app: &App, index: usize) {
    let area = frame.area();
    let height = u16::try_from(app.projects().len()).unwrap_or(u16::MAX).saturating_add(2).min(area.height);
    let width = area.width.saturating_sub(8).clamp(20.min(area.width), 80);
    let popup = Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    let items: Vec<ListItem> = app.projects().iter().map(|p| ListItem::new(p.display().to_string())).collect();
    let list = List::new(items)
        .block(Block::new().borders(Borders::ALL).title(" new session for (enter starts, esc cancels) "))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    frame.render_widget(Clear, popup);
    frame.render_stateful_widget(list, popup, &mut ListState::default().with_selected(Some(index)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn row(project: &str, state: AgentState, sync: Option<&str>, conflicts: usize) -> Row {
        Row {
            host: "vps".into(),
            id: format!("sinc-{project}-abc123"),
            project: project.into(),
            local_path: None,
            agent: "claude".into(),
            state,
            last_line: "Do you want to proceed? (y/n)".into(),
            attached: 1,
            created: 1_000,
            sync: sync.map(str::to_owned),
            conflicts,
        }
    }

    fn screen(app: &App, colors: bool) -> (String, ratatui::buffer::Buffer) {
        let mut terminal = Terminal::new(TestBackend::new(100, 8)).unwrap();
        terminal.draw(|f| draw(f, app, &Look { colors, now: 1_090 })).unwrap();
        let buffer = terminal.backend().buffer().clone();
        let text = (0..buffer.area.height)
            .map(|y| (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect::<String>().trim_end().to_owned())
            .collect::<Vec<_>>()
            .join("\n");
        (text, buffer)
    }

    fn app() -> App {
        let mut app = App::new(&["vps".into()], vec!["/home/me/app".into()]);
        app.update_host(
            "vps",
            Ok(vec![
                row("api", AgentState::Waiting, Some("watching, 2 conflicts"), 2),
                row("web", AgentState::Working, None, 0),
            ]),
        );
        app
    }

    #[test]
    fn the_table_shows_each_session_and_the_keys() {
        let (text, buffer) = screen(&app(), true);
        assert!(text.starts_with("sinc sessions · vps: 2 sessions"), "{text}");
        assert!(text.contains("STATE   PROJECT AGENT  SYNC"), "{text}");
        assert!(
            text.contains("waiting api     claude watching, 2 conflicts 1   1m ago   Do you want to proceed? (y/n)"),
            "{text}"
        );
        assert!(text.contains("working web     claude -"), "{text}");
        assert!(text.ends_with(KEYS), "{text}");
        // The selected row is reversed; waiting is yellow, conflicts red.
        assert!(buffer[(0, 2)].modifier.contains(Modifier::REVERSED));
        assert_eq!(buffer[(0, 2)].fg, Color::Yellow);
        assert_eq!(buffer[(23, 2)].fg, Color::Red);
    }

    #[test]
    fn without_colours_only_the_selection_is_marked() {
        let (_, buffer) = screen(&app(), false);
        let colored = buffer.content().iter().any(|c| c.fg != Color::Reset || c.bg != Color::Reset);
        assert!(!colored);
        assert!(buffer[(0, 2)].modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn prompts_and_the_picker_are_drawn() {
        let mut app = app();
        app.key(KeyEvent::from(KeyCode::Char('x')));
        let (text, _) = screen(&app, false);
        assert!(text.contains("End sinc-api-abc123 (api) on vps? Its agent stops; the files stay. (y/n)"), "{text}");
        app.key(KeyEvent::from(KeyCode::Char('n')));
        app.key(KeyEvent::from(KeyCode::Char('n')));
        let (text, _) = screen(&app, false);
        assert!(text.contains("new session for") && text.contains("/home/me/app"), "{text}");
        let mut empty = App::new(&["vps".into(), "other".into()], Vec::new());
        empty.update_host("other", Err("connection refused".into()));
        let (text, _) = screen(&empty, false);
        assert!(text.contains("other: unreachable (connection refused) · vps: looking…"), "{text}");
        assert!(text.contains("No agent sessions. Press n to start one."), "{text}");
    }
}
