//! A static file server on 127.0.0.1 (`python3 -m http.server`), for what
//! sinc fetches over HTTP: registries, release binaries.

use crate::{free_port, wait_until};
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
