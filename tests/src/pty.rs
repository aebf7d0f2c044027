//! A real terminal for attach tests: a private local tmux server whose pane
//! runs `sinc`. Keys go in with `send-keys`, the screen comes back with
//! `capture-pane`, and the pane prints `SINC_EXIT=<status>` when sinc ends.

use crate::{Client, sh_quote, wait_until};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// A terminal running one `sinc` command.
#[derive(Debug)]
pub struct Pty {
    _dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Pty {
    /// Run `sinc args…` in a 100×30 terminal.
    pub fn spawn(client: &Client, args: &[&str]) -> Pty {
        Pty::spawn_sized(client, args, 100, 30)
    }

    /// Run `sinc args…` in a terminal of the given size.
    pub fn spawn_sized(client: &Client, args: &[&str], cols: u16, rows: u16) -> Pty {
        Pty::spawn_with(client, &[], args, cols, rows)
    }

    /// Run `prefix… sinc args…` (e.g. in a network namespace) in a 100×30
    /// terminal.
    pub fn spawn_in(client: &Client, prefix: &[String], args: &[&str]) -> Pty {
        Pty::spawn_with(client, prefix, args, 100, 30)
    }

    fn spawn_with(client: &Client, prefix: &[String], args: &[&str], cols: u16, rows: u16) -> Pty {
        let env: Vec<String> = client.env().iter().map(|(k, v)| sh_quote(&format!("{k}={v}"))).collect();
        let argv: Vec<String> = args.iter().map(|a| sh_quote(a)).collect();
        let prefix: Vec<String> = prefix.iter().map(|a| sh_quote(a)).collect();
        let script = format!(
            "cd {} && before=$(stty -g) && {} env -i {} {} {}; code=$?; [ \"$before\" = \"$(stty -g)\" ] && echo TTY_RESTORED; echo SINC_EXIT=$code; sleep 3600",
            sh_quote(&client.project.to_string_lossy()),
            prefix.join(" "),
            env.join(" "),
            sh_quote(&crate::sinc_bin().to_string_lossy()),
            argv.join(" ")
        );
        Pty::shell(&script, cols, rows)
    }

    /// Run a shell script in a terminal of the given size (for peers such as
    /// `ssh`).
    pub fn shell(script: &str, cols: u16, rows: u16) -> Pty {
        let dir = tempfile::Builder::new().prefix("sinc-pty-").tempdir().unwrap();
        let socket = dir.path().join("driver.sock");
        let pty = Pty { _dir: dir, socket };
        let out = pty.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "drv",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            "--",
            "sh",
            "-c",
            script,
        ]);
        assert!(out.status.success(), "driver tmux failed: {}", String::from_utf8_lossy(&out.stderr));
        pty
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-S").arg(&self.socket).args(args).output().unwrap()
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-J", "-t", "drv"]).stdout).into_owned()
    }

    /// The visible screen with colour and attribute escapes.
    pub fn screen_with_escapes(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-e", "-J", "-t", "drv"]).stdout).into_owned()
    }

    /// Wait until the screen shows `needle`; returns the screen.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let mut last = String::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(timeout, needle, || {
                last = self.screen();
                last.contains(needle).then(|| last.clone())
            })
        }));
        match found {
            Ok(screen) => screen,
            Err(_) => panic!("screen never showed {needle:?} within {timeout:?}; it shows:\n{}", self.screen()),
        }
    }

    /// Type literal text.
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "drv", "-l", text]);
    }

    /// Press keys by tmux name (`Enter`, `C-b`, `d`, `C-c`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "drv"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Resize the terminal.
    pub fn resize(&self, cols: u16, rows: u16) {
        self.tmux(&["resize-window", "-t", "drv", "-x", &cols.to_string(), "-y", &rows.to_string()]);
    }

    /// Whether the terminal settings after sinc exited equal those before
    /// (call after [`Pty::exit_code`]).
    pub fn terminal_restored(&self) -> bool {
        self.screen().contains("TTY_RESTORED")
    }

    /// The pid of the `sinc` process (the pane shell's child).
    pub fn sinc_pid(&self) -> u32 {
        let out = self.tmux(&["display-message", "-p", "-t", "drv", "#{pane_pid}"]);
        let shell: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let children = Command::new("pgrep").arg("-P").arg(shell.to_string()).output().unwrap();
        String::from_utf8_lossy(&children.stdout)
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("sinc is not running")
    }

    /// Wait for sinc to exit; returns its status.
    pub fn exit_code(&self, timeout: Duration) -> i32 {
        let screen = self.wait_for("SINC_EXIT=", timeout);
        let tail = screen.split("SINC_EXIT=").nth(1).unwrap_or_default();
        tail.split_whitespace()
            .next()
            .unwrap_or_default()
            .parse()
            .unwrap_or_else(|_| panic!("bad exit line in:\n{screen}"))
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}
