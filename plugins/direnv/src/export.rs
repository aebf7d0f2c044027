//! What `direnv export json` said, judged. Pure.

use sinc_plugin_sdk::terminal::strip_ansi;

/// What loading a folder's `.envrc` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// No `.envrc` applies (or it sets nothing).
    Nothing,
    /// Variables for the agent, sorted by name.
    Env(Vec<(String, String)>),
    /// direnv refuses the `.envrc` until the user allows it.
    Blocked {
        /// The `.envrc`, as direnv named it (if it did).
        envrc: Option<String>,
    },
    /// direnv failed (the `.envrc` itself failed, or direnv did); its last
    /// message.
    Failed(String),
}

/// Judge a run of `direnv export json`: its exit status (none if it was
/// killed), standard output and standard error.
pub fn judge(status: Option<i32>, stdout: &[u8], stderr: &[u8]) -> Loaded {
    let errors = strip_ansi(&String::from_utf8_lossy(stderr));
    if let Some(blocked) = errors.lines().find(|l| l.contains(" is blocked")) {
        let envrc = blocked
            .split_once("error ")
            .and_then(|(_, rest)| rest.split_once(" is blocked"))
            .map(|(path, _)| path.trim().to_owned())
            .filter(|p| !p.is_empty());
        return Loaded::Blocked { envrc };
    }
    if status != Some(0) {
        let last = errors.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        let why = match (status, last) {
            (None, _) => "direnv did not finish in time".to_owned(),
            (Some(code), "") => format!("direnv exited with status {code}"),
            (Some(_), last) => last.to_owned(),
        };
        return Loaded::Failed(why);
    }
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Loaded::Nothing;
    }
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(stdout) {
        Ok(vars) => {
            let env: Vec<(String, String)> = vars
                .into_iter()
                .filter(|(name, _)| !name.starts_with("DIRENV_"))
                .filter_map(|(name, value)| Some((name, value.as_str()?.to_owned())))
                .collect();
            if env.is_empty() { Loaded::Nothing } else { Loaded::Env(env) }
        }
        Err(e) => Loaded::Failed(format!("direnv printed something other than its JSON export: {e}")),
    }
}

/// The folder to allow, for the message: the `.envrc`'s folder, else the
/// session's.
pub fn allow_target(envrc: Option<&str>, folder: &str) -> String {
    envrc.and_then(|e| e.strip_suffix("/.envrc")).filter(|d| !d.is_empty()).unwrap_or(folder).to_owned()
}

#[cfg(test)]
mod tests {
    use super::{Loaded, allow_target, judge};

    #[test]
    fn variables_are_loaded_and_direnvs_own_bookkeeping_is_not() {
        let out = br#"{"DIRENV_DIFF":"eJx","DIRENV_DIR":"-/p","FOO":"bar","MULTI":"a b\nc","PATH":"/p/bin:/usr/bin","GONE":null}"#;
        let loaded = judge(Some(0), out, b"direnv: loading /p/.envrc\ndirenv: export +FOO ~PATH\n");
        assert_eq!(
            loaded,
            Loaded::Env(vec![
                ("FOO".into(), "bar".into()),
                ("MULTI".into(), "a b\nc".into()),
                ("PATH".into(), "/p/bin:/usr/bin".into()),
            ])
        );
    }

    #[test]
    fn no_envrc_is_nothing() {
        assert_eq!(judge(Some(0), b"", b""), Loaded::Nothing);
        assert_eq!(judge(Some(0), br#"{"DIRENV_DIR":"-/p"}"#, b""), Loaded::Nothing);
    }

    #[test]
    fn a_blocked_envrc_is_named_without_its_colours() {
        let err =
            b"\x1b[31mdirenv: error /home/u/p/.envrc is blocked. Run `direnv allow` to approve its content\x1b[0m\n";
        let loaded = judge(Some(1), br#"{"DIRENV_DIR":"-/home/u/p"}"#, err);
        assert_eq!(loaded, Loaded::Blocked { envrc: Some("/home/u/p/.envrc".into()) });
        assert_eq!(allow_target(Some("/home/u/p/.envrc"), "/home/u/p/sub"), "/home/u/p");
        assert_eq!(allow_target(None, "/home/u/p/sub"), "/home/u/p/sub");
    }

    #[test]
    fn a_failing_envrc_is_a_failure_with_direnvs_last_word() {
        let err = b"\x1b[mdirenv: loading /p/.envrc\n\x1b[31mdirenv: error exit status 3\x1b[0m\n";
        assert_eq!(judge(Some(1), b"{}", err), Loaded::Failed("direnv: error exit status 3".into()));
        assert_eq!(judge(Some(2), b"", b""), Loaded::Failed("direnv exited with status 2".into()));
        assert_eq!(judge(None, b"", b""), Loaded::Failed("direnv did not finish in time".into()));
        assert!(matches!(judge(Some(0), b"not json", b""), Loaded::Failed(m) if m.contains("JSON")));
    }
}
