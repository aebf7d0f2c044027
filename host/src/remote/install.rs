//! Installing this very `sinc` on the VPS: the remote side of sync and the
//! plugin host run our own binary there. On connect, if the VPS lacks this
//! exact build, the running executable is uploaded over the SSH connection to
//! `${XDG_DATA_HOME:-~/.local/share}/sincronizado/bin/`, checked by sha256,
//! test-run, and renamed into place atomically; `bin/sinc` points at it.

use crate::atomic_file;
use crate::progress::{CountingReader, OnBytes};
use crate::transport::{ConnectError, Link, quote};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The remote folder holding installed binaries, as a shell expression.
pub const REMOTE_BIN_DIR: &str = "\"${XDG_DATA_HOME:-$HOME/.local/share}/sincronizado/bin\"";

/// The running executable and its identity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LocalBinary {
    /// Path of the executable.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (ns) and inode, to know when the cached hash is stale.
    pub mtime_ns: i128,
    /// Inode number.
    pub ino: u64,
    /// Hex sha256 of the file.
    pub sha256: String,
}

impl LocalBinary {
    /// The running executable, its hash cached under `cache_dir`.
    pub fn current(cache_dir: &Path) -> std::io::Result<LocalBinary> {
        let path = std::env::current_exe()?;
        let meta = std::fs::metadata(&path)?;
        let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        let cache = cache_dir.join("self-sha256.json");
        if let Ok(bytes) = std::fs::read(&cache)
            && let Ok(cached) = serde_json::from_slice::<LocalBinary>(&bytes)
            && cached.path == path
            && cached.size == meta.len()
            && cached.mtime_ns == mtime_ns
            && cached.ino == meta.ino()
        {
            return Ok(cached);
        }
        let sha256 = sha256_of(&path)?;
        let binary = LocalBinary { path, size: meta.len(), mtime_ns, ino: meta.ino(), sha256 };
        if let Ok(json) = serde_json::to_vec(&binary) {
            let _ = atomic_file::write(&cache, &json, 0o600);
        }
        Ok(binary)
    }

    /// Any executable (`sinc vps bootstrap --sinc-binary`), hashed now.
    pub fn of(path: &Path) -> std::io::Result<LocalBinary> {
        let meta = std::fs::metadata(path)?;
        let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        Ok(LocalBinary {
            path: path.to_path_buf(),
            size: meta.len(),
            mtime_ns,
            ino: meta.ino(),
            sha256: sha256_of(path)?,
        })
    }

    /// The file name this build gets on the VPS: version and hash, so a
    /// different build is never mistaken for this one.
    pub fn remote_name(&self) -> String {
        format!("sinc-{}-{}", env!("CARGO_PKG_VERSION"), &self.sha256[..12])
    }
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// What `ensure` found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// This exact build was already there.
    Present {
        /// Its remote path.
        path: String,
    },
    /// A build of the same version for the VPS's platform was installed by hand.
    SameVersion {
        /// Its remote path.
        path: String,
    },
    /// It was uploaded now.
    Uploaded {
        /// Its remote path.
        path: String,
        /// Bytes sent.
        bytes: u64,
    },
}

impl Installed {
    /// The remote path of the binary.
    pub fn path(&self) -> &str {
        match self {
            Installed::Present { path } | Installed::SameVersion { path } | Installed::Uploaded { path, .. } => path,
        }
    }
}

/// Why the remote binary could not be made available.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// OS or architecture differ and no matching build is installed.
    #[error(
        "the VPS runs {remote_os} {remote_arch} but this sinc is built for {local_os} {local_arch}; install sinc {version} for the VPS at {dir}/sinc (see the README, \"Remote binary\")"
    )]
    Platform {
        /// `uname -s` on the VPS.
        remote_os: String,
        /// `uname -m` on the VPS.
        remote_arch: String,
        /// Ours.
        local_os: &'static str,
        /// Ours.
        local_arch: &'static str,
        /// Our version.
        version: &'static str,
        /// The remote folder.
        dir: String,
    },
    /// The upload arrived damaged.
    #[error("the uploaded binary's checksum did not match ({0}); nothing was installed")]
    Checksum(String),
    /// The uploaded binary does not start on the VPS.
    #[error(
        "the uploaded binary does not run on the VPS ({0}); build a static one: cargo build --release --target x86_64-unknown-linux-musl"
    )]
    DoesNotRun(String),
    /// A remote step failed.
    #[error("installing the remote binary failed: {0}")]
    Remote(String),
    /// The local executable could not be read.
    #[error("cannot read the local sinc executable: {0}")]
    Local(#[from] std::io::Error),
    /// The connection failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

#[derive(Debug, Default)]
struct Probe {
    os: String,
    arch: String,
    dir: String,
    present: bool,
    installed_version: String,
}

fn probe_body(name: &str) -> String {
    format!(
        "D={REMOTE_BIN_DIR}
printf 'os=%s\\narch=%s\\ndir=%s\\n' \"$(uname -s)\" \"$(uname -m)\" \"$D\"
if [ -x \"$D\"/{name} ]; then echo present=yes; else echo present=no; fi
printf 'version=%s\\n' \"$({installed})\"
",
        name = quote::word(name),
        installed = installed_version_command(),
    )
}

/// Shell that prints what the installed `sinc --version` says (nothing when
/// none is installed).
pub fn installed_version_command() -> String {
    format!("B={REMOTE_BIN_DIR}/sinc; [ -x \"$B\" ] && \"$B\" --version 2>/dev/null | head -n 1")
}

/// The start of a script that installs a build: the bin folder `$D`, a
/// staging file `$T` (removed on any exit), and `sha256 FILE`.
fn staging(label: &str) -> String {
    format!(
        "set -e
umask 022
D={REMOTE_BIN_DIR}
mkdir -p \"$D\"
T=\"$D/.{label}.$$\"
trap 'rm -f \"$T\"' EXIT
sha256() {{ (sha256sum \"$1\" || shasum -a 256 \"$1\" || openssl dgst -sha256 -r \"$1\") 2>/dev/null | cut -d' ' -f1; }}
"
    )
}

/// The end of it: `$T`, checked, test-run (exit 4 if it does not run),
/// renamed to `$D/$N` (`name` is evaluated after the test run, with its
/// output in `$OUT`), `bin/sinc` pointed at it, builds older than a day
/// removed; prints the path.
fn put_in_place(name: &str) -> String {
    format!(
        "chmod 755 \"$T\"
if ! OUT=$(\"$T\" --version 2>&1); then echo \"$OUT\" | head -n 3 >&2; exit 4; fi
N={name}
mv -f \"$T\" \"$D/$N\"
ln -sfn \"$N\" \"$D/.sinc.link.$$\"
mv -f \"$D/.sinc.link.$$\" \"$D/sinc\"
find \"$D\" -maxdepth 1 -name 'sinc-*' ! -name \"$N\" -mtime +0 -exec rm -f {{}} + 2>/dev/null || true
trap - EXIT
printf '%s\\n' \"$D/$N\"
"
    )
}

fn upload_body(name: &str, sha256: &str) -> String {
    format!(
        "{stage}cat > \"$T\"
S=$(sha256 \"$T\")
if [ \"$S\" != {sha256} ]; then echo \"got ${{S:-no checksum tool}}\" >&2; exit 3; fi
{place}",
        stage = staging(&format!("{name}.upload")),
        place = put_in_place(&quote::word(name)),
    )
}

fn normalize_arch(arch: &str) -> &str {
    match arch {
        "amd64" | "x86_64" => "x86_64",
        "arm64" | "aarch64" => "aarch64",
        other => other,
    }
}

/// Whether a VPS whose `uname -s` and `uname -m` say `os` and `arch` runs
/// this very build.
pub fn same_platform(os: &str, arch: &str) -> bool {
    os.eq_ignore_ascii_case(std::env::consts::OS) && normalize_arch(arch) == normalize_arch(std::env::consts::ARCH)
}

/// Make sure the VPS has this build (or the same version for its platform);
/// `on_upload` is told how many bytes of an upload have been sent so far.
pub async fn ensure(link: &Link, local: &LocalBinary, on_upload: OnBytes) -> Result<Installed, InstallError> {
    let name = local.remote_name();
    let out = link.run(&quote::sh_script(&probe_body(&name)), b"").await?;
    if !out.status.success() {
        return Err(InstallError::Remote(out.stderr_text()));
    }
    let mut probe = Probe::default();
    for line in out.stdout_text().lines() {
        match line.split_once('=') {
            Some(("os", v)) => probe.os = v.to_owned(),
            Some(("arch", v)) => probe.arch = v.to_owned(),
            Some(("dir", v)) => probe.dir = v.to_owned(),
            Some(("present", v)) => probe.present = v == "yes",
            Some(("version", v)) => probe.installed_version = v.to_owned(),
            _ => {}
        }
    }
    if probe.present {
        return Ok(Installed::Present { path: format!("{}/{name}", probe.dir) });
    }
    if !same_platform(&probe.os, &probe.arch) {
        if probe.installed_version == version_line() {
            return Ok(Installed::SameVersion { path: format!("{}/sinc", probe.dir) });
        }
        return Err(InstallError::Platform {
            remote_os: probe.os,
            remote_arch: probe.arch,
            local_os: std::env::consts::OS,
            local_arch: std::env::consts::ARCH,
            version: env!("CARGO_PKG_VERSION"),
            dir: probe.dir,
        });
    }
    upload(link, local, on_upload).await
}

/// Upload `local` to the VPS's bin folder (whatever its platform): checked
/// by sha256, test-run with `--version`, renamed into place, `bin/sinc`
/// pointed at it.
pub async fn upload(link: &Link, local: &LocalBinary, on_upload: OnBytes) -> Result<Installed, InstallError> {
    let name = local.remote_name();
    tracing::info!("uploading {} ({} bytes) to the VPS", local.path.display(), local.size);
    let file = CountingReader::new(tokio::fs::File::open(&local.path).await?, on_upload);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let status = link
        .run_streaming(&quote::sh_script(&upload_body(&name, &local.sha256)), Some(file), &mut stdout, &mut stderr)
        .await?;
    match status.exit_code() {
        0 => Ok(Installed::Uploaded { path: String::from_utf8_lossy(&stdout).trim().to_owned(), bytes: local.size }),
        code => Err(install_failure(code, String::from_utf8_lossy(&stderr).trim().to_owned(), None)),
    }
}

fn download_body(url: &str) -> String {
    format!(
        "{stage}fetch() {{
  if command -v curl >/dev/null 2>&1; then curl -fsSL \"$1\"
  elif command -v wget >/dev/null 2>&1; then wget -qO- \"$1\"
  else echo 'neither curl nor wget is installed on the VPS' >&2; exit 5; fi
}}
fetch {url} > \"$T\"
WANT=$(fetch {sum_url} | cut -d' ' -f1)
GOT=$(sha256 \"$T\")
if [ -z \"$WANT\" ] || [ \"$WANT\" != \"$GOT\" ]; then echo \"expected ${{WANT:-nothing}}, got $GOT\" >&2; exit 3; fi
{place}",
        stage = staging("sinc.download"),
        url = quote::word(url),
        sum_url = quote::word(&format!("{url}.sha256")),
        place = put_in_place("\"sinc-$(echo \"$OUT\" | head -n 1 | cut -d' ' -f2)-$(echo \"$GOT\" | cut -c1-12)\""),
    )
}

/// What an install script's failing exit status means (`what`: the
/// download's URL, for its messages).
fn install_failure(code: i32, stderr: String, what: Option<&str>) -> InstallError {
    let about = what.map(|w| format!("{w}: ")).unwrap_or_default();
    match code {
        3 => InstallError::Checksum(format!("{about}{stderr}")),
        4 => InstallError::DoesNotRun(stderr),
        code => InstallError::Remote(format!("{about}exit {code}: {stderr}")),
    }
}

/// Have the VPS download sinc from `url` itself, check it against
/// `url.sha256`, test-run it and put it in place (for a VPS of another
/// platform).
pub async fn download(link: &Link, url: &str) -> Result<Installed, InstallError> {
    let out = link.run(&quote::sh_script(&download_body(url)), b"").await?;
    match out.status.exit_code() {
        0 => Ok(Installed::Uploaded { path: out.stdout_text().trim().to_owned(), bytes: 0 }),
        code => Err(install_failure(code, out.stderr_text(), Some(url))),
    }
}

/// What `sinc --version` prints, compared with a hand-installed remote binary.
pub fn version_line() -> String {
    format!("sinc {}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_script_installs_atomically_and_checks_the_sum() {
        let dir = tempfile::tempdir().unwrap();
        let payload = b"#!/bin/sh\necho sinc 9\n".to_vec();
        let sum = hex::encode(Sha256::digest(&payload));
        let run = |script: String, input: &[u8]| {
            use std::io::Write;
            let mut child = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&script)
                .env("XDG_DATA_HOME", dir.path())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(input).unwrap();
            child.wait_with_output().unwrap()
        };
        let bad = run(upload_body("sinc-9-abc", &sum), b"corrupt");
        assert_eq!(bad.status.code(), Some(3));
        let bin = dir.path().join("sincronizado/bin");
        assert_eq!(std::fs::read_dir(&bin).unwrap().count(), 0, "no partial file left");
        let ok = run(upload_body("sinc-9-abc", &sum), &payload);
        assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
        assert_eq!(std::fs::read(bin.join("sinc-9-abc")).unwrap(), payload);
        assert_eq!(std::fs::read_link(bin.join("sinc")).unwrap(), PathBuf::from("sinc-9-abc"));
        let probe = run(probe_body("sinc-9-abc"), b"");
        let text = String::from_utf8_lossy(&probe.stdout);
        assert!(text.contains("present=yes"), "{text}");
        assert!(text.contains("version=sinc 9"), "{text}");
    }
}
