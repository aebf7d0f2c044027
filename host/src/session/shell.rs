//! `sinc ssh`'s sessions: a login shell, or one command, in a tmux session on
//! any host, so it outlives the network and the local process. Pure: the
//! remote scripts and the session names.
//!
//! A command's exit status and final screen are kept in files on the host
//! when it ends (the tmux session ends with it), so attaching reports both
//! like `ssh` would (tmux's own screen vanishes when it exits), even after a
//! reconnection.

use super::tmux::{Size, TMUX, status};
use crate::transport::quote;

/// What every `sinc ssh` session's tmux name starts with.
pub const PREFIX: &str = "sinc-ssh-";

/// The value of the `@sinc_kind` option that marks these sessions.
pub const KIND: &str = "ssh";

/// The tmux session name for `wanted` (an id, or the part after
/// [`PREFIX`]), or a new one when `None`; an error says what is allowed.
pub fn session_name(wanted: Option<&str>) -> Result<String, String> {
    let Some(wanted) = wanted else {
        return Ok(format!("{PREFIX}{}", fresh_suffix()));
    };
    let name = wanted.strip_prefix(PREFIX).unwrap_or(wanted);
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(format!(
            "`{wanted}` cannot name a session: use up to 64 letters, digits, `-` and `_` (e.g. `work`)"
        ));
    }
    Ok(format!("{PREFIX}{name}"))
}

/// Six hex digits that differ from one call to the next.
fn fresh_suffix() -> String {
    let nanos = crate::clock::since_epoch().as_nanos();
    let seed = format!("{nanos}/{}/{:?}", std::process::id(), std::thread::current().id());
    blake3::hash(seed.as_bytes()).to_hex()[..6].to_owned()
}

/// Where the host keeps a finished command's exit status.
fn status_file(name: &str) -> String {
    format!("\"$HOME\"/.cache/sinc/ssh/{}.status", quote::word(name))
}

fn target(name: &str) -> String {
    quote::word(&format!("={name}"))
}

/// Attach if the session exists, then report how its command ended when it
/// did (else tmux's status, or "no such session").
fn attach_tail(name: &str) -> String {
    let t = target(name);
    format!(
        "F={file}
if {TMUX} has-session -t {t} 2>/dev/null; then {TMUX} attach-session -t {t}; r=$?; else r={no_session}; fi
if [ -f \"$F\" ]; then
  r=$(cat \"$F\" 2>/dev/null || echo 1)
  awk 'NF {{ while (n > 0) {{ print \"\"; n-- }} print; next }} {{ n++ }}' \"$F.out\" 2>/dev/null
  rm -f \"$F\" \"$F.out\"
fi
exit \"$r\"
",
        file = status_file(name),
        no_session = status::NO_SESSION,
    )
}

/// Create the session unless it exists (a login shell in the home folder,
/// or `command` read by the login shell), then attach. Runs on a PTY.
pub fn create_and_attach_script(name: &str, command: Option<&str>, size: Size, client: &str) -> String {
    let (t, o) = (target(name), super::tmux::option_target(name));
    let run = match command {
        // The wrapper, not the user's command, records the status (a command
        // may end with `exit`) and what the pane shows, for the terminal to
        // keep once tmux has left its screen.
        Some(command) => format!(
            " -- /bin/sh -c {} sinc {} \"$F\"",
            quote::word(&format!(
                "\"${{SHELL:-/bin/sh}}\" -lc \"$1\"; s=$?; {TMUX} capture-pane -p -J -S - > \"$2.out\" 2>/dev/null; echo $s > \"$2\""
            )),
            quote::word(command)
        ),
        None => String::new(),
    };
    let shown = command.unwrap_or("(login shell)");
    let script = format!(
        "command -v tmux >/dev/null 2>&1 || exit {no_tmux}
F={file}
if ! {TMUX} has-session -t {t} 2>/dev/null; then
  mkdir -p \"$HOME\"/.cache/sinc/ssh && rm -f \"$F\"
  {TMUX} new-session -d -s {id} -c \"$HOME\" -x {cols} -y {rows} -e SINC_SESSION_ID={id}{run} \\; \
set-option -t {o} @sinc_kind {kind} \\; set-option -t {o} @sinc_agent {shown} \\; \
set-option -t {o} @sinc_remote_path \"$HOME\" \\; set-option -t {o} @sinc_client {client} >/dev/null 2>&1
fi
{tail}",
        no_tmux = status::NO_TMUX,
        file = status_file(name),
        id = quote::word(name),
        cols = size.cols.max(20),
        rows = size.rows.max(5),
        kind = KIND,
        shown = quote::word(shown),
        client = quote::word(client),
        tail = attach_tail(name),
    );
    quote::sh_script(&script)
}

/// Attach to the session only (after a reconnection). Runs on a PTY.
pub fn attach_script(name: &str) -> String {
    quote::sh_script(&format!("command -v tmux >/dev/null 2>&1 || exit {}\n{}", status::NO_TMUX, attach_tail(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let a = session_name(None).unwrap();
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 6, "{a}");
        assert_ne!(a, session_name(None).unwrap());
        assert_eq!(session_name(Some("work")).unwrap(), "sinc-ssh-work");
        assert_eq!(session_name(Some("sinc-ssh-work")).unwrap(), "sinc-ssh-work");
        for bad in ["", "a b", "x:y", "a.b", "$(id)", &"x".repeat(65)] {
            let err = session_name(Some(bad)).unwrap_err();
            assert!(err.contains("letters, digits"), "{bad}: {err}");
        }
    }

    /// Run a script with a real tmux on a private server, in a home of its own.
    fn run(script: &str, home: &std::path::Path) -> i32 {
        std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .env("HOME", home)
            .env("SHELL", "/bin/sh")
            .env("TMUX_TMPDIR", home)
            .env_remove("TMUX")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
            .status
            .code()
            .unwrap_or(-1)
    }

    #[test]
    fn a_finished_command_reports_its_status_once() {
        if std::process::Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipped: tmux is not installed");
            return;
        }
        let home = tempfile::tempdir().unwrap();
        let size = Size { cols: 80, rows: 24 };
        // Without a terminal tmux cannot attach: the status is reported once
        // the command has ended.
        let script = create_and_attach_script("sinc-ssh-t1", Some("exit 7"), size, "laptop");
        let first = run(&script, home.path());
        let done = home.path().join(".cache/sinc/ssh/sinc-ssh-t1.status");
        if first != 7 {
            for _ in 0..100 {
                if done.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            assert_eq!(run(&attach_script("sinc-ssh-t1"), home.path()), 7);
        }
        // Reported once: then there is no session any more.
        assert_eq!(run(&attach_script("sinc-ssh-t1"), home.path()), status::NO_SESSION as i32);
        assert!(!done.exists());
    }
}
