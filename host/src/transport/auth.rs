//! Authentication in OpenSSH's order: the ssh-agent's keys, then identity
//! files (asking for passphrases on a terminal), then keyboard-interactive and
//! password on a terminal. Every attempt is recorded for the error message.

use super::error::ConnectError;
use super::handler::ClientHandler;
use super::keys::public_key_of;
use super::prompt::Prompter;
use super::target::Target;
use russh::client::{Handle, KeyboardInteractiveAuthResponse};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKeyWithHashAlg, PublicKey};
use russh::{MethodKind, MethodSet};
use std::path::Path;
use std::sync::Arc;

/// Rounds of password or keyboard-interactive questions before giving up
/// (OpenSSH's `NumberOfPasswordPrompts` default).
const PROMPT_ROUNDS: usize = 3;

/// What authentication attempted, for error messages.
#[derive(Debug, Default)]
struct Attempts {
    tried: Vec<String>,
    server_accepts: Option<MethodSet>,
}

impl Attempts {
    fn allows(&self, kind: MethodKind) -> bool {
        self.server_accepts.as_ref().is_none_or(|m| m.contains(&kind))
    }

    fn note(&mut self, result: &russh::client::AuthResult) {
        if let russh::client::AuthResult::Failure { remaining_methods, .. } = result {
            self.server_accepts = Some(remaining_methods.clone());
        }
    }
}

/// Authenticate `handle` as `target.user`; says which method worked (e.g.
/// `key file ~/.ssh/id_ed25519`).
pub async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    target: &Target,
    prompter: Prompter,
) -> Result<String, ConnectError> {
    let ssh_err = |source| ConnectError::Ssh {
        addr: format!("{}:{}", target.hostname, target.port),
        stage: "authenticating",
        source,
    };
    let mut attempts = Attempts::default();
    let rsa_hash = handle.best_supported_rsa_hash().await.map_err(ssh_err)?.flatten();
    let wanted: Vec<PublicKey> = target.identity_files.iter().filter_map(|f| public_key_of(f)).collect();
    let mut offered: Vec<PublicKey> = Vec::new();

    // 1. The agent.
    if let Some(socket) = &target.agent_socket {
        match AgentClient::connect_uds(socket).await {
            Ok(mut agent) => {
                let identities = agent.request_identities().await.unwrap_or_default();
                for identity in identities {
                    let AgentIdentity::PublicKey { key, .. } = identity else {
                        continue;
                    };
                    if target.identities_only && !wanted.iter().any(|w| w.key_data() == key.key_data()) {
                        continue;
                    }
                    let label = format!("agent key {}", key.fingerprint(russh::keys::HashAlg::Sha256));
                    tracing::debug!("trying {label}");
                    attempts.tried.push(label.clone());
                    offered.push(key.clone());
                    match handle.authenticate_publickey_with(&target.user, key, rsa_hash, &mut agent).await {
                        Ok(r) if r.success() => return Ok(label),
                        Ok(r) => attempts.note(&r),
                        Err(e) => tracing::debug!("agent signing failed: {e}"),
                    }
                }
            }
            Err(e) => tracing::debug!("no ssh-agent at {}: {e}", socket.display()),
        }
    }

    // 2. Identity files.
    if attempts.allows(MethodKind::PublicKey) {
        for file in &target.identity_files {
            if !file.exists() {
                continue;
            }
            if public_key_of(file).is_some_and(|k| offered.iter().any(|o| o.key_data() == k.key_data())) {
                continue;
            }
            let Some(key) = load_key(file, prompter, &mut attempts) else {
                continue;
            };
            let label = format!("key file {}", file.display());
            attempts.tried.push(label.clone());
            let key = PrivateKeyWithHashAlg::new(Arc::new(key), rsa_hash);
            let result = handle.authenticate_publickey(&target.user, key).await.map_err(ssh_err)?;
            if result.success() {
                return Ok(label);
            }
            attempts.note(&result);
        }
    }

    // 3. Keyboard-interactive, then password, only where someone can answer.
    if prompter.is_interactive() && attempts.allows(MethodKind::KeyboardInteractive) {
        attempts.tried.push("keyboard-interactive".into());
        // Like OpenSSH's NumberOfPasswordPrompts: three rounds of questions.
        for _ in 0..PROMPT_ROUNDS {
            match keyboard_interactive(handle, target, prompter, &mut attempts).await.map_err(ssh_err)? {
                Round::Accepted => return Ok("keyboard-interactive".into()),
                Round::Denied if attempts.allows(MethodKind::KeyboardInteractive) => {}
                Round::Denied | Round::NoAnswer => break,
            }
        }
    }
    if prompter.is_interactive() && attempts.allows(MethodKind::Password) {
        attempts.tried.push("password".into());
        for _ in 0..PROMPT_ROUNDS {
            let Some(password) = prompter.secret(&format!("{}@{}'s password: ", target.user, target.hostname)) else {
                break;
            };
            let result = handle.authenticate_password(&target.user, password).await.map_err(ssh_err)?;
            if result.success() {
                return Ok("password".into());
            }
            attempts.note(&result);
            if !attempts.allows(MethodKind::Password) {
                break;
            }
            eprintln!("Permission denied, please try again.");
        }
    }

    if attempts.tried.is_empty() {
        attempts.tried.push(if prompter.is_interactive() {
            "no usable key".into()
        } else {
            "no usable key; no terminal for passwords".into()
        });
    }
    Err(ConnectError::AuthDenied {
        user: target.user.clone(),
        host: target.hostname.clone(),
        tried: attempts.tried,
        server_accepts: attempts
            .server_accepts
            .map(|m| m.iter().map(|k| String::from(<&str>::from(k))).collect())
            .unwrap_or_default(),
    })
}

fn load_key(file: &Path, prompter: Prompter, attempts: &mut Attempts) -> Option<russh::keys::PrivateKey> {
    match russh::keys::load_secret_key(file, None) {
        Ok(k) => Some(k),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            if !prompter.is_interactive() {
                attempts
                    .tried
                    .push(format!("key file {} (encrypted; no terminal to ask for its passphrase)", file.display()));
                return None;
            }
            for _ in 0..3 {
                let pass = prompter.secret(&format!("Enter passphrase for key '{}': ", file.display()))?;
                match russh::keys::load_secret_key(file, Some(&pass)) {
                    Ok(k) => return Some(k),
                    Err(_) => eprintln!("Bad passphrase, try again."),
                }
            }
            attempts.tried.push(format!("key file {} (wrong passphrase)", file.display()));
            None
        }
        Err(e) => {
            tracing::debug!("cannot load {}: {e}", file.display());
            attempts.tried.push(format!("key file {} (unreadable: {e})", file.display()));
            None
        }
    }
}

/// How one keyboard-interactive exchange ended.
enum Round {
    /// We are in.
    Accepted,
    /// The server said no.
    Denied,
    /// Nobody answered a question.
    NoAnswer,
}

/// One keyboard-interactive exchange: the server's questions (any number of
/// rounds of them) asked on the terminal until it accepts or denies.
async fn keyboard_interactive(
    handle: &mut Handle<ClientHandler>,
    target: &Target,
    prompter: Prompter,
    attempts: &mut Attempts,
) -> Result<Round, russh::Error> {
    let mut reply = handle.authenticate_keyboard_interactive_start(&target.user, None::<String>).await?;
    loop {
        match reply {
            KeyboardInteractiveAuthResponse::Success => return Ok(Round::Accepted),
            KeyboardInteractiveAuthResponse::Failure { remaining_methods, .. } => {
                attempts.server_accepts = Some(remaining_methods);
                return Ok(Round::Denied);
            }
            KeyboardInteractiveAuthResponse::InfoRequest { name, instructions, prompts } => {
                if !name.is_empty() {
                    eprintln!("{name}");
                }
                if !instructions.is_empty() {
                    eprintln!("{instructions}");
                }
                let mut answers = Vec::with_capacity(prompts.len());
                for p in prompts {
                    let answer = if p.echo { prompter.visible(&p.prompt) } else { prompter.secret(&p.prompt) };
                    match answer {
                        Some(a) => answers.push(a),
                        None => return Ok(Round::NoAnswer),
                    }
                }
                reply = handle.authenticate_keyboard_interactive_respond(answers).await?;
            }
        }
    }
}
