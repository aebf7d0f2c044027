//! The plugin: `direnv export json` in the session's folder before its
//! agent starts.

use crate::export::{Loaded, allow_target, judge};
use sinc_plugin_sdk::prelude::*;

sinc_plugin_sdk::manifest!("../sinc-plugin.toml");

struct Direnv;

impl Plugin for Direnv {
    fn before_start(session: Session) -> Verdict {
        Verdict::Proceed(Launch { env: envrc_env(&session), prompt: None })
    }
}

/// The variables the `.envrc` for `session`'s folder sets; none (and a
/// notice for the user when there is something to do) when it cannot be
/// loaded.
fn envrc_env(session: &Session) -> Vec<(String, String)> {
    let folder = &session.remote_path;
    let ran = match process::run("direnv", &["export".to_owned(), "json".to_owned()], Some(folder), &[]) {
        Ok(ran) => ran,
        Err(HostError::Failed(why)) => {
            // No direnv on this VPS: nothing to load.
            debug!("direnv not run: {why}");
            return Vec::new();
        }
        Err(HostError::Denied(why)) => {
            notices::warn(&format!("the .envrc of {folder} was not loaded: {why}"));
            return Vec::new();
        }
    };
    match judge(ran.status, &ran.stdout, &ran.stderr) {
        Loaded::Nothing => Vec::new(),
        Loaded::Env(env) => {
            info!("{} variables from the .envrc for {}", env.len(), session.id);
            env
        }
        Loaded::Blocked { envrc } => {
            let target = allow_target(envrc.as_deref(), folder);
            let shown = envrc.unwrap_or_else(|| format!("the .envrc above {folder}"));
            notices::warn(&format!(
                "{shown} is blocked by direnv, so the agent starts without it; to allow it, run on the VPS: direnv allow {target}"
            ));
            Vec::new()
        }
        Loaded::Failed(why) => {
            notices::warn(&format!("the .envrc for {folder} failed to load, so the agent starts without it: {why}"));
            Vec::new()
        }
    }
}

sinc_plugin_sdk::export_plugin!(Direnv);
