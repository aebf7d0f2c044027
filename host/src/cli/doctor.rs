//! `sinc doctor [--json]`: gather the facts here and on the VPS, judge them
//! (`crate::doctor::judge`), print one line per check with its fix.

use super::args::GlobalArgs;
use super::context::Context;
use super::output;
use crate::doctor::remote_probe::{self, RemoteFacts};
use crate::doctor::{Check, Status, any_failed, judge, local_probe};
use crate::error::{Error, Result};
use crate::paths::Dirs;
use crate::plugins::Installed;
use crate::transport::{ConnectError, Link, Target, quote};
use std::time::Instant;

/// The checks that need the connection, in the order they are shown.
const REMOTE_CHECKS: [&str; 11] = [
    "remote system",
    "remote sinc",
    "tmux",
    "git",
    "agent",
    "watches on VPS",
    "disk on VPS",
    "clock",
    "firewall",
    "listeners",
    "tailscale",
];

/// Run every check and print them; exit 1 when one failed.
pub async fn run(global: &GlobalArgs) -> Result<i32> {
    let checks = match Context::load(global) {
        Ok(ctx) => checks(&ctx).await,
        Err(e) => {
            let dirs = Dirs::from_env().map_err(|e| Error::Failure(e.to_string()))?;
            let file = global.config.clone().unwrap_or_else(|| dirs.config_file());
            vec![judge::config(&file.display().to_string(), Err(e.to_string()))]
        }
    };
    print(global, &checks);
    Ok(if any_failed(&checks) { 1 } else { 0 })
}

async fn checks(ctx: &Context) -> Vec<Check> {
    let mut checks = vec![judge::config(&ctx.loaded.config_file.display().to_string(), Ok(()))];
    let spec = ctx.spec();
    let local = local_probe::gather(&ctx.project_dir).await;
    let remote = match ctx.target() {
        Ok(target) => reach(ctx, &target, &mut checks).await,
        Err(e) => {
            checks.push(Check::fail("host", e.to_string(), "sinc setup --host HOST"));
            None
        }
    };
    match &remote {
        Some((link, facts, clock)) => {
            let target = link.target();
            let conn = link.own_connection();
            checks.extend([
                judge::remote_system(facts, crate::remote::install::same_platform(&facts.os, &facts.arch)),
                judge::remote_sinc(facts.sinc_version.as_deref()),
                judge::tmux(facts.tmux.as_deref(), &facts.package_manager),
                judge::tool("git", facts.git.as_deref(), &facts.package_manager),
                judge::agent(&facts.agent, &spec.agent.to_string()),
                judge::watches("watches here", local.watch_limit, Some(local.folders)),
                judge::watches("watches on VPS", facts.watch_limit, facts.folders),
                judge::disk("disk here", local.disk),
                judge::disk("disk on VPS", facts.disk),
                match clock {
                    Some((skew, uncertainty)) => judge::clock(*skew, *uncertainty),
                    None => Check::warn("clock", "the VPS did not tell its time", "check `date` on the VPS"),
                },
                judge::firewall(&facts.firewall),
                judge::listeners(&facts.wildcard_listeners, target.port),
                judge::tailscale(
                    local.tailscale.as_ref(),
                    facts.tailscale.as_ref(),
                    conn.and_then(|c| c.peer_addr()).map(|a| a.ip()),
                ),
            ]);
            link.close().await;
        }
        None => {
            checks.push(judge::watches("watches here", local.watch_limit, Some(local.folders)));
            checks.push(judge::disk("disk here", local.disk));
            let done: Vec<&str> = checks.iter().map(|c| c.name).collect();
            for name in REMOTE_CHECKS.into_iter().filter(|n| !done.contains(n)) {
                checks.push(Check::skip(name, "needs the SSH connection"));
            }
        }
    }
    checks.push(plugins(ctx).await);
    checks
}

/// Resolve, reach and log in to the VPS, then probe it; each step is a
/// check. Returns the connection, the facts and the clock skew.
async fn reach(
    ctx: &Context,
    target: &Target,
    checks: &mut Vec<Check>,
) -> Option<(Link, RemoteFacts, Option<(f64, f64)>)> {
    if target.jumps.is_empty() {
        let addr = format!("{}:{}", target.hostname, target.port);
        let found = tokio::time::timeout(target.connect_timeout, tokio::net::lookup_host(addr.clone())).await;
        let addresses: Vec<std::net::SocketAddr> = match found {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => {
                let e = ConnectError::Resolve { host: target.hostname.clone(), reason: e.to_string() };
                checks.push(judge::connect_failure(&e));
                return None;
            }
            Err(_) => Vec::new(),
        };
        let Some(first) = addresses.first() else {
            let e = ConnectError::Resolve { host: target.hostname.clone(), reason: "no address".into() };
            checks.push(judge::connect_failure(&e));
            return None;
        };
        checks.push(Check::pass("host", format!("{} is {}", target.hostname, first.ip())));
        let started = Instant::now();
        match tokio::time::timeout(target.connect_timeout, tokio::net::TcpStream::connect(&addresses[..])).await {
            Ok(Ok(_)) => checks.push(Check::pass(
                "ssh",
                format!("port {} answers ({} ms)", target.port, started.elapsed().as_millis()),
            )),
            Ok(Err(e)) => {
                let e = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => ConnectError::Refused { addr },
                    _ => ConnectError::Network { addr, reason: e.to_string() },
                };
                checks.push(judge::connect_failure(&e));
                return None;
            }
            Err(_) => {
                let e = ConnectError::Timeout { addr, after: target.connect_timeout, stage: "TCP connect" };
                checks.push(judge::connect_failure(&e));
                return None;
            }
        }
    } else {
        checks.push(Check::pass("host", format!("{} (through {} jump host(s))", target.hostname, target.jumps.len())));
    }
    let link = Link::new(target.clone(), ctx.connect_options(), None);
    if let Err(e) = link.connect_own().await {
        if matches!(e, ConnectError::AuthDenied { .. }) {
            checks.push(Check::pass("host key", "matches known_hosts"));
        }
        checks.push(judge::connect_failure(&e));
        return None;
    }
    checks.push(Check::pass("host key", "matches known_hosts"));
    if let Some(conn) = link.own_connection() {
        checks.push(judge::auth(conn.auth_method()));
    }
    let spec = ctx.spec();
    let script = remote_probe::script(&spec.remote_path, spec.agent.program().as_deref());
    let facts = match link.run(&script, b"").await {
        Ok(out) => RemoteFacts::parse(&out.stdout_text()).ok_or_else(|| out.stderr_text()),
        Err(e) => Err(e.to_string()),
    };
    let facts = match facts {
        Ok(f) => f,
        Err(why) => {
            checks.push(Check::fail(
                "remote system",
                format!("the probe did not run on the VPS: {why}"),
                "check that the login shell on the VPS works: sinc exec -- true",
            ));
            link.close().await;
            return None;
        }
    };
    let clock = clock_skew(&link).await;
    Some((link, facts, clock))
}

/// How far the VPS's clock is ahead of ours, and how sure that is (half the
/// round trip).
async fn clock_skew(link: &Link) -> Option<(f64, f64)> {
    let before = crate::clock::since_epoch();
    let out = link.run(&quote::sh_script(remote_probe::CLOCK_COMMAND), b"").await.ok()?;
    let after = crate::clock::since_epoch();
    let theirs = remote_probe::parse_clock(&out.stdout_text())?;
    let middle = (before + after).as_secs_f64() / 2.0;
    Some((theirs - middle, (after - before).as_secs_f64() / 2.0))
}

/// The plugins: the lockfile readable, and what the running hosts say.
async fn plugins(ctx: &Context) -> Check {
    let installed = Installed::new(&ctx.dirs, &ctx.loaded.config_file);
    let lock = match installed.lockfile() {
        Ok(l) => l,
        Err(e) => return judge::plugins(0, &[], Some(e.to_string())),
    };
    let enabled = lock.plugins.iter().filter(|p| p.enabled).count();
    if enabled == 0 {
        return judge::plugins(0, &[], None);
    }
    let mut states = Vec::new();
    for answer in super::plugin::host_states(ctx).await {
        match answer {
            Ok((place, found)) => states.extend(found.into_iter().map(|s| (s.name, place, s.state))),
            Err(warning) => return Check::warn("plugins", warning, "`sinc status` shows the keeper's state"),
        }
    }
    judge::plugins(enabled, &states, None)
}

fn print(global: &GlobalArgs, checks: &[Check]) {
    if global.json {
        output::json(&serde_json::json!({ "ok": !any_failed(checks), "checks": checks }));
        return;
    }
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in checks {
        let (style, word) = match c.status {
            Status::Pass => (output::PASS, "ok"),
            Status::Warn => (output::WARN, "warn"),
            Status::Fail => (output::ERROR, "FAIL"),
            Status::Skip => (anstyle::Style::new().dimmed(), "skip"),
        };
        if global.quiet && c.status != Status::Fail {
            continue;
        }
        output::line(&format!("{style}{word:<4}{style:#}  {:<width$}  {}", c.name, c.detail));
        if let Some(fix) = &c.fix {
            output::line(&format!("      {:<width$}  fix: {fix}", ""));
        }
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    if !global.quiet {
        output::line(&format!(
            "\n{} passed, {} warnings, {} failed{}",
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail),
            match count(Status::Skip) {
                0 => String::new(),
                n => format!(", {n} not checked"),
            }
        ));
    }
}
