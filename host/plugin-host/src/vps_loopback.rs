//! HTTP calls from a laptop plugin to a service on the VPS's loopback (such
//! as `opencode serve` on 127.0.0.1:4096), carried over the session's SSH
//! connection: the laptop's host hands the call to the session's keeper,
//! the keeper to the VPS daemon, and the daemon makes it ([`perform`]).
//! Only loopback addresses are ever called this way, so the VPS is never a
//! proxy to anywhere else; a plugin names the service with a URL setting
//! marked `on = "vps"` in its manifest.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The most a reply's body may hold.
pub const MAX_BODY: usize = 4 << 20;

/// The longest a call may take.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// One call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCall {
    /// `GET`, `POST`, …
    pub method: String,
    /// `http://127.0.0.1:PORT/path?query`.
    pub url: String,
    /// Request headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Request body.
    pub body: Vec<u8>,
    /// How long it may take, in milliseconds (at most [`MAX_WAIT`]).
    pub wait_ms: u32,
}

/// Its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Response headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Response body (at most [`MAX_BODY`]).
    pub body: Vec<u8>,
}

/// Who carries a laptop plugin's call to the VPS of a session.
pub trait VpsLoopback: Send + Sync + std::fmt::Debug {
    /// Make `call` on the VPS that runs session `session`.
    fn call(&self, session: &str, call: HttpCall) -> Result<HttpReply, String>;
}

/// Whether `host` (as a URL names it) is a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Make `call` here (the VPS daemon's part): plain HTTP to a loopback
/// address only, no proxy, no redirects followed, the body cut off past
/// [`MAX_BODY`] with an error.
pub async fn perform(call: HttpCall) -> Result<HttpReply, String> {
    let url = reqwest::Url::parse(&call.url).map_err(|e| format!("`{}` is not a URL: {e}", call.url))?;
    if url.scheme() != "http" || !url.host_str().is_some_and(is_loopback) {
        return Err(format!("only http:// on the VPS's loopback is called for laptop plugins, not `{}`", call.url));
    }
    let method = reqwest::Method::from_bytes(call.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", call.method))?;
    let wait = Duration::from_millis(u64::from(call.wait_ms)).clamp(Duration::from_millis(1), MAX_WAIT);
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(wait)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let mut request = client.request(method, url).body(call.body);
    for (name, value) in call.headers {
        request = request.header(name, value);
    }
    let mut response = request.send().await.map_err(|e| format!("{}: {}", call.url, error_chain(&e)))?;
    let status = response.status().as_u16();
    let headers =
        response.headers().iter().map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec())).collect();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{}: {}", call.url, error_chain(&e)))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("{}: the answer is larger than {} MiB", call.url, MAX_BODY >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpReply { status, headers, body })
}

/// An error and its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1") && is_loopback("127.3.4.5") && is_loopback("[::1]"));
        assert!(is_loopback("LocalHost"));
        assert!(!is_loopback("10.0.0.1") && !is_loopback("example.com") && !is_loopback("localhost.evil"));
    }

    fn call(url: &str) -> HttpCall {
        HttpCall { method: "GET".into(), url: url.into(), headers: Vec::new(), body: Vec::new(), wait_ms: 2000 }
    }

    #[tokio::test]
    async fn only_loopback_is_called() {
        for url in ["http://example.com/", "https://127.0.0.1/", "file:///etc/passwd", "not a url"] {
            let e = perform(call(url)).await.unwrap_err();
            assert!(e.contains("loopback") || e.contains("not a URL"), "{url}: {e}");
        }
    }

    #[tokio::test]
    async fn a_call_and_its_answer() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            stream.write_all(b"HTTP/1.1 201 Created\r\nx-a: b\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
            String::from_utf8(seen).unwrap()
        });
        let mut asked = call(&format!("http://127.0.0.1:{port}/session?x=1"));
        asked.headers.push(("authorization".into(), b"Basic eDp5".to_vec()));
        let reply = perform(asked).await.unwrap();
        assert_eq!(reply.status, 201);
        assert_eq!(reply.body, b"ok");
        assert!(reply.headers.contains(&("x-a".into(), b"b".to_vec())));
        let seen = server.await.unwrap();
        assert!(seen.starts_with("GET /session?x=1 HTTP/1.1\r\n"), "{seen}");
        assert!(seen.to_ascii_lowercase().contains("authorization: basic eDp5".to_ascii_lowercase().as_str()));
        // Nothing listens: a clear failure, not a hang.
        let e = perform(call("http://127.0.0.1:9/")).await.unwrap_err();
        assert!(e.starts_with("http://127.0.0.1:9/"), "{e}");
    }
}
