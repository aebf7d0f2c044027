//! What a request asks for, and whether it may: the page's files are
//! served to anyone (they hold no session content); everything else needs
//! a paired device's cookie; pairing, changes and WebSockets also need the
//! page's own origin (a browser sends `Origin` with them, so another site
//! cannot drive the sessions through a user's browser).

use crate::auth;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A file of the page.
    Asset(String),
    /// Whether this device is paired, and read-only mode.
    Me,
    /// The sessions and the known projects.
    Sessions,
    /// Start a session (JSON body `{folder, agent?}`).
    Start,
    /// Stop a session.
    Stop(String),
    /// Pair this device (JSON body `{code, name}`).
    Pair,
    /// A WebSocket for watching and typing into a session.
    Watch(String),
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 404.
    NotFound,
    /// 405.
    Method,
    /// 401: no paired device's cookie.
    Unpaired,
    /// 403: another origin.
    Origin,
    /// 403: read-only mode.
    ReadOnly,
    /// 421: a `Host` this page does not answer for (DNS rebinding).
    Host,
}

impl Refusal {
    /// The status and the message.
    pub fn answer(&self) -> (u16, &'static str) {
        match self {
            Refusal::NotFound => (404, "no such page"),
            Refusal::Method => (405, "method not allowed"),
            Refusal::Unpaired => (401, "this device is not paired: run `sinc mobile pair` and enter its code"),
            Refusal::Origin => (403, "refused: the request did not come from this page"),
            Refusal::ReadOnly => (403, "read-only: [plugins.mobile] read_only = true"),
            Refusal::Host => (421, "this page answers on the loopback and at [plugins.mobile] url only"),
        }
    }
}

/// The request, as far as routing cares.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// Path and query.
    pub target: &'a str,
    /// `Origin`.
    pub origin: Option<&'a str>,
    /// `Host`.
    pub host: Option<&'a str>,
    /// Whether its cookie names a paired device.
    pub paired: bool,
    /// Whether it is a WebSocket upgrade.
    pub websocket: bool,
}

/// Whether `host` (a `Host` header) names this page: a loopback address,
/// or the authority of its configured address `page`.
pub fn our_host(host: Option<&str>, page: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback || page.is_some_and(|p| p.eq_ignore_ascii_case(host))
}

/// Where `asked` goes, or why not; `page` is the authority of the page's
/// configured address, if any.
pub fn route(asked: &Asked, read_only: bool, page: Option<&str>) -> Result<Route, Refusal> {
    if !our_host(asked.host, page) {
        return Err(Refusal::Host);
    }
    let path = asked.target.split(['?', '#']).next().unwrap_or("/");
    let route = match (asked.method, path) {
        ("GET", p) if crate::assets::find(p).is_some() => return Ok(Route::Asset(p.to_owned())),
        ("GET", "/api/me") => Route::Me,
        ("GET", "/api/sessions") => Route::Sessions,
        ("POST", "/api/sessions") => Route::Start,
        ("POST", "/api/pair") => Route::Pair,
        ("POST", p) if p.starts_with("/api/sessions/") => {
            let id = p.strip_prefix("/api/sessions/").and_then(|rest| rest.strip_suffix("/stop"));
            Route::Stop(session_id(id.ok_or(Refusal::NotFound)?)?)
        }
        ("GET", p) if p.starts_with("/api/watch/") && asked.websocket => {
            Route::Watch(session_id(p.strip_prefix("/api/watch/").unwrap_or_default())?)
        }
        (_, p) if p == "/api/sessions" || p == "/api/pair" || p == "/api/me" => return Err(Refusal::Method),
        _ => return Err(Refusal::NotFound),
    };
    let changes = asked.method != "GET" || asked.websocket;
    if changes && !auth::same_origin(asked.origin, asked.host) {
        return Err(Refusal::Origin);
    }
    if route == Route::Pair {
        return Ok(route);
    }
    if !asked.paired {
        return Err(Refusal::Unpaired);
    }
    if read_only && matches!(route, Route::Start | Route::Stop(_)) {
        return Err(Refusal::ReadOnly);
    }
    Ok(route)
}

/// A session id from a path segment.
fn session_id(segment: &str) -> Result<String, Refusal> {
    let ok = segment.starts_with("sinc-")
        && segment.len() <= 200
        && segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| segment.to_owned()).ok_or(Refusal::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked<'a>(method: &'a str, target: &'a str) -> Asked<'a> {
        Asked {
            method,
            target,
            origin: Some("http://127.0.0.1:3000"),
            host: Some("127.0.0.1:3000"),
            paired: true,
            websocket: false,
        }
    }

    #[test]
    fn files_for_anyone_the_rest_for_paired_devices() {
        let stranger = |a: Asked<'static>| Asked { paired: false, origin: None, ..a };
        assert_eq!(route(&stranger(asked("GET", "/?x")), false, None), Ok(Route::Asset("/".into())));
        assert_eq!(
            route(&stranger(asked("GET", "/vendor/xterm.mjs")), false, None),
            Ok(Route::Asset("/vendor/xterm.mjs".into()))
        );
        assert_eq!(route(&stranger(asked("GET", "/api/sessions")), false, None), Err(Refusal::Unpaired));
        assert_eq!(route(&asked("GET", "/api/sessions"), false, None), Ok(Route::Sessions));
        assert_eq!(route(&asked("GET", "/nope"), false, None), Err(Refusal::NotFound));
        assert_eq!(route(&asked("DELETE", "/api/sessions"), false, None), Err(Refusal::Method));
    }

    #[test]
    fn changes_and_websockets_need_the_pages_origin() {
        let evil = |a: Asked<'static>| Asked { origin: Some("http://evil.example"), ..a };
        assert_eq!(route(&evil(asked("POST", "/api/sessions")), false, None), Err(Refusal::Origin));
        assert_eq!(route(&evil(asked("POST", "/api/pair")), false, None), Err(Refusal::Origin));
        let ws = Asked { websocket: true, ..asked("GET", "/api/watch/sinc-app-abc123") };
        assert_eq!(route(&ws, false, None), Ok(Route::Watch("sinc-app-abc123".into())));
        assert_eq!(route(&evil(ws), false, None), Err(Refusal::Origin));
        assert_eq!(route(&Asked { origin: None, ..ws }, false, None), Err(Refusal::Origin));
        // Pairing needs no cookie; everything else does.
        let unpaired = |a: Asked<'static>| Asked { paired: false, ..a };
        assert_eq!(route(&unpaired(asked("POST", "/api/pair")), false, None), Ok(Route::Pair));
        assert_eq!(route(&unpaired(ws), false, None), Err(Refusal::Unpaired));
    }

    #[test]
    fn only_the_loopback_and_the_configured_address_are_answered() {
        let at = |host: &'static str| Asked { host: Some(host), origin: None, paired: false, ..asked("GET", "/") };
        for host in ["127.0.0.1:3000", "localhost:3000", "[::1]:3000", "127.0.0.1"] {
            assert_eq!(route(&at(host), false, None), Ok(Route::Asset("/".into())), "{host}");
        }
        // A page at evil.example resolving to 127.0.0.1 (DNS rebinding).
        assert_eq!(route(&at("evil.example:3000"), false, None), Err(Refusal::Host));
        assert_eq!(route(&at("100.64.0.1:3000"), false, Some("100.64.0.1:3000")), Ok(Route::Asset("/".into())));
        assert_eq!(route(&Asked { host: None, ..at("x") }, false, None), Err(Refusal::Host));
    }

    #[test]
    fn stopping_names_a_session_and_read_only_refuses_changes() {
        assert_eq!(
            route(&asked("POST", "/api/sessions/sinc-a-1/stop"), false, None),
            Ok(Route::Stop("sinc-a-1".into()))
        );
        assert_eq!(route(&asked("POST", "/api/sessions/..%2f/stop"), false, None), Err(Refusal::NotFound));
        // Paths that only look like it.
        for p in ["/api/sessions/stop", "/api/sessions//stop", "/api/sessions/sinc-a-1", "/api/sessions/sinc-a-1/stopx"]
        {
            assert_eq!(route(&asked("POST", p), false, None), Err(Refusal::NotFound), "{p}");
        }
        assert_eq!(route(&asked("POST", "/api/sessions/sinc-a-1/stop"), true, None), Err(Refusal::ReadOnly));
        assert_eq!(route(&asked("POST", "/api/sessions"), true, None), Err(Refusal::ReadOnly));
        assert_eq!(route(&asked("GET", "/api/sessions"), true, None), Ok(Route::Sessions));
    }
}
