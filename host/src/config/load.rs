//! Loading the configuration from its layers, lowest precedence first:
//! defaults < user file < profile < project `.sinc.toml` < `SINC_*` env < flags.
//! Each value remembers the layer it came from (`sinc config show`).

use super::edit;
use super::env::ENV_VARS;
use super::error::{ConfigError, Origin};
use super::layer::{self, FlatValues, ProjectFile, UserFile};
use super::legacy::{self, LegacyImport};
use super::model::Config;
use crate::paths::Dirs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name of a project's own config file.
pub const PROJECT_FILE: &str = ".sinc.toml";

/// A value set by a command-line flag.
#[derive(Debug, Clone)]
pub struct FlagValue {
    /// The flag as typed, e.g. `--host`.
    pub flag: &'static str,
    /// The dotted setting.
    pub key: &'static str,
    /// Its value.
    pub value: toml::Value,
}

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct LoadRequest {
    /// `--config FILE`: use this file instead of the default (it must exist).
    pub config_file: Option<PathBuf>,
    /// `--profile NAME`.
    pub profile: Option<String>,
    /// The project folder whose `.sinc.toml` applies.
    pub project_dir: Option<PathBuf>,
    /// Flag overrides.
    pub flags: Vec<FlagValue>,
    /// The environment (only `SINC_*` variables matter).
    pub env: BTreeMap<String, String>,
}

impl LoadRequest {
    /// The current process environment's `SINC_*` variables.
    pub fn process_env() -> BTreeMap<String, String> {
        std::env::vars().filter(|(k, _)| k.starts_with("SINC_")).collect()
    }
}

/// A loaded configuration and where each value came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The merged configuration.
    pub config: Config,
    /// The layer each explicitly set key came from; absent keys are defaults.
    pub sources: BTreeMap<String, Origin>,
    /// The active profile.
    pub profile: Option<String>,
    /// The user config file path (whether or not it exists).
    pub config_file: PathBuf,
    /// Whether the user config file exists.
    pub config_file_exists: bool,
    /// The project file that applied, if any.
    pub project_file: Option<PathBuf>,
    /// A legacy `config.json` imported during this load.
    pub imported: Option<LegacyImport>,
}

impl Loaded {
    /// Where a dotted key's value came from.
    pub fn origin_of(&self, key: &str) -> Origin {
        self.sources.get(key).cloned().unwrap_or(Origin::Default)
    }
}

/// Load the configuration.
pub fn load(dirs: &Dirs, req: &LoadRequest) -> Result<Loaded, ConfigError> {
    let config_file = req.config_file.clone().unwrap_or_else(|| dirs.config_file());
    let mut imported = None;
    if req.config_file.is_none() && !config_file.exists() {
        imported = import_legacy(&dirs.legacy_config_file(), &config_file)?;
    }
    let user = read_user_file(&config_file, req.config_file.is_some())?;
    let config_file_exists = user.is_some();
    let user = user.unwrap_or_default();

    let project_file = req.project_dir.as_ref().map(|d| d.join(PROJECT_FILE)).filter(|p| p.is_file());
    let project = match &project_file {
        Some(p) => layer::parse_project_file(p, &read(Origin::Project(p.clone()), p)?)?,
        None => ProjectFile::default(),
    };

    let (profile, chosen_by) = if let Some(p) = &req.profile {
        (Some(p.clone()), Origin::Flag("--profile"))
    } else if let Some(p) = &project.profile {
        (Some(p.clone()), Origin::Project(project_file.clone().unwrap_or_default()))
    } else {
        (user.default_profile.clone(), Origin::File(config_file.clone()))
    };

    let mut layers: Vec<(Origin, FlatValues)> = vec![(Origin::File(config_file.clone()), user.values.clone())];
    if let Some(name) = &profile {
        let Some(values) = user.profiles.get(name) else {
            let known: Vec<&str> = user.profiles.keys().map(String::as_str).collect();
            let mut err = ConfigError::new(
                chosen_by,
                format!(
                    "profile `{name}` is not defined in {}; {}",
                    config_file.display(),
                    if known.is_empty() {
                        "no profiles are defined".to_owned()
                    } else {
                        format!("defined: {}", known.join(", "))
                    }
                ),
            );
            err.key = Some("profile".into());
            return Err(err);
        };
        layers.push((Origin::Profile { name: name.clone(), file: config_file.clone() }, values.clone()));
    }
    if let Some(p) = &project_file {
        layers.push((Origin::Project(p.clone()), project.values));
    }
    for var in ENV_VARS {
        if let Some(text) = req.env.get(var.name) {
            let value = var.parse(text)?;
            let origin = Origin::Env(var.name);
            layer::validate_value(&origin, var.key, &value)?;
            layers.push((origin, FlatValues::from([(var.key.to_owned(), value)])));
        }
    }
    for flag in &req.flags {
        let origin = Origin::Flag(flag.flag);
        layer::validate_value(&origin, flag.key, &flag.value)?;
        layers.push((origin, FlatValues::from([(flag.key.to_owned(), flag.value.clone())])));
    }

    let mut merged: BTreeMap<String, (toml::Value, Origin)> = BTreeMap::new();
    for (origin, values) in layers {
        for (key, value) in values {
            merged.insert(key, (value, origin.clone()));
        }
    }
    let sources = merged.iter().map(|(k, (_, o))| (k.clone(), o.clone())).collect();
    let settings = layer::settings_from(merged.into_iter().map(|(k, (v, _))| (k, v)))
        .map_err(|m| ConfigError::new(Origin::File(config_file.clone()), m))?;
    let mut config = Config::default();
    settings.apply(&mut config);
    if let Some(key) = &config.vps.identity_file {
        config.vps.identity_file = Some(dirs.expand_tilde(&key.to_string_lossy()));
    }

    Ok(Loaded { config, sources, profile, config_file, config_file_exists, project_file, imported })
}

fn read(origin: Origin, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::new(origin, format!("cannot read: {e}")))
}

fn read_user_file(path: &Path, explicit: bool) -> Result<Option<UserFile>, ConfigError> {
    let origin = Origin::File(path.to_path_buf());
    match std::fs::read_to_string(path) {
        Ok(text) => layer::parse_user_file(path, &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ConfigError::new(origin, "the config file given with --config does not exist"))
        }
        Err(e) => Err(ConfigError::new(origin, format!("cannot read: {e}"))),
    }
}

fn import_legacy(legacy_path: &Path, config_file: &Path) -> Result<Option<LegacyImport>, ConfigError> {
    let text = match std::fs::read_to_string(legacy_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::new(Origin::File(legacy_path.to_path_buf()), format!("cannot read: {e}")));
        }
    };
    let (values, report) = legacy::convert(legacy_path, &text)?;
    let values: Vec<(String, toml::Value)> = values.into_iter().collect();
    edit::set_values(config_file, &values)?;
    Ok(Some(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyncMode;

    struct Fixture {
        _dir: tempfile::TempDir,
        dirs: Dirs,
        project: PathBuf,
    }

    fn fixture(user: Option<&str>, project: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let dirs = Dirs::under(&root);
        std::fs::create_dir_all(&dirs.config).unwrap();
        let project_dir = root.join("proj");
        std::fs::create_dir_all(&project_dir).unwrap();
        if let Some(text) = user {
            std::fs::write(dirs.config_file(), text).unwrap();
        }
        if let Some(text) = project {
            std::fs::write(project_dir.join(PROJECT_FILE), text).unwrap();
        }
        Fixture { _dir: dir, dirs, project: project_dir }
    }

    fn request(f: &Fixture) -> LoadRequest {
        LoadRequest { project_dir: Some(f.project.clone()), ..LoadRequest::default() }
    }

    #[test]
    fn defaults_without_files() {
        let f = fixture(None, None);
        let l = load(&f.dirs, &request(&f)).unwrap();
        assert_eq!(l.config, Config::default());
        assert!(!l.config_file_exists);
        assert_eq!(l.origin_of("vps.host"), Origin::Default);
    }

    #[test]
    fn precedence_is_defaults_file_profile_project_env_flags() {
        let user = r#"
            default_profile = "work"
            agent = "file-agent"
            [vps]
            host = "file-host"
            user = "file-user"
            port = 2201
            [ssh]
            connect_timeout = 3
            [profiles.work.vps]
            host = "profile-host"
            user = "profile-user"
            [profiles.work.sync]
            mode = "two-way-safe"
        "#;
        let project = "agent = \"project-agent\"\n[vps]\nuser = \"project-user\"\n";
        let f = fixture(Some(user), Some(project));
        let mut req = request(&f);
        req.env.insert("SINC_USER".into(), "env-user".into());
        req.env.insert("SINC_AGENT".into(), "env-agent".into());
        req.flags.push(FlagValue { flag: "--agent", key: "agent", value: "flag-agent".into() });
        let l = load(&f.dirs, &req).unwrap();
        let c = &l.config;
        assert_eq!(c.vps.port.map(|p| p.0), Some(2201));
        assert_eq!(c.vps.host.as_deref(), Some("profile-host"));
        assert_eq!(c.sync.mode, SyncMode::TwoWaySafe);
        assert_eq!(c.vps.user.as_deref(), Some("env-user"));
        assert_eq!(c.agent.command_line(), "flag-agent");
        assert_eq!(c.ssh.connect_timeout.0, 3);
        assert_eq!(c.ssh.keepalive_interval, Config::default().ssh.keepalive_interval);
        assert_eq!(l.origin_of("vps.port"), Origin::File(f.dirs.config_file()));
        assert!(matches!(l.origin_of("vps.host"), Origin::Profile { ref name, .. } if name == "work"));
        assert_eq!(l.origin_of("vps.user"), Origin::Env("SINC_USER"));
        assert_eq!(l.origin_of("agent"), Origin::Flag("--agent"));
        assert_eq!(l.origin_of("ssh.keepalive_interval"), Origin::Default);
    }

    #[test]
    fn project_file_picks_a_profile_and_flag_beats_it() {
        let user = "[profiles.a.vps]\nhost = \"a\"\n[profiles.b.vps]\nhost = \"b\"\n";
        let f = fixture(Some(user), Some("profile = \"a\"\n"));
        assert_eq!(load(&f.dirs, &request(&f)).unwrap().config.vps.host.as_deref(), Some("a"));
        let mut req = request(&f);
        req.profile = Some("b".into());
        assert_eq!(load(&f.dirs, &req).unwrap().config.vps.host.as_deref(), Some("b"));
    }

    fn err(user: Option<&str>, project: Option<&str>, env: &[(&str, &str)]) -> ConfigError {
        let f = fixture(user, project);
        let mut req = request(&f);
        for (k, v) in env {
            req.env.insert((*k).into(), (*v).into());
        }
        load(&f.dirs, &req).unwrap_err()
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = err(Some("[vps]\nhost = \"unterminated\n"), None, &[]);
        assert_eq!(e.position.map(|p| p.0), Some(2));
        assert!(matches!(e.origin, Origin::File(_)));
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = err(Some("[vps]\nhost = \"h\"\nport = \"twenty-two\"\n"), None, &[]);
        assert_eq!(e.position, Some((3, 8)));
        assert_eq!(e.key.as_deref(), Some("vps.port"));
    }

    #[test]
    fn unknown_key_is_refused() {
        let e = err(Some("[vps]\nhots = \"h\"\n"), None, &[]);
        assert_eq!(e.position, Some((2, 1)));
        assert!(e.message.contains("unknown field `hots`"), "{}", e.message);
    }

    #[test]
    fn out_of_range_values() {
        let e = err(Some("[ssh]\nconnect_timeout = 0\n"), None, &[]);
        assert_eq!(e.key.as_deref(), Some("ssh.connect_timeout"));
        let e = err(Some("[sync]\nmode = \"sideways\"\n"), None, &[]);
        assert!(e.message.contains("two-way-resolved"), "{}", e.message);
        let e = err(Some("agent = \"\"\n"), None, &[]);
        assert!(e.message.contains("empty"), "{}", e.message);
    }

    #[test]
    fn state_patterns_merge_and_bad_ones_are_located() {
        let f = fixture(
            Some("[states.opencode]\nwaiting = [\"^Approve\"]\n[states.\"*\"]\nworking = [\"^build \"]\n"),
            None,
        );
        let l = load(&f.dirs, &request(&f)).unwrap();
        assert_eq!(l.config.states["opencode"].waiting, ["^Approve"]);
        assert_eq!(l.config.states["*"].working, ["^build "]);
        let e = err(Some("[states.claude]\nwaiting = [\"(unclosed\"]\n"), None, &[]);
        assert_eq!(e.position.map(|p| p.0), Some(2));
        assert!(e.message.contains("not a regular expression"), "{}", e.message);
    }

    #[test]
    fn the_session_managers_settings_are_read_and_checked() {
        let f =
            fixture(Some("[sessions]\non_state_change = \"notify-send hi\"\nhosts = [\"b\", \"me@c:2222\"]\n"), None);
        let l = load(&f.dirs, &request(&f)).unwrap();
        assert_eq!(l.config.sessions.on_state_change.as_deref(), Some("notify-send hi"));
        assert_eq!(l.config.sessions.hosts, ["b", "me@c:2222"]);
        let e = err(Some("[sessions]\non_change = \"x\"\n"), None, &[]);
        assert!(e.message.contains("unknown field `on_change`"), "{}", e.message);
        let e = err(Some("[sessions]\nhosts = [\" \"]\n"), None, &[]);
        assert!(e.message.contains("empty"), "{}", e.message);
    }

    #[test]
    fn project_file_errors() {
        let e = err(None, Some("[vps]\nport = 99999\n"), &[]);
        assert!(matches!(e.origin, Origin::Project(_)));
        assert_eq!(e.key.as_deref(), Some("vps.port"));
        let e = err(None, Some("[profiles.x.vps]\nhost = \"h\"\n"), &[]);
        assert!(e.message.contains("profiles are defined in the user config"), "{}", e.message);
    }

    #[test]
    fn profile_keys_only_where_they_belong() {
        let e = err(Some("agent = \"a\"\nprofile = \"x\"\n"), None, &[]);
        assert_eq!(e.position, Some((2, 11)));
        assert!(e.message.contains("default_profile"), "{}", e.message);
        let e = err(Some("[profiles.a]\ndefault_profile = \"b\"\n"), None, &[]);
        assert!(e.message.contains("cannot choose or define profiles"), "{}", e.message);
        let e = err(None, Some("agent = \"a\"\ndefault_profile = \"b\"\n"), &[]);
        assert_eq!(e.position.map(|p| p.0), Some(2));
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = err(None, None, &[("SINC_PORT", "abc")]);
        assert_eq!(e.origin, Origin::Env("SINC_PORT"));
        let e = err(None, None, &[("SINC_PORT", "0")]);
        assert_eq!(e.key.as_deref(), Some("vps.port"));
        let e = err(None, None, &[("SINC_SYNC_MODE", "both-ways")]);
        assert_eq!(e.origin, Origin::Env("SINC_SYNC_MODE"));
        let e = err(None, None, &[("SINC_GIVE_UP_AFTER", "soon")]);
        assert_eq!(e.key.as_deref(), Some("ssh.give_up_after"));
    }

    #[test]
    fn give_up_after_is_whole_seconds() {
        let e = err(Some("[ssh]\ngive_up_after = -5\n"), None, &[]);
        assert_eq!(e.position.map(|p| p.0), Some(2), "{}", e.message);
        let e = err(Some("[ssh]\ngive_up_after = \"10s\"\n"), None, &[]);
        assert_eq!(e.position.map(|p| p.0), Some(2), "{}", e.message);
    }

    #[test]
    fn unknown_profile() {
        let e = err(Some("default_profile = \"nope\"\n[profiles.a.vps]\nhost = \"a\"\n"), None, &[]);
        assert!(e.message.contains("defined: a"), "{}", e.message);
    }

    #[test]
    fn missing_explicit_file() {
        let f = fixture(None, None);
        let mut req = request(&f);
        req.config_file = Some(f.dirs.config.join("nope.toml"));
        assert!(load(&f.dirs, &req).unwrap_err().message.contains("does not exist"));
    }

    #[test]
    fn legacy_json_is_imported_once() {
        let f = fixture(None, None);
        std::fs::write(
            f.dirs.legacy_config_file(),
            r#"{"vps": {"hostname": "old-box", "user": "u", "port": 22}, "agent": "claude"}"#,
        )
        .unwrap();
        let l = load(&f.dirs, &request(&f)).unwrap();
        assert_eq!(l.config.vps.host.as_deref(), Some("old-box"));
        assert!(l.imported.is_some());
        assert!(f.dirs.config_file().exists());
        let again = load(&f.dirs, &request(&f)).unwrap();
        assert!(again.imported.is_none());
        assert_eq!(again.config.agent.command_line(), "claude");
    }
}
