//! What every command starts from: the XDG folders, the merged configuration,
//! the project folder, and how to connect to the VPS.

use super::args::{GlobalArgs, HostFlags};
use super::output;
use crate::config::{self, Config, FlagValue, LoadRequest, Loaded, Origin};
use crate::error::{Error, Result};
use crate::paths::Dirs;
use crate::session::SessionSpec;
use crate::session::tmux::status;
use crate::session_id;
use crate::transport::{
    ConnectOptions, Defaults, Destination, Link, Overrides, Prompter, SshConfigFile, Target, quote,
};
use std::path::PathBuf;

/// The loaded state a command runs with.
#[derive(Debug)]
pub struct Context {
    /// Local folders.
    pub dirs: Dirs,
    /// The configuration and its provenance.
    pub loaded: Loaded,
    /// How it was loaded (to read it again).
    pub request: LoadRequest,
    /// Global flags.
    pub global: GlobalArgs,
    /// The canonical project folder (the current directory).
    pub project_dir: PathBuf,
}

impl Context {
    /// Load the configuration for the current directory.
    pub fn load(global: &GlobalArgs) -> Result<Context> {
        let cwd =
            std::env::current_dir().map_err(|e| Error::Failure(format!("cannot read the current directory: {e}")))?;
        Context::load_in(global, &cwd)
    }

    /// Load the configuration for the project in `folder`.
    pub fn load_in(global: &GlobalArgs, folder: &std::path::Path) -> Result<Context> {
        let dirs = Dirs::from_env().map_err(|e| Error::Failure(e.to_string()))?;
        let project_dir = session_id::project_path(folder)
            .map_err(|e| Error::Failure(format!("cannot resolve {}: {e}", folder.display())))?;
        let mut flags = Vec::new();
        if global.accept_new_host {
            flags.push(FlagValue {
                flag: "--accept-new-host",
                key: "ssh.accept_new_host",
                value: toml::Value::Boolean(true),
            });
        }
        let request = LoadRequest {
            config_file: global.config.clone(),
            profile: global.profile.clone(),
            project_dir: Some(project_dir.clone()),
            flags,
            env: LoadRequest::process_env(),
        };
        let loaded = config::load(&dirs, &request)?;
        if let Some(import) = &loaded.imported {
            output::notice(
                global.quiet,
                &format!(
                    "Imported the original tool's config.json into {}:\n  {}{}",
                    loaded.config_file.display(),
                    import.imported.join("\n  "),
                    if import.skipped.is_empty() {
                        String::new()
                    } else {
                        format!("\n  not imported: {}", import.skipped.join(", "))
                    }
                ),
            );
        }
        Ok(Context { dirs, loaded, request, global: global.clone(), project_dir })
    }

    /// The merged configuration.
    pub fn config(&self) -> &Config {
        &self.loaded.config
    }

    /// The configuration, to be read again by a long-running process.
    pub fn reloading(&self) -> config::Reloading {
        config::Reloading::new(self.dirs.clone(), self.request.clone(), self.config().clone())
    }

    /// This project's session.
    pub fn spec(&self) -> SessionSpec {
        SessionSpec::new(self.project_dir.clone(), self.config())
    }

    /// The configured VPS, or a configuration error saying how to set one.
    pub fn host(&self) -> Result<&str> {
        self.config().vps.host.as_deref().ok_or_else(|| {
            Error::Config(config::ConfigError::new(
                Origin::File(self.loaded.config_file.clone()),
                "no VPS configured: run `sinc setup --host HOST` (or set SINC_HOST)",
            ))
        })
    }

    /// Where and how to connect.
    pub fn target(&self) -> Result<Target> {
        self.target_to(None, &HostFlags::default())
    }

    /// Where and how to connect to `destination` (`[user@]host[:port]`;
    /// default: the configured VPS), with `ssh`-style flags, which win.
    /// sinc's `vps.*` settings apply only to the configured VPS; any other
    /// host is reached as `~/.ssh/config` says, like `ssh` would.
    pub fn target_to(&self, destination: Option<&str>, flags: &HostFlags) -> Result<Target> {
        let c = self.config();
        let (host, user, port) = match destination {
            None => (self.host()?.to_owned(), None, None),
            Some(given) => {
                let d = Destination::parse(given)
                    .ok_or_else(|| Error::Usage(format!("`{given}` is not a destination: [user@]host[:port]")))?;
                (d.host, d.user, d.port)
            }
        };
        let vps = c.vps.host.as_deref() == Some(host.as_str());
        let explicit = |key: &str| self.loaded.origin_of(key) != Origin::Default;
        let overrides = Overrides {
            user: flags.user.clone().or(user).or_else(|| c.vps.user.clone().filter(|_| vps)),
            port: flags.port.or(port).or_else(|| c.vps.port.map(|p| p.0).filter(|_| vps)),
            identity_file: flags.identity.clone().or_else(|| c.vps.identity_file.clone().filter(|_| vps)),
            connect_timeout: explicit("ssh.connect_timeout").then(|| c.ssh.connect_timeout.duration()),
            keepalive_interval: explicit("ssh.keepalive_interval").then(|| c.ssh.keepalive_interval.duration()),
            accept_new_host: c.ssh.accept_new_host,
            proxy_jump: flags.jump.clone(),
        };
        Ok(SshConfigFile::load(&self.dirs.home)?.resolve(&host, &overrides, &ssh_defaults(&c.ssh))?)
    }

    /// How long an attached terminal keeps reconnecting (`None`: for ever).
    pub fn give_up_after(&self) -> Option<std::time::Duration> {
        let seconds = self.config().ssh.give_up_after;
        (seconds > 0).then(|| std::time::Duration::from_secs(u64::from(seconds)))
    }

    /// Connection options for a command run by the user at this terminal.
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions { prompter: Prompter::detect(), quiet: self.global.quiet, tcp_attempt: None }
    }

    /// The way to `destination` (default: the VPS, through the project's
    /// keeper when it can).
    pub fn link_to(&self, destination: Option<&str>) -> Result<Link> {
        match destination {
            None => self.link(),
            Some(_) => Ok(Link::new(self.target_to(destination, &HostFlags::default())?, self.connect_options(), None)),
        }
    }

    /// The way to the VPS: the project's keeper's connection when it has
    /// one, else a connection of this command's own (made on first use).
    pub fn link(&self) -> Result<Link> {
        let target = self.target()?;
        let relay = super::sync_cmds::keeper_paths(self).relay;
        Ok(Link::new(target, self.connect_options(), Some(relay)))
    }

    /// The error for a remote script's precondition status, if it is one.
    pub async fn precondition_error(&self, link: &Link, code: u32, spec: &SessionSpec) -> Option<Error> {
        let host = self.host().unwrap_or("the VPS");
        match code {
            status::NO_TMUX => Some(no_tmux(link, host).await),
            status::NO_SESSION => Some(Error::Usage(format!(
                "this project has no session on {host} ({}); start one with `sinc` or `sinc start`",
                spec.id
            ))),
            status::NO_AGENT => Some(Error::Unavailable(format!(
                "the agent `{}` is not on the remote PATH of {host} (checked with your login shell there); install it on the VPS, or set `agent` to its full path",
                spec.agent.program().unwrap_or_else(|| spec.agent.to_string())
            ))),
            status::AGENT_EXITED => Some(Error::Failure(format!(
                "the agent `{}` exited as soon as it started on {host}; run it by hand to see why: sinc exec -- {}",
                spec.agent, spec.agent
            ))),
            status::NO_FOLDER => {
                Some(Error::Failure(format!("cannot create the remote folder {} on {host}", spec.remote_path)))
            }
            _ => None,
        }
    }
}

/// What sinc's `[ssh]` settings make of what neither they nor
/// `~/.ssh/config` say.
pub fn ssh_defaults(ssh: &config::SshConfig) -> Defaults {
    Defaults { connect_timeout: ssh.connect_timeout.duration(), keepalive_interval: ssh.keepalive_interval.duration() }
}

/// The error for a host without tmux, saying how to install it there.
pub async fn no_tmux(link: &Link, host: &str) -> Error {
    Error::Unavailable(format!(
        "tmux is not installed on {host}; install it with: {}",
        install_hint(link, "tmux").await
    ))
}

/// The command that installs `package` with the VPS's package manager.
async fn install_hint(link: &Link, package: &str) -> String {
    let pm = link
        .run(&quote::sh_script(crate::remote::packages::PROBE), b"")
        .await
        .map(|o| o.stdout_text().trim().to_owned())
        .unwrap_or_default();
    crate::remote::packages::install_command(&pm, package)
}

impl Context {
    /// Record the session locally so `sinc list` can name its folder.
    pub fn remember_session(&self, spec: &SessionSpec) {
        let registry = crate::session::Registry::new(&self.dirs.data);
        let id = spec.id.to_string();
        let created = registry.load(&id).map(|r| r.created).unwrap_or_else(crate::clock::unix_secs);
        let record = crate::session::SessionRecord {
            id,
            local_path: spec.local_path.clone(),
            remote_path: spec.remote_path.clone(),
            host: self.host().unwrap_or_default().to_owned(),
            agent: spec.agent.to_string(),
            created,
        };
        if let Err(e) = registry.save(&record) {
            tracing::warn!("could not record the session locally: {e}");
        }
    }

    /// The local machine's name, recorded with sessions it creates.
    pub fn client_name() -> String {
        whoami::hostname().unwrap_or_else(|_| "unknown".into())
    }
}
