//! `sinc vps bootstrap [--dry-run]`: gather the VPS's facts, plan
//! (`crate::vps::bootstrap`), print or run the plan step by step.

use super::args::BootstrapArgs;
use super::context::Context;
use super::output;
use crate::error::{Error, Result};
use crate::remote::install::{self, LocalBinary};
use crate::transport::{Link, quote};
use crate::vps::bootstrap::{self, Action, Options, SincSource, State, Step};
use crate::vps::facts::{Privilege, VpsFacts};

async fn learn(link: &Link, agent: Option<&str>) -> Result<VpsFacts> {
    let out = link.run(&crate::vps::facts::script(&bootstrap::PACKAGES, agent), b"").await?;
    VpsFacts::parse(&out.stdout_text())
        .ok_or_else(|| Error::Failure(format!("could not learn about the VPS: {}", out.stderr_text())))
}

/// Plan, then print (`--dry-run`) or run it.
pub async fn bootstrap(ctx: &Context, args: &BootstrapArgs) -> Result<i32> {
    let link = ctx.link()?;
    let spec = ctx.spec();
    let program = spec.agent.program();
    let facts = learn(&link, program.as_deref()).await?;
    let options = Options {
        remote_base: ctx.config().sync.remote_base.clone(),
        agent: (spec.agent.to_string(), program.clone()),
        install_agent: args.install_agent,
        systemd: !args.no_systemd,
        sinc_binary: args.sinc_binary.clone(),
        release_url: ctx.config().vps.release_url.clone().unwrap_or_else(|| crate::config::DEFAULT_RELEASE_URL.into()),
    };
    let steps = bootstrap::plan(&facts, &options);
    if args.dry_run {
        if ctx.global.json {
            output::json(
                &serde_json::json!({ "os": facts.os_name(), "steps": steps.iter().map(step_json).collect::<Vec<_>>() }),
            );
        } else {
            output::line(bootstrap::describe(&steps, &facts).trim_end());
        }
        link.close().await;
        return Ok(0);
    }
    if let Some(step) = bootstrap::impossible(&steps).first()
        && let State::Impossible(why) = &step.state
    {
        return Err(Error::Unavailable(format!("cannot {}: {why}; nothing was changed", step.title)));
    }
    if let Some(step) = steps.iter().find(|s| s.state == State::ToDo && matches!(s.action, Action::Root(_)))
        && facts.privilege.as_root("true").is_none()
    {
        let Action::Root(script) = &step.action else { unreachable!("filtered above") };
        let why = match facts.privilege {
            Privilege::SudoNeedsPassword => "sudo asks for a password there",
            _ => "there is no sudo",
        };
        return Err(Error::Failure(format!(
            "`{}` needs root on the VPS, and {why}; run it there yourself, then bootstrap again (nothing was changed):\n  sudo sh -c {}",
            step.title,
            quote::word(script)
        )));
    }
    let mut done = Vec::new();
    for step in &steps {
        match &step.state {
            State::Skip(why) => output::notice(ctx.global.quiet, &format!("- {}: {why}", step.title)),
            State::Impossible(_) => {}
            State::ToDo => {
                run_step(ctx, &link, &facts, step).await?;
                output::notice(ctx.global.quiet, &format!("✓ {}", step.title));
                done.push(step.title.clone());
            }
        }
    }
    let after = learn(&link, program.as_deref()).await.ok();
    link.close().await;
    let agent_on_path = after.as_ref().and_then(|f| f.agent_path.clone());
    if ctx.global.json {
        output::json(&serde_json::json!({
            "os": facts.os_name(),
            "done": done,
            "steps": steps.iter().map(step_json).collect::<Vec<_>>(),
            "agent_path": agent_on_path,
        }));
    } else if let Some(p) = &program {
        output::notice(
            ctx.global.quiet,
            &match &agent_on_path {
                Some(path) => format!("The agent `{p}` is on the VPS's PATH: {path}"),
                None => format!("The agent `{p}` is not on the VPS's PATH yet (--install-agent installs it)"),
            },
        );
    }
    Ok(0)
}

fn step_json(s: &Step) -> serde_json::Value {
    let (state, why) = match &s.state {
        State::ToDo => ("todo", None),
        State::Skip(w) => ("skip", Some(w.clone())),
        State::Impossible(w) => ("impossible", Some(w.clone())),
    };
    let (root, command) = match &s.action {
        Action::Root(c) => (true, Some(c.clone())),
        Action::User(c) => (false, Some(c.clone())),
        Action::InstallSinc(_) => (false, None),
    };
    serde_json::json!({ "title": s.title, "state": state, "why": why, "root": root, "command": command })
}

async fn run_step(ctx: &Context, link: &Link, facts: &VpsFacts, step: &Step) -> Result<()> {
    let script = match &step.action {
        Action::Root(script) => facts.privilege.as_root(script).unwrap_or_default(),
        Action::User(script) => script.clone(),
        Action::InstallSinc(source) => {
            let installed = match source {
                SincSource::ThisBinary => {
                    let local = LocalBinary::current(&ctx.dirs.cache)
                        .map_err(|e| Error::Failure(format!("cannot read this sinc: {e}")))?;
                    install::ensure(link, &local, Box::new(|_| {})).await
                }
                SincSource::File(path) => {
                    let local = LocalBinary::of(path)
                        .map_err(|e| Error::Usage(format!("cannot read --sinc-binary {}: {e}", path.display())))?;
                    install::upload(link, &local, Box::new(|_| {})).await
                }
                SincSource::Download(url) => install::download(link, url).await,
            };
            installed.map_err(|e| Error::Failure(format!("{}: {e}", step.title)))?;
            return Ok(());
        }
    };
    let out = link.run(&quote::sh_script(&script), b"").await?;
    if !out.status.success() {
        return Err(Error::Failure(format!(
            "{} failed on the VPS ({:?}): {}",
            step.title,
            out.status,
            out.stderr_text()
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        )));
    }
    Ok(())
}
