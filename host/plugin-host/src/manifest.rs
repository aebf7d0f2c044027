//! A plugin's manifest: who it is, where it runs, and everything it may do.
//! Embedded in the component (a `sinc-manifest` custom section, written by
//! the SDK's `manifest!`) as TOML. Pure: parsing and validation only.

use serde::{Deserialize, Serialize};

/// The custom section that holds the manifest.
pub const SECTION: &str = "sinc-manifest";

/// Where a plugin runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunsOn {
    /// In the VPS's `sinc daemon` (most plugins).
    Remote,
    /// In the laptop's keeper, or the CLI when no keeper runs.
    Local,
}

/// Access to a declared folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
}

/// A folder the plugin may use, seen inside it at the same path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Folder {
    /// The folder (`~/` means the home folder of the side it runs on).
    pub path: String,
    /// What it may do there.
    pub access: Access,
}

/// A port the plugin serves HTTP on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// The port.
    pub port: u16,
    /// The address (default 127.0.0.1).
    #[serde(default = "loopback")]
    pub bind: String,
    /// The setting under `[plugins.NAME]` that moves it (a plugin's only
    /// port is moved by `port` when it names none).
    /// (Always serialized: the daemon's wire format is not self-describing.)
    #[serde(default)]
    pub setting: Option<String>,
}

fn loopback() -> String {
    "127.0.0.1".into()
}

/// Everything a plugin may do besides logging and its own key-value store.
/// Deny by default: what is not here is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Permissions {
    /// Folders it may read or write.
    #[serde(default)]
    pub folders: Vec<Folder>,
    /// Hosts it may call over HTTP(S).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Settings of its own (`[plugins.NAME]`) that hold URLs: the host each
    /// names — the user's value, else the default — is allowed too.
    #[serde(default)]
    pub url_settings: Vec<UrlSetting>,
    /// Programs it may run.
    #[serde(default)]
    pub programs: Vec<String>,
    /// Environment variables passed to the programs it runs, beyond PATH,
    /// HOME, USER, LANG and TERM.
    #[serde(default)]
    pub env: Vec<String>,
    /// Secrets (by name, from the user's config) it receives.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Ports it serves.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// Access to sessions: `read` (output, state) or `control` (also input,
    /// starting sessions).
    #[serde(default)]
    pub sessions: Option<SessionAccess>,
    /// Folders of the user's it asks sinc to keep the same on the laptop
    /// and the VPS, beside each project (sinc's own sync does it; the
    /// plugin gets no access to them through this).
    #[serde(default)]
    pub sync: Vec<SyncRoot>,
    /// Folders under a project's `.sinc/` folder it may read and write
    /// (`project-files`).
    #[serde(default)]
    pub project_files: Vec<String>,
}

/// A folder kept the same on both machines, beside the project: only the
/// entries `include` names, never what `exclude` (or sinc's own credentials
/// list) matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRoot {
    /// Its name, unique in the plugin (letters, digits, `-`).
    pub name: String,
    /// The folder, under `~/` (the home folder of each side).
    pub path: String,
    /// The names of the entries directly in the folder that sync: files,
    /// or folders with everything in them.
    pub include: Vec<String>,
    /// Gitignore patterns that never sync, even inside included folders.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// A setting that holds a URL the plugin may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlSetting {
    /// The key under `[plugins.NAME]`.
    pub key: String,
    /// Its value when the user sets none.
    pub default: String,
    /// Where the service is: `vps` names one on the VPS's loopback, which
    /// a laptop plugin reaches through the session's SSH connection
    /// (see [`crate::vps_loopback`]).
    #[serde(default)]
    pub on: Side,
}

/// Where a URL setting's service runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Wherever the plugin runs.
    #[default]
    Here,
    /// On the VPS's loopback.
    Vps,
}

impl UrlSetting {
    /// The host (`host` or `host:port`) the URL in effect names, given the
    /// plugin's settings.
    pub fn host(&self, settings: &toml::Table) -> Option<String> {
        let url = settings.get(&self.key).and_then(toml::Value::as_str).unwrap_or(&self.default);
        url_host(url).filter(|_| self.on == Side::Here || vps_loopback_url(url))
    }
}

/// Whether `url` is plain HTTP to a loopback address and a port.
fn vps_loopback_url(url: &str) -> bool {
    url.starts_with("http://")
        && url_host(url).is_some_and(|h| {
            h.rsplit_once(':').is_some_and(|(host, port)| {
                crate::vps_loopback::is_loopback(host) && port.parse::<u16>().is_ok_and(|p| p != 0)
            })
        })
}

/// `host[:port]` of an `http(s)://` URL (lowercase; none for anything else).
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    (!authority.is_empty()).then(|| authority.to_ascii_lowercase())
}

/// What a plugin may do with sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionAccess {
    /// Read output and state.
    Read,
    /// Also send input and start sessions.
    Control,
}

/// A plugin's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// Its name: lowercase letters, digits and `-`.
    pub name: String,
    /// Its version (semver).
    pub version: semver::Version,
    /// One line on what it does.
    pub description: String,
    /// Where it runs.
    pub runs_on: RunsOn,
    /// Seconds between `timer` events, when it wants them (from a
    /// long-lived host: the keeper or the VPS daemon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer: Option<u64>,
    /// What it may do.
    #[serde(default)]
    pub permissions: Permissions,
}

/// A manifest that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The component has no manifest.
    #[error("the component has no `{SECTION}` section: build it with sinc_plugin_sdk::manifest!")]
    Missing,
    /// It is not valid TOML of the right shape.
    #[error("its manifest is invalid: {0}")]
    Invalid(String),
}

impl Manifest {
    /// Parse and check a manifest.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest = toml::from_str(text).map_err(|e| ManifestError::Invalid(e.to_string().trim().to_owned()))?;
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), ManifestError> {
        let bad = |why: String| Err(ManifestError::Invalid(why));
        if !valid_name(&self.name) {
            return bad(format!(
                "name `{}`: use 1–64 lowercase letters, digits and `-`, starting with a letter",
                self.name
            ));
        }
        if self.description.trim().is_empty() {
            return bad("description is empty".into());
        }
        let p = &self.permissions;
        for f in &p.folders {
            if !(f.path.starts_with('/') || f.path.starts_with("~/")) || f.path.split('/').any(|c| c == "..") {
                return bad(format!("folder `{}`: give an absolute path or one under `~/`, without `..`", f.path));
            }
        }
        for program in &p.programs {
            if program.is_empty() || program.contains('/') || program.contains(char::is_whitespace) {
                return bad(format!("program `{program}`: give a program name found on PATH, like `git`"));
            }
        }
        for host in &p.hosts {
            if host.is_empty() || host.contains(['/', ' ', '@']) {
                return bad(format!("host `{host}`: give a host name (optionally host:port), not a URL"));
            }
            let name = host.strip_prefix("*.").unwrap_or(host);
            let numeric = |n: &str| {
                let name = n.rsplit_once(':').map_or(n, |(name, _)| name);
                name.rsplit('.').next().is_some_and(|last| last.chars().all(|c| c.is_ascii_digit()))
            };
            if name.contains('*') || (name.len() < host.len() && (!name.contains('.') || numeric(name))) {
                return bad(format!(
                    "host `{host}`: a `*` may only start a name, for the names under a domain (`*.example.com`, not an address)"
                ));
            }
        }
        for u in &p.url_settings {
            if u.key.is_empty() || url_host(&u.default).is_none() {
                return bad(format!("url-setting `{}`: its default must be an http(s) URL", u.key));
            }
            if u.on == Side::Vps && !vps_loopback_url(&u.default) {
                return bad(format!(
                    "url-setting `{}`: a service on the VPS is reached on its loopback: give an http://127.0.0.1:PORT URL",
                    u.key
                ));
            }
        }
        if self.timer == Some(0) {
            return bad("timer = 0: give the seconds between timer events (at least 1)".into());
        }
        for port in &p.ports {
            if port.port == 0 {
                return bad("port 0: name the port the plugin serves".into());
            }
        }
        for folder in &p.project_files {
            crate::project_files::check_folder(folder)
                .or_else(|why| bad(format!("project-files `{folder}`: {why}")))?;
        }
        for (i, root) in p.sync.iter().enumerate() {
            root.check().or_else(|why| bad(format!("sync `{}`: {why}", root.name)))?;
            if p.sync[..i].iter().any(|r| r.name == root.name) {
                return bad(format!("sync `{}`: two folders have this name", root.name));
            }
            if let Some(other) = p.sync[..i].iter().find(|r| r.overlaps(root)) {
                return bad(format!("sync `{}`: {} overlaps {}", root.name, root.path, other.path));
            }
        }
        Ok(())
    }

    /// Find and parse the manifest embedded in a component's bytes.
    pub fn from_component(wasm: &[u8]) -> Result<Manifest, ManifestError> {
        let text = embedded(wasm)?;
        Manifest::parse(&text)
    }

    /// What it may do, one line each, for showing before the user accepts.
    pub fn describe_permissions(&self) -> Vec<String> {
        self.permissions.describe()
    }
}

impl Permissions {
    /// One line per thing these permissions allow.
    pub fn describe(&self) -> Vec<String> {
        let p = self;
        let mut lines = Vec::new();
        for f in &p.folders {
            let access = match f.access {
                Access::Read => "read",
                Access::ReadWrite => "read and write",
            };
            lines.push(format!("{access} files in {}", f.path));
        }
        lines.extend(p.hosts.iter().map(|h| format!("call {h} over HTTP(S)")));
        lines.extend(p.url_settings.iter().map(|u| {
            let default = url_host(&u.default).unwrap_or_default();
            match u.on {
                Side::Here => format!("call the host its setting `{}` names (default {default})", u.key),
                Side::Vps => format!(
                    "call the service on the VPS's loopback its setting `{}` names (default {default}), through the session's SSH connection",
                    u.key
                ),
            }
        }));
        lines.extend(p.programs.iter().map(|prog| format!("run the program `{prog}`")));
        lines.extend(p.env.iter().map(|v| format!("pass ${v} to the programs it runs")));
        lines.extend(p.secrets.iter().map(|s| format!("receive the secret `{s}`")));
        lines.extend(p.ports.iter().map(|port| format!("serve HTTP on {}:{}", port.bind, port.port)));
        match p.sessions {
            Some(SessionAccess::Read) => lines.push("read the output and state of sessions".into()),
            Some(SessionAccess::Control) => {
                lines.push("read sessions, type into them and start new ones (running any command as you)".into())
            }
            None => {}
        }
        lines.extend(p.project_files.iter().map(|f| format!("read and write files in .sinc/{f}/ of your projects")));
        lines.extend(p.sync.iter().map(|r| {
            let except = if r.exclude.is_empty() { String::new() } else { format!(" except {}", r.exclude.join(", ")) };
            format!(
                "keep {} the same on the laptop and the VPS, both ways: {}{except} (never what sinc's credentials list names)",
                r.path,
                r.include.join(", ")
            )
        }));
        lines
    }
}

/// Folders no plugin may sync, nor a folder holding them: sinc's own (its
/// configuration holds secrets) and well-known homes of keys and logins.
pub const UNSYNCABLE: [&str; 11] = [
    "~/.ssh",
    "~/.gnupg",
    "~/.config/sinc",
    "~/.local/share/sinc",
    "~/.local/state/sinc",
    "~/.cache/sinc",
    "~/.aws",
    "~/.kube",
    "~/.docker",
    "~/.config/gh",
    "~/.password-store",
];

impl SyncRoot {
    fn check(&self) -> Result<(), String> {
        if !valid_name(&self.name) {
            return Err("name it with lowercase letters, digits and `-`, starting with a letter".into());
        }
        let under_home = self.path.strip_prefix("~/").filter(|rest| !rest.is_empty());
        if under_home.is_none_or(|rest| rest.split('/').any(|c| c.is_empty() || c == "." || c == "..")) {
            return Err(format!("path `{}`: give a folder under `~/`, without `.`, `..` or `//`", self.path));
        }
        if let Some(kept) = UNSYNCABLE.iter().find(|kept| nested(&self.path, kept)) {
            return Err(format!("path `{}`: sinc never syncs {kept}", self.path));
        }
        if self.include.is_empty() {
            return Err("include names nothing: list the files and folders that sync".into());
        }
        for name in &self.include {
            let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !plain || name.is_empty() || name == "." || name == ".." {
                return Err(format!(
                    "include `{name}`: give the name of an entry directly in the folder (letters, digits, `.`, `_`, `-`)"
                ));
            }
        }
        for pattern in &self.exclude {
            if pattern.trim().is_empty() || pattern.starts_with(['!', '#']) || pattern.contains('\n') {
                return Err(format!(
                    "exclude `{pattern}`: give a pattern of what never syncs (not `!…`, which would add to include)"
                ));
            }
        }
        Ok(())
    }

    /// Whether one of the two folders is, or holds, the other.
    pub fn overlaps(&self, other: &SyncRoot) -> bool {
        nested(&self.path, &other.path)
    }

    /// Its rules as gitignore lines: everything at the top but the included
    /// entries, then the exclusions.
    pub fn ignore_lines(&self) -> Vec<String> {
        let mut lines = vec!["/*".to_owned()];
        lines.extend(self.include.iter().map(|name| format!("!/{name}")));
        lines.extend(self.exclude.iter().cloned());
        lines
    }
}

/// Whether path `a` is `b`, inside it, or holds it (`~/…` paths).
fn nested(a: &str, b: &str) -> bool {
    let within = |x: &str, y: &str| x == y || x.strip_prefix(y).is_some_and(|rest| rest.starts_with('/'));
    within(a, b) || within(b, a)
}

/// Whether `name` can name a plugin (it becomes a folder and a config key).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The version of `sinc:plugin` a component was built against: the newest
/// its imports and exports name (`sinc:plugin/kv@1.1.0`…); `None` when it
/// names none (not a sinc plugin) or is not a component.
pub fn sdk_version(wasm: &[u8]) -> Option<semver::Version> {
    let mut newest: Option<semver::Version> = None;
    let mut consider = |name: &str| {
        let version = name.strip_prefix("sinc:plugin/").and_then(|rest| rest.split_once('@'))?.1;
        let version = semver::Version::parse(version).ok()?;
        if newest.as_ref().is_none_or(|n| version > *n) {
            newest = Some(version);
        }
        Some(())
    };
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            wasmparser::Payload::ComponentImportSection(imports) => {
                for import in imports.into_iter().flatten() {
                    consider(import.name.name);
                }
            }
            wasmparser::Payload::ComponentExportSection(exports) => {
                for export in exports.into_iter().flatten() {
                    consider(export.name.name);
                }
            }
            _ => {}
        }
    }
    newest
}

/// The manifest section's text, from the component or a core module in it.
fn embedded(wasm: &[u8]) -> Result<String, ManifestError> {
    let mut found = None;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| ManifestError::Invalid(format!("not a WebAssembly component: {e}")))?;
        if let wasmparser::Payload::CustomSection(section) = payload
            && section.name() == SECTION
        {
            if found.is_some() {
                return Err(ManifestError::Invalid(format!("more than one `{SECTION}` section")));
            }
            found = Some(
                String::from_utf8(section.data().to_vec())
                    .map_err(|_| ManifestError::Invalid("the manifest is not UTF-8".into()))?,
            );
        }
    }
    found.ok_or(ManifestError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "name = \"hello\"\nversion = \"0.1.0\"\ndescription = \"greets\"\nruns-on = \"local\"\n";

    #[test]
    fn a_minimal_manifest_asks_for_nothing() {
        let m = Manifest::parse(HELLO).unwrap();
        assert_eq!((m.name.as_str(), m.runs_on), ("hello", RunsOn::Local));
        assert!(m.describe_permissions().is_empty());
    }

    #[test]
    fn permissions_are_listed_for_the_user() {
        let text = format!(
            "{HELLO}[permissions]\nfolders = [{{ path = \"~/notes\", access = \"read-write\" }}]\nhosts = [\"api.openai.com\"]\n\
             programs = [\"git\"]\nenv = [\"SSH_AUTH_SOCK\"]\nports = [{{ port = 8081 }}]\nsessions = \"read\"\n\
             project-files = [\"handoff\"]\n"
        );
        let lines = Manifest::parse(&text).unwrap().describe_permissions();
        assert_eq!(
            lines,
            [
                "read and write files in ~/notes",
                "call api.openai.com over HTTP(S)",
                "run the program `git`",
                "pass $SSH_AUTH_SOCK to the programs it runs",
                "serve HTTP on 127.0.0.1:8081",
                "read the output and state of sessions",
                "read and write files in .sinc/handoff/ of your projects",
            ]
        );
    }

    #[test]
    fn sync_folders_include_by_name_and_are_listed() {
        let text = format!(
            "{HELLO}[[permissions.sync]]\nname = \"claude\"\npath = \"~/.claude\"\n\
             include = [\"settings.json\", \"commands\"]\nexclude = [\"*.bak\"]\n"
        );
        let m = Manifest::parse(&text).unwrap();
        assert_eq!(
            m.describe_permissions(),
            ["keep ~/.claude the same on the laptop and the VPS, both ways: settings.json, commands except *.bak \
                 (never what sinc's credentials list names)"]
        );
        assert_eq!(m.permissions.sync[0].ignore_lines(), ["/*", "!/settings.json", "!/commands", "*.bak"]);
    }

    #[test]
    fn url_settings_name_hosts() {
        let text = format!(
            "{HELLO}[permissions]\nurl-settings = [{{ key = \"base_url\", default = \"https://API.example.com/v1\" }}]\n"
        );
        let m = Manifest::parse(&text).unwrap();
        let u = &m.permissions.url_settings[0];
        assert_eq!(u.host(&toml::Table::new()).as_deref(), Some("api.example.com"));
        let mut set = toml::Table::new();
        set.insert("base_url".into(), "http://user@127.0.0.1:8081/x?y".into());
        assert_eq!(u.host(&set).as_deref(), Some("127.0.0.1:8081"));
        assert_eq!(m.describe_permissions(), ["call the host its setting `base_url` names (default api.example.com)"]);
        let bad = format!("{HELLO}[permissions]\nurl-settings = [{{ key = \"u\", default = \"ftp://x\" }}]\n");
        assert!(Manifest::parse(&bad).unwrap_err().to_string().contains("http(s) URL"));
    }

    #[test]
    fn services_on_the_vps_are_on_its_loopback() {
        let on_vps = |default: &str| {
            format!("{HELLO}[permissions]\nurl-settings = [{{ key = \"u\", default = \"{default}\", on = \"vps\" }}]\n")
        };
        let m = Manifest::parse(&on_vps("http://127.0.0.1:4096")).unwrap();
        assert_eq!(
            m.describe_permissions(),
            [
                "call the service on the VPS's loopback its setting `u` names (default 127.0.0.1:4096), through the session's SSH connection"
            ]
        );
        let u = &m.permissions.url_settings[0];
        let mut set = toml::Table::new();
        set.insert("u".into(), "http://[::1]:5000/x".into());
        assert_eq!(u.host(&set).as_deref(), Some("[::1]:5000"));
        // A user's value off the loopback names no host at all.
        set.insert("u".into(), "http://10.0.0.2:5000/".into());
        assert_eq!(u.host(&set), None);
        for bad in ["http://example.com:80", "https://127.0.0.1:4096", "http://127.0.0.1"] {
            let e = Manifest::parse(&on_vps(bad)).unwrap_err().to_string();
            assert!(e.contains("loopback"), "{bad}: {e}");
        }
        let e = Manifest::parse(&on_vps("http://127.0.0.1:1").replace("\"vps\"", "\"moon\"")).unwrap_err();
        assert!(e.to_string().contains("moon"), "{e}");
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        for (text, needle) in [
            (HELLO.replace("hello", "Hello"), "lowercase"),
            (HELLO.replace("0.1.0", "one"), "version"),
            (HELLO.replace("local", "everywhere"), "runs-on"),
            (format!("{HELLO}colour = \"red\"\n"), "colour"),
            (format!("{HELLO}[permissions]\nfolders = [{{ path = \"../etc\", access = \"read\" }}]\n"), "absolute"),
            (
                format!("{HELLO}[permissions]\nfolders = [{{ path = \"/a/../b\", access = \"read\" }}]\n"),
                "without `..`",
            ),
            (format!("{HELLO}[permissions]\nprograms = [\"/bin/sh\"]\n"), "program"),
            (format!("{HELLO}[permissions]\nhosts = [\"https://x.com/\"]\n"), "not a URL"),
            (format!("{HELLO}[permissions]\nhosts = [\"*\"]\n"), "may only start a name"),
            (format!("{HELLO}[permissions]\nhosts = [\"*.com\"]\n"), "may only start a name"),
            (format!("{HELLO}[permissions]\nhosts = [\"a.*.com\"]\n"), "may only start a name"),
            (format!("{HELLO}[permissions]\nhosts = [\"*.0.1\"]\n"), "may only start a name"),
            (format!("{HELLO}[permissions]\nhosts = [\"*.0.1:443\"]\n"), "may only start a name"),
            (format!("{HELLO}[permissions]\nnetwork = true\n"), "network"),
            (format!("{HELLO}[permissions]\nproject-files = [\"../x\"]\n"), "project-files `../x`"),
            (format!("{HELLO}[permissions]\nproject-files = [\"/abs\"]\n"), "folder under `.sinc/`"),
            (format!("{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"/etc\"\ninclude = [\"x\"]\n"), "under `~/`"),
            (format!("{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"~/a/../b\"\ninclude = [\"x\"]\n"), "`..`"),
            (format!("{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"~/\"\ninclude = [\"x\"]\n"), "under `~/`"),
            (format!("{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"~/a\"\ninclude = []\n"), "names nothing"),
            (
                format!("{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"~/a\"\ninclude = [\"b/c\"]\n"),
                "name of an entry",
            ),
            (
                format!("{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"~/a\"\ninclude = [\"*\"]\n"),
                "name of an entry",
            ),
            (
                format!(
                    "{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"~/a\"\ninclude = [\"x\"]\n\
                     [[permissions.sync]]\nname = \"a\"\npath = \"~/b\"\ninclude = [\"x\"]\n"
                ),
                "two folders",
            ),
            (
                format!(
                    "{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"~/a\"\ninclude = [\"x\"]\n\
                     [[permissions.sync]]\nname = \"b\"\npath = \"~/a/x\"\ninclude = [\"y\"]\n"
                ),
                "~/a/x overlaps ~/a",
            ),
            (
                format!("{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"~/.config\"\ninclude = [\"x\"]\n"),
                "never syncs ~/.config/sinc",
            ),
            (
                format!("{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"~/.ssh\"\ninclude = [\"config\"]\n"),
                "never syncs ~/.ssh",
            ),
            (
                format!("{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"~/a\"\ninclude = [\"{{a,b}}\"]\n"),
                "letters, digits",
            ),
            (
                format!(
                    "{HELLO}[[permissions.sync]]\nname = \"a\"\npath = \"~/a\"\ninclude = [\"x\"]\nexclude = [\"!/*\"]\n"
                ),
                "not `!…`",
            ),
        ] {
            let err = Manifest::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn bytes_that_are_not_wasm_have_no_manifest() {
        assert!(matches!(Manifest::from_component(b"\0asm\x01\0\0\0"), Err(ManifestError::Missing)));
        assert!(matches!(Manifest::from_component(b"hello"), Err(ManifestError::Invalid(_))));
    }
}
