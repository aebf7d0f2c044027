//! A streamed OpenAI chat completion reports its usage only when the request
//! asks (`stream_options.include_usage`). The proxy asks on the client's
//! behalf, then hides what asking changes — the extra last chunk with the
//! usage, and the `"usage":null` every other chunk then carries — so the
//! client receives exactly the stream it would have without the proxy. Pure.

use serde::Deserialize;
use serde_json::Value;

/// The fields of a request body the proxy looks at.
#[derive(Debug, Default, Deserialize)]
pub struct Peek {
    /// The model asked for.
    #[serde(default)]
    pub model: Option<String>,
    /// Whether the response streams.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Chat completions' stream options.
    #[serde(default)]
    pub stream_options: Option<Value>,
}

/// `body` with `stream_options.include_usage` turned on, when `peek` (its
/// fields) is a streamed chat completion that does not ask for usage.
pub fn ask_for_usage(body: &[u8], peek: &Peek) -> Option<Vec<u8>> {
    if peek.stream != Some(true) {
        return None;
    }
    match &peek.stream_options {
        Some(options) if options.get("include_usage").and_then(Value::as_bool) == Some(true) => None,
        // Rare: options of its own; rewrite the object.
        Some(_) => {
            let mut v: Value = serde_json::from_slice(body).ok()?;
            let options = v.get_mut("stream_options")?;
            if !options.is_object() {
                *options = Value::Object(serde_json::Map::new());
            }
            options["include_usage"] = Value::Bool(true);
            serde_json::to_vec(&v).ok()
        }
        // Usual: add the field before the closing brace; every other byte
        // stays the client's.
        None => {
            let end = body.iter().rposition(|b| !b.is_ascii_whitespace())?;
            (body[end] == b'}').then(|| {
                let mut out = body[..end].to_vec();
                out.extend_from_slice(br#","stream_options":{"include_usage":true}"#);
                out.extend_from_slice(&body[end..]);
                out
            })
        }
    }
}

/// Removes the usage the client did not ask for from a chat stream, event
/// by event (bytes of an unfinished event are held back).
#[derive(Debug, Default)]
pub struct UsageStripper {
    held: Vec<u8>,
}

/// Where the event starting `bytes` ends (after its blank line), if it does.
fn event_end(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find_map(|i| {
        if bytes[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else if bytes[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else {
            None
        }
    })
}

/// The event as the client would have received it, or nothing when the
/// proxy's asking added it.
fn strip(event: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(event) else { return event.to_vec() };
    if !text.contains("\"usage\"") {
        return event.to_vec();
    }
    // Every chunk but the last says `"usage":null`: removed, and the chunk
    // is parsed only if another `"usage"` remains (this runs on the way to
    // the client's first token).
    let text = without_usage_null(text).map_or(std::borrow::Cow::Borrowed(text), std::borrow::Cow::Owned);
    if text.contains("\"usage\"") {
        let data: String = text.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
        if let Ok(v) = serde_json::from_str::<Value>(&data)
            && v.get("usage").is_some_and(Value::is_object)
            && v.get("choices").and_then(Value::as_array).is_some_and(Vec::is_empty)
        {
            return Vec::new();
        }
    }
    text.into_owned().into_bytes()
}

/// JSON's whitespace.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// `text` without its `,"usage":null` members (whitespace allowed around
/// the comma and the colon); `None` when it has none.
fn without_usage_null(text: &str) -> Option<String> {
    const KEY: &str = "\"usage\"";
    let (mut out, mut copied, mut from) = (String::new(), 0, 0);
    while let Some(found) = text[from..].find(KEY) {
        let at = from + found;
        from = at + KEY.len();
        let comma = text[..at].trim_end_matches(is_space);
        let rest = text[from..].trim_start_matches(is_space).strip_prefix(':').map(|r| r.trim_start_matches(is_space));
        if let Some(rest) = rest.and_then(|r| r.strip_prefix("null"))
            && comma.ends_with(',')
            && comma.len() > copied
        {
            out.push_str(&text[copied..comma.len() - 1]);
            copied = text.len() - rest.len();
            from = copied;
        }
    }
    (copied > 0).then(|| out + &text[copied..])
}

impl UsageStripper {
    /// The next piece of the upstream stream; what the client gets now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = event_end(&self.held) {
            let event: Vec<u8> = self.held.drain(..end).collect();
            out.extend(strip(&event));
        }
        out
    }

    /// The stream ended: what is still held back.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.held);
        strip(&rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peek(body: &str) -> Peek {
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn usage_null_members_are_removed_and_nothing_else() {
        let cut = |t: &str| without_usage_null(t);
        assert_eq!(cut(r#"{"a":1,"usage":null}"#).as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(
            cut("{\"a\":1 ,\n \"usage\" :\tnull, \"b\":2,\"usage\":null}").as_deref(),
            Some(r#"{"a":1 , "b":2}"#)
        );
        let asked = "data: {\"choices\":[],\"x\":{\"a\":1,\"usage\":null},\"usage\":{\"prompt_tokens\":1}}\n\n";
        assert!(strip(asked.as_bytes()).is_empty(), "the usage chunk goes, whatever else it holds");
        for kept in [r#"{"usage":null}"#, r#"{"a":1,"usage":{"x":1}}"#, r#"{"t":"a \",\"usage\":null"}"#, "no key"] {
            assert_eq!(cut(kept), None, "{kept}");
        }
    }

    #[test]
    fn usage_is_asked_for_only_when_a_stream_lacks_it() {
        let body = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[]}\n";
        let asked = ask_for_usage(body.as_bytes(), &peek(body)).unwrap();
        assert_eq!(
            String::from_utf8(asked).unwrap(),
            "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[],\"stream_options\":{\"include_usage\":true}}\n"
        );
        let own = r#"{"stream":true,"stream_options":{"include_obfuscation":false}}"#;
        let v: Value = serde_json::from_slice(&ask_for_usage(own.as_bytes(), &peek(own)).unwrap()).unwrap();
        assert_eq!(v["stream_options"], serde_json::json!({"include_obfuscation": false, "include_usage": true}));
        for unchanged in [r#"{"stream":false}"#, r#"{"stream":true,"stream_options":{"include_usage":true}}"#, "{}"] {
            assert!(ask_for_usage(unchanged.as_bytes(), &peek(unchanged)).is_none(), "{unchanged}");
        }
    }

    #[test]
    fn the_client_gets_the_stream_it_would_have_had_byte_for_byte() {
        let chunk = |content: &str, usage: &str| {
            format!(
                "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}}}}]{usage}}}\n\n"
            )
        };
        let plain = chunk("a", "") + &chunk("b \\\"usage\\\":null", "") + "data: [DONE]\n\n";
        let asked = chunk("a", ",\"usage\":null")
            + &chunk("b \\\"usage\\\":null", ",\"usage\":null")
            + "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n"
            + "data: [DONE]\n\n";
        // In pieces of every size, split anywhere.
        for size in [1, 3, 7, 64, asked.len()] {
            let mut filter = UsageStripper::default();
            let mut out = Vec::new();
            for piece in asked.as_bytes().chunks(size) {
                out.extend(filter.push(piece));
            }
            out.extend(filter.finish());
            assert_eq!(String::from_utf8(out).unwrap(), plain, "pieces of {size}");
        }
    }
}
