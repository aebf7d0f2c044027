//! Calling HTTP(S) services from a plugin (`wasi:http`), blocking, for the
//! hosts its manifest declares (`hosts`, or a URL setting). A URL setting
//! marked `on = "vps"` names a service on the VPS's loopback: a plugin on
//! the laptop calls the same `http://127.0.0.1:PORT` URL and the host
//! carries the call over the session's SSH connection (during a session's
//! hooks only).
//!
//! ```no_run
//! use std::time::Duration;
//! let reply = sinc_plugin_sdk::fetch::get("http://127.0.0.1:4096/session", &[], Duration::from_secs(2))?;
//! if reply.status == 200 {
//!     println!("{}", reply.text());
//! }
//! # Ok::<(), String>(())
//! ```

use std::time::Duration;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};

/// The most of a reply's body read.
pub const MAX_BODY: usize = 16 << 20;

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Status code.
    pub status: u16,
    /// Headers (names lowercase), in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Fetched {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }
}

/// `GET url` with `headers`, waiting at most `timeout` for the connection,
/// again for the answer to start, and again for each part of its body
/// (through the VPS: `timeout` for the whole call).
pub fn get(url: &str, headers: &[(&str, &str)], timeout: Duration) -> Result<Fetched, String> {
    send("GET", url, headers, &[], timeout)
}

/// `method url` with `headers` and `body`.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Fetched, String> {
    let target = Target::parse(url)?;
    let fail = |what: &str| format!("{method} {url}: {what}");
    let entries: Vec<(String, Vec<u8>)> =
        headers.iter().map(|(n, v)| ((*n).to_ascii_lowercase(), v.as_bytes().to_vec())).collect();
    let fields = Fields::from_list(&entries).map_err(|e| fail(&format!("header refused ({e:?})")))?;
    let request = OutgoingRequest::new(fields);
    request.set_method(&method_of(method)).map_err(|()| fail("method refused"))?;
    request.set_scheme(Some(&target.scheme)).map_err(|()| fail("scheme refused"))?;
    request.set_authority(Some(&target.authority)).map_err(|()| fail("host refused"))?;
    request.set_path_with_query(Some(&target.path)).map_err(|()| fail("path refused"))?;
    let options = RequestOptions::new();
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    // A host may not support a timeout; the call then waits its own way.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));
    let outgoing = request.body().map_err(|()| fail("no body"))?;
    let pending = outgoing_handler::handle(request, Some(options)).map_err(|e| fail(&format!("{e:?}")))?;
    {
        let stream = outgoing.write().map_err(|()| fail("body not writable"))?;
        for chunk in body.chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(|e| fail(&format!("sending the body: {e:?}")))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| fail(&format!("{e:?}")))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or_else(|| fail("no answer"))?
        .map_err(|()| fail("answer taken twice"))?
        .map_err(|e| fail(&format!("{e:?}")))?;
    let status = response.status();
    let headers = response.headers().entries();
    let incoming = response.consume().map_err(|()| fail("no body"))?;
    let mut bytes = Vec::new();
    {
        let stream = incoming.stream().map_err(|()| fail("body not readable"))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) if bytes.len() + chunk.len() > MAX_BODY => {
                    return Err(fail(&format!("the answer is larger than {} MiB", MAX_BODY >> 20)));
                }
                Ok(chunk) => bytes.extend(chunk),
                Err(wasip2::io::streams::StreamError::Closed) => break,
                Err(e) => return Err(fail(&format!("reading the answer: {e:?}"))),
            }
        }
    }
    Ok(Fetched { status, headers, body: bytes })
}

fn method_of(method: &str) -> Method {
    match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_owned()),
    }
}

/// Where a URL points.
#[derive(Debug)]
struct Target {
    scheme: Scheme,
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(format!("`{url}` is not an http:// or https:// URL"));
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let cut = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(cut);
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("`{url}`: name the host (and port), without a user or password"));
        }
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(Target { scheme, authority: authority.to_owned(), path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_host_and_path() {
        let t = Target::parse("http://127.0.0.1:4096/session/a%20b/todo?directory=/x#frag").unwrap();
        assert!(matches!(t.scheme, Scheme::Http));
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("127.0.0.1:4096", "/session/a%20b/todo?directory=/x"));
        let t = Target::parse("https://discord.com").unwrap();
        assert!(matches!(t.scheme, Scheme::Https));
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("discord.com", "/"));
        assert_eq!(Target::parse("http://h:1?q=1").unwrap().path, "/?q=1");
        for bad in ["ftp://x", "127.0.0.1:4096", "http:///x", "http://user:pw@h/"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replies_read_as_text_and_headers() {
        let r = Fetched {
            status: 204,
            headers: vec![("content-type".into(), b"text/plain".to_vec())],
            body: b"hi".to_vec(),
        };
        assert!(r.ok() && r.text() == "hi" && r.header("Content-Type") == Some(&b"text/plain"[..]));
        assert!(!Fetched { status: 404, ..r }.ok());
    }
}
