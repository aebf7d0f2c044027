//! `sinc plugin …` and the subcommands plugins add (`sinc hello`): install a
//! local build after showing what it may do, list, inspect, enable, disable,
//! remove, and run a plugin's subcommand in this process.

use super::args::PluginCommand;
use super::context::Context;
use super::output;
use crate::error::{Error, Result};
use crate::keeper::control::{self, BAD_REQUEST, ControlError, ControlRequest, ControlResponse};
use crate::plugins::ending::{self, Ending};
use crate::plugins::invocation::FollowUp;
use crate::plugins::{Installed, Locked, LockedCommand, Lockfile, events, registry};
use crate::session::tmux::Extras;
use crate::sync::wire::{PluginState, Request, Response, SessionChange, SessionRef};
use sinc_plugin_host::{Ended, Invoked, Manifest, Plugin, PluginError, RunsOn};
use std::path::Path;
use std::time::Duration;

/// How long a plugin's `init`, `commands` or subcommand may run.
pub(super) const CALL_LIMIT: Duration = Duration::from_secs(30);

fn installed(ctx: &Context) -> Installed {
    Installed::new(&ctx.dirs, &ctx.loaded.config_file)
}

fn lockfile(installed: &Installed) -> Result<Lockfile> {
    installed.lockfile().map_err(|e| Error::Failure(format!("cannot read the plugin lockfile {e}")))
}

fn save(installed: &Installed, lock: &Lockfile) -> Result<()> {
    lock.write(&installed.lock_path).map_err(|e| Error::Failure(format!("cannot write the plugin lockfile {e}")))
}

fn failure(e: impl std::fmt::Display) -> Error {
    Error::Failure(e.to_string())
}

/// Run plugin work on a thread of its own: WASI's blocking calls start a
/// Tokio runtime of their own, which they cannot do on one of the CLI's.
/// How long a changed plugin set may take to reach the VPS before the
/// command returns (it carries on in the keeper).
const REFRESH_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

fn off_runtime<T: Send>(work: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope.spawn(work).join().unwrap_or_else(|_| Err(Error::Failure("a plugin call crashed sinc's thread".into())))
    })
}

/// Whether any enabled local plugin would receive session events.
pub fn wants_events(ctx: &Context) -> bool {
    installed(ctx).any_enabled(RunsOn::Local)
}

/// How long the local plugin host may take to take session events.
const EVENTS_LIMIT: Duration = Duration::from_secs(5);

/// Ask the keeper that hosts the local plugins: `None` when none runs; an
/// error when it did not answer within `limit` (it may still be working on
/// it, so the caller must not do the same work itself).
pub(super) async fn ask_local_host(
    installed: &Installed,
    request: &ControlRequest,
    limit: Duration,
) -> Result<Option<ControlResponse>> {
    match tokio::time::timeout(limit, control::request(&installed.host_socket(), request)).await {
        Ok(Ok(response)) => Ok(Some(response)),
        Ok(Err(ControlError::NotRunning)) => Ok(None),
        Ok(Err(e)) => Err(Error::Failure(format!("the keeper hosting the local plugins: {e}"))),
        Err(_) => Err(Error::Failure(format!(
            "the keeper hosting the local plugins did not answer within {} s",
            limit.as_secs()
        ))),
    }
}

/// Tell the local plugins about a session event (a no-op without plugins):
/// through the keeper that hosts them, else in this process. While the
/// project's keeper runs, it passes the VPS's own record of the event on
/// instead (with the session's creation time, which tells it from an
/// earlier session of the same id). Either way an event they heard already
/// is not repeated.
pub async fn notify(ctx: &Context, change: SessionChange, session: SessionRef) {
    if !wants_events(ctx) || control::is_running(&super::sync_cmds::keeper_paths(ctx).socket).await {
        return;
    }
    let installed = installed(ctx);
    let events = vec![(change, session)];
    let request = ControlRequest::LocalEvents { events: events.clone() };
    match ask_local_host(&installed, &request, EVENTS_LIMIT).await {
        Ok(None) => {}
        Ok(Some(_)) => return,
        Err(e) => return output::warn(&format!("the local plugins did not hear of the session's {change:?}: {e}")),
    }
    let _ = off_runtime(|| {
        let news = events::Heard::load(&installed.heard_path()).admit(events);
        events::deliver_here(&installed, ctx.config(), &news);
        Ok(())
    });
}

/// How long the end of a session (its sync flushed, the end hooks) or a
/// local plugin's subcommand (which may run programs for minutes) may take.
const END_LIMIT: Duration = Duration::from_secs(600);

/// `session` ended: the local plugins hear of it (unless they have), and
/// its end runs in any case — its sync flushed and paused, the plugins'
/// end hooks (see `crate::plugins::ending`) — before this returns: in the
/// keeper that hosts them, else here. The caller stops the session's sync
/// afterwards when the end ran.
pub async fn ended(ctx: &Context, session: SessionRef) -> Ending {
    let session = events::vouched(session);
    let failed = |problem: String| Ending { ran: false, problems: vec![problem] };
    if !wants_events(ctx) {
        return Ending::default();
    }
    let installed = installed(ctx);
    let request = ControlRequest::EndSession { session: session.clone() };
    match ask_local_host(&installed, &request, END_LIMIT).await {
        Ok(None) => {}
        // A keeper of an older sinc: its plugins are run here instead.
        Ok(Some(ControlResponse::Error { message })) if message.starts_with(BAD_REQUEST) => {}
        Ok(Some(ControlResponse::Ended { ran, problems })) => return Ending { ran, problems },
        Ok(Some(other)) => return failed(format!("the local plugins' end hooks: unexpected answer {other:?}")),
        Err(e) => return failed(format!("the local plugins' end hooks: {e}")),
    }
    let loaded = off_runtime(|| {
        let news = events::Heard::load(&installed.heard_path()).admit(vec![(SessionChange::Ended, session.clone())]);
        events::deliver_here(&installed, ctx.config(), &news);
        Ok(load_enders(ctx, &installed, &events::plugin_session(session.clone())))
    });
    let mut enders = match loaded {
        Ok(enders) => enders,
        Err(e) => return failed(e.to_string()),
    };
    if enders.takers.is_empty() {
        return Ending { ran: false, problems: enders.problems };
    }
    let synced = ending::prepare(&ctx.dirs, &session.id).await;
    let ended = Ended { session: events::plugin_session(session), synced };
    let problems = off_runtime(|| Ok(enders.run(&ended))).unwrap_or_else(|e| vec![e.to_string()]);
    Ending { ran: true, problems }
}

/// The local plugins that take part in a session's end, loaded in this
/// process.
struct Enders {
    takers: Vec<(String, Vec<sinc_plugin_host::Stage>)>,
    loaded: std::collections::BTreeMap<String, Plugin>,
    problems: Vec<String>,
}

/// Load the enabled local plugins and keep those that take part in
/// `session`'s end.
fn load_enders(ctx: &Context, installed: &Installed, session: &sinc_plugin_host::Session) -> Enders {
    let mut enders = Enders { takers: Vec::new(), loaded: Default::default(), problems: Vec::new() };
    let Ok(lock) = installed.lockfile() else { return enders };
    let runtime = match installed.runtime() {
        Ok(r) => r,
        Err(e) => {
            enders.problems.push(format!("the local plugins' end hooks: {e}"));
            return enders;
        }
    };
    for locked in lock.enabled(RunsOn::Local) {
        let asked = installed.start(&runtime, locked, ctx.config(), CALL_LIMIT).and_then(|mut p| {
            let stages = p.end_stages(session, CALL_LIMIT)?;
            Ok((p, stages))
        });
        match asked {
            Ok((_, stages)) if stages.is_empty() => {}
            Ok((plugin, stages)) => {
                enders.takers.push((locked.name.clone(), stages));
                enders.loaded.insert(locked.name.clone(), plugin);
            }
            Err(e) => enders.problems.push(format!("the end hooks of {}: {e}", locked.name)),
        }
    }
    enders
}

impl Enders {
    /// Run their parts, stage by stage; what failed.
    fn run(&mut self, ended: &Ended) -> Vec<String> {
        let mut problems = std::mem::take(&mut self.problems);
        for (stage, name) in ending::order(&self.takers) {
            let Some(plugin) = self.loaded.get_mut(&name) else { continue };
            match plugin.on_end(ended, stage, CALL_LIMIT) {
                Ok(Ok(())) => {}
                Ok(Err(why)) => problems.push(ending::failure(&name, stage, &why)),
                Err(e) => {
                    problems.push(ending::failure(&name, stage, &e.to_string()));
                    self.loaded.remove(&name);
                }
            }
        }
        for (_, mut plugin) in std::mem::take(&mut self.loaded) {
            let _ = plugin.shutdown(CALL_LIMIT);
        }
        problems
    }
}

/// `sinc plugin …`.
pub fn run(ctx: &Context, command: &PluginCommand) -> Result<i32> {
    off_runtime(|| run_here(ctx, command))
}

fn run_here(ctx: &Context, command: &PluginCommand) -> Result<i32> {
    match command {
        PluginCommand::Add { source } => add(ctx, source),
        PluginCommand::Search { term } => search(ctx, term.as_deref()),
        PluginCommand::Update { name } => update(ctx, name.as_deref()),
        PluginCommand::Publish { path, registry, signature } => publish(ctx, path, registry, signature.as_deref()),
        PluginCommand::New { name, path } => new(ctx, name, path.as_deref()),
        PluginCommand::List => list(ctx),
        PluginCommand::Info { name } => info(ctx, name),
        PluginCommand::Remove { name } => remove(ctx, name),
        PluginCommand::Enable { name } => set_enabled(ctx, name, true),
        PluginCommand::Disable { name } => set_enabled(ctx, name, false),
    }
}

fn known<'a>(lock: &'a Lockfile, name: &str) -> Result<&'a Locked> {
    lock.get(name).ok_or_else(|| {
        let names: Vec<&str> = lock.plugins.iter().map(|p| p.name.as_str()).collect();
        let listing = if names.is_empty() { "none is installed".to_owned() } else { names.join(", ") };
        Error::Failure(format!("no plugin `{name}` is installed ({listing})"))
    })
}

/// `sinc plugin add PATH|NAME[@REQ]`: a component file when the source
/// names one (a path with `/`, or ending in `.wasm`), else a registry
/// request.
fn add(ctx: &Context, source: &str) -> Result<i32> {
    let installed = installed(ctx);
    let mut lock = lockfile(&installed)?;
    let outcome = if source.contains('/') || source.ends_with(".wasm") {
        let path = Path::new(source);
        let wasm = std::fs::read(path).map_err(|e| Error::Failure(format!("cannot read {source}: {e}")))?;
        let manifest = Manifest::from_component(&wasm)
            .map_err(|e| Error::Failure(format!("{source} is not a sinc plugin: {e}")))?;
        install(ctx, &installed, &mut lock, &wasm, &manifest, Source::file(path), false)?
    } else {
        let (name, req) = registry::parse_request(source).map_err(Error::Usage)?;
        let (registry, location) = registry_of(ctx)?;
        let (wasm, manifest) = fetch(&registry, &name, &req)?;
        install(ctx, &installed, &mut lock, &wasm, &manifest, Source::registry(&location, &req), false)?
    };
    report(ctx, &outcome);
    Ok(0)
}

/// Where a component came from.
struct Source {
    /// `path+FILE` or `registry+LOCATION`.
    label: String,
    /// The version request, for the registry.
    request: Option<String>,
}

impl Source {
    fn file(path: &Path) -> Source {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Source { label: format!("path+{}", absolute.display()), request: None }
    }

    fn registry(location: &str, req: &semver::VersionReq) -> Source {
        Source { label: format!("registry+{location}"), request: Some(req.to_string()) }
    }
}

/// What installing did.
enum Outcome {
    /// It was there already, this very build.
    Already(Locked),
    /// It is installed now (replacing an older build, if any).
    Added(Locked),
}

fn report(ctx: &Context, outcome: &Outcome) {
    match outcome {
        Outcome::Already(p) => {
            output::notice(ctx.global.quiet, &format!("{} {} is already installed", p.name, p.version))
        }
        Outcome::Added(p) => {
            if ctx.global.json {
                output::json(
                    &serde_json::json!({ "added": p.name, "version": p.version.to_string(), "sha256": p.sha256 }),
                );
            } else {
                let names: Vec<&str> = p.commands.iter().map(|c| c.name.as_str()).collect();
                let adds = if names.is_empty() {
                    String::new()
                } else {
                    format!("; it adds `sinc {}`", names.join("`, `sinc "))
                };
                output::notice(ctx.global.quiet, &format!("added {} {}{adds}", p.name, p.version));
            }
        }
    }
}

/// The configured registry (`registry`, `SINC_REGISTRY`; `registry_key`)
/// and its location.
fn registry_of(ctx: &Context) -> Result<(registry::Registry, String)> {
    let config = ctx.config();
    let location = config.registry.clone();
    let progress = !(ctx.global.quiet || ctx.global.json);
    let opened = registry::Registry::open(
        &location,
        |folder| ctx.dirs.expand_tilde(folder),
        config.registry_key.as_deref(),
        progress,
    );
    Ok((opened.map_err(registry_error)?, location))
}

/// The exit status a registry failure gets: unreachable is 69, the rest 1.
fn registry_error(e: registry::RegistryError) -> Error {
    match e {
        registry::RegistryError::Http { .. } => Error::Unavailable(e.to_string()),
        e => Error::Failure(e.to_string()),
    }
}

/// Resolve and fetch a plugin from the registry: its checked component and
/// its manifest, which must agree with the index.
fn fetch(registry: &registry::Registry, name: &str, req: &semver::VersionReq) -> Result<(Vec<u8>, Manifest)> {
    let entries = registry.entries(name).map_err(registry_error)?;
    let entry = registry::resolve(name, &entries, req, &registry::HOST_SDK).map_err(failure)?;
    let wasm = registry.artifact(entry).map_err(registry_error)?;
    let manifest = Manifest::from_component(&wasm)
        .map_err(|e| Error::Failure(format!("{name} {}: the artifact is not a sinc plugin: {e}", entry.version)))?;
    if manifest.name != entry.name
        || manifest.version != entry.version
        || manifest.runs_on != entry.runs_on
        || manifest.permissions != entry.permissions
    {
        return Err(Error::Failure(format!(
            "{name} {}: the index and the component's own manifest disagree (name, version, runs-on or permissions); nothing was installed",
            entry.version
        )));
    }
    Ok((wasm, manifest))
}

/// Install `wasm` (whose manifest is `manifest`) after showing what it may
/// do and asking, unless this very build is installed already.
fn install(
    ctx: &Context,
    installed: &Installed,
    lock: &mut Lockfile,
    wasm: &[u8],
    manifest: &Manifest,
    source: Source,
    from_preset: bool,
) -> Result<Outcome> {
    if let Some(built) = sinc_plugin_host::manifest::sdk_version(wasm)
        && !registry::sdk_requirement(&built).matches(&registry::HOST_SDK)
    {
        return Err(Error::Failure(format!(
            "{} {} was built against sinc:plugin {built}, and this sinc links sinc:plugin {}; update sinc (nothing was installed)",
            manifest.name,
            manifest.version,
            registry::HOST_SDK
        )));
    }
    let sha256 = sinc_plugin_host::cache::sha256_hex(wasm);
    let before = lock.get(&manifest.name).cloned();
    if let Some(old) = &before
        && old.sha256 == sha256
    {
        return Ok(Outcome::Already(old.clone()));
    }

    let wanted = manifest.describe_permissions();
    let (message, question) = match &before {
        None => {
            let mut message = format!("{} {} — {}\n", manifest.name, manifest.version, manifest.description);
            if wanted.is_empty() {
                message += "It asks for no permissions (it may log and keep its own data).";
            } else {
                message += "It may:";
                for line in &wanted {
                    message += &format!("\n  - {line}");
                }
            }
            (message, format!("Install {}?", manifest.name))
        }
        Some(old) => {
            let had = old_permissions(old);
            let new: Vec<&String> = wanted.iter().filter(|l| !had.contains(l)).collect();
            let mut message = format!("{} {} replaces {}", manifest.name, manifest.version, old.version);
            if new.is_empty() {
                message += "; it asks for nothing new.";
            } else {
                message += ", and it asks for more than before:";
                for line in new {
                    message += &format!("\n  + {line}");
                }
            }
            (message, format!("Replace {}?", manifest.name))
        }
    };
    output::confirm(ctx.global.yes, &message, &question, &format!("add {}", manifest.name))?;

    // Loading it proves the host can link it (its SDK version) before
    // anything is recorded.
    let runtime = installed.runtime().map_err(failure)?;
    let mut plugin = runtime.load(manifest, wasm, &installed.grants(&manifest.name, ctx.config())).map_err(failure)?;
    let commands = plugin.commands(CALL_LIMIT).map_err(failure)?;
    let taken: Vec<String> = commands
        .iter()
        .filter(|c| {
            super::args::is_builtin_command(&c.name)
                || lock.provider_of(&c.name).is_some_and(|p| p.name != manifest.name)
        })
        .map(|c| c.name.clone())
        .collect();
    if !taken.is_empty() {
        return Err(Error::Failure(format!(
            "{} adds commands that already exist: {}; nothing was installed",
            manifest.name,
            taken.join(", ")
        )));
    }

    let target = installed.component_path(&manifest.name, &sha256);
    crate::atomic_file::write(&target, wasm, 0o600)
        .map_err(|e| Error::Failure(format!("cannot store {}: {e}", target.display())))?;
    let locked = Locked {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        sha256,
        source: source.label,
        request: source.request,
        runs_on: manifest.runs_on,
        description: manifest.description.clone(),
        enabled: before.as_ref().is_none_or(|b| b.enabled),
        from_preset: before.as_ref().map_or(from_preset, |b| b.from_preset && from_preset),
        granted: manifest.permissions.clone(),
        commands: commands.iter().map(|c| LockedCommand { name: c.name.clone(), summary: c.summary.clone() }).collect(),
        failures: 0,
        disabled_reason: None,
    };
    lock.put(locked.clone());
    save(installed, lock)?;
    if let Some(old) = before {
        let _ = std::fs::remove_file(installed.component_path(&old.name, &old.sha256));
    }
    Ok(Outcome::Added(locked))
}

/// `sinc plugin publish PATH --registry DIR`.
fn publish(ctx: &Context, path: &Path, root: &Path, signature: Option<&Path>) -> Result<i32> {
    let wasm = std::fs::read(path).map_err(|e| Error::Failure(format!("cannot read {}: {e}", path.display())))?;
    let manifest = Manifest::from_component(&wasm)
        .map_err(|e| Error::Failure(format!("{} is not a sinc plugin: {e}", path.display())))?;
    // Only what this host can load is published.
    let installed = installed(ctx);
    let grants = installed.grants(&manifest.name, &crate::config::Config::default());
    installed.runtime().and_then(|r| r.load(&manifest, &wasm, &grants)).map_err(failure)?;
    let signature = match signature {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| Error::Failure(format!("cannot read {}: {e}", p.display())))?)
        }
        None => None,
    };
    let (entry, new) = registry::publish(root, &wasm, &manifest, signature).map_err(failure)?;
    if ctx.global.json {
        output::json(
            &serde_json::json!({ "published": entry.name, "version": entry.version.to_string(), "new": new, "sha256": entry.sha256 }),
        );
    } else {
        let what = if new { "published" } else { "already published" };
        output::notice(ctx.global.quiet, &format!("{what}: {} {} ({})", entry.name, entry.version, entry.artifact));
    }
    Ok(0)
}

/// `sinc plugin update [NAME]`: each plugin from the registry (or the one
/// named) moves to the newest version matching its request.
fn update(ctx: &Context, only: Option<&str>) -> Result<i32> {
    let installed = installed(ctx);
    let mut lock = lockfile(&installed)?;
    if let Some(name) = only {
        let p = known(&lock, name)?;
        if p.request.is_none() {
            return Err(Error::Failure(format!(
                "{name} was installed from a file ({}); add the new build with `sinc plugin add PATH`",
                p.source.trim_start_matches("path+")
            )));
        }
    }
    let (registry, location) = registry_of(ctx)?;
    let names: Vec<(String, String)> = lock
        .plugins
        .iter()
        .filter(|p| only.is_none_or(|n| n == p.name))
        .filter_map(|p| Some((p.name.clone(), p.request.clone()?)))
        .collect();
    let mut changed = 0;
    for (name, request) in names {
        let req = semver::VersionReq::parse(&request)
            .map_err(|e| Error::Failure(format!("{name}: request `{request}`: {e}")))?;
        let (wasm, manifest) = fetch(&registry, &name, &req)?;
        let preset = lock.get(&name).is_some_and(|p| p.from_preset);
        match install(ctx, &installed, &mut lock, &wasm, &manifest, Source::registry(&location, &req), preset)? {
            Outcome::Already(p) => output::notice(ctx.global.quiet, &format!("{} {} is up to date", p.name, p.version)),
            Outcome::Added(p) => {
                changed += 1;
                output::notice(ctx.global.quiet, &format!("updated {} to {}", p.name, p.version));
            }
        }
    }
    if changed == 0 && only.is_none() {
        output::notice(ctx.global.quiet, "nothing to update");
    }
    Ok(0)
}

/// `sinc plugin search [TERM]`.
fn search(ctx: &Context, term: Option<&str>) -> Result<i32> {
    let (registry, location) = registry_of(ctx)?;
    let term = term.unwrap_or("").to_lowercase();
    let mut found = Vec::new();
    for name in registry.names().map_err(registry_error)? {
        let entries = registry.entries(&name).map_err(registry_error)?;
        let Ok(entry) = registry::resolve(&name, &entries, &semver::VersionReq::STAR, &registry::HOST_SDK) else {
            continue;
        };
        if name.contains(&term) || entry.description.to_lowercase().contains(&term) {
            found.push(entry.clone());
        }
    }
    if ctx.global.json {
        let items: Vec<serde_json::Value> = found
            .iter()
            .map(|e| {
                serde_json::json!({ "name": e.name, "version": e.version.to_string(), "description": e.description, "runs_on": runs_on(e.runs_on) })
            })
            .collect();
        output::json(&serde_json::Value::Array(items));
    } else if found.is_empty() {
        output::notice(ctx.global.quiet, &format!("Nothing in {location} matches."));
    } else {
        let rows: Vec<Vec<String>> = found
            .iter()
            .map(|e| vec![e.name.clone(), e.version.to_string(), runs_on(e.runs_on).into(), e.description.clone()])
            .collect();
        anstream::print!("{}", output::table(&["NAME", "VERSION", "RUNS ON", "DESCRIPTION"], &rows));
    }
    Ok(0)
}

/// The tier last applied (`None`: never).
pub fn current_tier(ctx: &Context) -> Result<Option<String>> {
    Ok(lockfile(&installed(ctx))?.tier)
}

/// The names of the plugins in the configured registry.
pub fn registry_names(ctx: &Context) -> Result<Vec<String>> {
    off_runtime(|| registry_of(ctx)?.0.names().map_err(registry_error))
}

/// `sinc tier show`.
pub fn tier_show(ctx: &Context) -> Result<i32> {
    let lock = lockfile(&installed(ctx))?;
    let tier = lock.tier.clone().unwrap_or_else(|| "minimal".into());
    let preset: Vec<&str> = lock.plugins.iter().filter(|p| p.from_preset).map(|p| p.name.as_str()).collect();
    let by_hand: Vec<&str> = lock.plugins.iter().filter(|p| !p.from_preset).map(|p| p.name.as_str()).collect();
    if ctx.global.json {
        output::json(&serde_json::json!({ "tier": tier, "preset_plugins": preset, "added_by_hand": by_hand }));
    } else {
        let list = |v: &[&str]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
        output::line(&format!(
            "tier {tier}
  from the tier  {}
  added by hand  {}",
            list(&preset),
            list(&by_hand)
        ));
    }
    Ok(0)
}

/// `sinc tier set TIER [--with A,B] [--without C]`: the tier's plugins are
/// installed (from the registry) and enabled; plugins of the previous tier
/// that the new one lacks are removed; plugins added by hand stay.
pub fn tier_set(ctx: &Context, tier: &str, with: &[String], without: &[String]) -> Result<i32> {
    off_runtime(|| {
        let installed = installed(ctx);
        let mut lock = lockfile(&installed)?;
        let (registry, location) = registry_of(ctx)?;
        let mut wanted: Vec<String> = if tier == "custom" {
            let base = lock.tier.clone().filter(|t| t != "custom").unwrap_or_else(|| "minimal".into());
            let mut names: Vec<String> =
                lock.plugins.iter().filter(|p| p.from_preset).map(|p| p.name.clone()).collect();
            if lock.tier.is_none() {
                names = registry.preset(&base).map_err(registry_error)?.plugins;
            }
            names
        } else {
            if !with.is_empty() || !without.is_empty() {
                return Err(Error::Usage("--with and --without go with `sinc tier set custom`".into()));
            }
            registry.preset(tier).map_err(registry_error)?.plugins
        };
        wanted.extend(with.iter().cloned());
        wanted.retain(|spec| !without.iter().any(|w| spec == w || spec.split('@').next() == Some(w.as_str())));
        wanted.sort();
        wanted.dedup();
        let mut requests = Vec::new();
        for spec in &wanted {
            requests.push(registry::parse_request(spec).map_err(Error::Usage)?);
        }
        // Everything is fetched and checked before anything changes.
        let mut fetched = Vec::new();
        for (name, req) in &requests {
            fetched.push(fetch(&registry, name, req)?);
        }
        let keep: Vec<&str> = requests.iter().map(|(n, _)| n.as_str()).collect();
        let dropped: Vec<Locked> =
            lock.plugins.iter().filter(|p| p.from_preset && !keep.contains(&p.name.as_str())).cloned().collect();
        for ((wasm, manifest), (_, req)) in fetched.iter().zip(&requests) {
            let source = Source::registry(&location, req);
            let outcome = install(ctx, &installed, &mut lock, wasm, manifest, source, true)?;
            if let Outcome::Already(p) | Outcome::Added(p) = outcome
                && let Some(entry) = lock.get_mut(&p.name)
            {
                entry.enabled = true;
            }
        }
        for p in &dropped {
            lock.remove(&p.name);
            let _ = std::fs::remove_file(installed.component_path(&p.name, &p.sha256));
        }
        lock.tier = Some(tier.to_owned());
        save(&installed, &lock)?;
        let names = if keep.is_empty() { "no plugins".to_owned() } else { keep.join(", ") };
        let removed = if dropped.is_empty() {
            String::new()
        } else {
            format!("; removed {}", dropped.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "))
        };
        output::notice(ctx.global.quiet, &format!("tier {tier}: {names}{removed}"));
        Ok(0)
    })
}

/// `sinc plugin new NAME`.
fn new(ctx: &Context, name: &str, path: Option<&Path>) -> Result<i32> {
    let dir = path.map_or_else(|| std::path::PathBuf::from(name), Path::to_path_buf);
    crate::plugins::scaffold::write(&dir, name).map_err(|e| match e {
        crate::plugins::scaffold::ScaffoldError::BadName(_) => Error::Usage(e.to_string()),
        _ => Error::Failure(e.to_string()),
    })?;
    output::notice(
        ctx.global.quiet,
        &format!(
            "wrote the plugin crate {}; in it: cargo test && cargo build --release --target wasm32-wasip2",
            dir.display()
        ),
    );
    Ok(0)
}

/// The permission lines accepted for an installed plugin.
fn old_permissions(old: &Locked) -> Vec<String> {
    old.granted.describe()
}

fn runs_on(r: RunsOn) -> &'static str {
    match r {
        RunsOn::Local => "local",
        RunsOn::Remote => "remote",
    }
}

fn plugin_json(p: &Locked) -> serde_json::Value {
    serde_json::json!({
        "name": p.name,
        "version": p.version.to_string(),
        "description": p.description,
        "runs_on": runs_on(p.runs_on),
        "enabled": p.enabled,
        "source": p.source,
        "sha256": p.sha256,
        "from_preset": p.from_preset,
        "commands": p.commands.iter().map(|c| serde_json::json!({ "name": c.name, "summary": c.summary })).collect::<Vec<_>>(),
        "permissions": old_permissions(p),
        "disabled_reason": p.disabled_reason,
    })
}

/// `sinc plugin list`.
fn list(ctx: &Context) -> Result<i32> {
    let lock = lockfile(&installed(ctx))?;
    if ctx.global.json {
        output::json(&serde_json::Value::Array(lock.plugins.iter().map(plugin_json).collect()));
        return Ok(0);
    }
    if lock.plugins.is_empty() {
        output::notice(ctx.global.quiet, "No plugins installed; `sinc plugin add PATH.wasm` adds one.");
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = lock
        .plugins
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.version.to_string(),
                runs_on(p.runs_on).into(),
                if p.enabled { "yes".into() } else { "no".into() },
                p.commands.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
                p.description.clone(),
            ]
        })
        .collect();
    anstream::print!("{}", output::table(&["NAME", "VERSION", "RUNS ON", "ENABLED", "COMMANDS", "DESCRIPTION"], &rows));
    Ok(0)
}

/// `sinc plugin info NAME`.
fn info(ctx: &Context, name: &str) -> Result<i32> {
    let lock = lockfile(&installed(ctx))?;
    let p = known(&lock, name)?;
    if ctx.global.json {
        output::json(&plugin_json(p));
        return Ok(0);
    }
    let mut text = format!(
        "{} {} — {}\n  runs on   {}\n  enabled   {}\n  source    {}\n  sha256    {}\n",
        p.name,
        p.version,
        p.description,
        runs_on(p.runs_on),
        if p.enabled { "yes" } else { "no" },
        p.source,
        p.sha256
    );
    if let Some(why) = &p.disabled_reason {
        text += &format!("  disabled  {why}\n");
    }
    for c in &p.commands {
        text += &format!("  command   sinc {} — {}\n", c.name, c.summary);
    }
    let granted = old_permissions(p);
    if granted.is_empty() {
        text += "  may       log and keep its own data (nothing else)\n";
    }
    for line in granted {
        text += &format!("  may       {line}\n");
    }
    anstream::print!("{text}");
    Ok(0)
}

/// `sinc plugin remove NAME` (its data is kept, for adding it again).
fn remove(ctx: &Context, name: &str) -> Result<i32> {
    let installed = installed(ctx);
    let mut lock = lockfile(&installed)?;
    known(&lock, name)?;
    let Some(gone) = lock.remove(name) else {
        return Ok(1);
    };
    save(&installed, &lock)?;
    let _ = std::fs::remove_file(installed.component_path(&gone.name, &gone.sha256));
    output::notice(
        ctx.global.quiet,
        &format!("removed {} {}; its data stays in {}", gone.name, gone.version, installed.data_dir(name).display()),
    );
    Ok(0)
}

/// `sinc plugin enable|disable NAME`.
fn set_enabled(ctx: &Context, name: &str, enabled: bool) -> Result<i32> {
    let installed = installed(ctx);
    let mut lock = lockfile(&installed)?;
    known(&lock, name)?;
    if let Some(p) = lock.get_mut(name) {
        p.enabled = enabled;
        p.failures = 0;
        p.disabled_reason = None;
    }
    save(&installed, &lock)?;
    output::notice(ctx.global.quiet, &format!("{name} {}", if enabled { "enabled" } else { "disabled" }));
    Ok(0)
}

/// Load an installed plugin and give it its settings.
fn start(ctx: &Context, installed: &Installed, locked: &Locked) -> std::result::Result<Plugin, PluginError> {
    installed.start(&installed.runtime()?, locked, ctx.config(), CALL_LIMIT)
}

/// `sinc NAME ARGS…` for a command a plugin adds: a local plugin's runs
/// here; a remote plugin's runs on the VPS, through the project's keeper.
pub async fn external(ctx: &Context, words: &[String]) -> Result<i32> {
    let installed = installed(ctx);
    let provider = match words.first() {
        Some(name) => lockfile(&installed)?.provider_of(name).cloned(),
        None => None,
    };
    if let [command, mcp] = words
        && mcp == "mcp"
    {
        let route = match &provider {
            Some(p) if p.runs_on == RunsOn::Local => Some(super::mcp::Route::LocalHost(self::installed(ctx))),
            Some(_) => Some(super::mcp::Route::Keeper(super::sync_cmds::keeper_paths(ctx))),
            None => super::mcp::daemon_route(command).await,
        };
        if let Some(route) = route {
            return super::mcp::serve(route, command).await;
        }
    }
    let Some(plugin) = provider else {
        if let Some(code) = on_this_vps(words).await? {
            return Ok(code);
        }
        return off_runtime(|| external_here(ctx, words)).map(|(status, _)| status);
    };
    let command =
        Request::PluginCommand { plugin: plugin.name.clone(), command: words[0].clone(), args: words[1..].to_vec() };
    if plugin.runs_on == RunsOn::Local {
        let asked = ControlRequest::LocalCommand {
            plugin: plugin.name.clone(),
            command: words[0].clone(),
            args: words[1..].to_vec(),
            cwd: Some(ctx.project_dir.to_string_lossy().into_owned()),
        };
        let (status, then) = match ask_local_host(&installed, &asked, END_LIMIT).await? {
            Some(ControlResponse::Command { status, stdout, stderr, then }) => {
                (print_output(status, &stdout, &stderr), then)
            }
            // A keeper of an older sinc does not know the request yet.
            Some(ControlResponse::Error { message }) if message.starts_with(BAD_REQUEST) => {
                off_runtime(|| external_here(ctx, words))?
            }
            Some(ControlResponse::Error { message }) => return Err(Error::Failure(message)),
            Some(other) => {
                return Err(Error::Failure(format!("unexpected answer from the local plugin host: {other:?}")));
            }
            None => off_runtime(|| external_here(ctx, words))?,
        };
        return match then {
            Some(next) if status == 0 => super::follow_up::run(ctx, next).await,
            _ => Ok(status),
        };
    }
    let paths = super::sync_cmds::keeper_paths(ctx);
    let request = ControlRequest::Plugin { request: command };
    let out = match control::request(&paths.socket, &request).await {
        Ok(ControlResponse::Answer { response: Response::CommandOutput { status, stdout, stderr } }) => {
            (status, stdout, stderr)
        }
        Ok(ControlResponse::Error { message }) => return Err(Error::Failure(message)),
        Ok(other) => return Err(Error::Failure(format!("unexpected answer from the keeper: {other:?}"))),
        Err(ControlError::NotRunning) => {
            return Err(Error::Unavailable(format!(
                "`sinc {}` runs on the VPS (plugin {}), reached through this project's session; `sinc start` starts one",
                words[0], plugin.name
            )));
        }
        Err(e) => return Err(Error::Failure(e.to_string())),
    };
    Ok(print_output(out.0, &out.1, &out.2))
}

/// `sinc NAME ARGS…` run on the VPS itself: a remote plugin's command,
/// run by this user's daemon here, which runs the plugins the laptop last
/// sent. `None` when this machine never hosted plugins, or none of them
/// adds the command.
async fn on_this_vps(words: &[String]) -> Result<Option<i32>> {
    let Some(paths) = crate::remote::daemon::hosting_here().filter(|_| !words.is_empty()) else { return Ok(None) };
    let request = Request::RunCommand { command: words[0].clone(), args: words[1..].to_vec() };
    match crate::remote::daemon::request(&paths, request).await.map_err(Error::Unavailable)? {
        Response::CommandOutput { status, stdout, stderr } => Ok(Some(print_output(status, &stdout, &stderr))),
        Response::Failed { message } if message.starts_with(crate::plugins::hosting::NO_PROVIDER) => Ok(None),
        Response::Failed { message } => Err(Error::Failure(message)),
        other => Err(Error::Failure(format!("unexpected answer from the daemon: {other:?}"))),
    }
}

/// Print what a plugin's subcommand printed; its exit status.
fn print_output(status: u8, stdout: &str, stderr: &str) -> i32 {
    use std::io::Write;
    let _ = std::io::stdout().write_all(stdout.as_bytes());
    let _ = std::io::stderr().write_all(stderr.as_bytes());
    i32::from(status)
}

/// Whether any plugin is enabled (so before-start hooks may have a say).
pub fn any_enabled(ctx: &Context) -> bool {
    installed(ctx).lockfile().is_ok_and(|l| l.plugins.iter().any(|p| p.enabled))
}

/// Ask the plugins' before-start hooks about the session `spec` is about to
/// create: local plugins here, remote ones through the project's keeper. A
/// refusal is an error and the session is not created; a hook that cannot
/// be asked is skipped with a warning.
pub async fn before_start(ctx: &Context, spec: &crate::session::SessionSpec) -> Result<Extras> {
    let installed = installed(ctx);
    let lock = lockfile(&installed)?;
    let session = events::session(spec);
    let continuing = ctx.global.continue_session;
    let mut extras = Extras::default();
    let locals: Vec<&Locked> = lock.enabled(RunsOn::Local).collect();
    if !locals.is_empty() {
        let asked =
            ControlRequest::LocalPlugin { request: Request::BeforeStart { session: session.clone(), continuing } };
        match ask_local_host(&installed, &asked, CALL_LIMIT).await {
            Ok(Some(ControlResponse::Answer { response })) => add_answer(&mut extras, "(local plugins)", response)?,
            Ok(Some(ControlResponse::Error { message })) => {
                output::warn(&format!("the local plugins' before-start hooks were skipped: {message}"))
            }
            Ok(Some(other)) => output::warn(&format!("the local plugins' before-start hooks were skipped: {other:?}")),
            Err(e) => output::warn(&format!("the local plugins' before-start hooks were skipped: {e}")),
            Ok(None) => before_start_here(ctx, &installed, &locals, &session, continuing, &mut extras)?,
        }
    }
    if lock.enabled(RunsOn::Remote).next().is_some() {
        let paths = super::sync_cmds::keeper_paths(ctx);
        let request = ControlRequest::Plugin { request: Request::BeforeStart { session, continuing } };
        match control::request(&paths.socket, &request).await {
            Ok(ControlResponse::Answer { response }) => add_answer(&mut extras, "(remote plugins)", response)?,
            Ok(ControlResponse::Error { message }) => {
                output::warn(&format!("the remote plugins' before-start hooks were skipped: {message}"))
            }
            Ok(_) | Err(_) => output::warn(
                "the remote plugins' before-start hooks were skipped: no keeper runs for this project (sync is off)",
            ),
        }
    }
    Ok(extras)
}

/// Ask the local plugins' hooks in this process (no keeper hosts them).
fn before_start_here(
    ctx: &Context,
    installed: &Installed,
    locals: &[&Locked],
    session: &SessionRef,
    continuing: bool,
    extras: &mut Extras,
) -> Result<()> {
    let session = events::plugin_session(session.clone());
    let verdicts = off_runtime(|| {
        // One engine for every plugin asked.
        let runtime = installed.runtime().map_err(failure)?;
        Ok(locals
            .iter()
            .filter_map(|locked| {
                let asked = installed
                    .start(&runtime, locked, ctx.config(), CALL_LIMIT)
                    .and_then(|mut p| p.before_start(&session, continuing, CALL_LIMIT));
                match asked {
                    Ok(verdict) => verdict.map(|v| (locked.name.clone(), v)),
                    Err(e) => {
                        output::warn(&format!("plugin {}'s before-start hook was skipped: {e}", locked.name));
                        None
                    }
                }
            })
            .collect::<Vec<_>>())
    })?;
    for (name, answer) in verdicts {
        for text in &answer.notices {
            show_notice(&name, text);
        }
        match answer.verdict {
            sinc_plugin_host::Verdict::Refuse(reason) => return Err(refused(&name, &reason)),
            sinc_plugin_host::Verdict::Proceed(launch) => add_launch(extras, &name, launch.env, launch.prompt),
        }
    }
    Ok(())
}

/// Add what a plugin host's hooks answered: a launch, or a refusal.
fn add_answer(extras: &mut Extras, from: &str, response: Response) -> Result<()> {
    match response {
        Response::Launch { env, prompts, notices } => {
            for (plugin, text) in notices {
                show_notice(&plugin, &text);
            }
            add_launch(extras, from, env, None);
            extras.prompts.extend(prompts);
            Ok(())
        }
        Response::Refused { plugin, reason } => Err(refused(&plugin, &reason)),
        other => {
            output::warn(&format!("{from}: before-start hooks skipped, unexpected answer {other:?}"));
            Ok(())
        }
    }
}

/// A plugin's notice, on stderr; its control characters are dropped, so it
/// cannot move the cursor or recolour the terminal.
fn show_notice(plugin: &str, text: &str) {
    let text: String = text.chars().filter(|c| !c.is_control() || *c == '\n').collect();
    output::warn(&format!("plugin {plugin}: {text}"));
}

fn refused(plugin: &str, reason: &str) -> Error {
    Error::Failure(format!("plugin {plugin} refused to start the session: {reason}"))
}

/// Add one plugin's (or the remote plugins') launch changes; a variable
/// set before keeps its value.
fn add_launch(extras: &mut Extras, from: &str, env: Vec<(String, String)>, prompt: Option<String>) {
    for (key, value) in env {
        if !crate::session::tmux::valid_env_name(&key) {
            output::warn(&format!("{from}: `{key}` is not a variable name; ignored"));
        } else if extras.env.iter().any(|(k, _)| *k == key) {
            output::warn(&format!("{from}: {key} is set by another plugin already; keeping that one"));
        } else {
            extras.env.push((key, value));
        }
    }
    extras.prompts.extend(prompt);
}

/// How local plugin `name` is doing in the keeper hosting it; `None` when
/// no keeper hosts the local plugins.
pub async fn local_state(ctx: &Context, name: &str) -> Option<String> {
    match ask_local_host(&installed(ctx), &ControlRequest::LocalPlugins, REFRESH_LIMIT).await.ok()?? {
        ControlResponse::Plugins { states } => {
            Some(states.into_iter().find(|s| s.name == name).map_or_else(|| "not loaded".to_owned(), |s| s.state))
        }
        ControlResponse::Error { message } => Some(message),
        _ => None,
    }
}

/// Where plugins run, as their states are reported.
pub const HERE: &str = "on this machine";
/// Where remote plugins run.
pub const ON_VPS: &str = "on the VPS";

/// Ask the keeper hosting the local plugins (if any) and the project's
/// running keeper (if any) to run the current plugin sets, and how each
/// plugin is doing: one entry per host that answered, or what went wrong.
pub async fn host_states(ctx: &Context) -> Vec<std::result::Result<(&'static str, Vec<PluginState>), String>> {
    let mut out = Vec::new();
    match ask_local_host(&installed(ctx), &ControlRequest::LocalPlugins, REFRESH_LIMIT).await {
        Ok(None) => {}
        Ok(Some(ControlResponse::Plugins { states })) => out.push(Ok((HERE, states))),
        Ok(Some(ControlResponse::Error { message })) => out.push(Err(format!("local plugins: {message}"))),
        Ok(Some(other)) => out.push(Err(format!("unexpected answer from the local plugin host: {other:?}"))),
        Err(e) => out.push(Err(e.to_string())),
    }
    let paths = super::sync_cmds::keeper_paths(ctx);
    if !paths.socket.exists() {
        return out;
    }
    let asked = tokio::time::timeout(REFRESH_LIMIT, control::request(&paths.socket, &ControlRequest::Plugins)).await;
    match asked {
        Ok(Ok(ControlResponse::Plugins { states })) => out.push(Ok((ON_VPS, states))),
        Ok(Ok(ControlResponse::Error { message })) => out.push(Err(format!("remote plugins: {message}"))),
        Ok(Err(ControlError::NotRunning)) => {}
        Ok(Ok(_)) | Ok(Err(_)) | Err(_) => out.push(Err(
            "the session's keeper did not confirm the remote plugins; they follow at its next connection".into(),
        )),
    }
    out
}

/// After the lockfile changed: have the running hosts run the new plugin
/// sets (see [`host_states`]); when `say`, tell how each plugin is doing.
pub async fn refresh_plugins(ctx: &Context, say: bool) {
    for answer in host_states(ctx).await {
        match answer {
            Ok((place, states)) => {
                for s in states {
                    tracing::info!(plugin = %s.name, "{place}: {}", s.state);
                    if say {
                        output::notice(ctx.global.quiet, &format!("{} {place}: {}", s.name, s.state));
                    }
                }
            }
            Err(warning) => output::warn(&warning),
        }
    }
}

/// Run a plugin's subcommand in this process: its status, and what it
/// asked this `sinc` to do next.
fn external_here(ctx: &Context, words: &[String]) -> Result<(i32, Option<FollowUp>)> {
    let Some((name, args)) = words.split_first() else {
        return Err(Error::Usage("no command given".into()));
    };
    let installed = installed(ctx);
    let lock = lockfile(&installed)?;
    let Some(locked) = lock.provider_of(name) else {
        let disabled = lock.plugins.iter().find(|p| p.commands.iter().any(|c| &c.name == name));
        return Err(Error::Usage(match disabled {
            Some(p) => format!(
                "`sinc {name}` comes from the plugin {}, which is disabled (`sinc plugin enable {}`)",
                p.name, p.name
            ),
            None => format!(
                "unknown command `{name}`; `sinc --help` lists the commands, `sinc plugin list` those plugins add"
            ),
        }));
    };
    let cwd = (locked.runs_on == RunsOn::Local).then(|| ctx.project_dir.to_string_lossy().into_owned());
    let ran = start(ctx, &installed, locked).and_then(|mut plugin| {
        let out = plugin.run_command_in(name, args, cwd.as_deref(), CALL_LIMIT);
        let _ = out.is_ok().then(|| plugin.shutdown(CALL_LIMIT));
        out
    });
    let Invoked { output: out, then } = match ran {
        Ok(invoked) => {
            installed.record(&locked.name, Ok(()));
            invoked
        }
        Err(e) => {
            if let Some(disabled) = installed.record(&locked.name, Err(&e)) {
                output::warn(&disabled);
            }
            return Err(failure(e));
        }
    };
    Ok((print_output(out.status, &out.stdout, &out.stderr), then.map(Into::into)))
}
