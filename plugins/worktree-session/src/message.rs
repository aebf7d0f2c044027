//! The commit message of a task's end: the task, a one-line summary of the
//! changed files, the files, the diffstat — from a template.

/// One changed file, as `git diff --cached --name-status` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `A`, `M`, `D`, `R`, `C`, `T`…
    pub status: char,
    /// The path (for a rename, the new one).
    pub path: String,
}

/// Read `git diff --cached --name-status -z` (NUL-separated: a status,
/// then one path, or two for a rename or copy).
pub fn parse_name_status(z: &str) -> Vec<Change> {
    let mut fields = z.split('\0').filter(|f| !f.is_empty());
    let mut out = Vec::new();
    while let Some(status) = fields.next() {
        let Some(letter) = status.chars().next() else { break };
        let mut path = fields.next().unwrap_or_default();
        if matches!(letter, 'R' | 'C') {
            path = fields.next().unwrap_or(path);
        }
        out.push(Change { status: letter, path: path.to_owned() });
    }
    out
}

/// How many files are named in the summary line before "and N more".
const SUMMARY_NAMES: usize = 3;
/// How many files are listed before "… and N more".
const LISTED: usize = 50;

fn verb(status: char) -> &'static str {
    match status {
        'A' | 'C' => "add",
        'D' => "delete",
        'R' => "rename",
        _ => "change",
    }
}

/// One line: what was done to which files, added first, then changed,
/// renamed, deleted — e.g. `add login.rs, change app.rs and 2 more files`.
pub fn summary(changes: &[Change]) -> String {
    let rank = |c: &&Change| ["add", "change", "rename", "delete"].iter().position(|v| *v == verb(c.status));
    let mut ordered: Vec<&Change> = changes.iter().collect();
    ordered.sort_by_key(rank);
    let mut parts: Vec<String> = Vec::new();
    for c in ordered.into_iter().take(SUMMARY_NAMES) {
        let name = c.path.rsplit('/').next().unwrap_or(&c.path);
        let v = verb(c.status);
        match parts.last_mut() {
            Some(last) if last.starts_with(&format!("{v} ")) => last.push_str(&format!(", {name}")),
            _ => parts.push(format!("{v} {name}")),
        }
    }
    let mut line = parts.join(", ");
    let more = changes.len().saturating_sub(SUMMARY_NAMES);
    if more > 0 {
        line.push_str(&format!(" and {more} more file{}", if more == 1 { "" } else { "s" }));
    }
    line
}

/// The files, one per line with their status (`A  path`), at most
/// [`LISTED`].
pub fn file_list(changes: &[Change]) -> String {
    let mut lines: Vec<String> = changes.iter().take(LISTED).map(|c| format!("{}  {}", c.status, c.path)).collect();
    if changes.len() > LISTED {
        lines.push(format!("… and {} more", changes.len() - LISTED));
    }
    lines.join("\n")
}

/// The message: `template` with `{task}`, `{branch}`, `{summary}`,
/// `{files}` and `{stat}` filled in, blank lines at the ends trimmed.
pub fn render(template: &str, task: &str, branch: &str, changes: &[Change], stat: &str) -> String {
    let filled = template
        .replace("{task}", task)
        .replace("{branch}", branch)
        .replace("{summary}", &summary(changes))
        .replace("{files}", &file_list(changes))
        .replace("{stat}", stat.trim());
    let mut text = filled.trim().to_owned();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_status_with_renames_and_odd_paths() {
        let z = "M\0src/app.rs\0A\0a file\twith tab\0R087\0old.rs\0new.rs\0D\0gone.txt\0";
        let c = parse_name_status(z);
        assert_eq!(c.len(), 4);
        assert_eq!(c[1], Change { status: 'A', path: "a file\twith tab".into() });
        assert_eq!(c[2], Change { status: 'R', path: "new.rs".into() });
        assert!(parse_name_status("").is_empty());
    }

    #[test]
    fn the_message_names_the_task_and_the_files() {
        let c = parse_name_status("M\0src/app.rs\0A\0src/login.rs\0D\0x\0A\0src/form.rs\0");
        assert_eq!(summary(&c), "add login.rs, form.rs, change app.rs and 1 more file");
        let m = render(crate::settings::DEFAULT_MESSAGE, "fix-login", "sinc/fix-login", &c, " 4 files changed\n");
        assert!(m.starts_with("fix-login: add login.rs, form.rs, change app.rs and 1 more file\n\nM  src/app.rs\n"));
        assert!(m.contains("\nA  src/form.rs\n\n4 files changed\n"), "{m}");
        assert!(m.ends_with("(branch sinc/fix-login) ended.\n"), "{m}");
        let many: Vec<Change> = (0..60).map(|i| Change { status: 'M', path: format!("f{i}") }).collect();
        assert!(file_list(&many).ends_with("f49\n… and 10 more"));
        assert_eq!(render("{task}", "t", "b", &[], ""), "t\n");
    }
}
