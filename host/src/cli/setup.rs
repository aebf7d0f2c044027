//! `sinc setup --host … --yes`: write the user configuration from flags,
//! editing an existing file in place.

use super::args::SetupArgs;
use super::output;
use crate::config::{self, ConfigError, Origin};
use crate::error::{Error, Result};
use crate::paths::Dirs;
use std::io::IsTerminal;

/// The (key, value) pairs the flags set.
fn values(args: &SetupArgs) -> Vec<(String, toml::Value)> {
    let mut v: Vec<(String, toml::Value)> = Vec::new();
    if let Some(h) = &args.host {
        v.push(("vps.host".into(), h.clone().into()));
    }
    if let Some(u) = &args.user {
        v.push(("vps.user".into(), u.clone().into()));
    }
    if let Some(p) = args.port {
        v.push(("vps.port".into(), toml::Value::Integer(p)));
    }
    if let Some(k) = &args.key {
        v.push(("vps.identity_file".into(), k.to_string_lossy().into_owned().into()));
    }
    if let Some(a) = &args.agent {
        v.push(("agent".into(), a.clone().into()));
    }
    if let Some(b) = &args.remote_base {
        v.push(("sync.remote_base".into(), b.clone().into()));
    }
    v
}

/// Write the flags into the config file.
pub fn run(global: &super::args::GlobalArgs, args: &SetupArgs) -> Result<i32> {
    let dirs = Dirs::from_env().map_err(|e| Error::Failure(e.to_string()))?;
    let path = global.config.clone().unwrap_or_else(|| dirs.config_file());
    let values = values(args);
    let has_host = args.host.is_some()
        || std::fs::read_to_string(&path)
            .is_ok_and(|t| t.parse::<toml::Table>().is_ok_and(|t| t.get("vps").and_then(|v| v.get("host")).is_some()));
    if !has_host {
        return Err(Error::Usage(
            "sinc setup needs --host HOST (a Host alias from ~/.ssh/config, a host name or an address)".into(),
        ));
    }
    if values.is_empty() {
        return Err(Error::Usage(
            "nothing to change: pass --host, --user, --port, --key, --agent or --remote-base".into(),
        ));
    }
    if let Some(key) = &args.key
        && !dirs.expand_tilde(&key.to_string_lossy()).exists()
    {
        output::warn(&format!("the key {} does not exist (yet)", key.display()));
    }
    let summary: Vec<String> = values.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    if !global.yes {
        if global.json || !std::io::stdin().is_terminal() {
            return Err(Error::Usage("pass --yes to write the configuration without a confirmation".into()));
        }
        let question = format!("Write these settings to {}?\n  {}\n", path.display(), summary.join("\n  "));
        if !crate::transport::Prompter::detect().confirm(&question, "Continue") {
            return Err(Error::Failure("cancelled; nothing was written".into()));
        }
    }
    let text = config::set_values(&path, &values).map_err(|mut e: ConfigError| {
        if e.origin == Origin::File(path.clone()) && e.message.starts_with("cannot") {
            e.message = format!("{} (nothing was written)", e.message);
        }
        e
    })?;
    if global.json {
        output::json(&serde_json::json!({
            "file": path,
            "set": values.iter().map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
        }));
    } else if !global.quiet {
        output::line(&format!("Wrote {} (mode 0600):\n\n{}", path.display(), text.trim_end()));
    }
    Ok(0)
}
