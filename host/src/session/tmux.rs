//! The remote tmux commands, as POSIX scripts built from a session spec, and
//! the parsing of what they print. Pure: nothing here touches the network.
//!
//! Sessions live on the remote user's default tmux server, so `tmux ls` on the
//! VPS shows them. Their metadata is kept in tmux user options (`@sinc_*`) so
//! `sinc list` works from any folder and any laptop.

use super::spec::SessionSpec;
use crate::transport::quote;

/// Exit statuses the scripts use to report a precondition (chosen above the
/// range tmux and shells use).
pub mod status {
    /// tmux is not installed.
    pub const NO_TMUX: u32 = 200;
    /// The project has no session (attach-only).
    pub const NO_SESSION: u32 = 201;
    /// The agent's program is not on the remote PATH.
    pub const NO_AGENT: u32 = 202;
    /// The remote folder could not be created.
    pub const NO_FOLDER: u32 = 203;
    /// The agent exited as soon as it started.
    pub const AGENT_EXITED: u32 = 204;
}

/// Size of the terminal a session is created for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// tmux, told the client speaks UTF-8: without a UTF-8 locale (a bare SSH
/// exec has none) tmux would replace tabs and non-ASCII bytes in its output.
pub(crate) const TMUX: &str = "tmux -u";

const OPT_LOCAL: &str = "@sinc_local_path";
const OPT_REMOTE: &str = "@sinc_remote_path";
const OPT_AGENT: &str = "@sinc_agent";
const OPT_HOST: &str = "@sinc_client";

/// How many lines of a session's output (its screen and the scrollback
/// above it) are kept when it ends, for the plugins' end hooks.
pub const KEPT_LINES: u32 = 2000;

/// Where the VPS keeps an ended session's last output, as the shell that
/// runs the scripts finds it: `$XDG_STATE_HOME/sincronizado/output`, the
/// folder the daemon reads ([`kept_output_dir`]).
fn output_dir_sh() -> String {
    format!("${{XDG_STATE_HOME:-$HOME/.local/state}}/{}/output", crate::paths::APP_DIR)
}

/// The folder where an ended session's output is kept, under the VPS
/// user's state folder (`state`).
pub fn kept_output_dir(state: &std::path::Path) -> std::path::PathBuf {
    state.join("output")
}

/// The file session `id`'s last output is kept in.
pub fn kept_output_file(state: &std::path::Path, id: &str) -> std::path::PathBuf {
    kept_output_dir(state).join(format!("{id}.txt"))
}

/// How `capture-pane` reads what is kept: joined lines, colours, the
/// scrollback's last [`KEPT_LINES`].
fn capture_flags() -> String {
    format!("-J -e -S -{KEPT_LINES}")
}

/// Whether an ended session's output is kept: an agent session with a
/// plain name (never a `sinc ssh` terminal, where people type secrets).
pub fn keeps_output(id: &str) -> bool {
    crate::session_id::is_sinc_session(id)
        && !id.starts_with(super::shell::PREFIX)
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Shell lines making `$OUT` the kept output's folder (private), or empty
/// when it cannot be made or session `id` keeps none.
fn output_dir_lines(id: &str) -> String {
    if !keeps_output(id) {
        return "OUT=\n".into();
    }
    format!("OUT=\"{}\"\nmkdir -p \"$OUT\" && chmod 700 \"$OUT\" || OUT=\n", output_dir_sh())
}

/// What runs in a session's pane: the agent's command line (`$2`) in the
/// user's login shell (`$1`), then — the pane still showing what the agent
/// left — its screen and scrollback kept in file `$3` (when given) for the
/// plugins' end hooks; the agent's exit status is the pane's.
const PANE_COMMAND: &str = "\"$1\" -lc \"$2\"; status=$?; [ -z \"$3\" ] || \
     { tmux -u capture-pane -p {flags} -t \"$TMUX_PANE\" > \"$3.new\" 2>/dev/null && mv -f \"$3.new\" \"$3\"; }; exit $status";

fn target(spec: &SessionSpec) -> String {
    quote::word(&format!("={}", spec.id))
}

/// The target for `set-option` on a session named exactly `name`: options
/// take a pane target, where an exact session name needs the `:`.
pub(crate) fn option_target(name: &str) -> String {
    quote::word(&format!("={name}:"))
}

/// What plugins' before-start hooks add to an agent's launch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    /// Environment variables (names already checked).
    pub env: Vec<(String, String)>,
    /// Text typed into the agent once it starts, each followed by Enter.
    pub prompts: Vec<String>,
}

/// The longest first prompt passed on: it travels in a tmux command, and
/// tmux takes commands of at most 16 KiB.
pub const MAX_PROMPT: usize = 8 * 1024;

/// `prompt` cut to [`MAX_PROMPT`] bytes (at a character's boundary).
fn capped(prompt: &str) -> &str {
    let mut end = prompt.len().min(MAX_PROMPT);
    while !prompt.is_char_boundary(end) {
        end -= 1;
    }
    &prompt[..end]
}

/// Whether `name` can be an environment variable's name.
pub fn valid_env_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The part shared by `start` and create-or-attach: create the session if it
/// does not exist. Prints `created` or `exists`.
fn create_if_missing(spec: &SessionSpec, size: Size, client: &str, extras: &Extras) -> String {
    let t = target(spec);
    let o = option_target(&spec.id.to_string());
    let id = quote::word(&spec.id.to_string());
    let agent_check = match spec.agent.program() {
        Some(program) => {
            format!("{} >/dev/null 2>&1 || exit {}\n  ", quote::login_shell_which(&program), status::NO_AGENT)
        }
        None => String::new(),
    };
    let env = [format!("SINC_SESSION_ID={}", spec.id), format!("SINC_PROJECT={}", spec.project_name())];
    // The plugins' variables are exported inside the login shell, after its
    // profile, which would otherwise reset a PATH they set (direnv's
    // `PATH_add`).
    let exports: String = extras
        .env
        .iter()
        .filter(|(k, _)| valid_env_name(k))
        .map(|(k, v)| format!("export {k}={}; ", quote::word(v)))
        .collect();
    // A well-known agent takes the prompts as its first message; others
    // have them typed in once they start.
    let joined = extras.prompts.join("\n\n");
    let joined = capped(&joined);
    let (command_line, typed) = match spec.agent.with_initial_prompt(joined).filter(|_| !joined.is_empty()) {
        Some(line) => (line, &[][..]),
        None => (spec.agent.command_line().to_owned(), extras.prompts.as_slice()),
    };
    let launch = format!("{exports}{command_line}");
    let prompts: String = typed
        .iter()
        .map(|p| {
            format!(
                "  {TMUX} send-keys -t {o} -l -- {} \\; send-keys -t {o} Enter 2>/dev/null\n",
                quote::word(capped(p))
            )
        })
        .collect();
    format!(
        "command -v tmux >/dev/null 2>&1 || exit {no_tmux}
if {tmux} has-session -t {t} 2>/dev/null; then
  echo exists
else
  DIR={dir}
  mkdir -p \"$DIR\" || exit {no_folder}
  cd \"$DIR\" || exit {no_folder}
  DIR=$(pwd -P)
  {keep}  KEEP=${{OUT:+$OUT/{id}.txt}}
  {agent_check}{tmux} new-session -d -s {id} -c \"$DIR\" -x {cols} -y {rows} -- env {env} /bin/sh -c {pane} sinc-agent \"${{SHELL:-/bin/sh}}\" {launch} \"$KEEP\" \\; \
set-option -t {o} {o_local} {local} \\; set-option -t {o} {o_remote} \"$DIR\" \\; \
set-option -t {o} {o_agent} {agent} \\; set-option -t {o} {o_host} {client} 2>/dev/null || {tmux} has-session -t {t} 2>/dev/null || exit {agent_exited}
{prompts}  echo created
fi
",
        no_tmux = status::NO_TMUX,
        no_folder = status::NO_FOLDER,
        agent_exited = status::AGENT_EXITED,
        keep = output_dir_lines(&spec.id.to_string()).replace('\n', "\n  "),
        pane = quote::word(&PANE_COMMAND.replace("{flags}", &capture_flags())),
        dir = quote::remote_path(&spec.remote_path),
        cols = size.cols.max(20),
        rows = size.rows.max(5),
        env = quote::words(&env),
        launch = quote::word(&launch),
        agent = quote::word(spec.agent.command_line()),
        local = quote::word(&spec.local_path.to_string_lossy()),
        client = quote::word(client),
        o_local = OPT_LOCAL,
        o_remote = OPT_REMOTE,
        o_agent = OPT_AGENT,
        o_host = OPT_HOST,
        tmux = TMUX,
    )
}

/// Create the session if missing, without attaching (`sinc start`).
pub fn start_script(spec: &SessionSpec, size: Size, client: &str, extras: &Extras) -> String {
    quote::sh_script(&create_if_missing(spec, size, client, extras))
}

/// Create the session if missing, then attach to it (`sinc`). Runs on a PTY.
pub fn create_and_attach_script(spec: &SessionSpec, size: Size, client: &str, extras: &Extras) -> String {
    let script = format!(
        "{} >/dev/null\nexec {TMUX} attach-session -t {}\n",
        create_if_missing(spec, size, client, extras).trim_end(),
        target(spec)
    );
    // `create_if_missing` ends with an `if … fi` block; silence its echo.
    quote::sh_script(&script)
}

/// Attach to an existing session only (`sinc -r`). Runs on a PTY.
pub fn attach_script(spec: &SessionSpec) -> String {
    let t = target(spec);
    quote::sh_script(&format!(
        "command -v tmux >/dev/null 2>&1 || exit {}\n{TMUX} has-session -t {t} 2>/dev/null || exit {}\nexec {TMUX} attach-session -t {t}\n",
        status::NO_TMUX,
        status::NO_SESSION
    ))
}

/// Whether the session exists: exits 0, or [`status::NO_SESSION`].
pub fn exists_script(spec: &SessionSpec) -> String {
    quote::sh_script(&format!(
        "command -v tmux >/dev/null 2>&1 || exit {}\n{TMUX} has-session -t {} 2>/dev/null || exit {}\n",
        status::NO_TMUX,
        target(spec),
        status::NO_SESSION
    ))
}

/// End a session (remote files are kept), keeping its last output first
/// as its agent's exit does.
pub fn kill_script(id: &str) -> String {
    let session = quote::word(&format!("={id}"));
    // Only plain names reach the file names below.
    let keep = if keeps_output(id) {
        format!(
            "{}[ -n \"$OUT\" ] && {TMUX} capture-pane -p {} -t {} > \"$OUT/.{id}.new\" 2>/dev/null && \
             mv -f \"$OUT/.{id}.new\" \"$OUT/{id}.txt\"\n",
            output_dir_lines(id),
            capture_flags(),
            quote::word(&format!("={id}:")),
        )
    } else {
        String::new()
    };
    quote::sh_script(&format!(
        "command -v tmux >/dev/null 2>&1 || exit {no_tmux}\n{keep}{TMUX} kill-session -t {session}\n",
        no_tmux = status::NO_TMUX,
    ))
}

/// The `list-sessions` format: sinc's metadata, tab-separated.
fn list_format() -> String {
    [
        "#{session_name}",
        "#{session_attached}",
        "#{session_created}",
        "#{@sinc_local_path}",
        "#{@sinc_remote_path}",
        "#{@sinc_agent}",
        "#{@sinc_client}",
        "#{@sinc_kind}",
    ]
    .join("\t")
}

/// List every session on the server with sinc's metadata, one per line.
pub fn list_script() -> String {
    quote::sh_script(&format!(
        "command -v tmux >/dev/null 2>&1 || exit {}\n{TMUX} list-sessions -F {} 2>/dev/null || true\n",
        status::NO_TMUX,
        quote::word(&list_format())
    ))
}

/// Starts the line before a session's screen in [`snapshot_script`]'s
/// output (`SCREEN_MARK id dead`).
const SCREEN_MARK: &str = "\u{1e}sinc-screen ";

/// [`list_script`]'s lines, then each sinc session's visible screen after
/// a [`SCREEN_MARK`] line: what `sinc sessions` shows, in one round trip.
pub fn snapshot_script() -> String {
    quote::sh_script(&format!(
        "command -v tmux >/dev/null 2>&1 || exit {no_tmux}
list=$({TMUX} list-sessions -F {format} 2>/dev/null) || exit 0
printf '%s\\n' \"$list\"
printf '%s\\n' \"$list\" | cut -f1 | while read -r name; do
  case $name in sinc-*) ;; *) continue ;; esac
  dead=$({TMUX} display-message -p -t \"=$name:\" '#{{pane_dead}}' 2>/dev/null)
  printf '\\036sinc-screen %s %s\\n' \"$name\" \"$dead\"
  {TMUX} capture-pane -p -J -t \"=$name:\" 2>/dev/null
done
",
        no_tmux = status::NO_TMUX,
        format = quote::word(&list_format()),
    ))
}

/// A session's visible screen, from [`snapshot_script`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Screen {
    /// Whether its program ended (the pane stays for its last output).
    pub dead: bool,
    /// The text on it, lines separated by `\n`.
    pub text: String,
}

/// Parse [`snapshot_script`]'s output: the sessions (as [`parse_list`])
/// and each one's screen, by id.
pub fn parse_snapshot(output: &str) -> (Vec<RemoteSession>, std::collections::BTreeMap<String, Screen>) {
    let (list, rest) = match output.find(SCREEN_MARK) {
        Some(i) => output.split_at(i),
        None => (output, ""),
    };
    let mut screens = std::collections::BTreeMap::new();
    for part in rest.split(SCREEN_MARK).filter(|p| !p.is_empty()) {
        let (head, text) = part.split_once('\n').unwrap_or((part, ""));
        let mut words = head.split(' ');
        let id = words.next().unwrap_or_default().to_owned();
        let dead = words.next() == Some("1");
        screens.insert(id, Screen { dead, text: text.to_owned() });
    }
    (parse_list(list), screens)
}

/// One remote tmux session as `list` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSession {
    /// The tmux session name (`sinc-…`).
    pub id: String,
    /// Attached clients.
    pub attached: u32,
    /// Creation time, seconds since the epoch.
    pub created: u64,
    /// Local project folder, when recorded.
    pub local_path: Option<String>,
    /// Remote folder, when recorded.
    pub remote_path: Option<String>,
    /// Agent command, when recorded.
    pub agent: Option<String>,
    /// The machine that created it, when recorded.
    pub client: Option<String>,
    /// What it is: `ssh` for `sinc ssh`'s, none for a project's.
    pub kind: Option<String>,
}

impl RemoteSession {
    /// Whether it is a `sinc ssh` terminal rather than a project's session.
    pub fn is_shell(&self) -> bool {
        self.kind.as_deref() == Some(super::shell::KIND)
    }
}

/// Parse `list_script`'s output, keeping only sinc sessions.
pub fn parse_list(output: &str) -> Vec<RemoteSession> {
    let opt = |s: Option<&str>| s.filter(|v| !v.is_empty()).map(str::to_owned);
    let mut sessions: Vec<RemoteSession> = output
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let id = f.next()?.to_owned();
            if !crate::session_id::is_sinc_session(&id) {
                return None;
            }
            Some(RemoteSession {
                id,
                attached: f.next()?.parse().unwrap_or(0),
                created: f.next()?.parse().unwrap_or(0),
                local_path: opt(f.next()),
                remote_path: opt(f.next()),
                agent: opt(f.next()),
                client: opt(f.next()),
                kind: opt(f.next()),
            })
        })
        .collect();
    sessions.sort_by(|a, b| a.id.cmp(&b.id));
    sessions
}

/// The outcome of matching a user-typed id (or prefix) against sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match<'a> {
    /// Exactly one session.
    One(&'a str),
    /// No session matches.
    None,
    /// Several sessions start with the prefix.
    Ambiguous(Vec<&'a str>),
}

/// Resolve `wanted` (a full id or a unique prefix) among `ids`.
pub fn match_id<'a>(wanted: &str, ids: &[&'a str]) -> Match<'a> {
    if let Some(exact) = ids.iter().find(|i| **i == wanted) {
        return Match::One(exact);
    }
    let hits: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|i| {
            i.starts_with(wanted) || i.strip_prefix(crate::session_id::PREFIX).is_some_and(|r| r.starts_with(wanted))
        })
        .collect();
    match hits.len() {
        0 => Match::None,
        1 => Match::One(hits[0]),
        _ => Match::Ambiguous(hits),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_snapshot_is_the_list_then_each_screen() {
        let output = "sinc-app-abc123\t1\t1700000000\t/l/app\t/r/app\topencode\tlaptop\t\nother\t0\t1\t\t\t\t\t\n\
                      \u{1e}sinc-screen sinc-app-abc123 0\nline one\n\nDo you want to proceed? (y/n)\n\
                      \u{1e}sinc-screen sinc-gone-ffffff 1\nbye\n";
        let (sessions, screens) = parse_snapshot(output);
        assert_eq!(sessions.len(), 1, "only sinc sessions: {sessions:?}");
        assert_eq!(sessions[0].agent.as_deref(), Some("opencode"));
        assert_eq!(
            screens["sinc-app-abc123"],
            Screen { dead: false, text: "line one\n\nDo you want to proceed? (y/n)\n".into() }
        );
        assert!(screens["sinc-gone-ffffff"].dead);
        assert_eq!(parse_snapshot(""), (Vec::new(), std::collections::BTreeMap::new()));
    }
    use super::*;
    use crate::config::Config;

    fn spec() -> SessionSpec {
        // The agent check runs a login shell, which resets PATH from /etc/profile:
        // use a program from /bin.
        let c = Config { agent: crate::config::Agent::new("FOO=1 cat --flag 'a b'").unwrap(), ..Config::default() };
        SessionSpec::new("/home/user/My Project".into(), &c)
    }

    /// Run a script with a fake `tmux` on PATH that logs its arguments.
    fn run_with_fake_tmux(script: &str, has_session: bool) -> (i32, String, String) {
        run_with_fake_tmux_where(script, if has_session { 0 } else { 1 }, 0)
    }

    /// Like [`run_with_fake_tmux`], choosing the status of `has-session` and of
    /// `new-session` (whose chained `set-option`s fail when the agent is gone).
    fn run_with_fake_tmux_where(script: &str, has_session: i32, new_session: i32) -> (i32, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = dir.path().join("log");
        let fake = format!(
            "#!/bin/sh\n[ \"$1\" = -u ] && shift\nfor a in \"$@\"; do printf '[%s]' \"$a\" >> {log}; done; echo >> {log}\n[ \"$1\" = has-session ] && exit {has_session}\n[ \"$1\" = new-session ] && exit {new_session}\nexit 0\n",
            log = log.display()
        );
        std::fs::write(bin.join("tmux"), fake).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(bin.join("tmux"), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("HOME", &home)
            .env("SHELL", "/bin/sh")
            .output()
            .unwrap();
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), logged)
    }

    #[test]
    fn start_creates_with_env_options_and_exact_target() {
        let extras = Extras {
            env: vec![("PROXY_URL".into(), "http://127.0.0.1:8081 x".into()), ("bad name".into(), "x".into())],
            prompts: vec!["fix the 'login' bug".into()],
        };
        let (code, stdout, log) =
            run_with_fake_tmux(&start_script(&spec(), Size { cols: 100, rows: 30 }, "laptop", &extras), false);
        assert_eq!(code, 0, "{log}");
        assert_eq!(stdout.trim(), "created");
        let new = log.lines().find(|l| l.starts_with("[new-session]")).unwrap();
        assert!(new.contains("[-s][sinc-my-project-78ce1d]"), "{new}");
        assert!(new.contains("[-x][100][-y][30]"), "{new}");
        assert!(
            new.contains("[env][SINC_SESSION_ID=sinc-my-project-78ce1d][SINC_PROJECT=my-project][/bin/sh][-c]"),
            "{new}"
        );
        assert!(
            new.contains(
                "][sinc-agent][/bin/sh][export PROXY_URL='http://127.0.0.1:8081 x'; FOO=1 cat --flag 'a b'][/"
            ),
            "{new}"
        );
        assert!(new.contains("/.local/state/sincronizado/output/sinc-my-project-78ce1d.txt][;]"), "{new}");
        assert!(!new.contains("bad name"), "{new}");
        let typed = log.lines().find(|l| l.starts_with("[send-keys]")).unwrap();
        assert_eq!(
            typed,
            "[send-keys][-t][=sinc-my-project-78ce1d:][-l][--][fix the 'login' bug][;][send-keys][-t][=sinc-my-project-78ce1d:][Enter]"
        );
        assert!(new.contains("[@sinc_local_path][/home/user/My Project]"), "{new}");
        assert!(new.contains("[set-option][-t][=sinc-my-project-78ce1d:]"), "{new}");
    }

    /// Run `script` with real tmux on a server of its own, the state folder
    /// under `dir`.
    fn run_real(dir: &std::path::Path, script: &str) -> std::process::Output {
        std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .env("TMUX_TMPDIR", dir.join("tmux"))
            .env("XDG_STATE_HOME", dir.join("state"))
            .env("SHELL", "/bin/sh")
            .env_remove("TMUX")
            .output()
            .unwrap()
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done() {
            assert!(std::time::Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    #[test]
    fn an_ended_sessions_last_output_is_kept_whether_its_agent_exits_or_it_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tmux")).unwrap();
        let spec_running = |agent: &str, name: &str| SessionSpec {
            id: crate::session_id::SessionId::for_path(&dir.path().join(name)),
            local_path: dir.path().join(name),
            remote_path: dir.path().join("work").to_string_lossy().into_owned(),
            agent: crate::config::Agent::new(agent).unwrap(),
        };
        let size = Size { cols: 80, rows: 24 };
        let kept = |spec: &SessionSpec| {
            std::fs::read_to_string(kept_output_file(
                &dir.path().join("state").join(crate::paths::APP_DIR),
                &spec.id.to_string(),
            ))
        };
        let alive = |spec: &SessionSpec| run_real(dir.path(), &exists_script(spec)).status.success();

        let exits = spec_running("sh -c 'echo the last words; sleep 0.5; exit 3'", "exits");
        let out = run_real(dir.path(), &start_script(&exits, size, "t", &Extras::default()));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        wait_for("the session to end", || !alive(&exits));
        let text = kept(&exits).expect("kept output");
        assert!(text.contains("the last words"), "{text}");

        let runs = spec_running("sh -c 'echo still working; sleep 60'", "runs");
        assert!(run_real(dir.path(), &start_script(&runs, size, "t", &Extras::default())).status.success());
        wait_for("the agent's first line", || {
            run_real(dir.path(), &format!("tmux capture-pane -p -t '={}:'", runs.id)).stdout.starts_with(b"still")
        });
        assert!(run_real(dir.path(), &kill_script(&runs.id.to_string())).status.success());
        assert!(!alive(&runs));
        assert!(kept(&runs).unwrap().contains("still working"));
        let _ = run_real(dir.path(), "tmux kill-server");
    }

    #[test]
    fn start_is_idempotent() {
        let (code, stdout, log) =
            run_with_fake_tmux(&start_script(&spec(), Size { cols: 80, rows: 24 }, "x", &Extras::default()), true);
        assert_eq!((code, stdout.trim()), (0, "exists"));
        assert!(!log.contains("new-session"));
    }

    #[test]
    fn missing_agent_is_reported() {
        let mut s = spec();
        s.agent = crate::config::Agent::new("no-such-agent-xyz").unwrap();
        let (code, _, _) =
            run_with_fake_tmux(&start_script(&s, Size { cols: 80, rows: 24 }, "x", &Extras::default()), false);
        assert_eq!(code, status::NO_AGENT as i32);
    }

    #[test]
    fn an_agent_gone_before_its_options_are_set_is_reported() {
        let (code, _, _) = run_with_fake_tmux_where(
            &start_script(&spec(), Size { cols: 80, rows: 24 }, "x", &Extras::default()),
            1,
            1,
        );
        assert_eq!(code, status::AGENT_EXITED as i32);
    }

    #[test]
    fn attach_only_requires_a_session() {
        let (code, _, _) = run_with_fake_tmux(&attach_script(&spec()), false);
        assert_eq!(code, status::NO_SESSION as i32);
    }

    #[test]
    fn list_parsing_skips_foreign_sessions() {
        let out = "main\t1\t100\t\t\t\t\nsinc-b-222222\t0\t200\t\t\t\t\nsinc-a-111111\t2\t300\t/l\t/r\topencode\tlaptop\n\
             sinc-ssh-work\t0\t400\t\t/home/u\t(login shell)\tlaptop\tssh\n";
        let s = parse_list(out);
        assert_eq!(s.len(), 3);
        assert!(!s[0].is_shell() && s[2].is_shell(), "{s:?}");
        assert_eq!(s[0].id, "sinc-a-111111");
        assert_eq!(s[0].attached, 2);
        assert_eq!(s[0].local_path.as_deref(), Some("/l"));
        assert_eq!(s[1].agent, None);
    }

    #[test]
    fn id_prefixes() {
        let ids = ["sinc-app-111111", "sinc-app-222222", "sinc-web-333333"];
        assert_eq!(match_id("sinc-web", &ids), Match::One("sinc-web-333333"));
        assert_eq!(match_id("web", &ids), Match::One("sinc-web-333333"));
        assert!(matches!(match_id("app", &ids), Match::Ambiguous(v) if v.len() == 2));
        assert_eq!(match_id("nope", &ids), Match::None);
        assert_eq!(match_id("sinc-app-111111", &ids), Match::One("sinc-app-111111"));
    }
}
