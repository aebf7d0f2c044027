//! `sinc agent-config check` and the notices at a session's start: which
//! synced settings files have keys written into them. Pure: the files'
//! paths and text come in, text goes out; values are never shown.

use crate::inline::{self, Finding};

/// The settings files checked in each synced folder, by how the folder's
/// path ends.
pub const SETTINGS: [(&str, &[&str]); 2] =
    [(".claude", &["settings.json"]), (".config/opencode", &["opencode.json", "opencode.jsonc", "config.json"])];

/// The help text.
pub const USAGE: &str = "\
The agents' configuration, kept the same on the laptop and the VPS.

usage: sinc agent-config check [--json]

check names the keys written into the synced settings files (Claude Code's
settings.json, OpenCode's opencode.json[c]), which sync to the VPS with
them; it exits 1 when there are some. Values are never shown.
";

/// What a run printed, and its exit status (0; 1 keys found; 2 usage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit status.
    pub status: u8,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// A settings file that was read: its path and text.
pub type Read = (String, String);

/// Every key written into `files`, with its file.
pub fn findings(files: &[Read]) -> Vec<(&str, Finding)> {
    files.iter().flat_map(|(path, text)| inline::find(text).into_iter().map(move |f| (path.as_str(), f))).collect()
}

/// What to do about a key written into a file.
const FIX: &str = "it syncs to the VPS with the file; point at it instead ({env:NAME} in OpenCode, \
                   apiKeyHelper or the agent's login in Claude Code) or keep it in the environment";

/// The notices shown when a session starts (at most `max`).
pub fn notices(files: &[Read], max: usize) -> Vec<String> {
    let all = findings(files);
    let mut shown: Vec<String> =
        all.iter().take(max).map(|(path, f)| format!("{path}:{}: \"{}\" holds a key; {FIX}", f.line, f.key)).collect();
    if all.len() > max
        && let Some(last) = shown.last_mut()
    {
        *last = format!(
            "{} more keys are written into settings files; `sinc agent-config check` lists them",
            all.len() - max + 1
        );
    }
    shown
}

/// `sinc agent-config ARGS`.
pub fn run(args: &[String], files: &[Read]) -> Output {
    let (mut check, mut json) = (false, false);
    for arg in args {
        match arg.as_str() {
            "check" if !check => check = true,
            "--json" => json = true,
            "-h" | "--help" | "help" => return Output { status: 0, stdout: USAGE.into(), stderr: String::new() },
            other => {
                let stderr = format!("unexpected argument {other:?}\n\n{USAGE}");
                return Output { status: 2, stdout: String::new(), stderr };
            }
        }
    }
    if !check {
        return Output { status: 2, stdout: String::new(), stderr: USAGE.into() };
    }
    let found = findings(files);
    let stdout = if json {
        let list: Vec<_> =
            found.iter().map(|(path, f)| serde_json::json!({ "file": path, "line": f.line, "key": f.key })).collect();
        let checked: Vec<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
        serde_json::json!({ "checked": checked, "keys": list }).to_string() + "\n"
    } else if found.is_empty() {
        format!("no keys written into the {} synced settings files\n", files.len())
    } else {
        let mut text: String =
            found.iter().map(|(path, f)| format!("{path}:{}: \"{}\" holds a key\n", f.line, f.key)).collect();
        text += &format!("{FIX}\n");
        text
    };
    Output { status: u8::from(!found.is_empty()), stdout, stderr: String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> Vec<Read> {
        vec![
            ("/home/me/.claude/settings.json".into(), include_str!("../fixtures/claude/settings.json").into()),
            (
                "/home/me/.config/opencode/opencode.jsonc".into(),
                include_str!("../fixtures/opencode/opencode.jsonc").into(),
            ),
        ]
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn check_names_keys_and_never_values() {
        let out = run(&args(&["check"]), &fixtures());
        assert_eq!(out.status, 1);
        assert!(out.stdout.starts_with(
            "/home/me/.claude/settings.json:5: \"ANTHROPIC_AUTH_TOKEN\" holds a key\n\
             /home/me/.config/opencode/opencode.jsonc:9: \"apiKey\" holds a key\n\
             /home/me/.config/opencode/opencode.jsonc:20: \"Authorization\" holds a key\n"
        ));
        assert!(!out.stdout.contains("FAKE"), "{}", out.stdout);
        let json: serde_json::Value =
            serde_json::from_str(&run(&args(&["check", "--json"]), &fixtures()).stdout).unwrap();
        assert_eq!(
            json["keys"][1],
            serde_json::json!({"file": "/home/me/.config/opencode/opencode.jsonc", "line": 9, "key": "apiKey"})
        );
        assert_eq!(json["checked"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn clean_files_pass_and_bad_arguments_are_usage_errors() {
        let clean = vec![("/h/.claude/settings.json".to_owned(), "{\"model\": \"opus\"}".to_owned())];
        let out = run(&args(&["check"]), &clean);
        assert_eq!((out.status, out.stdout.as_str()), (0, "no keys written into the 1 synced settings files\n"));
        assert_eq!(run(&args(&[]), &clean).status, 2);
        let bad = run(&args(&["check", "--yes"]), &clean);
        assert_eq!(bad.status, 2);
        assert!(bad.stderr.contains("unexpected argument \"--yes\""));
    }

    #[test]
    fn notices_are_bounded() {
        let all = notices(&fixtures(), 10);
        assert_eq!(all.len(), 3);
        assert!(all[0].starts_with("/home/me/.claude/settings.json:5: \"ANTHROPIC_AUTH_TOKEN\" holds a key; it syncs"));
        let two = notices(&fixtures(), 2);
        assert_eq!(two[1], "2 more keys are written into settings files; `sinc agent-config check` lists them");
    }
}
