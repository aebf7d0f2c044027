//! SSH keys for `sinc setup`: generating an ed25519 key pair in OpenSSH's
//! format, and the remote script that adds a public key to
//! `~/.ssh/authorized_keys` (what `ssh-copy-id` does), idempotently, and
//! installing a key with it.

use super::{ConnectError, ConnectOptions, Link, Prompter, Target, connect, quote};
use crate::atomic_file;
use russh::keys::PublicKey;
use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
use russh::keys::ssh_key::{LineEnding, PrivateKey};
use std::path::{Path, PathBuf};

/// Where `sinc setup` puts the key it generates (under `~/.ssh`).
pub const GENERATED_KEY: &str = "sinc_ed25519";

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file exists already (never overwritten).
    #[error("{0} exists already; not overwriting it")]
    Exists(String),
    /// The system's random source failed.
    #[error("no randomness for a new key: {0}")]
    Random(String),
    /// Encoding failed.
    #[error("cannot encode the key: {0}")]
    Encode(String),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// `FILE.pub`, where OpenSSH keeps the public half of the key `FILE`.
pub fn pub_path(file: &Path) -> PathBuf {
    let mut path = file.as_os_str().to_owned();
    path.push(".pub");
    path.into()
}

/// The public half of an identity file, from `FILE.pub` (no passphrase needed).
pub fn public_key_of(file: &Path) -> Option<PublicKey> {
    russh::keys::load_public_key(pub_path(file)).ok()
}

/// Generate an unencrypted ed25519 key pair at `path` (0600) and
/// `path.pub` (0644); returns the public key line. Refuses to overwrite.
pub fn generate_ed25519(path: &Path, comment: &str) -> Result<String, KeyError> {
    let pub_path = pub_path(path);
    for p in [path, pub_path.as_path()] {
        if p.exists() {
            return Err(KeyError::Exists(p.display().to_string()));
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    let pair = Ed25519Keypair::from_seed(&seed);
    seed.fill(0);
    let key = PrivateKey::new(KeypairData::Ed25519(pair), comment).map_err(|e| KeyError::Encode(e.to_string()))?;
    let private = key.to_openssh(LineEnding::LF).map_err(|e| KeyError::Encode(e.to_string()))?;
    let public = key.public_key().to_openssh().map_err(|e| KeyError::Encode(e.to_string()))?;
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| KeyError::Write { path: dir.display().to_string(), source })?;
    }
    atomic_file::write(path, private.as_bytes(), 0o600)
        .map_err(|source| KeyError::Write { path: path.display().to_string(), source })?;
    atomic_file::write(&pub_path, format!("{public}\n").as_bytes(), 0o644)
        .map_err(|source| KeyError::Write { path: pub_path.display().to_string(), source })?;
    Ok(public)
}

/// The remote script that adds `public_key` (an OpenSSH public key line) to
/// `~/.ssh/authorized_keys` unless a line with the same key is there; prints
/// `added` or `present`.
pub fn authorize_script(public_key: &str) -> String {
    let mut words = public_key.split_whitespace();
    let key_part = format!("{} {}", words.next().unwrap_or_default(), words.next().unwrap_or_default());
    quote::sh_script(&format!(
        "set -e
umask 077
mkdir -p \"$HOME/.ssh\"
F=\"$HOME/.ssh/authorized_keys\"
touch \"$F\"
if grep -qF {key_part} \"$F\"; then echo present; exit 0; fi
if [ -s \"$F\" ] && [ \"$(tail -c 1 \"$F\" | od -An -c | tr -d ' ')\" != '\\n' ]; then echo >> \"$F\"; fi
printf '%s\\n' {line} >> \"$F\"
chmod 700 \"$HOME/.ssh\"
chmod 600 \"$F\"
echo added
",
        key_part = quote::word(&key_part),
        line = quote::word(public_key.trim()),
    ))
}

/// What installing a key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorized {
    /// The VPS had the key already.
    Present,
    /// It was added now.
    Added,
}

/// Why a key could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallKeyError {
    /// Logging in to install it failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The remote script failed.
    #[error("could not add the key to ~/.ssh/authorized_keys on {host}: {message}")]
    Remote {
        /// `user@host:port`.
        host: String,
        /// Its error output.
        message: String,
    },
    /// The key is there but the server does not let it in.
    #[error(
        "the key is in ~/.ssh/authorized_keys on {host}, but logging in with it alone failed ({source}); check the server's AuthorizedKeysFile and the permissions of ~/.ssh"
    )]
    NotAccepted {
        /// `user@host:port`.
        host: String,
        /// The login failure.
        source: ConnectError,
    },
}

/// Install `public_key` on `target` the way `ssh-copy-id` does: log in as
/// the user would (asking, through `prompter`, for a host key confirmation
/// and a password), add the key unless present, then prove that a fresh
/// connection with the key `key_file` alone and nobody to ask gets in.
pub async fn install_public_key(
    target: &Target,
    public_key: &str,
    key_file: &Path,
    prompter: Prompter,
) -> Result<Authorized, InstallKeyError> {
    let host = target.describe();
    let login = Link::new(target.clone(), ConnectOptions { prompter, quiet: false, tcp_attempt: None }, None);
    let out = login.run(&authorize_script(public_key), b"").await;
    login.close().await;
    let out = out?;
    let authorized = match out.stdout_text().trim() {
        "added" => Authorized::Added,
        "present" => Authorized::Present,
        _ => return Err(InstallKeyError::Remote { host, message: out.stderr_text() }),
    };
    let mut key_only = target.clone();
    key_only.identity_files = vec![key_file.to_path_buf()];
    key_only.identities_only = true;
    key_only.agent_socket = None;
    match connect(&key_only, ConnectOptions::unattended(None)).await {
        Ok(conn) => {
            conn.disconnect().await;
            Ok(authorized)
        }
        Err(source) => Err(InstallKeyError::NotAccepted { host, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generates_a_key_openssh_reads_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".ssh").join(GENERATED_KEY);
        let public = generate_ed25519(&path, "me@laptop").unwrap();
        assert!(public.starts_with("ssh-ed25519 AAAA") && public.ends_with("me@laptop"), "{public}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let loaded = russh::keys::load_secret_key(&path, None).unwrap();
        assert_eq!(loaded.public_key().to_openssh().unwrap(), public);
        assert!(matches!(generate_ed25519(&path, "again"), Err(KeyError::Exists(_))));
        // ssh-keygen agrees, where it is installed.
        if let Ok(out) = std::process::Command::new("ssh-keygen").arg("-y").arg("-f").arg(&path).output()
            && out.status.success()
        {
            assert!(public.starts_with(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }

    #[test]
    fn authorizing_twice_adds_one_line() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
        std::fs::write(home.path().join(".ssh/authorized_keys"), "ssh-ed25519 AAAAother old-key").unwrap();
        let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIexample me@laptop";
        let run = || {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(authorize_script(line))
                .env("HOME", home.path())
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        assert_eq!(run(), "added");
        assert_eq!(run(), "present");
        let text = std::fs::read_to_string(home.path().join(".ssh/authorized_keys")).unwrap();
        assert_eq!(text, format!("ssh-ed25519 AAAAother old-key\n{line}\n"));
    }
}
