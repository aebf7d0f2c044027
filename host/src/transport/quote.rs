//! POSIX shell quoting for commands sent to the remote side. Every word is
//! single-quoted, so nothing the user typed is interpreted by the remote
//! shell, unlike `ssh host cmd` which joins words with spaces.

/// Quote one word for a POSIX shell.
pub fn word(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b)) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quote each word and join them with spaces.
pub fn words<S: AsRef<str>>(args: &[S]) -> String {
    args.iter().map(|a| word(a.as_ref())).collect::<Vec<_>>().join(" ")
}

/// Wrap a POSIX `sh` script so it runs the same whatever the remote user's
/// login shell is (bash, zsh, fish, tcsh all parse this form).
pub fn sh_script(script: &str) -> String {
    format!("/bin/sh -c {}", word(script))
}

/// A command that prints where the user's login shell finds `program`
/// (the PATH an agent started in tmux gets), with no input.
pub fn login_shell_which(program: &str) -> String {
    format!("\"${{SHELL:-/bin/sh}}\" -lc {} </dev/null", word(&format!("command -v {}", word(program))))
}

/// The first line of a script that also looks in the system folders root's
/// tools live in (a user's PATH often lacks them).
pub const WITH_SBIN: &str = "PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\"";

/// A remote path for use inside a script: `~` and `~/x` become `"$HOME"/x`.
pub fn remote_path(path: &str) -> String {
    if path == "~" {
        "\"$HOME\"".to_owned()
    } else if let Some(rest) = path.strip_prefix("~/") {
        format!("\"$HOME\"/{}", word(rest))
    } else {
        word(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_through_sh() {
        let args = ["printf", "%s|", "a b", "it's", "$HOME", "`x`", "", "*", "\\n", "ünï"];
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(words(&args)).output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "a b|it's|$HOME|`x`||*|\\n|ünï|");
    }

    #[test]
    fn remote_paths_expand_home_only() {
        assert_eq!(remote_path("~/work/a b"), "\"$HOME\"/'work/a b'");
        assert_eq!(remote_path("/srv/x"), "/srv/x");
        let script = format!("HOME=/h; printf %s {}", remote_path("~/a$b"));
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(&script).output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "/h/a$b");
    }
}
