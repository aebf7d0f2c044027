//! The schema of each config file, validated strictly (unknown keys and wrong
//! types are errors with a line and column), and turned into a flat list of
//! dotted keys so layers can be merged with their provenance.

use super::error::{ConfigError, Origin};
use super::model::{Agent, Percent, Port, Seconds, SyncMode};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The schema of every layer. Every field is optional: a layer only says
/// what it changes. The profile keys are only valid in some places (the user
/// file has `default_profile` and `profiles`, a project file `profile`);
/// the file parsers enforce that after parsing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    profile: Option<toml::Spanned<String>>,
    default_profile: Option<toml::Spanned<String>>,
    profiles: Option<toml::Spanned<BTreeMap<String, Settings>>>,
    vps: Option<VpsSettings>,
    sync: Option<SyncSettings>,
    agent: Option<Agent>,
    ssh: Option<SshSettings>,
    plugins: Option<BTreeMap<PluginName, toml::Table>>,
    registry: Option<NonEmpty>,
    registry_key: Option<NonEmpty>,
    secrets: Option<BTreeMap<String, NonEmpty>>,
    states: Option<BTreeMap<String, StateSettings>>,
    sessions: Option<SessionsSettings>,
}

/// `[sessions]`: the `sinc sessions` manager.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionsSettings {
    on_state_change: Option<NonEmpty>,
    hosts: Option<Vec<NonEmpty>>,
}

/// `[states.PROGRAM]`: patterns for an agent's state.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateSettings {
    #[serde(default)]
    waiting: Vec<Pattern>,
    #[serde(default)]
    working: Vec<Pattern>,
}

/// A regular expression, checked when the file is read.
#[derive(Debug)]
struct Pattern(String);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pattern, D::Error> {
        let s = String::deserialize(d)?;
        regex::Regex::new(&s).map_err(|e| serde::de::Error::custom(format!("not a regular expression: {e}")))?;
        Ok(Pattern(s))
    }
}

/// A plugin's name as a `[plugins.NAME]` key.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct PluginName(String);

impl<'de> Deserialize<'de> for PluginName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PluginName, D::Error> {
        let s = String::deserialize(d)?;
        if !sinc_plugin_host::manifest::valid_name(&s) {
            return Err(serde::de::Error::custom(format!(
                "`{s}` is not a plugin name (lowercase letters, digits and `-`)"
            )));
        }
        Ok(PluginName(s))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VpsSettings {
    host: Option<NonEmpty>,
    user: Option<NonEmpty>,
    port: Option<Port>,
    identity_file: Option<PathBuf>,
    release_url: Option<NonEmpty>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncSettings {
    mode: Option<SyncMode>,
    ignore: Option<Vec<String>>,
    remote_base: Option<NonEmpty>,
    remote_path: Option<NonEmpty>,
    use_gitignore: Option<bool>,
    max_delete: Option<u32>,
    max_delete_percent: Option<Percent>,
    trash_max_mb: Option<u32>,
    trash_max_days: Option<u32>,
    verify_minutes: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SshSettings {
    connect_timeout: Option<Seconds>,
    keepalive_interval: Option<Seconds>,
    accept_new_host: Option<bool>,
    give_up_after: Option<u32>,
}

/// A string that must not be blank.
#[derive(Debug)]
struct NonEmpty(String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NonEmpty, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            return Err(serde::de::Error::custom("must not be empty"));
        }
        Ok(NonEmpty(s.trim().to_owned()))
    }
}

/// Dotted keys (`vps.host`) and their values, in one layer.
pub type FlatValues = BTreeMap<String, toml::Value>;

/// The parsed user config file.
#[derive(Debug, Default)]
pub struct UserFile {
    /// Top-level settings.
    pub values: FlatValues,
    /// `default_profile`.
    pub default_profile: Option<String>,
    /// `[profiles.NAME]` tables, flattened.
    pub profiles: BTreeMap<String, FlatValues>,
}

/// The parsed project file.
#[derive(Debug, Default)]
pub struct ProjectFile {
    /// Its settings.
    pub values: FlatValues,
    /// `profile = "NAME"`.
    pub profile: Option<String>,
}

/// Parse and validate the user config file's text.
pub fn parse_user_file(path: &Path, text: &str) -> Result<UserFile, ConfigError> {
    let origin = Origin::File(path.to_path_buf());
    let schema = validate(&origin, text)?;
    let misplaced = |span: std::ops::Range<usize>, message: &str| {
        let mut e = ConfigError::new(origin.clone(), message);
        e.position = Some(super::error::line_col(text, span.start));
        e
    };
    if let Some(p) = &schema.profile {
        return Err(misplaced(
            p.span(),
            "`profile` picks a profile in a project's .sinc.toml; here use `default_profile`",
        ));
    }
    if let Some(profiles) = &schema.profiles {
        for inner in profiles.get_ref().values() {
            if inner.profile.is_some() || inner.default_profile.is_some() || inner.profiles.is_some() {
                return Err(misplaced(profiles.span(), "a profile cannot choose or define profiles"));
            }
        }
    }
    let mut table = parse_table(&origin, text)?;
    let default_profile = take_string(&mut table, "default_profile");
    let mut profiles = BTreeMap::new();
    if let Some(toml::Value::Table(t)) = table.remove("profiles") {
        for (name, value) in t {
            if let toml::Value::Table(p) = value {
                profiles.insert(name, flatten(p));
            }
        }
    }
    Ok(UserFile { values: flatten(table), default_profile, profiles })
}

/// Parse and validate a project's `.sinc.toml`.
pub fn parse_project_file(path: &Path, text: &str) -> Result<ProjectFile, ConfigError> {
    let origin = Origin::Project(path.to_path_buf());
    let schema = validate(&origin, text)?;
    let span = schema.profiles.as_ref().map(|p| p.span()).or(schema.default_profile.as_ref().map(|p| p.span()));
    if let Some(span) = span {
        let mut e = ConfigError::new(
            origin,
            "profiles are defined in the user config; a project picks one with `profile = \"NAME\"`",
        );
        e.position = Some(super::error::line_col(text, span.start));
        return Err(e);
    }
    let mut table = parse_table(&origin, text)?;
    let profile = take_string(&mut table, "profile");
    Ok(ProjectFile { values: flatten(table), profile })
}

/// Check that a single dotted key with a value is a valid setting, e.g. an
/// environment override.
pub fn validate_value(origin: &Origin, key: &str, value: &toml::Value) -> Result<(), ConfigError> {
    let table = unflatten(std::iter::once((key.to_owned(), value.clone())));
    toml::Value::Table(table).try_into::<Settings>().map(|_| ()).map_err(|e| ConfigError {
        origin: origin.clone(),
        position: None,
        key: Some(key.to_owned()),
        message: e.message().trim().to_owned(),
    })
}

fn validate(origin: &Origin, text: &str) -> Result<Settings, ConfigError> {
    toml::from_str::<Settings>(text).map_err(|e| ConfigError::from_toml(origin.clone(), text, &e))
}

fn parse_table(origin: &Origin, text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| ConfigError::from_toml(origin.clone(), text, &e))
}

fn take_string(table: &mut toml::Table, key: &str) -> Option<String> {
    match table.remove(key) {
        Some(toml::Value::String(s)) => Some(s),
        _ => None,
    }
}

/// `{vps: {host: x}}` → `{"vps.host": x}`. Arrays stay whole values.
pub fn flatten(table: toml::Table) -> FlatValues {
    let mut out = FlatValues::new();
    fn walk(prefix: &str, table: toml::Table, out: &mut FlatValues) {
        for (k, v) in table {
            let key = if prefix.is_empty() { k } else { format!("{prefix}.{k}") };
            match v {
                toml::Value::Table(t) => walk(&key, t, out),
                other => {
                    out.insert(key, other);
                }
            }
        }
    }
    walk("", table, &mut out);
    out
}

/// The inverse of [`flatten`].
pub fn unflatten(values: impl IntoIterator<Item = (String, toml::Value)>) -> toml::Table {
    let mut root = toml::Table::new();
    for (key, value) in values {
        let mut parts: Vec<&str> = key.split('.').collect();
        let Some(last) = parts.pop() else { continue };
        let mut table = &mut root;
        for part in parts {
            let entry = table.entry(part.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            let toml::Value::Table(t) = entry else { unreachable!("just made a table") };
            table = t;
        }
        table.insert(last.to_owned(), value);
    }
    root
}

/// Deserialize merged values into the all-optional settings shape.
pub fn settings_from(values: impl IntoIterator<Item = (String, toml::Value)>) -> Result<Settings, String> {
    toml::Value::Table(unflatten(values)).try_into::<Settings>().map_err(|e| e.message().trim().to_owned())
}

impl Settings {
    /// Apply these settings over a config: each value present replaces the
    /// config's.
    pub fn apply(self, config: &mut super::Config) {
        if let Some(vps) = self.vps {
            set(&mut config.vps.host, vps.host.map(|v| v.0));
            set(&mut config.vps.user, vps.user.map(|v| v.0));
            set(&mut config.vps.port, vps.port);
            set(&mut config.vps.identity_file, vps.identity_file);
            set(&mut config.vps.release_url, vps.release_url.map(|v| v.0));
        }
        if let Some(sync) = self.sync {
            replace(&mut config.sync.mode, sync.mode);
            replace(&mut config.sync.ignore, sync.ignore);
            replace(&mut config.sync.remote_base, sync.remote_base.map(|v| v.0));
            set(&mut config.sync.remote_path, sync.remote_path.map(|v| v.0));
            replace(&mut config.sync.use_gitignore, sync.use_gitignore);
            replace(&mut config.sync.max_delete, sync.max_delete);
            replace(&mut config.sync.max_delete_percent, sync.max_delete_percent);
            replace(&mut config.sync.trash_max_mb, sync.trash_max_mb);
            replace(&mut config.sync.trash_max_days, sync.trash_max_days);
            replace(&mut config.sync.verify_minutes, sync.verify_minutes);
        }
        replace(&mut config.agent, self.agent);
        if let Some(ssh) = self.ssh {
            replace(&mut config.ssh.connect_timeout, ssh.connect_timeout);
            replace(&mut config.ssh.keepalive_interval, ssh.keepalive_interval);
            replace(&mut config.ssh.accept_new_host, ssh.accept_new_host);
            replace(&mut config.ssh.give_up_after, ssh.give_up_after);
        }
        replace(&mut config.registry, self.registry.map(|v| v.0));
        if let Some(key) = self.registry_key {
            config.registry_key = Some(key.0);
        }
        for (agent, patterns) in self.states.into_iter().flatten() {
            let merged = config.states.entry(agent).or_default();
            merged.waiting.extend(patterns.waiting.into_iter().map(|p| p.0));
            merged.working.extend(patterns.working.into_iter().map(|p| p.0));
        }
        if let Some(sessions) = self.sessions {
            set(&mut config.sessions.on_state_change, sessions.on_state_change.map(|v| v.0));
            replace(&mut config.sessions.hosts, sessions.hosts.map(|h| h.into_iter().map(|v| v.0).collect()));
        }
        for (name, value) in self.secrets.into_iter().flatten() {
            config.secrets.insert(name, super::model::Secret(value.0));
        }
        for (name, table) in self.plugins.into_iter().flatten() {
            let settings = config.plugins.entry(name.0).or_default();
            settings.extend(table);
        }
    }
}

fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

fn replace<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}
