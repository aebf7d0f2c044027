//! A static file server on 127.0.0.1 (`python3 -m http.server`), for what
//! sinc fetches over HTTP: registries, release binaries; and `curl`, for
//! what sinc serves.

use crate::{free_port, wait_until};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Serves a folder until dropped.
#[derive(Debug)]
pub struct HttpServer {
    child: Child,
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HttpServer {
    /// Serve `root`.
    pub fn serve(root: &Path) -> HttpServer {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 (scripts/prerequisites installs it)");
        wait_until(Duration::from_secs(10), "the test HTTP server", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(drop)
        });
        HttpServer { child, url: format!("http://127.0.0.1:{port}") }
    }
}

/// Run `curl` with `args` (and `body` on its standard input, sent with
/// `--data-binary`): the status and the body. Gives up after 20 s.
pub fn curl(args: &[&str], body: Option<&str>) -> (u16, String) {
    let mut child = Command::new("curl")
        .args(["-s", "-N", "-m", "20", "-w", "\n%{http_code}"])
        .args(args)
        .args(if body.is_some() { &["--data-binary", "@-"][..] } else { &[] })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(body.unwrap_or_default().as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap_or(0), body.to_owned())
}
