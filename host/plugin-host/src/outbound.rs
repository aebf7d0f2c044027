//! Outbound HTTP (`wasi:http/outgoing-handler`) for plugins: only to the
//! hosts their manifest names (`hosts`, URL settings), each request checked
//! by the host before anything leaves; a refusal tells the plugin which
//! permission is missing, and is logged. A laptop plugin's calls to a
//! service on the VPS's loopback go through the session's connection
//! ([`crate::vps_loopback`]).

use crate::manifest::{Manifest, RunsOn, Side, UrlSetting};
use crate::vps_loopback::{HttpCall, MAX_BODY, MAX_HEAD, MAX_WAIT, VpsLoopback, head_size, passed_on};
use http_body_util::BodyExt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The hosts one plugin may call: `host` (any port) or `host:port`; and,
/// for a plugin on the laptop, the services on the VPS's loopback it may
/// call through the session's connection.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    plugin: String,
    allowed: Vec<String>,
    on_vps: Vec<String>,
    carrier: Option<Arc<dyn VpsLoopback>>,
    /// The session the current call is about (the VPS calls go to its).
    session: Option<String>,
    /// Time spent waiting for the VPS since last asked (the plugin gets it
    /// back on its deadline, as for its other waits on the host).
    waited: Arc<Mutex<Duration>>,
}

impl Outbound {
    /// For `plugin`, allowed `hosts`.
    pub fn new(plugin: &str, hosts: &[String]) -> Outbound {
        Outbound { plugin: plugin.to_owned(), allowed: lowercase(hosts), ..Outbound::default() }
    }

    /// What `manifest` declares, with the hosts its URL settings name in
    /// `settings`: on the VPS, every host is called from here; on the
    /// laptop, a setting marked `on = "vps"` is called through `carrier`.
    pub fn of(manifest: &Manifest, settings: &toml::Table, carrier: Option<Arc<dyn VpsLoopback>>) -> Outbound {
        let p = &manifest.permissions;
        let through_vps = |u: &&UrlSetting| manifest.runs_on == RunsOn::Local && u.on == Side::Vps;
        let here: Vec<String> = p
            .hosts
            .iter()
            .cloned()
            .chain(p.url_settings.iter().filter(|u| !through_vps(u)).filter_map(|u| u.host(settings)))
            .collect();
        let on_vps: Vec<String> = p.url_settings.iter().filter(through_vps).filter_map(|u| u.host(settings)).collect();
        Outbound { on_vps: lowercase(&on_vps), carrier, ..Outbound::new(&manifest.name, &here) }
    }

    /// The session the calls that follow are about (none between calls).
    pub fn set_session(&mut self, session: Option<&str>) {
        self.session = session.map(str::to_owned);
    }

    /// The time spent waiting for the VPS since the last time this was
    /// asked.
    pub fn take_waited(&self) -> Duration {
        std::mem::take(&mut *self.waited.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether a request to `host` on `port` may go out from here.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        matches(&self.allowed, host, port)
    }

    /// Whether a connection of the plugin's own (a WebSocket) may go to
    /// `host` on `port` from here: allowed, and not a service its
    /// manifest places on the VPS.
    pub fn allows_here(&self, host: &str, port: u16) -> bool {
        !matches(&self.on_vps, host, port) && self.allows(host, port)
    }

    /// The refusal of a call to `host:port` from here, or how it goes to
    /// the VPS.
    fn route(&self, host: &str, port: u16, https: bool) -> Result<Route, String> {
        // A service named as the VPS's is never looked for here, whatever
        // else is allowed.
        if !matches(&self.on_vps, host, port) {
            return if self.allows(host, port) {
                Ok(Route::Here)
            } else {
                Err(format!(
                    "denied: calling {host}:{port} needs `hosts = [\"{host}\"]` in the plugin's manifest, accepted by the user"
                ))
            };
        }
        let Some(carrier) = self.carrier.clone() else {
            return Err(format!("calling {host}:{port} on the VPS: this host cannot reach the VPS"));
        };
        let Some(session) = self.session.clone() else {
            return Err(format!(
                "calling {host}:{port} on the VPS: only during a session's hooks (it is the session's connection that carries the call)"
            ));
        };
        if https {
            return Err(format!("calling {host}:{port} on the VPS: only plain http:// is carried"));
        }
        Ok(Route::Vps { carrier, session, waited: self.waited.clone() })
    }
}

/// Where an allowed call goes.
enum Route {
    Here,
    Vps { carrier: Arc<dyn VpsLoopback>, session: String, waited: Arc<Mutex<Duration>> },
}

fn lowercase(hosts: &[String]) -> Vec<String> {
    hosts.iter().map(|h| h.to_ascii_lowercase()).collect()
}

/// Whether `allowed` names `host` on `port`.
fn matches(allowed: &[String], host: &str, port: u16) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let names = |pattern: &str| {
        let pattern = pattern.trim_start_matches('[').trim_end_matches(']');
        match pattern.strip_prefix("*.") {
            // `*.example.com`: any name under example.com, not itself.
            Some(domain) => host.strip_suffix(domain).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => pattern == host,
        }
    };
    allowed.iter().any(|a| match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => names(h) && p.parse() == Ok(port),
        _ => names(a),
    })
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
        match self.route(&host, port, https) {
            Err(why) => {
                tracing::warn!(plugin = %self.plugin, "{why}");
                Box::new(async move { Err(Error::InternalError(Some(why))) })
            }
            Ok(Route::Here) => {
                let waited = self.waited.clone();
                Box::new(async move {
                    let started = std::time::Instant::now();
                    let sent = wasmtime_wasi_http::default_send_request(request, options).await;
                    add_waited(&waited, started.elapsed());
                    let (response, io) = sent?;
                    Ok((response.map(|body| Waited::new(body, waited).boxed_unsync()), Box::new(io) as Sent))
                })
            }
            Ok(Route::Vps { carrier, session, waited }) => {
                tracing::debug!(plugin = %self.plugin, %session, "calling {host}:{port} on the VPS");
                Box::new(async move {
                    let started = std::time::Instant::now();
                    let answer = through_vps(carrier, session, request, options).await;
                    add_waited(&waited, started.elapsed());
                    answer
                })
            }
        }
    }
}

/// Count `time` as spent waiting for the host.
fn add_waited(waited: &Mutex<Duration>, time: Duration) {
    *waited.lock().unwrap_or_else(PoisonError::into_inner) += time;
}

/// A response body that counts the time its reader spends waiting for the
/// network as waiting for the host: a plugin reading a slow download is not
/// running, and gets that time back on its deadline.
struct Waited<B> {
    body: B,
    waited: Arc<Mutex<Duration>>,
    since: Option<std::time::Instant>,
}

impl<B> Waited<B> {
    fn new(body: B, waited: Arc<Mutex<Duration>>) -> Waited<B> {
        Waited { body, waited, since: None }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for Waited<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        match (&polled, self.since) {
            (std::task::Poll::Pending, None) => self.since = Some(std::time::Instant::now()),
            (std::task::Poll::Ready(_), Some(since)) => {
                add_waited(&self.waited, since.elapsed());
                self.since = None;
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Carry `request` to the VPS of `session` and its answer back.
async fn through_vps(
    carrier: Arc<dyn VpsLoopback>,
    session: String,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, Sent), Error> {
    let (parts, body) = request.into_parts();
    let wait = options.and_then(|o| o.first_byte_timeout).unwrap_or(MAX_WAIT).min(MAX_WAIT);
    let fail = |why: String| Error::InternalError(Some(why));
    let body = match tokio::time::timeout(wait, http_body_util::Limited::new(body, MAX_BODY).collect()).await {
        Err(_) => return Err(fail(format!("the request's body was not finished within {}s", wait.as_secs()))),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(Error::HttpRequestBodySize(Some(MAX_BODY as u64)));
        }
        Ok(Err(e)) => return Err(fail(format!("the request's body: {e}"))),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .filter(|(name, _)| passed_on(name.as_str()))
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    let url = parts.uri.to_string();
    if head_size(&url, &headers) > MAX_HEAD {
        return Err(fail(format!("the request's URL and headers are larger than {} KiB", MAX_HEAD >> 10)));
    }
    let call = HttpCall {
        method: parts.method.as_str().to_owned(),
        url,
        headers,
        body: body.to_vec(),
        wait_ms: u32::try_from(wait.as_millis()).unwrap_or(u32::MAX),
    };
    let reply = tokio::task::spawn_blocking(move || carrier.call(&session, call))
        .await
        .map_err(|e| Error::InternalError(Some(e.to_string())))?
        .map_err(|why| Error::InternalError(Some(why)))?;
    let mut response = http::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name.as_str(), value.as_slice());
    }
    let body = http_body_util::Full::new(bytes::Bytes::from(reply.body)).map_err(|never| match never {}).boxed_unsync();
    let response = response.body(body).map_err(|e| Error::InternalError(Some(format!("the VPS's answer: {e}"))))?;
    Ok((response, Box::new(async { Ok(()) }) as Sent))
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

    #[test]
    fn a_star_allows_the_names_under_a_domain() {
        let o = Outbound::new("p", &["*.discord.gg".into(), "*.example.com:8443".into()]);
        assert!(o.allows("gateway-us-east1-b.discord.gg", 443) && o.allows("a.b.Discord.gg", 80));
        assert!(!o.allows("discord.gg", 443) && !o.allows("evildiscord.gg", 443) && !o.allows(".discord.gg", 443));
        assert!(o.allows("x.example.com", 8443) && !o.allows("x.example.com", 443));
    }

    #[derive(Debug)]
    struct Carrier;

    impl VpsLoopback for Carrier {
        fn call(&self, _: &str, _: HttpCall) -> Result<crate::vps_loopback::HttpReply, String> {
            Err("not in this test".into())
        }
    }

    fn manifest(runs_on: &str) -> Manifest {
        Manifest::parse(&format!(
            "name = \"p\"\nversion = \"0.1.0\"\ndescription = \"d\"\nruns-on = \"{runs_on}\"\n[permissions]\nhosts = [\"api.example.com\"]\n\
             url-settings = [{{ key = \"server\", default = \"http://127.0.0.1:4096\", on = \"vps\" }}]\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_laptop_plugin_reaches_the_vps_loopback_only_through_a_session() {
        let carrier: Arc<dyn VpsLoopback> = Arc::new(Carrier);
        let mut o = Outbound::of(&manifest("local"), &toml::Table::new(), Some(carrier.clone()));
        assert!(matches!(o.route("api.example.com", 443, true), Ok(Route::Here)));
        // Not from here: the laptop's 127.0.0.1:4096 is not the VPS's.
        assert!(!o.allows("127.0.0.1", 4096));
        let outside = o.route("127.0.0.1", 4096, false).err().unwrap();
        assert!(outside.contains("only during a session's hooks"), "{outside}");
        o.set_session(Some("sinc-x-abcdef"));
        assert!(
            matches!(o.route("127.0.0.1", 4096, false), Ok(Route::Vps { session, .. }) if session == "sinc-x-abcdef")
        );
        assert!(o.route("127.0.0.1", 4097, false).err().unwrap().starts_with("denied"));
        assert!(o.route("127.0.0.1", 4096, true).err().unwrap().contains("plain http"));
        // Allowing the laptop's loopback too does not send the VPS's calls there.
        let mut both = Outbound { allowed: vec!["127.0.0.1".into()], ..o.clone() };
        both.set_session(Some("sinc-x-abcdef"));
        assert!(matches!(both.route("127.0.0.1", 4096, false), Ok(Route::Vps { .. })));
        assert!(matches!(both.route("127.0.0.1", 4097, false), Ok(Route::Here)));
        let no_carrier = Outbound::of(&manifest("local"), &toml::Table::new(), None);
        assert!(no_carrier.route("127.0.0.1", 4096, false).is_err());
        // The user's setting moves it; one that leaves the loopback is not allowed at all.
        let mut moved = toml::Table::new();
        moved.insert("server".into(), "http://127.0.0.1:5000/".into());
        let mut o = Outbound::of(&manifest("local"), &moved, Some(carrier.clone()));
        o.set_session(Some("sinc-x-abcdef"));
        assert!(o.route("127.0.0.1", 5000, false).is_ok() && o.route("127.0.0.1", 4096, false).is_err());
        moved.insert("server".into(), "http://10.1.2.3:5000/".into());
        let mut o = Outbound::of(&manifest("local"), &moved, Some(carrier));
        o.set_session(Some("sinc-x-abcdef"));
        assert!(o.route("10.1.2.3", 5000, false).is_err());
    }

    #[test]
    fn on_the_vps_the_service_is_called_from_here() {
        let o = Outbound::of(&manifest("remote"), &toml::Table::new(), None);
        assert!(o.allows("127.0.0.1", 4096) && matches!(o.route("127.0.0.1", 4096, false), Ok(Route::Here)));
    }
}
