//! Questions asked on the controlling terminal during a connection: host key
//! confirmation, key passphrases, passwords. They read `/dev/tty`, never
//! stdin, so piped input is never consumed, and are only asked when there is
//! a terminal to ask on.

use std::io::{BufRead, IsTerminal, Write};

/// Whether questions may be asked.
#[derive(Debug, Clone, Copy)]
pub struct Prompter {
    interactive: bool,
}

impl Prompter {
    /// Ask only if stdin and stderr are terminals.
    pub fn detect() -> Prompter {
        Prompter { interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal() }
    }

    /// Never ask (scripts, tests, the background keeper).
    pub fn never() -> Prompter {
        Prompter { interactive: false }
    }

    /// Whether a question can be asked.
    pub fn is_interactive(self) -> bool {
        self.interactive
    }

    /// Print `message` and ask a yes/no question; OpenSSH wants a typed `yes`.
    pub fn confirm(self, message: &str, question: &str) -> bool {
        if !self.interactive {
            return false;
        }
        let Ok(tty) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty") else {
            return false;
        };
        let mut out = &tty;
        if !message.is_empty() {
            let _ = writeln!(out, "{message}");
        }
        let _ = write!(out, "{question} (yes/no): ");
        let _ = out.flush();
        let mut answer = String::new();
        if std::io::BufReader::new(&tty).read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim().to_ascii_lowercase().as_str(), "yes" | "y")
    }

    /// Ask for a secret without echo.
    pub fn secret(self, prompt: &str) -> Option<String> {
        if !self.interactive {
            return None;
        }
        rpassword::prompt_password(prompt).ok()
    }

    /// Ask for a visible answer (keyboard-interactive prompts with echo).
    pub fn visible(self, prompt: &str) -> Option<String> {
        if !self.interactive {
            return None;
        }
        let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").ok()?;
        let mut out = &tty;
        write!(out, "{prompt}").ok()?;
        out.flush().ok()?;
        let mut answer = String::new();
        std::io::BufReader::new(&tty).read_line(&mut answer).ok()?;
        Some(answer.trim_end_matches(['\r', '\n']).to_owned())
    }
}
