//! `sinc plugin …` and the subcommands plugins add (`sinc hello`): install a
//! local build after showing what it may do, list, inspect, enable, disable,
//! remove, and run a plugin's subcommand in this process.

use super::args::PluginCommand;
use super::context::Context;
use super::output;
use crate::error::{Error, Result};
use crate::plugins::{Installed, Locked, LockedCommand, Lockfile};
use sinc_plugin_host::{Manifest, Plugin, RunsOn};
use std::path::Path;
use std::time::Duration;

/// How long a plugin's `init`, `commands` or subcommand may run.
const CALL_LIMIT: Duration = Duration::from_secs(30);

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
fn off_runtime<T: Send>(work: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope.spawn(work).join().unwrap_or_else(|_| Err(Error::Failure("a plugin call crashed sinc's thread".into())))
    })
}

/// `sinc plugin …`.
pub fn run(ctx: &Context, command: &PluginCommand) -> Result<i32> {
    off_runtime(|| run_here(ctx, command))
}

fn run_here(ctx: &Context, command: &PluginCommand) -> Result<i32> {
    match command {
        PluginCommand::Add { source } => add(ctx, source),
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

/// `sinc plugin add PATH`.
fn add(ctx: &Context, source: &Path) -> Result<i32> {
    let wasm = std::fs::read(source).map_err(|e| Error::Failure(format!("cannot read {}: {e}", source.display())))?;
    let manifest = Manifest::from_component(&wasm)
        .map_err(|e| Error::Failure(format!("{} is not a sinc plugin: {e}", source.display())))?;
    if manifest.runs_on == RunsOn::Remote {
        return Err(Error::Unavailable(format!(
            "{} runs on the VPS, and the VPS daemon does not load plugins yet; only `runs-on = \"local\"` plugins can be added for now",
            manifest.name
        )));
    }
    let sha256 = sinc_plugin_host::cache::sha256_hex(&wasm);
    let installed = installed(ctx);
    let mut lock = lockfile(&installed)?;
    let before = lock.get(&manifest.name).cloned();
    if let Some(old) = &before
        && old.sha256 == sha256
    {
        output::notice(ctx.global.quiet, &format!("{} {} is already installed", old.name, old.version));
        return Ok(0);
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
    let mut plugin = runtime.load(&manifest, &wasm, &installed.grants(&manifest.name)).map_err(failure)?;
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
    crate::atomic_file::write(&target, &wasm, 0o600)
        .map_err(|e| Error::Failure(format!("cannot store {}: {e}", target.display())))?;
    let source_abs = std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf());
    lock.put(Locked {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        sha256: sha256.clone(),
        source: format!("path+{}", source_abs.display()),
        runs_on: manifest.runs_on,
        description: manifest.description.clone(),
        enabled: before.as_ref().is_none_or(|b| b.enabled),
        from_preset: false,
        granted: manifest.permissions.clone(),
        commands: commands.iter().map(|c| LockedCommand { name: c.name.clone(), summary: c.summary.clone() }).collect(),
    });
    save(&installed, &lock)?;
    if let Some(old) = before
        && old.sha256 != sha256
    {
        let _ = std::fs::remove_file(installed.component_path(&old.name, &old.sha256));
    }
    if ctx.global.json {
        output::json(
            &serde_json::json!({ "added": manifest.name, "version": manifest.version.to_string(), "sha256": sha256 }),
        );
    } else {
        let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        let adds =
            if names.is_empty() { String::new() } else { format!("; it adds `sinc {}`", names.join("`, `sinc ")) };
        output::notice(ctx.global.quiet, &format!("added {} {}{adds}", manifest.name, manifest.version));
    }
    Ok(0)
}

/// The permission lines accepted for an installed plugin.
fn old_permissions(old: &Locked) -> Vec<String> {
    let as_manifest = Manifest {
        name: old.name.clone(),
        version: old.version.clone(),
        description: old.description.clone(),
        runs_on: old.runs_on,
        permissions: old.granted.clone(),
    };
    as_manifest.describe_permissions()
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
    }
    save(&installed, &lock)?;
    output::notice(ctx.global.quiet, &format!("{name} {}", if enabled { "enabled" } else { "disabled" }));
    Ok(0)
}

/// Load an installed plugin and give it its settings.
fn start(ctx: &Context, installed: &Installed, locked: &Locked) -> Result<Plugin> {
    let runtime = installed.runtime().map_err(failure)?;
    let mut plugin = installed.load(&runtime, locked).map_err(failure)?;
    let settings = ctx.config().plugins.get(&locked.name).cloned().unwrap_or_default();
    let json = serde_json::to_string(&settings).map_err(failure)?;
    plugin
        .init(&json, CALL_LIMIT)
        .map_err(failure)?
        .map_err(|e| Error::Failure(format!("plugin {} refused to start: {e}", locked.name)))?;
    // The runtime must outlive the plugin: it is kept by the plugin's store.
    Ok(plugin)
}

/// `sinc NAME ARGS…` for a command a plugin adds.
pub fn external(ctx: &Context, words: &[String]) -> Result<i32> {
    off_runtime(|| external_here(ctx, words))
}

fn external_here(ctx: &Context, words: &[String]) -> Result<i32> {
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
    let mut plugin = start(ctx, &installed, locked)?;
    let out = plugin.run_command(name, args, CALL_LIMIT).map_err(failure)?;
    {
        use std::io::Write;
        let _ = std::io::stdout().write_all(out.stdout.as_bytes());
        let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    }
    let _ = plugin.shutdown(CALL_LIMIT);
    Ok(i32::from(out.status))
}
