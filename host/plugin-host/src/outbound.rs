//! Outbound HTTP (`wasi:http/outgoing-handler`) for plugins: only to the
//! hosts their manifest names (`hosts`), each request checked by the host
//! before anything leaves; a refusal tells the plugin which permission is
//! missing, and is logged.

use http_body_util::BodyExt;
use std::future::Future;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The hosts one plugin may call: `host` (any port) or `host:port`.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    plugin: String,
    allowed: Vec<String>,
}

impl Outbound {
    /// For `plugin`, allowed `hosts`.
    pub fn new(plugin: &str, hosts: &[String]) -> Outbound {
        Outbound { plugin: plugin.to_owned(), allowed: hosts.iter().map(|h| h.to_ascii_lowercase()).collect() }
    }

    /// Whether a request to `host` on `port` may go out.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        self.allowed.iter().any(|a| match a.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
                h.trim_start_matches('[').trim_end_matches(']') == host && p.parse() == Ok(port)
            }
            _ => a.trim_start_matches('[').trim_end_matches(']') == host,
        })
    }
}

type Sent = Box<dyn Future<Output = Result<(), Error>> + Send>;
type Answer = Box<dyn Future<Output = Result<(http::Response<WasiBody>, Sent), Error>> + Send>;

impl WasiHttpHooks for Outbound {
    fn send_request(&mut self, request: http::Request<WasiBody>, options: Option<RequestOptions>, fut: Sent) -> Answer {
        _ = fut;
        let uri = request.uri();
        let host = uri.host().unwrap_or("").to_owned();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !self.allows(&host, port) {
            let why = format!(
                "denied: calling {host}:{port} needs `hosts = [\"{host}\"]` in the plugin's manifest, accepted by the user"
            );
            tracing::warn!(plugin = %self.plugin, "{why}");
            return Box::new(async move { Err(Error::InternalError(Some(why))) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Sent))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_with_or_without_a_port() {
        let o = Outbound::new("p", &["api.OpenAI.com".into(), "127.0.0.1:8081".into(), "[::1]:9000".into()]);
        assert!(o.allows("api.openai.com", 443) && o.allows("API.openai.com", 80));
        assert!(o.allows("127.0.0.1", 8081) && !o.allows("127.0.0.1", 8082));
        assert!(o.allows("[::1]", 9000) && !o.allows("::1", 9001));
        assert!(!o.allows("openai.com", 443) && !o.allows("api.openai.com.evil", 443));
        assert!(!Outbound::default().allows("localhost", 80));
    }
}
