//! The questions `sinc setup` asks on a terminal (with `inquire`), for
//! whatever the flags left open; the existing config gives the defaults, so
//! running it again edits rather than starts over.

use super::args::{GlobalArgs, TIERS};
use super::context::Context;
use super::output;
use super::setup::{Answers, Existing, target_for};
use crate::error::{Error, Result};
use crate::paths::Dirs;
use crate::transport::SshConfigFile;
use crate::transport::keys::GENERATED_KEY;
use inquire::{Confirm, InquireError, MultiSelect, Select, Text};
use std::path::{Path, PathBuf};

fn answered<T>(r: std::result::Result<T, InquireError>) -> Result<T> {
    r.map_err(|e| match e {
        InquireError::OperationCanceled | InquireError::OperationInterrupted => {
            Error::Failure("cancelled; nothing was written".into())
        }
        other => Error::Failure(format!("cannot ask: {other}")),
    })
}

/// A choice among `options` (shown), starting on `current` if it is one.
fn pick(question: &str, options: Vec<String>, current: Option<&str>, help: &str) -> Result<String> {
    let start = current.and_then(|c| options.iter().position(|o| o == c)).unwrap_or(0);
    answered(Select::new(question, options).with_starting_cursor(start).with_help_message(help).prompt())
}

/// A line of text with a default.
fn text(question: &str, default: &str, help: &str) -> Result<String> {
    answered(Text::new(question).with_default(default).with_help_message(help).prompt()).map(|s| s.trim().to_owned())
}

/// An answer to write into the config: one that differs from what applies
/// without it (`implied`), or one for a `key` the config sets already.
fn worth_writing<T: PartialEq>(answer: T, implied: &T, existing: &Existing, key: &str) -> Option<T> {
    (answer != *implied || existing.text(key).is_some()).then_some(answer)
}

/// Ask for everything `a` does not have yet.
pub async fn ask(a: &mut Answers, existing: &Existing, dirs: &Dirs, global: &GlobalArgs) -> Result<()> {
    let ssh_config = SshConfigFile::load(&dirs.home)?;
    if a.host.is_none() {
        a.host = Some(ask_host(&ssh_config, existing).await?);
    }
    let host = a.host.clone().unwrap_or_default();
    // What ~/.ssh/config alone says, so a default that only repeats it is
    // not written into sinc's config.
    let plain = target_for(dirs, global, &Answers::default(), &host)?;
    if a.user.is_none() {
        let default = existing.text("vps.user").unwrap_or_else(|| plain.user.clone());
        let user = text("User on the VPS:", &default, "the account the agents run as")?;
        a.user = worth_writing(user, &plain.user, existing, "vps.user");
    }
    if a.port.is_none() {
        let default = existing.text("vps.port").unwrap_or_else(|| plain.port.to_string());
        let port = answered(
            Text::new("SSH port:")
                .with_default(&default)
                .with_validator(|s: &str| {
                    Ok(match s.trim().parse::<u16>() {
                        Ok(p) if p > 0 => inquire::validator::Validation::Valid,
                        _ => inquire::validator::Validation::Invalid("a port is a number from 1 to 65535".into()),
                    })
                })
                .prompt(),
        )?;
        let port: i64 = port.trim().parse().unwrap_or(22);
        a.port = worth_writing(port, &i64::from(plain.port), existing, "vps.port");
    }
    if a.key.is_none() && !a.generate_key {
        ask_key(a, existing, dirs, &plain.identity_files)?;
    }
    if a.agent.is_none() {
        a.agent = Some(ask_agent(existing)?);
    }
    if a.remote_base.is_none() {
        let default = existing.text("sync.remote_base").unwrap_or_else(|| crate::config::DEFAULT_REMOTE_BASE.into());
        let base = text("Folder on the VPS for the projects:", &default, "each project gets a folder in it")?;
        a.remote_base =
            worth_writing(base, &crate::config::DEFAULT_REMOTE_BASE.to_owned(), existing, "sync.remote_base");
    }
    if a.ignore.is_empty() {
        let current = existing.ignores();
        let help = if current.is_empty() {
            "gitignore patterns, comma-separated; .git, node_modules and the like are always ignored".to_owned()
        } else {
            format!("added to the ones set already: {}", current.join(", "))
        };
        let extra = text("Extra ignores:", "", &help)?;
        a.ignore = extra.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
    }
    if a.tier.is_none() {
        ask_tier(a, global)?;
    }
    if !a.bootstrap {
        a.bootstrap = answered(
            Confirm::new("Prepare the VPS now (install tmux, git and sinc there: sinc vps bootstrap)?")
                .with_default(false)
                .with_help_message("`sinc vps bootstrap --dry-run` shows what it would do")
                .prompt(),
        )?;
    }
    if !a.harden {
        a.harden = answered(
            Confirm::new("Lock the VPS down now (no passwords for SSH, a firewall, fail2ban: sinc vps harden)?")
                .with_default(false)
                .with_help_message("needs root there; each risky change is proven with a fresh login or rolled back")
                .prompt(),
        )?;
    }
    Ok(())
}

async fn ask_host(ssh_config: &SshConfigFile, existing: &Existing) -> Result<String> {
    const OTHER: &str = "another host name or address…";
    let mut options: Vec<String> = existing.text("vps.host").into_iter().collect();
    for alias in ssh_config.aliases() {
        if !options.contains(&alias) {
            options.push(alias);
        }
    }
    let tailnet = crate::tailnet::local_status().await.filter(|n| n.is_up()).map(|n| n.peers).unwrap_or_default();
    for peer in &tailnet {
        if !options.contains(peer) {
            options.push(peer.clone());
        }
    }
    if options.is_empty() {
        return ask_other_host();
    }
    options.push(OTHER.into());
    let help = if tailnet.is_empty() {
        "Host aliases from ~/.ssh/config".to_owned()
    } else {
        "Host aliases from ~/.ssh/config, then your tailnet's machines (MagicDNS)".to_owned()
    };
    let chosen = pick("Which VPS?", options, existing.text("vps.host").as_deref(), &help)?;
    if chosen == OTHER { ask_other_host() } else { Ok(chosen) }
}

fn ask_other_host() -> Result<String> {
    answered(
        Text::new("VPS host name or address:")
            .with_validator(|s: &str| {
                Ok(if s.trim().is_empty() || s.contains(char::is_whitespace) {
                    inquire::validator::Validation::Invalid("a host name or an address, without spaces".into())
                } else {
                    inquire::validator::Validation::Valid
                })
            })
            .prompt(),
    )
    .map(|s| s.trim().to_owned())
}

fn ask_key(a: &mut Answers, existing: &Existing, dirs: &Dirs, candidates: &[PathBuf]) -> Result<()> {
    let generated = dirs.home.join(".ssh").join(GENERATED_KEY);
    let generate = format!("generate ~/.ssh/{GENERATED_KEY} and install it with your password (once)");
    const OTHER: &str = "another key file…";
    let mut options: Vec<String> = existing.text("vps.identity_file").into_iter().collect();
    for file in candidates.iter().chain(std::iter::once(&generated)).filter(|f| f.exists()) {
        let shown = file.display().to_string();
        if !options.contains(&shown) {
            options.push(shown);
        }
    }
    if !generated.exists() {
        options.push(generate.clone());
    }
    options.push(OTHER.into());
    let chosen = pick(
        "Which SSH key?",
        options,
        existing.text("vps.identity_file").as_deref(),
        "a key the VPS accepts, or a new one",
    )?;
    let file = if chosen == generate {
        a.generate_key = true;
        a.install_key = true;
        return Ok(());
    } else if chosen == OTHER {
        PathBuf::from(text("Key file:", "~/.ssh/id_ed25519", "the private key; its .pub beside it")?)
    } else {
        PathBuf::from(&chosen)
    };
    let expanded = dirs.expand_tilde(&file.to_string_lossy());
    // A key ~/.ssh/config already names needs no setting of sinc's own.
    if existing.text("vps.identity_file").is_some() || !candidates.contains(&expanded) {
        a.key = Some(expanded);
    } else {
        a.picked_key = Some(expanded);
    }
    a.install_key = answered(
        Confirm::new("Install this key on the VPS now (one password login, like ssh-copy-id)?")
            .with_default(false)
            .with_help_message("say yes if the VPS does not accept it yet")
            .prompt(),
    )?;
    Ok(())
}

fn ask_agent(existing: &Existing) -> Result<String> {
    const KNOWN: [(&str, &str); 2] = [("OpenCode", "opencode"), ("Claude Code", "claude")];
    const OTHER: &str = "another command…";
    let mut options: Vec<String> = KNOWN.iter().map(|(name, cmd)| format!("{name} ({cmd})")).collect();
    options.push(OTHER.into());
    let current = existing.text("agent");
    let current_label = current.as_deref().and_then(|c| {
        KNOWN.iter().find(|(_, cmd)| *cmd == c).map(|(name, cmd)| format!("{name} ({cmd})")).or(Some(OTHER.into()))
    });
    let chosen = pick("Which agent runs on the VPS?", options, current_label.as_deref(), "the command tmux starts")?;
    if let Some((_, cmd)) = KNOWN.iter().find(|(name, cmd)| chosen == format!("{name} ({cmd})")) {
        return Ok((*cmd).to_owned());
    }
    text("Agent command line:", current.as_deref().unwrap_or(""), "run by your login shell on the VPS")
}

fn ask_tier(a: &mut Answers, global: &GlobalArgs) -> Result<()> {
    let ctx = Context::load(global).ok();
    let current = ctx.as_ref().and_then(|c| super::plugin::current_tier(c).ok().flatten());
    let options: Vec<String> = TIERS.iter().map(|t| (*t).to_owned()).collect();
    let tier = pick(
        "Plugin tier?",
        options,
        current.as_deref().or(Some("minimal")),
        "bundles of plugins from the registry (`sinc tier show`); custom: pick them",
    )?;
    if tier == "custom" {
        let names = match ctx.as_ref().map(super::plugin::registry_names) {
            Some(Ok(names)) if !names.is_empty() => names,
            Some(Err(e)) => {
                output::warn(&format!("cannot list the registry's plugins ({e}); the tier stays as it is"));
                return Ok(());
            }
            _ => Vec::new(),
        };
        let chosen = answered(MultiSelect::new("Which plugins?", names.clone()).prompt())?;
        a.without = names.into_iter().filter(|n| !chosen.contains(n)).collect();
        a.with = chosen;
    }
    a.tier = Some(tier);
    Ok(())
}

/// Show what will be written and done, and ask to go ahead.
pub fn confirm(path: &Path, values: &[(String, toml::Value)], a: &Answers) -> Result<bool> {
    let mut lines: Vec<String> = values.iter().map(|(k, v)| format!("  {k} = {v}")).collect();
    if a.generate_key {
        lines.push(format!("  generate ~/.ssh/{GENERATED_KEY} (unless it exists)"));
    }
    if a.install_key {
        lines.push("  install the key on the VPS (asks for your password there once)".into());
    }
    if let Some(tier) = &a.tier {
        lines.push(format!("  plugin tier: {tier}"));
    }
    if a.bootstrap {
        lines.push("  then prepare the VPS (sinc vps bootstrap)".into());
    }
    if a.harden {
        lines.push("  then lock the VPS down (sinc vps harden)".into());
    }
    output::line(&format!("\nTo {}:\n{}", path.display(), lines.join("\n")));
    answered(Confirm::new("Write it?").with_default(true).prompt())
}
