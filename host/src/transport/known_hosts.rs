//! OpenSSH `known_hosts` files: lookup and recording of host keys.
//!
//! russh ships a helper, but it splits on single spaces and does not know
//! wildcard or negated patterns, `@revoked` or `@cert-authority` markers, so a
//! hand-written one that follows sshd(8)'s "SSH_KNOWN_HOSTS FILE FORMAT" lives
//! here. Plain, wildcard and hashed (`|1|salt|hmac`) host patterns are
//! understood; `[host]:port` is used for ports other than 22.

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{HashAlg, PublicKey};
use sha1::Sha1;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The outcome of looking a host key up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A matching entry trusts this key.
    Trusted,
    /// The key is listed as `@revoked`.
    Revoked {
        /// Where.
        at: Location,
    },
    /// The host is known with a different key of the same type: possible
    /// man-in-the-middle attack.
    Changed {
        /// The entry that holds the old key.
        at: Location,
        /// The old key's SHA256 fingerprint.
        recorded: String,
    },
    /// The host is not known with a key of this type.
    Unknown {
        /// Key types the host *is* known with (then the server may have been
        /// reconfigured, or it is an impostor).
        other_types: Vec<String>,
    },
}

/// A line in a known_hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// The host name as known_hosts records it.
pub fn host_key_name(host: &str, port: u16) -> String {
    if port == 22 { host.to_ascii_lowercase() } else { format!("[{}]:{port}", host.to_ascii_lowercase()) }
}

/// Look `key` up for `host:port` in `files` (missing files are skipped).
pub fn lookup(files: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> Verdict {
    let name = host_key_name(host, port);
    let mut changed = None;
    let mut other_types = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (idx, line) in text.lines().enumerate() {
            let Some((marker, patterns, recorded)) = parse_line(line) else {
                continue;
            };
            if marker == Marker::CertAuthority || !host_matches(&name, patterns) {
                continue;
            }
            let at = Location { file: file.clone(), line: idx + 1 };
            let same_key = recorded.key_data() == key.key_data();
            match marker {
                Marker::Revoked if same_key => return Verdict::Revoked { at },
                Marker::Revoked | Marker::CertAuthority => {}
                Marker::None if same_key => return Verdict::Trusted,
                Marker::None if recorded.algorithm() == key.algorithm() => {
                    changed.get_or_insert((at, fingerprint(&recorded)));
                }
                Marker::None => other_types.push(recorded.algorithm().to_string()),
            }
        }
    }
    match changed {
        Some((at, recorded)) => Verdict::Changed { at, recorded },
        None => {
            other_types.dedup();
            Verdict::Unknown { other_types }
        }
    }
}

/// The key types recorded for a host, to prefer them in key exchange.
pub fn known_types(files: &[PathBuf], host: &str, port: u16) -> Vec<russh::keys::Algorithm> {
    let name = host_key_name(host, port);
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            if let Some((Marker::None, patterns, key)) = parse_line(line)
                && host_matches(&name, patterns)
                && !out.contains(&key.algorithm())
            {
                out.push(key.algorithm());
            }
        }
    }
    out
}

/// Append an entry for `host:port` to `file`, creating it (and `~/.ssh`) if
/// needed.
pub fn record(file: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = file.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let encoded = key.to_openssh().map_err(std::io::Error::other)?;
    let needs_newline = std::fs::read(file).map(|b| b.last().is_some_and(|c| *c != b'\n')).unwrap_or(false);
    let mut f = std::fs::OpenOptions::new().append(true).create(true).mode(0o600).open(file)?;
    if needs_newline {
        f.write_all(b"\n")?;
    }
    writeln!(f, "{} {}", host_key_name(host, port), encoded.trim())?;
    f.sync_all()
}

/// The SHA256 fingerprint OpenSSH prints (`SHA256:…`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn parse_line(line: &str) -> Option<(Marker, &str, PublicKey)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        m if m.starts_with('@') => return None,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    let _key_type = fields.next()?;
    let blob = fields.next()?;
    let key = russh::keys::parse_public_key_base64(blob).ok()?;
    Some((marker, first, key))
}

/// OpenSSH's rule: a negated pattern that matches excludes the host, else any
/// positive match includes it.
fn host_matches(name: &str, patterns: &str) -> bool {
    if let Some(hashed) = patterns.strip_prefix("|1|") {
        return hashed_matches(name, hashed);
    }
    let mut matched = false;
    for pattern in patterns.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if wildmatch::WildMatch::new(&pattern.to_ascii_lowercase()).matches(name) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

fn hashed_matches(name: &str, hashed: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (BASE64.decode(salt.as_bytes()), BASE64.decode(hash.as_bytes())) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED1: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIIs6y3ZNdoT6a3zMujy0qtsZVvKx7HJ8t+lkzych2E2F";
    const ED2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIDH2IYvbR7WX+V27/XMoglKMjwyrS3qwpUUR0FEWld8p";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).unwrap()
    }

    fn file(text: &str) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("known_hosts");
        std::fs::write(&p, text).unwrap();
        (dir, vec![p])
    }

    fn hashed(name: &str) -> String {
        let salt = [7u8; 20];
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt).unwrap();
        mac.update(name.as_bytes());
        format!("|1|{}|{}", BASE64.encode(&salt), BASE64.encode(&mac.finalize().into_bytes()))
    }

    #[test]
    fn plain_port_and_tabs() {
        let (_d, files) = file(&format!("# c\n[box]:2222\tssh-ed25519   {ED1} me@x\n"));
        assert_eq!(lookup(&files, "BOX", 2222, &key(ED1)), Verdict::Trusted);
        assert!(matches!(lookup(&files, "box", 22, &key(ED1)), Verdict::Unknown { .. }));
    }

    #[test]
    fn changed_key_is_reported_with_its_line() {
        let (_d, files) = file(&format!("other ssh-ed25519 {ED2}\nbox ssh-ed25519 {ED1}\n"));
        match lookup(&files, "box", 22, &key(ED2)) {
            Verdict::Changed { at, .. } => assert_eq!(at.line, 2),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn hashed_entries() {
        let (_d, files) = file(&format!("{} ssh-ed25519 {ED1}\n", hashed("[10.0.0.1]:2200")));
        assert_eq!(lookup(&files, "10.0.0.1", 2200, &key(ED1)), Verdict::Trusted);
        assert!(matches!(lookup(&files, "10.0.0.1", 2200, &key(ED2)), Verdict::Changed { .. }));
        assert!(matches!(lookup(&files, "10.0.0.2", 2200, &key(ED1)), Verdict::Unknown { .. }));
    }

    #[test]
    fn wildcards_and_negation() {
        let (_d, files) = file(&format!("*.example.com,!bad.example.com ssh-ed25519 {ED1}\n"));
        assert_eq!(lookup(&files, "a.example.com", 22, &key(ED1)), Verdict::Trusted);
        assert!(matches!(lookup(&files, "bad.example.com", 22, &key(ED1)), Verdict::Unknown { .. }));
    }

    #[test]
    fn revoked_and_cert_authority() {
        let (_d, files) = file(&format!(
            "@cert-authority * ssh-ed25519 {ED2}\n@revoked box ssh-ed25519 {ED1}\nbox ssh-ed25519 {ED1}\n"
        ));
        assert!(matches!(lookup(&files, "box", 22, &key(ED1)), Verdict::Revoked { .. }));
        assert!(matches!(lookup(&files, "box", 22, &key(ED2)), Verdict::Changed { .. }));
    }

    #[test]
    fn record_then_trust() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ssh/known_hosts");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "x ssh-ed25519 AAAA-broken").unwrap();
        record(&p, "127.0.0.1", 2222, &key(ED1)).unwrap();
        let files = vec![p.clone()];
        assert_eq!(lookup(&files, "127.0.0.1", 2222, &key(ED1)), Verdict::Trusted);
        assert!(std::fs::read_to_string(&p).unwrap().contains("\n[127.0.0.1]:2222 ssh-ed25519 "));
        assert_eq!(known_types(&files, "127.0.0.1", 2222).len(), 1);
    }
}
