//! `sinc vps bootstrap` and `sinc vps harden`: gather the VPS's facts, plan
//! (`crate::vps`), print the plan (`--dry-run`) or run it step by step —
//! harden proving each risky change with a fresh login, or rolling it back.

use super::args::{BootstrapArgs, HardenArgs};
use super::context::Context;
use super::output;
use crate::error::{Error, Result};
use crate::remote::install::{self, LocalBinary};
use crate::transport::{ConnectOptions, Link, Target, quote};
use crate::vps::bootstrap::{self, Action, Options, SincSource, State, Step};
use crate::vps::facts::{Privilege, VpsFacts};
use crate::vps::harden;

async fn learn(link: &Link, programs: &[&str], agent: Option<&str>) -> Result<VpsFacts> {
    let out = link.run(&crate::vps::facts::script(programs, agent), b"").await?;
    VpsFacts::parse(&out.stdout_text())
        .ok_or_else(|| Error::Failure(format!("could not learn about the VPS: {}", out.stderr_text())))
}

/// Plan, then print (`--dry-run`) or run it.
pub async fn bootstrap(ctx: &Context, args: &BootstrapArgs) -> Result<i32> {
    // Checked before any step runs, so a wrong path changes nothing.
    if let Some(path) = &args.sinc_binary
        && let Err(e) = std::fs::File::open(path)
    {
        return Err(Error::Usage(format!("cannot read --sinc-binary {}: {e}", path.display())));
    }
    let link = ctx.link()?;
    let spec = ctx.spec();
    let program = spec.agent.program();
    let facts = learn(&link, &bootstrap::PACKAGES, program.as_deref()).await?;
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
    refuse_impossible(steps.iter().map(|s| (s.title.as_str(), &s.state)))?;
    if let Some(step) = steps.iter().find(|s| s.state == State::ToDo && matches!(s.action, Action::Root(_)))
        && facts.privilege.root_shell().is_none()
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
    // Looked up again only if an install may have put it there.
    let agent_installed = steps.iter().any(|s| s.state == State::ToDo && s.title == bootstrap::agent_title(&options));
    let agent_on_path = if agent_installed {
        learn(&link, &bootstrap::PACKAGES, program.as_deref()).await.ok().and_then(|f| f.agent_path)
    } else {
        facts.agent_path.clone()
    };
    link.close().await;
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

/// Exit 69 before any change when a step of the plan cannot be done.
fn refuse_impossible<'a>(plan: impl IntoIterator<Item = (&'a str, &'a State)>) -> Result<()> {
    match bootstrap::first_impossible(plan) {
        Some((title, why)) => Err(Error::Unavailable(format!("cannot {title}: {why}; nothing was changed"))),
        None => Ok(()),
    }
}

fn step_json(s: &Step) -> serde_json::Value {
    let why = match &s.state {
        State::ToDo => None,
        State::Skip(w) | State::Impossible(w) => Some(w.clone()),
    };
    let state = s.state.name();
    let (root, command) = match &s.action {
        Action::Root(c) => (true, Some(c.clone())),
        Action::User(c) => (false, Some(c.clone())),
        Action::InstallSinc(_) => (false, None),
    };
    serde_json::json!({ "title": s.title, "state": state, "why": why, "root": root, "command": command })
}

async fn run_step(ctx: &Context, link: &Link, facts: &VpsFacts, step: &Step) -> Result<()> {
    let out = match &step.action {
        Action::Root(script) => run_as_root(link, facts, script).await?,
        Action::User(script) => link.run(&quote::sh_script(script), b"").await?,
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
    if !out.status.success() {
        return Err(Error::Failure(format!(
            "{} failed on the VPS ({:?}): {}",
            step.title,
            out.status,
            last_lines(&out.stderr_text(), 5)
        )));
    }
    Ok(())
}

/// The last `n` lines of `text`.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Run `script` as root on the VPS (fed on stdin to a root shell); the
/// caller checked that there is one.
async fn run_as_root(link: &Link, facts: &VpsFacts, script: &str) -> Result<crate::transport::Output> {
    let shell = facts
        .privilege
        .root_shell()
        .ok_or_else(|| Error::Failure("this needs root on the VPS, and there is no way to it".into()))?;
    Ok(link.run(shell, format!("{{\n{script}\n}} </dev/null\n").as_bytes()).await?)
}

/// What harden asks the VPS about.
const HARDEN_PROGRAMS: [&str; 7] =
    ["ufw", "nft", "firewall-cmd", "fail2ban-client", "unattended-upgrade", "dnf-automatic", "sshd"];

/// How long a reloaded sshd may take to listen again.
const SSHD_BACK_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether a fresh connection with nobody to ask logs in to `target` and
/// runs a command (network errors are retried while a reloaded sshd comes
/// back; a refused login is final).
async fn fresh_login(target: &Target) -> std::result::Result<(), String> {
    let deadline = tokio::time::Instant::now() + SSHD_BACK_WITHIN;
    loop {
        let link = Link::new(target.clone(), ConnectOptions::unattended(None), None);
        let ran = link.run("true", b"").await;
        link.close().await;
        match ran {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => return Err(format!("`true` ended with {:?}", out.status)),
            Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Plan, then print (`--dry-run`) or apply the changes one by one.
pub async fn harden(ctx: &Context, args: &HardenArgs) -> Result<i32> {
    if let Some(bad) = args.sshd_option.iter().find(|l| !harden::valid_sshd_option(l)) {
        return Err(Error::Usage(format!(
            "--sshd-option {bad:?} is not one sshd setting (a keyword and its value on one line; no Match or Include)"
        )));
    }
    let target = ctx.target()?;
    // A connection of our own, kept open through every change: it can roll
    // back even when new logins fail.
    let link = Link::new(target.clone(), ctx.connect_options(), None);
    let facts = learn(&link, &HARDEN_PROGRAMS, None).await?;
    // SSH closes to all but the tailnet only when sinc itself comes in over
    // it: the proof login then takes the same way.
    let over_tailnet =
        link.own_connection().and_then(|c| c.peer_addr()).is_some_and(|a| crate::tailnet::is_tailnet_address(a.ip()));
    if let Some(node) = facts.tailscale.as_ref().filter(|n| n.is_up() && !over_tailnet && !args.public_ssh) {
        output::notice(
            ctx.global.quiet,
            &format!(
                "Tailscale runs on the VPS, but sinc reaches it over a public address, so SSH stays public. To allow it only over the tailnet: sinc setup --host {}, then harden again.",
                if node.dns_name.is_empty() { "<its tailnet name>" } else { node.dns_name.as_str() }
            ),
        );
    }
    let options = harden::Options {
        firewall: !args.no_firewall,
        sshd: !args.no_sshd,
        fail2ban: !args.no_fail2ban,
        upgrades: !args.no_upgrades,
        public_ssh: args.public_ssh,
        over_tailnet,
        ssh_port: target.port,
        sshd_options: args.sshd_option.clone(),
    };
    let changes = harden::plan(&facts, &options);
    if args.dry_run {
        if ctx.global.json {
            let items: Vec<serde_json::Value> = changes
                .iter()
                .map(|c| {
                    serde_json::json!({ "title": c.title, "state": c.state.name(), "command": c.apply, "proven": c.rollback.is_some() })
                })
                .collect();
            output::json(&serde_json::json!({ "os": facts.os_name(), "changes": items }));
        } else {
            output::line(harden::describe(&changes, &facts).trim_end());
        }
        link.close().await;
        return Ok(0);
    }
    refuse_impossible(changes.iter().map(|c| (c.title.as_str(), &c.state)))?;
    if facts.privilege.root_shell().is_none() && changes.iter().any(|c| c.state == State::ToDo) {
        return Err(Error::Failure(
            "hardening needs root on the VPS: log in as root (sinc --profile or vps.user), or give your user sudo without a password; nothing was changed".into(),
        ));
    }
    let mut applied = Vec::new();
    for change in &changes {
        match &change.state {
            State::Skip(why) => {
                output::notice(ctx.global.quiet, &format!("- {}: {why}", change.title));
                continue;
            }
            State::Impossible(_) => continue,
            State::ToDo => {}
        }
        let out = run_as_root(&link, &facts, &harden::armed(change, harden::DEAD_MAN_SECONDS)).await?;
        if !out.status.success() {
            return Err(Error::Failure(format!(
                "{} failed on the VPS and was not kept: {}{}",
                change.title,
                out.stderr_text(),
                done_so_far(&applied)
            )));
        }
        if change.rollback.is_some() {
            let marker =
                out.stdout_text().lines().find_map(|l| l.strip_prefix("marker=")).unwrap_or_default().to_owned();
            if let Err(why) = fresh_login(&target).await {
                let undone = run_as_root(&link, &facts, &harden::roll_back(&marker)).await;
                let how = match undone {
                    // Back only once a fresh login works again (sshd reloads
                    // once more).
                    Ok(o) if o.status.success() => match fresh_login(&target).await {
                        Ok(()) => "it was rolled back, and a fresh login works again".to_owned(),
                        Err(still) => format!("it was rolled back, but a fresh login still fails ({still})"),
                    },
                    _ => format!("the VPS rolls it back on its own within {} s", harden::DEAD_MAN_SECONDS),
                };
                return Err(Error::Failure(format!(
                    "{}: a fresh connection could not log in with your key ({why}); {how}{}",
                    change.title,
                    done_so_far(&applied)
                )));
            }
            run_as_root(&link, &facts, &harden::confirm(&marker)).await?;
        }
        output::notice(
            ctx.global.quiet,
            &format!("✓ {}{}", change.title, if change.rollback.is_some() { " (a fresh key login works)" } else { "" }),
        );
        applied.push(change.title.clone());
    }
    link.close().await;
    if ctx.global.json {
        output::json(&serde_json::json!({ "os": facts.os_name(), "applied": applied }));
    }
    Ok(0)
}

fn done_so_far(applied: &[String]) -> String {
    if applied.is_empty() { String::new() } else { format!(" (kept before it: {})", applied.join("; ")) }
}
