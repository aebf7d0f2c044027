//! Discord's rate limits, as its answers state them: a 429's `retry_after`
//! (seconds, fractional; the `Retry-After` header when the body has none),
//! and a bucket with `X-RateLimit-Remaining: 0` until
//! `X-RateLimit-Reset-After`. Requests wait for their route's bucket
//! instead of being refused again.

use std::collections::HashMap;

/// When each route may be called again (ms since the epoch).
#[derive(Debug, Default, Clone)]
pub struct Limits {
    until: HashMap<String, u64>,
}

/// The bucket a request falls in: the resource it is about (a channel, a
/// server, a webhook), as Discord groups them.
pub fn route_key(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').split('/');
    let top = parts.next().unwrap_or_default();
    let id = parts.next().unwrap_or_default();
    format!("{top}/{id}")
}

impl Limits {
    /// Milliseconds until `path` may be called at `now` (0: now).
    pub fn wait(&self, path: &str, now: u64) -> u64 {
        let until = [route_key(path), "global".to_owned()].iter().filter_map(|k| self.until.get(k)).max().copied();
        until.map_or(0, |u| u.saturating_sub(now))
    }

    /// Note what answer (`status`, `header` lookup, `body`) to a request
    /// for `path` at `now` says about waiting; the milliseconds to wait
    /// before trying it again, when it was refused (429).
    pub fn note(
        &mut self,
        path: &str,
        now: u64,
        status: u16,
        header: impl Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Option<u64> {
        let seconds =
            |v: Option<String>| v.and_then(|v| v.trim().parse::<f64>().ok()).filter(|s| s.is_finite() && *s >= 0.0);
        let to_ms = |s: f64| {
            // At most an hour; Discord's waits are seconds to minutes.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let ms = (s.min(3600.0) * 1000.0).ceil() as u64;
            ms
        };
        if status == 429 {
            let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let retry = json["retry_after"].as_f64().or_else(|| seconds(header("retry-after"))).unwrap_or(1.0);
            let global = json["global"] == true || header("x-ratelimit-global").is_some_and(|v| v == "true");
            let key = if global { "global".to_owned() } else { route_key(path) };
            let wait = to_ms(retry);
            self.until.insert(key, now + wait);
            return Some(wait);
        }
        if header("x-ratelimit-remaining").is_some_and(|r| r.trim() == "0")
            && let Some(after) = seconds(header("x-ratelimit-reset-after"))
        {
            self.until.insert(route_key(path), now + to_ms(after));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let list: Vec<(String, String)> = list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        move |name| list.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_429_holds_its_route_for_retry_after() {
        let mut l = Limits::default();
        let body = br#"{"message":"You are being rate limited.","retry_after":0.75,"global":false}"#;
        assert_eq!(l.note("/channels/1/messages", 1000, 429, headers(&[("retry-after", "1")]), body), Some(750));
        assert_eq!(l.wait("/channels/1/messages", 1000), 750);
        assert_eq!(l.wait("/channels/1/messages", 1750), 0);
        assert_eq!(l.wait("/channels/2/messages", 1000), 0, "another channel is another bucket");
        // No body: the header.
        assert_eq!(l.note("/channels/3/messages", 0, 429, headers(&[("retry-after", "2")]), b""), Some(2000));
    }

    #[test]
    fn a_global_limit_holds_every_route_and_an_empty_bucket_waits_for_its_reset() {
        let mut l = Limits::default();
        l.note("/channels/1/messages", 0, 429, headers(&[]), br#"{"retry_after":1.5,"global":true}"#);
        assert_eq!(l.wait("/guilds/9", 0), 1500);
        let mut l = Limits::default();
        let last = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset-after", "0.250")]);
        assert_eq!(l.note("/channels/1/messages", 100, 200, last, b"{}"), None);
        assert_eq!(l.wait("/channels/1/messages/5", 100), 250);
        let plenty = headers(&[("x-ratelimit-remaining", "4"), ("x-ratelimit-reset-after", "9")]);
        l.note("/channels/2/messages", 100, 200, plenty, b"{}");
        assert_eq!(l.wait("/channels/2/messages", 100), 0);
    }
}
