//! `sinc setup`: the VPS, the SSH key, the agent, the remote folder, extra
//! ignores and the plugin tier — asked on a terminal (`setup_wizard`), or
//! given as flags — then, in that order: validate, confirm, generate and
//! install the key if asked, write the user config (editing an existing file
//! in place), apply the tier.

use super::args::{GlobalArgs, SetupArgs};
use super::context::Context;
use super::output;
use super::setup_wizard;
use crate::config::{self, ConfigError, Origin};
use crate::error::{Error, Result};
use crate::paths::Dirs;
use crate::transport::keys::{self, Authorized, InstallKeyError};
use crate::transport::{Overrides, Prompter, SshConfigFile, Target};
use std::path::{Path, PathBuf};

/// What the user chose, from flags and the wizard.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// `vps.host`.
    pub host: Option<String>,
    /// `vps.user`.
    pub user: Option<String>,
    /// `vps.port`.
    pub port: Option<i64>,
    /// `vps.identity_file`.
    pub key: Option<PathBuf>,
    /// Generate `~/.ssh/sinc_ed25519` (unless it exists) and use it.
    pub generate_key: bool,
    /// Install the key on the VPS with a one-time password login.
    pub install_key: bool,
    /// The key picked in the wizard when it needs no setting of sinc's own
    /// (`~/.ssh/config` names it): the one to install.
    pub picked_key: Option<PathBuf>,
    /// `agent`.
    pub agent: Option<String>,
    /// `sync.remote_base`.
    pub remote_base: Option<String>,
    /// Patterns added to `sync.ignore`.
    pub ignore: Vec<String>,
    /// The plugin tier to apply.
    pub tier: Option<String>,
    /// With the custom tier: plugins to add.
    pub with: Vec<String>,
    /// With the custom tier: plugins to leave out.
    pub without: Vec<String>,
    /// Run `sinc vps bootstrap` afterwards.
    pub bootstrap: bool,
    /// Run `sinc vps harden` afterwards.
    pub harden: bool,
}

impl Answers {
    fn from_args(args: &SetupArgs) -> Answers {
        Answers {
            host: args.host.clone(),
            user: args.user.clone(),
            port: args.port,
            key: args.key.clone(),
            generate_key: args.generate_key,
            install_key: args.install_key || args.generate_key,
            picked_key: None,
            agent: args.agent.clone(),
            remote_base: args.remote_base.clone(),
            ignore: args.ignore.clone(),
            tier: args.tier.clone(),
            with: args.plugin.clone(),
            without: Vec::new(),
            bootstrap: args.bootstrap,
            harden: args.harden,
        }
    }

    /// These answers with the user, port and key the config file has where
    /// none was given: how sinc will connect once the file is written.
    fn or_from(&self, existing: &Existing) -> Answers {
        Answers {
            user: self.user.clone().or_else(|| existing.text("vps.user")),
            port: self.port.or_else(|| existing.text("vps.port").and_then(|p| p.parse().ok())),
            key: self.key.clone().or_else(|| existing.text("vps.identity_file").map(PathBuf::from)),
            ..self.clone()
        }
    }
}

/// The config file as it is, by dotted key (the wizard's defaults).
#[derive(Debug, Default)]
pub struct Existing(config::FlatValues);

impl Existing {
    fn load(path: &Path) -> Existing {
        let table: Option<toml::Table> = std::fs::read_to_string(path).ok().and_then(|t| t.parse().ok());
        Existing(table.map(config::flatten).unwrap_or_default())
    }

    /// A string (or integer, as text) setting.
    pub fn text(&self, dotted: &str) -> Option<String> {
        match self.0.get(dotted)? {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// `sync.ignore`.
    pub fn ignores(&self) -> Vec<String> {
        self.0
            .get("sync.ignore")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// The (key, value) pairs to write.
fn values(a: &Answers, existing: &Existing) -> Vec<(String, toml::Value)> {
    let key = a.key.as_ref().map(|k| k.to_string_lossy().into_owned());
    let mut v: Vec<(String, toml::Value)> = [
        ("vps.host", &a.host),
        ("vps.user", &a.user),
        ("vps.identity_file", &key),
        ("agent", &a.agent),
        ("sync.remote_base", &a.remote_base),
    ]
    .into_iter()
    .filter_map(|(k, value)| value.as_ref().map(|s| (k.to_owned(), toml::Value::from(s.clone()))))
    .collect();
    if let Some(p) = a.port {
        v.push(("vps.port".into(), toml::Value::Integer(p)));
    }
    let mut ignores = existing.ignores();
    let before = ignores.len();
    for pattern in &a.ignore {
        if !ignores.contains(pattern) {
            ignores.push(pattern.clone());
        }
    }
    if ignores.len() > before {
        v.push(("sync.ignore".into(), toml::Value::Array(ignores.into_iter().map(toml::Value::String).collect())));
    }
    v
}

/// Where `host` goes with the chosen user and port (for the key steps and
/// the wizard's defaults).
pub fn target_for(dirs: &Dirs, global: &GlobalArgs, a: &Answers, host: &str) -> Result<Target> {
    let overrides = Overrides {
        user: a.user.clone(),
        port: a.port.and_then(|p| u16::try_from(p).ok()),
        identity_file: a.key.as_ref().map(|k| dirs.expand_tilde(&k.to_string_lossy())),
        accept_new_host: global.accept_new_host,
        ..Overrides::default()
    };
    let defaults = super::context::ssh_defaults(&config::Config::default().ssh);
    Ok(SshConfigFile::load(&dirs.home)?.resolve(host, &overrides, &defaults)?)
}

/// Write the configuration, asking on a terminal for what the flags leave open.
pub async fn run(global: &GlobalArgs, args: &SetupArgs) -> Result<i32> {
    let dirs = Dirs::from_env().map_err(|e| Error::Failure(e.to_string()))?;
    let path = global.config.clone().unwrap_or_else(|| dirs.config_file());
    let existing = Existing::load(&path);
    let mut answers = Answers::from_args(args);
    let interactive = !global.yes && !global.json && Prompter::detect().is_interactive();
    if interactive {
        setup_wizard::ask(&mut answers, &existing, &dirs, global).await?;
    }
    let host = match answers.host.clone().or_else(|| existing.text("vps.host")) {
        Some(h) => h,
        None => {
            return Err(Error::Usage(
                "sinc setup needs --host HOST (a Host alias from ~/.ssh/config, a host name or an address)".into(),
            ));
        }
    };
    if answers.generate_key {
        answers.key = Some(dirs.home.join(".ssh").join(keys::GENERATED_KEY));
    }
    let values = values(&answers, &existing);
    if values.is_empty() && !answers.install_key && answers.tier.is_none() {
        return Err(Error::Usage(
            "nothing to change: pass --host, --user, --port, --key, --agent, --remote-base, --ignore or --tier".into(),
        ));
    }
    // Validated before anything happens (exit 78).
    config::with_values(&path, &values)?;
    if let Some(key) = &answers.key
        && !answers.generate_key
        && !dirs.expand_tilde(&key.to_string_lossy()).exists()
    {
        output::warn(&format!("the key {} does not exist (yet)", key.display()));
    }
    if !global.yes && !interactive {
        return Err(Error::Usage("pass --yes to write the configuration without a confirmation".into()));
    }
    if interactive && !setup_wizard::confirm(&path, &values, &answers)? {
        return Err(Error::Failure("cancelled; nothing was written".into()));
    }

    let key_report = if answers.install_key {
        Some(install_key(&dirs, global, &answers.or_from(&existing), &host).await?)
    } else {
        None
    };
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
            "key": key_report.as_ref().map(|(file, how)| serde_json::json!({ "file": file, "installed": how })),
        }));
    } else if !global.quiet {
        if let Some((file, how)) = &key_report {
            output::line(&format!("Key {}: {how} on {host}", file.display()));
        }
        output::line(&format!("Wrote {} (mode 0600):\n\n{}", path.display(), text.trim_end()));
    }
    if answers.tier.is_some() || answers.bootstrap || answers.harden {
        // As the written file says.
        let ctx = Context::load(global)?;
        if let Some(tier) = &answers.tier
            && let Err(e) = super::plugin::tier_set(&ctx, tier, &answers.with, &answers.without)
        {
            output::warn(&format!("the configuration is written, but the tier was not applied: {e}"));
            return Ok(e.exit_code().code());
        }
        if answers.bootstrap {
            output::notice(global.quiet, "\nPreparing the VPS (sinc vps bootstrap):");
            super::vps::bootstrap(&ctx, &super::args::BootstrapArgs::default()).await?;
        }
        if answers.harden {
            output::notice(global.quiet, "\nLocking the VPS down (sinc vps harden):");
            super::vps::harden(&ctx, &super::args::HardenArgs::default()).await?;
        }
    }
    if !global.quiet && !global.json {
        output::line("\nCheck it with `sinc doctor`.");
    }
    Ok(0)
}

/// Generate the key if asked and missing, and install it on the VPS.
async fn install_key(dirs: &Dirs, global: &GlobalArgs, a: &Answers, host: &str) -> Result<(PathBuf, &'static str)> {
    let target = target_for(dirs, global, a, host)?;
    let key =
        match a.key.as_ref().or(a.picked_key.as_ref()) {
            Some(k) => dirs.expand_tilde(&k.to_string_lossy()),
            None => target.identity_files.iter().find(|f| f.exists()).cloned().ok_or_else(|| {
                Error::Usage("no key to install: pass --key PATH, or --generate-key to make one".into())
            })?,
        };
    let mut generated = false;
    if a.generate_key && !key.exists() {
        let comment = format!("{}@{} (sinc)", whoami::username().unwrap_or_default(), Context::client_name());
        keys::generate_ed25519(&key, &comment).map_err(|e| Error::Failure(e.to_string()))?;
        generated = true;
    }
    let public = public_key_line(&key)?;
    let installed =
        keys::install_public_key(&target, &public, &key, Prompter::detect()).await.map_err(|e| match e {
            InstallKeyError::Connect(c) => Error::from(c),
            other => Error::Failure(other.to_string()),
        })?;
    let how = match (generated, installed) {
        (true, _) => "generated and installed",
        (false, Authorized::Added) => "installed",
        (false, Authorized::Present) => "already installed",
    };
    Ok((key, how))
}

/// The OpenSSH public key line of the key at `key` (from `KEY.pub`, else
/// derived from the unencrypted private key).
fn public_key_line(key: &Path) -> Result<String> {
    let public = match keys::public_key_of(key) {
        Some(public) => public,
        None => russh::keys::load_secret_key(key, None)
            .map_err(|e| Error::Failure(format!("cannot read the public half of {}: {e}", key.display())))?
            .public_key()
            .clone(),
    };
    public.to_openssh().map_err(|e| Error::Failure(e.to_string()))
}
