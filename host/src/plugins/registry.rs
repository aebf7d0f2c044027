//! The plugin registry: `index/<name>.jsonl` with one JSON line per
//! published version (`index/NAMES` lists the plugins, for registries served
//! over HTTP), artifacts at paths relative to the registry root, and tier
//! presets in `presets/<tier>.toml` — in a folder, or served over HTTPS (plain
//! HTTP only from this machine). Resolution is pure: the newest version that
//! is not yanked, matches the request and needs an SDK this host links. An
//! artifact is checked against its sha256 and, when the index signs it and a
//! key is configured, its minisign signature.

use serde::{Deserialize, Serialize};
use sinc_plugin_host::manifest::{Permissions, RunsOn};
use std::path::{Path, PathBuf};

/// The `sinc:plugin` version this host implements.
pub const HOST_SDK: semver::Version = sinc_plugin_host::SDK;

/// One published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Entry {
    /// The plugin's name.
    pub name: String,
    /// This version.
    pub version: semver::Version,
    /// One line on what it does.
    pub description: String,
    /// The `sinc:plugin` versions it needs.
    pub sdk: semver::VersionReq,
    /// Where it runs.
    pub runs_on: RunsOn,
    /// What it may do (the same as its embedded manifest).
    #[serde(default)]
    pub permissions: Permissions,
    /// The sha256 of its component.
    pub sha256: String,
    /// The component: a path relative to the registry root, or a URL.
    pub artifact: String,
    /// Withdrawn: never picked by resolution.
    #[serde(default)]
    pub yanked: bool,
    /// A minisign signature of the component (the `.minisig` file's text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Why nothing could be picked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The registry has no such plugin.
    #[error("the registry has no plugin `{0}`")]
    Unknown(String),
    /// A line of the index is not an entry.
    #[error("index/{name}.jsonl line {line}: {reason}")]
    Malformed {
        /// The plugin.
        name: String,
        /// 1-based.
        line: usize,
        /// Why.
        reason: String,
    },
    /// No version matches the request.
    #[error("no version of {name} matches {req} (published: {published})")]
    NoMatch {
        /// The plugin.
        name: String,
        /// What was asked.
        req: String,
        /// What there is.
        published: String,
    },
    /// Matching versions need another SDK.
    #[error("{name} {version} needs sinc:plugin {needs}, and this sinc links sinc:plugin {HOST_SDK}; update sinc")]
    Sdk {
        /// The plugin.
        name: String,
        /// The newest matching version.
        version: String,
        /// Its SDK requirement.
        needs: String,
    },
}

/// Parse an index file's lines. A line this sinc cannot read that names
/// an SDK newer than it links is skipped: it was written for a newer sinc
/// (whose manifests may say more), and this one could not load it anyway.
pub fn parse_index(name: &str, text: &str) -> Result<Vec<Entry>, ResolveError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .filter_map(|(i, l)| {
            let malformed = |reason: String| ResolveError::Malformed { name: name.to_owned(), line: i + 1, reason };
            let entry: Entry = match serde_json::from_str(l) {
                Ok(entry) => entry,
                Err(_) if for_a_newer_sinc(l) => {
                    tracing::info!("index/{name}.jsonl line {}: for a newer sinc; skipped", i + 1);
                    return None;
                }
                Err(e) => return Some(Err(malformed(e.to_string()))),
            };
            Some(check(entry, name).map_err(malformed))
        })
        .collect()
}

/// Whether index line `line` names an SDK this sinc does not link.
fn for_a_newer_sinc(line: &str) -> bool {
    let sdk = serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("sdk").and_then(serde_json::Value::as_str).and_then(|s| semver::VersionReq::parse(s).ok()));
    sdk.is_some_and(|req| !req.matches(&sinc_plugin_host::SDK))
}

/// `entry` as a line of `name`'s index, or what is wrong with it.
fn check(entry: Entry, name: &str) -> Result<Entry, String> {
    if entry.name != name {
        return Err(format!("it describes `{}`", entry.name));
    }
    if entry.sha256.len() != 64 || !entry.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("sha256 is not 64 hex digits".into());
    }
    Ok(entry)
}

/// The newest entry that is not yanked, matches `req` and whose SDK
/// requirement `sdk` satisfies.
pub fn resolve<'a>(
    name: &str,
    entries: &'a [Entry],
    req: &semver::VersionReq,
    sdk: &semver::Version,
) -> Result<&'a Entry, ResolveError> {
    if entries.is_empty() {
        return Err(ResolveError::Unknown(name.to_owned()));
    }
    let mut matching: Vec<&Entry> = entries.iter().filter(|e| !e.yanked && req.matches(&e.version)).collect();
    matching.sort_by(|a, b| b.version.cmp(&a.version));
    let Some(newest) = matching.first() else {
        let published: Vec<String> =
            entries.iter().map(|e| format!("{}{}", e.version, if e.yanked { " (yanked)" } else { "" })).collect();
        return Err(ResolveError::NoMatch {
            name: name.to_owned(),
            req: req.to_string(),
            published: published.join(", "),
        });
    };
    matching.iter().find(|e| e.sdk.matches(sdk)).copied().ok_or_else(|| ResolveError::Sdk {
        name: name.to_owned(),
        version: newest.version.to_string(),
        needs: newest.sdk.to_string(),
    })
}

/// `NAME` or `NAME@REQ` (`hello@^1.2`); the request defaults to any version.
pub fn parse_request(spec: &str) -> Result<(String, semver::VersionReq), String> {
    let (name, req) = match spec.split_once('@') {
        Some((n, r)) => (n, semver::VersionReq::parse(r).map_err(|e| format!("`{r}` is not a version request: {e}"))?),
        None => (spec, semver::VersionReq::STAR),
    };
    if !sinc_plugin_host::manifest::valid_name(name) {
        return Err(format!("`{name}` is not a plugin name"));
    }
    Ok((name.to_owned(), req))
}

/// A tier preset: the plugins it installs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// What the tier is for.
    pub description: String,
    /// Plugin names (optionally `NAME@REQ`).
    #[serde(default)]
    pub plugins: Vec<String>,
}

/// How long a registry request may take.
const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// How long connecting to a registry may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// The file that lists an HTTP registry's plugins, one name per line.
pub const NAMES: &str = "index/NAMES";

/// Where a registry is.
#[derive(Debug, Clone)]
enum Source {
    /// A folder (a clone of the project's `registry/`, or any folder laid
    /// out the same way).
    Folder(PathBuf),
    /// A base URL (ending in `/`).
    Http { base: reqwest::Url, client: reqwest::blocking::Client },
}

/// A registry, with the public key its signatures are checked with.
#[derive(Debug, Clone)]
pub struct Registry {
    source: Source,
    key: Option<minisign_verify::PublicKey>,
    progress: bool,
}

/// A registry that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Resolution failed.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The artifact is not what the index says.
    #[error("{name} {version}: the artifact's sha256 is {actual}, the index says {expected}; nothing was installed")]
    Checksum {
        /// The plugin.
        name: String,
        /// The version.
        version: String,
        /// From the index.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// The location is not supported.
    #[error("{0}")]
    Unsupported(String),
    /// The registry could not be reached or answered an error.
    #[error("the registry at {url}: {reason}")]
    Http {
        /// What was fetched.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The artifact's signature does not verify.
    #[error("{name} {version}: {reason}; nothing was installed")]
    Signature {
        /// The plugin.
        name: String,
        /// The version.
        version: String,
        /// Why.
        reason: String,
    },
}

/// Whether `url` may be fetched: HTTPS anywhere, plain HTTP only from this
/// machine (a test server, a local mirror).
fn allowed_url(url: &reqwest::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => sinc_plugin_host::vps_loopback::is_loopback(url.host_str().unwrap_or("")),
        _ => false,
    }
}

/// The HTTP client for registry requests (timeouts, sinc's user agent).
fn http_client(url: &str) -> Result<reqwest::blocking::Client, RegistryError> {
    reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(HTTP_TIMEOUT)
        .user_agent(concat!("sinc/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| RegistryError::Http { url: url.to_owned(), reason: e.to_string() })
}

impl Registry {
    /// The registry at `location`: an `https://` URL (or `http://` on this
    /// machine), or a folder. `key` is a minisign public key (its base64
    /// line) that artifacts must be signed with; `progress` shows a bar for
    /// downloads.
    pub fn open(
        location: &str,
        folder: impl FnOnce(&str) -> PathBuf,
        key: Option<&str>,
        progress: bool,
    ) -> Result<Registry, RegistryError> {
        let key = match key {
            Some(k) => Some(minisign_verify::PublicKey::from_base64(k.trim()).map_err(|e| {
                RegistryError::Unsupported(format!("the registry key `{k}` is not a minisign public key: {e}"))
            })?),
            None => None,
        };
        let source = if location.contains("://") {
            let mut base = reqwest::Url::parse(location)
                .map_err(|e| RegistryError::Unsupported(format!("the registry `{location}` is not a URL: {e}")))?;
            if !allowed_url(&base) {
                return Err(RegistryError::Unsupported(format!(
                    "the registry `{location}` must be an https:// URL (plain http:// only on this machine)"
                )));
            }
            if !base.path().ends_with('/') {
                base.set_path(&format!("{}/", base.path()));
            }
            let client = http_client(location)?;
            Source::Http { base, client }
        } else {
            let root = folder(location);
            if !root.join("index").is_dir() {
                return Err(RegistryError::Unsupported(format!(
                    "{} is not a plugin registry (it has no index/ folder)",
                    root.display()
                )));
            }
            Source::Folder(root)
        };
        Ok(Registry { source, key, progress })
    }

    /// The registry in the folder `root`, unsigned.
    pub fn folder(root: PathBuf) -> Registry {
        Registry { source: Source::Folder(root), key: None, progress: false }
    }

    /// The bytes at `rel` (relative to the registry root), `None` when there
    /// is no such file.
    fn fetch(&self, rel: &str, bar: bool) -> Result<Option<Vec<u8>>, RegistryError> {
        match &self.source {
            Source::Folder(root) => {
                let path = root.join(rel);
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(RegistryError::Io { path: path.display().to_string(), reason: e.to_string() }),
                }
            }
            Source::Http { base, client } => {
                let url =
                    base.join(rel).map_err(|e| RegistryError::Http { url: rel.to_owned(), reason: e.to_string() })?;
                self.get(client, url, bar)
            }
        }
    }

    fn get(
        &self,
        client: &reqwest::blocking::Client,
        url: reqwest::Url,
        bar: bool,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        use std::io::Read;
        let failed = |reason: String| RegistryError::Http { url: url.to_string(), reason };
        let mut response = client.get(url.clone()).send().map_err(|e| failed(e.without_url().to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {}", response.status())));
        }
        let shown =
            crate::progress::bytes_bar(response.content_length().unwrap_or(0), "downloading", !(bar && self.progress));
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = response.read(&mut chunk).map_err(|e| failed(e.to_string()))?;
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..n]);
            shown.inc(n as u64);
        }
        shown.finish_and_clear();
        Ok(Some(bytes))
    }

    fn text(&self, rel: &str) -> Result<Option<String>, RegistryError> {
        self.fetch(rel, false)?
            .map(|b| {
                String::from_utf8(b).map_err(|_| RegistryError::Io { path: rel.to_owned(), reason: "not UTF-8".into() })
            })
            .transpose()
    }

    /// Every published version of `name`.
    pub fn entries(&self, name: &str) -> Result<Vec<Entry>, RegistryError> {
        if !sinc_plugin_host::manifest::valid_name(name) {
            return Err(ResolveError::Unknown(name.to_owned()).into());
        }
        match self.text(&format!("index/{name}.jsonl"))? {
            Some(text) => Ok(parse_index(name, &text)?),
            None => Err(ResolveError::Unknown(name.to_owned()).into()),
        }
    }

    /// The names of every plugin in the index, sorted.
    pub fn names(&self) -> Result<Vec<String>, RegistryError> {
        let mut names: Vec<String> = match &self.source {
            Source::Folder(root) => {
                let dir = root.join("index");
                std::fs::read_dir(&dir)
                    .map_err(|e| RegistryError::Io { path: dir.display().to_string(), reason: e.to_string() })?
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.strip_suffix(".jsonl").map(str::to_owned))
                    .collect()
            }
            Source::Http { .. } => self
                .text(NAMES)?
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        names.sort();
        Ok(names)
    }

    /// The component of `entry`, checked against its sha256 (and its
    /// signature, when a key is configured).
    pub fn artifact(&self, entry: &Entry) -> Result<Vec<u8>, RegistryError> {
        let bytes = if entry.artifact.contains("://") {
            let url = reqwest::Url::parse(&entry.artifact).ok().filter(allowed_url).ok_or_else(|| {
                RegistryError::Unsupported(format!(
                    "{} {}: its artifact URL {} is not https://",
                    entry.name, entry.version, entry.artifact
                ))
            })?;
            let client = match &self.source {
                Source::Http { client, .. } => client.clone(),
                Source::Folder(_) => http_client(&entry.artifact)?,
            };
            self.get(&client, url, true)?
        } else {
            if Path::new(&entry.artifact).is_absolute() || entry.artifact.split('/').any(|c| c == "..") {
                return Err(RegistryError::Io {
                    path: entry.artifact.clone(),
                    reason: "an artifact path must stay inside the registry".into(),
                });
            }
            self.fetch(&entry.artifact, true)?
        };
        let bytes = bytes.ok_or_else(|| RegistryError::Io {
            path: entry.artifact.clone(),
            reason: "the registry has no such file".into(),
        })?;
        let actual = sinc_plugin_host::cache::sha256_hex(&bytes);
        if actual != entry.sha256 {
            return Err(RegistryError::Checksum {
                name: entry.name.clone(),
                version: entry.version.to_string(),
                expected: entry.sha256.clone(),
                actual,
            });
        }
        self.verify(entry, &bytes)?;
        Ok(bytes)
    }

    /// With a key configured, the entry must carry a signature that
    /// verifies; without one, signatures are not checked.
    fn verify(&self, entry: &Entry, bytes: &[u8]) -> Result<(), RegistryError> {
        let Some(key) = &self.key else { return Ok(()) };
        let refuse = |reason: String| RegistryError::Signature {
            name: entry.name.clone(),
            version: entry.version.to_string(),
            reason,
        };
        let text = entry
            .signature
            .as_deref()
            .ok_or_else(|| refuse("it is not signed, and a registry key is configured".into()))?;
        let signature =
            minisign_verify::Signature::decode(text).map_err(|e| refuse(format!("its signature is malformed: {e}")))?;
        key.verify(bytes, &signature, false)
            .map_err(|e| refuse(format!("its signature does not verify with the registry key: {e}")))
    }

    /// A tier preset.
    pub fn preset(&self, tier: &str) -> Result<Preset, RegistryError> {
        let rel = format!("presets/{tier}.toml");
        let text =
            self.text(&rel)?.ok_or_else(|| RegistryError::Io { path: rel.clone(), reason: "no such preset".into() })?;
        toml::from_str(&text).map_err(|e| RegistryError::Io { path: rel, reason: e.to_string() })
    }
}

/// What a component built against `sinc:plugin` version `built` needs
/// from a host: the same major, at least that minor (`^major.minor`).
pub fn sdk_requirement(built: &semver::Version) -> semver::VersionReq {
    semver::VersionReq {
        comparators: vec![semver::Comparator {
            op: semver::Op::Caret,
            major: built.major,
            minor: Some(built.minor),
            patch: None,
            pre: semver::Prerelease::EMPTY,
        }],
    }
}

/// Publish the component `wasm` (with its `manifest`) into the registry
/// folder `root`: the artifact goes to `artifacts/NAME/VERSION/NAME.wasm`
/// and one line is appended to `index/NAME.jsonl`. A published version never
/// changes: publishing it again is accepted only for the very same bytes.
/// Returns the entry, and whether it was new.
pub fn publish(
    root: &Path,
    wasm: &[u8],
    manifest: &sinc_plugin_host::Manifest,
    signature: Option<String>,
) -> Result<(Entry, bool), RegistryError> {
    if let Some(text) = &signature {
        minisign_verify::Signature::decode(text)
            .map_err(|e| RegistryError::Unsupported(format!("the signature is not a minisign signature: {e}")))?;
    }
    let io =
        |path: &Path, e: std::io::Error| RegistryError::Io { path: path.display().to_string(), reason: e.to_string() };
    let artifact = format!("artifacts/{0}/{1}/{0}.wasm", manifest.name, manifest.version);
    let entry = Entry {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        description: manifest.description.clone(),
        sdk: sdk_requirement(&sinc_plugin_host::manifest::sdk_version(wasm).unwrap_or(HOST_SDK)),
        runs_on: manifest.runs_on,
        permissions: manifest.permissions.clone(),
        sha256: sinc_plugin_host::cache::sha256_hex(wasm),
        artifact: artifact.clone(),
        yanked: false,
        signature,
    };
    let index = root.join("index").join(format!("{}.jsonl", manifest.name));
    let existing = match std::fs::read_to_string(&index) {
        Ok(text) => parse_index(&manifest.name, &text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(&index, e)),
    };
    if let Some(old) = existing.iter().find(|e| e.version == manifest.version) {
        if old.sha256 == entry.sha256 {
            return Ok((old.clone(), false));
        }
        return Err(RegistryError::Unsupported(format!(
            "{} {} is published already with other contents (sha256 {}); a changed plugin is a new version",
            manifest.name, manifest.version, old.sha256
        )));
    }
    let path = root.join(&artifact);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    std::fs::write(&path, wasm).map_err(|e| io(&path, e))?;
    if let Some(dir) = index.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let line = serde_json::to_string(&entry).map_err(|e| RegistryError::Unsupported(e.to_string()))?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&index).map_err(|e| io(&index, e))?;
    std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes()).map_err(|e| io(&index, e))?;
    // The list of plugins, for registries served over HTTP.
    let names_path = root.join(NAMES);
    let mut names = Registry::folder(root.to_path_buf()).names()?;
    names.dedup();
    std::fs::write(&names_path, names.iter().map(|n| format!("{n}\n")).collect::<String>())
        .map_err(|e| io(&names_path, e))?;
    Ok((entry, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: &str, sdk: &str, yanked: bool) -> Entry {
        Entry {
            name: "hello".into(),
            version: version.parse().unwrap(),
            description: "greets".into(),
            sdk: sdk.parse().unwrap(),
            runs_on: RunsOn::Local,
            permissions: Permissions::default(),
            sha256: "0".repeat(64),
            artifact: format!("artifacts/hello/{version}/hello.wasm"),
            yanked,
            signature: None,
        }
    }

    fn pick(entries: &[Entry], req: &str) -> Result<String, ResolveError> {
        resolve("hello", entries, &req.parse().unwrap(), &HOST_SDK).map(|e| e.version.to_string())
    }

    #[test]
    fn the_newest_compatible_unyanked_version_wins() {
        let entries = [
            entry("1.0.0", "^1.0", false),
            entry("1.2.0", "^1.0", false),
            entry("1.3.0", "^1.0", true),
            entry("2.0.0", "^1.0", false),
        ];
        assert_eq!(pick(&entries, "*").unwrap(), "2.0.0");
        assert_eq!(pick(&entries, "^1").unwrap(), "1.2.0", "1.3.0 is yanked");
        assert_eq!(pick(&entries, "=1.0.0").unwrap(), "1.0.0");
        let none = pick(&entries, "^3").unwrap_err().to_string();
        assert!(none.contains("no version of hello matches ^3") && none.contains("1.3.0 (yanked)"), "{none}");
        assert_eq!(pick(&[], "*").unwrap_err(), ResolveError::Unknown("hello".into()));
    }

    #[test]
    fn a_newer_sdk_falls_back_or_says_so() {
        let mixed = [entry("1.0.0", "^1.0", false), entry("1.1.0", "^2.0", false)];
        assert_eq!(pick(&mixed, "*").unwrap(), "1.0.0");
        let err = pick(&[entry("1.1.0", "^2.0", false)], "*").unwrap_err().to_string();
        assert!(
            err.contains("needs sinc:plugin ^2.0") && err.contains(&format!("links sinc:plugin {HOST_SDK}")),
            "{err}"
        );
    }

    #[test]
    fn a_component_needs_its_own_minor_or_newer() {
        let needs = sdk_requirement(&semver::Version::new(1, 1, 0));
        assert_eq!(needs.to_string(), "^1.1");
        assert!(needs.matches(&semver::Version::new(1, 1, 0)) && needs.matches(&semver::Version::new(1, 4, 2)));
        assert!(!needs.matches(&semver::Version::new(1, 0, 9)) && !needs.matches(&semver::Version::new(2, 0, 0)));
    }

    #[test]
    fn malformed_lines_are_located() {
        let good = serde_json::to_string(&entry("1.0.0", "^1", false)).unwrap();
        assert_eq!(parse_index("hello", &format!("{good}\n\n{good}\n")).unwrap().len(), 2);
        for (bad, why) in [
            ("{}".to_owned(), "missing field"),
            (good.replace("\"hello\"", "\"other\""), "describes `other`"),
            (good.replace(&"0".repeat(64), "abc"), "64 hex"),
            (good.replace("\"local\"", "\"moon\""), "unknown variant"),
        ] {
            let err = parse_index("hello", &format!("{good}\n{bad}\n")).unwrap_err().to_string();
            assert!(err.starts_with("index/hello.jsonl line 2") && err.contains(why), "{err}");
        }
        // What a newer sinc wrote, for an SDK this one does not link, is
        // passed over; the same from this SDK is an error.
        let newer = good.replace("\"local\"", "\"moon\"").replace("\"^1\"", "\"^1.999\"");
        assert_ne!(newer, good.replace("\"local\"", "\"moon\""));
        assert_eq!(parse_index("hello", &format!("{good}\n{newer}\n")).unwrap().len(), 1);
    }

    #[test]
    fn requests() {
        assert_eq!(parse_request("hello").unwrap(), ("hello".into(), semver::VersionReq::STAR));
        assert_eq!(parse_request("hello@^1.2").unwrap().1.to_string(), "^1.2");
        assert!(parse_request("hello@banana").unwrap_err().contains("not a version request"));
        assert!(parse_request("Hello").unwrap_err().contains("not a plugin name"));
    }
}
