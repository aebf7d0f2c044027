//! `sinc open NAME`: a remote plugin's web page on this machine. Its port on
//! the VPS (bound to 127.0.0.1 there) is forwarded through the SSH connection
//! to the same port here — another one when that is taken, and it says which
//! — until Ctrl-C, following the connection through reconnections. A local
//! plugin's page is served on this machine by the keeper that hosts the
//! local plugins: `sinc open` checks it runs there and opens it.

use super::context::Context;
use super::output;
use crate::error::{Error, Result};
use crate::plugins::Installed;
use crate::transport::{ForwardSpec, Forwarder, Link};
use sinc_plugin_host::RunsOn;
use std::time::Duration;

/// Pause between reconnection attempts.
const RETRY: Duration = Duration::from_secs(1);

/// The port plugin `name` serves its page on (moved by its setting, else
/// the one it declares), and where it runs.
fn served_port(ctx: &Context, name: &str) -> Result<(u16, RunsOn)> {
    let installed = Installed::new(&ctx.dirs, &ctx.loaded.config_file);
    let lock = installed.lockfile().map_err(|e| Error::Failure(format!("cannot read the plugin lockfile {e}")))?;
    let Some(plugin) = lock.get(name) else {
        return Err(Error::Usage(format!("no plugin `{name}` is installed (`sinc plugin list`)")));
    };
    if !plugin.enabled {
        return Err(Error::Usage(format!("plugin {name} is disabled (`sinc plugin enable {name}`)")));
    }
    // Its page is on the first port it declares.
    let Some(declared) = plugin.granted.ports.first() else {
        return Err(Error::Usage(format!("plugin {name} serves no web page (it declares no port)")));
    };
    let settings = ctx.config().plugins.get(name).cloned().unwrap_or_default();
    let port =
        sinc_plugin_host::running::served_port(name, &plugin.granted, declared, &settings).map_err(|message| {
            let origin = crate::config::Origin::File(ctx.loaded.config_file.clone());
            Error::Config(crate::config::ConfigError::new(origin, message))
        })?;
    Ok((port, plugin.runs_on))
}

/// Run `sinc open`.
pub async fn run(ctx: &Context, name: &str, local: Option<u16>, no_browser: bool) -> Result<i32> {
    let (remote_port, runs_on) = served_port(ctx, name)?;
    if runs_on == RunsOn::Local {
        return open_local(ctx, name, remote_port, local, no_browser).await;
    }
    let wanted = local.unwrap_or(remote_port);
    let spec = |port| ForwardSpec { bind: None, port, host: "127.0.0.1".into(), host_port: remote_port };
    let forwarder = match Forwarder::bind(&[spec(wanted)], &[]).await {
        Ok(f) => f,
        // The plugin's own number is only a preference.
        Err(_) if local.is_none() => {
            Forwarder::bind(&[spec(0)], &[]).await.map_err(|e| Error::Failure(e.to_string()))?
        }
        Err(e) => return Err(Error::Failure(e.to_string())),
    };
    let here = forwarder.local_addresses.first().map_or(wanted, |(_, a)| a.port());
    if here != wanted {
        output::notice(ctx.global.quiet, &format!("port {wanted} is taken here; using {here}"));
    }
    let link = Link::new(ctx.target()?, ctx.connect_options(), None);
    link.connect_own().await?;
    let mut conn = link.own_connection().ok_or_else(|| Error::Failure("the connection vanished".into()))?;
    forwarder.follow(conn.clone()).await.map_err(|e| Error::Failure(e.to_string()))?;
    let url = format!("http://127.0.0.1:{here}/");
    if ctx.global.json {
        output::json(&serde_json::json!({ "plugin": name, "url": url, "remote_port": remote_port }));
    } else {
        println!("{url}");
        output::notice(
            ctx.global.quiet,
            &format!("{name}: {url} is the VPS's 127.0.0.1:{remote_port}; Ctrl-C stops forwarding"),
        );
    }
    if !no_browser {
        open_browser(&url);
    }
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            () = conn.dead_signal() => {
                tracing::info!("the connection dropped; reconnecting");
                conn = loop {
                    let next = link.fresh();
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => return Ok(0),
                        connected = next.connect_own() => match connected.ok().and_then(|()| next.own_connection()) {
                            Some(c) => break c,
                            None => tokio::time::sleep(RETRY).await,
                        },
                    }
                };
                forwarder.follow_in_background(conn.clone());
            }
        }
    }
    Ok(0)
}

/// Open a local plugin's page, once the keeper hosting it says it runs.
async fn open_local(ctx: &Context, name: &str, port: u16, wanted: Option<u16>, no_browser: bool) -> Result<i32> {
    if wanted.is_some_and(|w| w != port) {
        return Err(Error::Usage(format!(
            "plugin {name} runs on this machine, on port {port}; --port only chooses the local end of a remote plugin's forwarding"
        )));
    }
    let url = format!("http://127.0.0.1:{port}/");
    let none = || {
        Error::Unavailable(format!(
            "plugin {name} runs on this machine in a project's keeper, and none runs; `sinc start` starts one (its page will be {url})"
        ))
    };
    let mut state = super::plugin::local_state(ctx, name).await.ok_or_else(none)?;
    // Just (re)started: give it the time the host gives a start.
    for _ in 0..50 {
        if state != "starting" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        state = super::plugin::local_state(ctx, name).await.ok_or_else(none)?;
    }
    if state != "running" {
        return Err(Error::Failure(format!("plugin {name} is not serving {url}: {state}")));
    }
    if ctx.global.json {
        output::json(&serde_json::json!({ "plugin": name, "url": url, "runs_on": "local" }));
    } else {
        println!("{url}");
    }
    if !no_browser {
        open_browser(&url);
    }
    Ok(0)
}

/// Start the desktop's browser on `url`, when there is a desktop.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
        "xdg-open"
    } else {
        return;
    };
    let started = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = started {
        tracing::debug!("{opener} {url}: {e}");
    }
}
