//! Where a request to the proxy goes: which sinc session it belongs to (the
//! `/s/<session-id>` prefix the agents' base URLs carry, or the
//! `x-sinc-session` header), which provider (the endpoint, else the auth
//! style), which endpoint, and the upstream URL. Pure.

use serde::Serialize;

/// A provider's API style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Anthropic's Messages API (and compatible servers).
    Anthropic,
    /// OpenAI's API (and compatible servers).
    OpenAi,
}

impl Provider {
    /// Its name in recordings and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
        }
    }
}

/// The endpoints whose exchanges are understood (tokens, model, tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Endpoint {
    /// `POST /v1/messages`.
    #[serde(rename = "messages")]
    Messages,
    /// `POST /v1/chat/completions`.
    #[serde(rename = "chat.completions")]
    ChatCompletions,
    /// `POST /v1/responses`.
    #[serde(rename = "responses")]
    Responses,
    /// `GET /v1/models`.
    #[serde(rename = "models")]
    Models,
    /// Anything else: passed through verbatim.
    #[serde(rename = "other")]
    Other,
}

/// The header that may carry the session id instead of the path prefix.
pub const SESSION_HEADER: &str = "x-sinc-session";

/// A request, routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The sinc session (`None`: a client that said none).
    pub session: Option<String>,
    /// Where it goes.
    pub provider: Provider,
    /// What it is.
    pub endpoint: Endpoint,
    /// The path and query after the session prefix, as the client sent them.
    pub target: String,
}

/// Whether `id` can be a sinc session id (`sinc-<name>-<hash>`: letters,
/// digits, `-`, `_`, `.`; it names a file).
pub fn valid_session(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Route `method target` with `headers` (names lowercase or not).
pub fn route(method: &str, target: &str, headers: &[(String, String)]) -> Route {
    let header = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let (mut session, target) = match target.strip_prefix("/s/").and_then(|rest| rest.split_once('/')) {
        Some((id, rest)) if valid_session(id) => (Some(id.to_owned()), format!("/{rest}")),
        _ => (None, target.to_owned()),
    };
    if session.is_none() {
        session = header(SESSION_HEADER).filter(|id| valid_session(id)).map(str::to_owned);
    }
    let path = target.split_once('?').map_or(target.as_str(), |(p, _)| p);
    let endpoint = match (method, path.trim_end_matches('/')) {
        ("POST", "/v1/messages") => Endpoint::Messages,
        ("POST", "/v1/chat/completions") => Endpoint::ChatCompletions,
        ("POST", "/v1/responses") => Endpoint::Responses,
        ("GET", "/v1/models") => Endpoint::Models,
        _ => Endpoint::Other,
    };
    let provider = match endpoint {
        Endpoint::Messages => Provider::Anthropic,
        Endpoint::ChatCompletions | Endpoint::Responses => Provider::OpenAi,
        // Anthropic's clients send `x-api-key` (and `anthropic-version`);
        // OpenAI's send `Authorization: Bearer`.
        Endpoint::Models | Endpoint::Other => {
            if header("x-api-key").is_some() || header("anthropic-version").is_some() {
                Provider::Anthropic
            } else {
                Provider::OpenAi
            }
        }
    };
    Route { session, provider, endpoint, target }
}

/// The upstream URL for `target` (which starts with `/`): the base URL plus
/// the path — less its `/v1` for an OpenAI base, which ends in `/v1` by the
/// SDKs' convention (`https://api.openai.com/v1`), while Anthropic's is the
/// bare host.
pub fn upstream_url(provider: Provider, base: &str, target: &str) -> String {
    let base = base.trim_end_matches('/');
    let rest = match provider {
        Provider::OpenAi => {
            target.strip_prefix("/v1").filter(|r| r.is_empty() || r.starts_with(['/', '?'])).unwrap_or(target)
        }
        Provider::Anthropic => target,
    };
    format!("{base}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_session_comes_from_the_prefix_or_the_header() {
        let r = route("POST", "/s/sinc-app-1a2b3c/v1/messages?beta=true", &[]);
        assert_eq!(r.session.as_deref(), Some("sinc-app-1a2b3c"));
        assert_eq!((r.provider, r.endpoint), (Provider::Anthropic, Endpoint::Messages));
        assert_eq!(r.target, "/v1/messages?beta=true");
        let r = route("POST", "/v1/chat/completions", &h(&[("X-Sinc-Session", "sinc-x-000000")]));
        assert_eq!(r.session.as_deref(), Some("sinc-x-000000"));
        assert_eq!((r.provider, r.endpoint), (Provider::OpenAi, Endpoint::ChatCompletions));
        let r = route("POST", "/s/../etc/v1/messages", &[]);
        assert_eq!(r.session, None, "not a session id");
        assert_eq!(route("GET", "/v1/models", &[]).session, None);
    }

    #[test]
    fn other_paths_go_where_the_auth_style_says() {
        let anthropic = route("GET", "/v1/models", &h(&[("x-api-key", "k")]));
        assert_eq!((anthropic.provider, anthropic.endpoint), (Provider::Anthropic, Endpoint::Models));
        let openai = route("POST", "/v1/embeddings", &h(&[("authorization", "Bearer k")]));
        assert_eq!((openai.provider, openai.endpoint), (Provider::OpenAi, Endpoint::Other));
        let tokens = route("POST", "/v1/messages/count_tokens", &h(&[("anthropic-version", "2023-06-01")]));
        assert_eq!((tokens.provider, tokens.endpoint), (Provider::Anthropic, Endpoint::Other));
    }

    #[test]
    fn upstream_urls_follow_each_sdks_base_url_convention() {
        let openai = |base, target| upstream_url(Provider::OpenAi, base, target);
        assert_eq!(
            openai("https://api.openai.com/v1", "/v1/chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(openai("http://127.0.0.1:11434/v1/", "/v1/models?x=1"), "http://127.0.0.1:11434/v1/models?x=1");
        assert_eq!(openai("https://api.openai.com/v1", "/v1beta/x"), "https://api.openai.com/v1/v1beta/x");
        let anthropic = upstream_url(Provider::Anthropic, "https://api.anthropic.com", "/v1/messages?beta=true");
        assert_eq!(anthropic, "https://api.anthropic.com/v1/messages?beta=true");
    }
}
