//! Errors the proxy itself answers with, in the shape the client's SDK
//! reads (so it reports them, and retries where it would): Anthropic's
//! `{"type":"error","error":{…}}`, OpenAI's `{"error":{…}}`. Pure.

use crate::route::Provider;
use serde_json::json;

/// The body of an error with `status` and `message` for `provider`'s clients.
pub fn body(provider: Provider, status: u16, message: &str) -> String {
    let value = match provider {
        Provider::Anthropic => {
            let kind = match status {
                400 => "invalid_request_error",
                504 => "timeout_error",
                _ => "api_error",
            };
            json!({ "type": "error", "error": { "type": kind, "message": message } })
        }
        Provider::OpenAi => {
            let (kind, code) = match status {
                400 => ("invalid_request_error", "invalid_request"),
                504 => ("server_error", "upstream_timeout"),
                _ => ("server_error", "upstream_unreachable"),
            };
            json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
        }
    };
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_gets_its_own_shape() {
        let a: serde_json::Value = serde_json::from_str(&body(Provider::Anthropic, 504, "slow")).unwrap();
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "timeout_error");
        let o: serde_json::Value = serde_json::from_str(&body(Provider::OpenAi, 502, "down")).unwrap();
        assert_eq!(o["error"]["message"], "down");
        assert_eq!(o["error"]["code"], "upstream_unreachable");
    }
}
