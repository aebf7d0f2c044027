//! HTTP calls from a laptop plugin to a service on the VPS's loopback (such
//! as `opencode serve` on 127.0.0.1:4096), carried over the session's SSH
//! connection: the laptop's host hands the call to the session's keeper,
//! the keeper to the VPS daemon, and the daemon makes it ([`perform`]).
//! Only loopback addresses are ever called this way, so the VPS is never a
//! proxy to anywhere else; a plugin names the service with a URL setting
//! marked `on = "vps"` in its manifest.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The most a call's or a reply's body may hold (a call and its reply
/// each travel in one frame of the daemon's wire protocol, at most 4 MiB).
pub const MAX_BODY: usize = 2 << 20;

/// The most a call's or a reply's URL and headers may hold.
pub const MAX_HEAD: usize = 64 << 10;

/// The longest a call may take.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// One call.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Response headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Response body (at most [`MAX_BODY`]).
    pub body: Vec<u8>,
}

impl HttpCall {
    /// How long it may take (at most [`MAX_WAIT`]).
    pub fn wait(&self) -> Duration {
        Duration::from_millis(u64::from(self.wait_ms)).clamp(Duration::from_millis(1), MAX_WAIT)
    }
}

// Headers carry passwords and bodies carry anything: logs show only names
// and sizes.
impl std::fmt::Debug for HttpCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCall")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("body_bytes", &self.body.len())
            .field("wait_ms", &self.wait_ms)
            .finish()
    }
}

impl std::fmt::Debug for HttpReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpReply")
            .field("status", &self.status)
            .field("headers", &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// Whether header `name` is passed on: not `host` (the URL says where),
/// not the ones about one connection or its framing (each side makes its
/// own).
pub fn passed_on(name: &str) -> bool {
    let ours = ["host", "content-length", "expect"];
    !crate::serving::HOP_BY_HOP.iter().chain(&ours).any(|d| d.eq_ignore_ascii_case(name))
}

/// How many bytes `url` and `headers` take.
pub fn head_size(url: &str, headers: &[(String, Vec<u8>)]) -> usize {
    url.len() + headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>()
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
    let mut url = reqwest::Url::parse(&call.url).map_err(|e| format!("`{}` is not a URL: {e}", call.url))?;
    if url.scheme() != "http" || !url.host_str().is_some_and(is_loopback) {
        return Err(format!("only http:// on the VPS's loopback is called for laptop plugins, not `{}`", call.url));
    }
    // The name is not looked up: it could be made to say anything.
    if url.host_str().is_some_and(|h| h.eq_ignore_ascii_case("localhost")) {
        url.set_host(Some("127.0.0.1")).map_err(|e| format!("`{}`: {e}", call.url))?;
    }
    if call.body.len() > MAX_BODY || head_size(&call.url, &call.headers) > MAX_HEAD {
        return Err(format!("{}: the call is too large to carry", call.url));
    }
    let method = reqwest::Method::from_bytes(call.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", call.method))?;
    let wait = call.wait();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(wait)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let mut request = client.request(method, url).body(call.body);
    for (name, value) in call.headers.into_iter().filter(|(name, _)| passed_on(name)) {
        request = request.header(name, value);
    }
    let mut response =
        request.send().await.map_err(|e| format!("{}: {}", call.url, crate::serving::error_chain(&e)))?;
    let status = response.status().as_u16();
    let headers: Vec<(String, Vec<u8>)> = response
        .headers()
        .iter()
        .filter(|(name, _)| passed_on(name.as_str()))
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    if head_size("", &headers) > MAX_HEAD {
        return Err(format!("{}: the answer's headers are larger than {} KiB", call.url, MAX_HEAD >> 10));
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| format!("{}: {}", call.url, crate::serving::error_chain(&e)))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("{}: the answer is larger than {} MiB", call.url, MAX_BODY >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpReply { status, headers, body })
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
        let mut big = call("http://127.0.0.1:9/");
        big.body = vec![0; MAX_BODY + 1];
        assert!(perform(big).await.unwrap_err().contains("too large"));
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
        let mut asked = call(&format!("http://localhost:{port}/session?x=1"));
        asked.headers.push(("authorization".into(), b"Basic eDp5".to_vec()));
        asked.headers.push(("host".into(), b"evil.example".to_vec()));
        assert!(!format!("{asked:?}").contains("eDp5"), "{asked:?}");
        let reply = perform(asked).await.unwrap();
        assert_eq!(reply.status, 201);
        assert_eq!(reply.body, b"ok");
        assert!(reply.headers.contains(&("x-a".into(), b"b".to_vec())));
        let seen = server.await.unwrap();
        assert!(seen.starts_with("GET /session?x=1 HTTP/1.1\r\n"), "{seen}");
        assert!(seen.to_ascii_lowercase().contains("authorization: basic eDp5".to_ascii_lowercase().as_str()));
        assert!(seen.contains(&format!("host: 127.0.0.1:{port}\r\n")) && !seen.contains("evil"), "{seen}");
        // Nothing listens: a clear failure, not a hang.
        let e = perform(call("http://127.0.0.1:9/")).await.unwrap_err();
        assert!(e.starts_with("http://127.0.0.1:9/"), "{e}");
    }
}
