//! A hand-off: what one session left for the next, as the Markdown file
//! `.sinc/handoff/<session-id>.md`, and the prompt that gives it to the
//! next agent.

use serde::Serialize;

/// The folder (under `.sinc/`) hand-offs are kept in.
pub const FOLDER: &str = "handoff";

/// The longest continuation prompt, in bytes: it travels on the agent's
/// command line through tmux, which takes commands of at most 16 KiB.
pub const MAX_PROMPT: usize = 6000;

/// Everything a hand-off says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Handoff {
    /// The session's id.
    pub session: String,
    /// The session's folder on the laptop.
    pub folder: String,
    /// The task, when the folder is a task worktree.
    pub task: Option<String>,
    /// The branch checked out (none outside git, or detached).
    pub branch: Option<String>,
    /// When the session started (RFC 3339), when known.
    pub started: Option<String>,
    /// When it ended (RFC 3339).
    pub ended: String,
    /// The commits made during the session, `hash subject`, newest first.
    pub commits: Vec<String>,
    /// The files they changed, with a diffstat's lines.
    pub diffstat: Vec<String>,
    /// Changes not committed (`git status --short` lines).
    pub uncommitted: Vec<String>,
    /// The agent's last output, plain and redacted.
    pub output: Vec<String>,
    /// Why there is no output (the VPS out of reach…).
    pub output_missing: Option<String>,
    /// The open todos, each list with where it is from (the todo file,
    /// OpenCode's session).
    pub todos: Vec<(String, Vec<String>)>,
    /// The user's note.
    pub note: Option<String>,
    /// Whether the sync was flushed before (the laptop had the VPS's last
    /// changes).
    pub synced: bool,
}

/// The file of session `id`'s hand-off, relative to `.sinc/`.
pub fn path(id: &str) -> String {
    format!("{FOLDER}/{id}.md")
}

/// The session id a hand-off file name is for (`None`: not a hand-off).
pub fn id_of(file_name: &str) -> Option<&str> {
    file_name.strip_suffix(".md").filter(|id| id.starts_with("sinc-"))
}

fn fenced(lines: &[String]) -> String {
    // A fence longer than any run of backticks inside.
    let longest = lines.iter().map(|l| l.split(|c| c != '`').map(str::len).max().unwrap_or(0)).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}\n{}\n{fence}\n", lines.join("\n"))
}

impl Handoff {
    /// The Markdown file.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let title = self.task.as_deref().map_or_else(|| self.session.clone(), |t| format!("task {t}"));
        out.push_str(&format!("# Hand-off: {title}\n\n"));
        out.push_str(&format!("- Session: {}\n", self.session));
        out.push_str(&format!("- Folder: {}\n", self.folder));
        if let Some(task) = &self.task {
            out.push_str(&format!("- Task: {task}\n"));
        }
        if let Some(branch) = &self.branch {
            out.push_str(&format!("- Branch: {branch}\n"));
        }
        let started = self.started.as_deref().unwrap_or("unknown");
        out.push_str(&format!("- Started: {started}\n- Ended: {}\n", self.ended));
        if !self.synced {
            out.push_str(
                "- Note: the sync did not finish before this was written; the VPS may have had later changes\n",
            );
        }
        if let Some(note) = &self.note {
            out.push_str(&format!("\n## Note\n\n{}\n", note.trim()));
        }
        out.push_str("\n## Commits\n\n");
        if self.commits.is_empty() {
            out.push_str("None during this session.\n");
        } else {
            out.extend(self.commits.iter().map(|c| format!("- {c}\n")));
        }
        if !self.diffstat.is_empty() {
            out.push_str(&format!("\n## Changed files\n\n{}", fenced(&self.diffstat)));
        }
        if !self.uncommitted.is_empty() {
            out.push_str(&format!("\n## Not committed\n\n{}", fenced(&self.uncommitted)));
        }
        for (source, todos) in &self.todos {
            out.push_str(&format!("\n## Open todos ({source})\n\n"));
            out.extend(todos.iter().map(|t| format!("{t}\n")));
        }
        out.push_str("\n## Last output\n\n");
        match (&self.output_missing, self.output.is_empty()) {
            (Some(why), _) => out.push_str(&format!("Not available: {why}\n")),
            (None, true) => out.push_str("(empty)\n"),
            (None, false) => out.push_str(&fenced(&self.output)),
        }
        out
    }
}

/// The `Ended:` time of a rendered hand-off (for sorting them).
pub fn ended_of(text: &str) -> Option<&str> {
    text.lines().take(20).find_map(|l| l.strip_prefix("- Ended: "))
}

/// The `Started:` time of a rendered hand-off (which session wrote it).
pub fn started_of(text: &str) -> Option<&str> {
    text.lines().take(20).find_map(|l| l.strip_prefix("- Started: "))
}

/// The open todos of a todo file: its unchecked checkbox items, or — when
/// it has no checkboxes — its non-empty lines; at most 30.
pub fn open_todos(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    let boxes = |l: &&str| {
        let t = l.trim_start().trim_start_matches(['-', '*', '+']).trim_start();
        t.starts_with("[ ]") || t.starts_with("[x]") || t.starts_with("[X]")
    };
    let open: Vec<&str> = if lines.iter().any(boxes) {
        lines
            .into_iter()
            .filter(|l| boxes(l) && l.trim_start().trim_start_matches(['-', '*', '+']).trim_start().starts_with("[ ]"))
            .collect()
    } else {
        lines
    };
    open.into_iter().take(30).map(str::to_owned).collect()
}

/// Whether `agent`'s command line runs an agent sinc starts with a first
/// prompt (OpenCode, Claude Code); others get `SINC_HANDOFF_FILE` only.
pub fn takes_prompt(agent: &str) -> bool {
    if agent.contains([';', '|', '&', '<', '>', '`', '$', '(', ')']) {
        return false;
    }
    matches!(program(agent), "opencode" | "claude")
}

/// The name of the program an agent's command line runs (after any
/// `NAME=value` words).
pub fn program(agent: &str) -> &str {
    let word = agent.split_whitespace().find(|w| !w.contains('=')).unwrap_or("");
    word.rsplit('/').next().unwrap_or(word)
}

/// The prompt that starts the next agent with hand-off `text` (kept under
/// [`MAX_PROMPT`], cut at a line).
pub fn prompt(file: &str, text: &str) -> String {
    let head =
        format!("Carry on from the last session. Its hand-off ({file}) follows; read it, then continue the work.\n\n");
    let tail = format!("\n[… cut: the whole hand-off is in {file}]");
    let body = if head.len() + text.len() <= MAX_PROMPT {
        text.to_owned()
    } else {
        let mut cut = MAX_PROMPT.saturating_sub(head.len() + tail.len()).min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let cut = text[..cut].rfind('\n').unwrap_or(cut);
        format!("{}{tail}", &text[..cut])
    };
    format!("{head}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handoff {
        Handoff {
            session: "sinc-fix-login-abc123".into(),
            folder: "/home/u/app.tasks/fix-login".into(),
            task: Some("fix-login".into()),
            branch: Some("sinc/fix-login".into()),
            started: Some("2026-11-29T06:00:00Z".into()),
            ended: "2026-11-29T07:00:00Z".into(),
            commits: vec!["1a2b3c4 fix-login: 2 files changed".into()],
            diffstat: vec![" src/login.rs | 4 ++--".into(), " 1 file changed".into()],
            uncommitted: Vec::new(),
            output: vec!["tests passed".into(), "```".into()],
            output_missing: None,
            todos: vec![("TODO.md".into(), vec!["- [ ] handle expired tokens".into()])],
            note: Some("check the mobile view".into()),
            synced: true,
        }
    }

    #[test]
    fn the_file_says_it_all_in_order() {
        let text = sample().render();
        let order = [
            "# Hand-off: task fix-login",
            "- Branch: sinc/fix-login",
            "- Ended: 2026-11-29T07:00:00Z",
            "## Note",
            "check the mobile view",
            "## Commits",
            "- 1a2b3c4 fix-login",
            "## Changed files",
            "src/login.rs",
            "## Open todos (TODO.md)",
            "- [ ] handle expired tokens",
            "## Last output",
            "tests passed",
        ];
        let mut at = 0;
        for part in order {
            let found = text[at..].find(part).unwrap_or_else(|| panic!("`{part}` missing or out of order:\n{text}"));
            at += found;
        }
        assert!(text.contains("````\ntests passed\n```\n````"), "a fence longer than the output's:\n{text}");
        assert_eq!(ended_of(&text), Some("2026-11-29T07:00:00Z"));
        assert_eq!(started_of(&text), Some("2026-11-29T06:00:00Z"));
        let missing = Handoff {
            output: Vec::new(),
            output_missing: Some("the VPS was out of reach".into()),
            synced: false,
            ..sample()
        };
        let text = missing.render();
        assert!(
            text.contains("Not available: the VPS was out of reach") && text.contains("sync did not finish"),
            "{text}"
        );
    }

    #[test]
    fn open_todos_are_the_unchecked_boxes_or_every_line() {
        assert_eq!(open_todos("# Todo\n- [x] done\n- [ ] next\n  * [ ] nested\n"), ["- [ ] next", "  * [ ] nested"]);
        assert_eq!(open_todos("write docs\n\nship it\n"), ["write docs", "ship it"]);
    }

    #[test]
    fn names_agents_and_the_prompt() {
        assert_eq!(id_of("sinc-app-abc123.md"), Some("sinc-app-abc123"));
        assert_eq!(id_of("notes.md"), None);
        assert!(takes_prompt("opencode") && takes_prompt("FOO=1 /usr/bin/claude --x") && !takes_prompt("aider"));
        assert!(!takes_prompt("opencode || bash") && !takes_prompt("$HOME/bin/opencode"));
        let short = prompt(".sinc/handoff/x.md", "all done");
        assert!(short.starts_with("Carry on") && short.ends_with("all done"));
        let long = prompt(".sinc/handoff/x.md", &"a line of the hand-off\n".repeat(1000));
        assert!(
            long.len() <= MAX_PROMPT && long.ends_with("the whole hand-off is in .sinc/handoff/x.md]"),
            "{}",
            long.len()
        );
    }
}
