//! One recorded exchange — a line of a session's JSONL file — and what is
//! removed before it is written: API keys always (headers are never
//! recorded at all; keys that appear in bodies are masked), and, as the
//! user chooses, emails, phone numbers, card numbers and patterns of their
//! own. Pure.

use crate::usage::Usage;
use regex_lite::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long each part took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// The proxy's own work before forwarding (microseconds).
    pub proxy_us: u64,
    /// Until the upstream's response head (milliseconds).
    pub headers_ms: u32,
    /// Until the first byte of the response body: the time to first token
    /// when streaming (milliseconds).
    pub ttft_ms: u32,
    /// Until the response was complete (milliseconds).
    pub total_ms: u32,
}

/// How an exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A 2xx or 3xx response, delivered whole.
    Ok,
    /// The provider answered with an error status.
    UpstreamError,
    /// The upstream could not be reached or was too slow.
    Unreachable,
    /// The client went away before the response was complete.
    ClientDisconnected,
    /// The response broke off.
    Broken,
}

/// One request and its response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Unique across restarts: `<ms of the proxy's start>-<request number>`.
    pub id: String,
    /// When it arrived (milliseconds since the epoch).
    pub ts: u64,
    /// The sinc session.
    pub session: Option<String>,
    /// `anthropic` or `openai`.
    pub provider: String,
    /// `messages`, `chat.completions`, `responses`, `models` or `other`.
    pub endpoint: String,
    /// The method.
    pub method: String,
    /// The path and query (after the session prefix).
    pub path: String,
    /// The model (the response's, else the request's).
    pub model: Option<String>,
    /// Whether it streamed.
    pub stream: bool,
    /// The status the client got.
    pub status: u16,
    /// How it ended.
    pub outcome: Outcome,
    /// The error, when there was one.
    pub error: Option<String>,
    /// Tokens, as the provider counted them.
    pub usage: Option<Usage>,
    /// What it cost (none: an unpriced model, or no usage).
    pub cost_usd: Option<f64>,
    /// Timings.
    pub timings: Timings,
    /// The tools called, by name.
    pub tool_calls: Vec<String>,
    /// Response body bytes.
    pub bytes: u64,
    /// The request body (JSON, else text), redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Value>,
    /// The response (a stream assembled), redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

impl Record {
    /// It without the bodies (what stays in memory).
    pub fn into_summary(self) -> Record {
        Record { request: None, response: None, ..self }
    }

    /// Its day (`YYYY-MM-DD`, UTC).
    pub fn day(&self) -> String {
        day_of(self.ts)
    }
}

/// The UTC date of `ms` since the epoch, `YYYY-MM-DD` (the civil-from-days
/// algorithm, proleptic Gregorian).
pub fn day_of(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parse JSONL `text`: the records, and how many lines were not one.
pub fn parse_lines(text: &str) -> (Vec<Record>, usize) {
    let mut bad = 0;
    let records = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).map_err(|_| bad += 1).ok())
        .collect();
    (records, bad)
}

/// What is masked in recorded bodies.
#[derive(Debug, Clone)]
pub struct Redactor {
    rules: Vec<Rule>,
}

/// One kind of text masked.
#[derive(Debug, Clone)]
struct Rule {
    regex: Regex,
    mask: &'static str,
    /// Only matches passing the Luhn check are masked (card numbers).
    luhn: bool,
    /// What any match contains: a text without it is not searched.
    needs: Needs,
}

/// What every match of a rule contains. Most strings of a request contain
/// none of it, and looking is far cheaper than running the regex (a
/// `regex-lite` search costs about a microsecond per short string).
#[derive(Debug, Clone, Copy)]
enum Needs {
    /// Nothing known: always searched.
    Anything,
    /// One of these texts.
    OneOf(&'static [&'static str]),
    /// At least this many ASCII digits.
    Digits(usize),
}

impl Needs {
    fn met_by(self, text: &str) -> bool {
        match self {
            Needs::Anything => true,
            Needs::OneOf(texts) => texts.iter().any(|t| text.contains(t)),
            Needs::Digits(n) => text.bytes().filter(u8::is_ascii_digit).nth(n - 1).is_some(),
        }
    }
}

/// API keys of the common providers and bearer tokens: always masked.
const KEYS: &str = r"\b(?:sk-(?:ant-)?[A-Za-z0-9_-]{16,}|(?:Bearer|bearer) [A-Za-z0-9._~+/=-]{16,})";
const EMAIL: &str = r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b";
const PHONE: &str = r"(?:\+\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b";
const CARD: &str = r"\b(?:\d[ -]?){12,18}\d\b";

/// Whether the digits in `text` pass the Luhn check (card numbers do).
fn luhn(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    (13..=19).contains(&digits.len()) && sum.is_multiple_of(10)
}

impl Redactor {
    /// Keys always; `builtin` names (`email`, `phone`, `card`) and `own`
    /// patterns as configured. An unknown name or a bad pattern is an error
    /// naming it.
    pub fn new(builtin: &[String], own: &[String]) -> Result<Redactor, String> {
        let rule = |pattern: &str, mask, luhn, needs| {
            let regex = Regex::new(pattern).map_err(|e| format!("redaction pattern {pattern:?}: {e}"))?;
            Ok::<_, String>(Rule { regex, mask, luhn, needs })
        };
        let mut rules = vec![rule(KEYS, "[redacted:key]", false, Needs::OneOf(&["sk-", "earer "]))?];
        for name in builtin {
            rules.push(match name.as_str() {
                "email" => rule(EMAIL, "[redacted:email]", false, Needs::OneOf(&["@"]))?,
                "phone" => rule(PHONE, "[redacted:phone]", false, Needs::Digits(10))?,
                "card" => rule(CARD, "[redacted:card]", true, Needs::Digits(13))?,
                other => return Err(format!("unknown redaction {other:?} (email, phone, card)")),
            });
        }
        for pattern in own {
            rules.push(rule(pattern, "[redacted]", false, Needs::Anything)?);
        }
        Ok(Redactor { rules })
    }

    /// `text` masked.
    pub fn text(&self, text: &str) -> String {
        self.masked(text).unwrap_or_else(|| text.to_owned())
    }

    /// `text` masked, or `None` when no rule matches it.
    fn masked(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for rule in &self.rules {
            let current = out.as_deref().unwrap_or(text);
            if !rule.needs.met_by(current) || !rule.regex.is_match(current) {
                continue;
            }
            let replaced = rule.regex.replace_all(current, |c: &regex_lite::Captures<'_>| {
                if rule.luhn && !luhn(&c[0]) { c[0].to_owned() } else { rule.mask.to_owned() }
            });
            out = Some(replaced.into_owned());
        }
        out
    }

    /// Every string in `value` (keys and values) masked.
    pub fn value(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Some(masked) = self.masked(s) {
                    *s = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) if map.keys().any(|k| self.masked(k).is_some()) => {
                for (k, mut v) in std::mem::take(map) {
                    self.value(&mut v);
                    map.insert(self.text(&k), v);
                }
            }
            Value::Object(map) => map.values_mut().for_each(|v| self.value(v)),
            _ => {}
        }
    }

    /// A body as recorded: JSON when it is JSON, else text; masked.
    pub fn body(&self, bytes: &[u8]) -> Value {
        let mut value = serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()));
        self.value(&mut value);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(951_782_400_000), "2000-02-29");
        assert_eq!(day_of(1_795_824_000_000), "2026-11-28");
    }

    #[test]
    fn keys_are_always_masked_and_the_rest_as_chosen() {
        let r = Redactor::new(&["email".into(), "phone".into(), "card".into()], &[r"secret-\d+".into()]).unwrap();
        let masked = r.text(
            "key sk-ant-api03-abcdefghijklmnopqrstuv, mail a.b@example.com, call +1 415-555-2671, \
             card 4111 1111 1111 1111, order 1234567890123, secret-42",
        );
        assert_eq!(
            masked,
            "key [redacted:key], mail [redacted:email], call [redacted:phone], \
             card [redacted:card], order 1234567890123, [redacted]"
        );
        let keys_only = Redactor::new(&[], &[]).unwrap();
        assert_eq!(keys_only.text("a.b@example.com Bearer abcdefghijklmnop1234"), "a.b@example.com [redacted:key]");
        let mut v = serde_json::json!({"messages": [{"content": "sk-abcdefghijklmnopqrstu"}]});
        keys_only.value(&mut v);
        assert_eq!(v["messages"][0]["content"], "[redacted:key]");
        assert!(Redactor::new(&["ssn".into()], &[]).unwrap_err().contains("unknown redaction \"ssn\""));
        assert!(Redactor::new(&[], &["(".into()]).unwrap_err().contains("redaction pattern \"(\""));
    }

    #[test]
    fn only_texts_that_can_match_are_searched_and_keys_are_masked_too() {
        let r = Redactor::new(&["phone".into(), "card".into()], &[]).unwrap();
        assert!(Needs::Digits(10).met_by("415-555-2671") && !Needs::Digits(10).met_by("415-555-267"));
        assert_eq!(r.text("call 415-555-2671"), "call [redacted:phone]");
        assert_eq!(r.text("call 415-555-267"), "call 415-555-267");
        let mut v = serde_json::json!({"sk-abcdefghijklmnopqrstu": {"plain": "text"}, "other": "x"});
        r.value(&mut v);
        assert_eq!(v, serde_json::json!({"[redacted:key]": {"plain": "text"}, "other": "x"}));
    }

    #[test]
    fn bad_lines_are_counted_and_skipped() {
        let good = serde_json::to_string(&Record {
            id: "1-1".into(),
            ts: 0,
            session: None,
            provider: "openai".into(),
            endpoint: "models".into(),
            method: "GET".into(),
            path: "/v1/models".into(),
            model: None,
            stream: false,
            status: 200,
            outcome: Outcome::Ok,
            error: None,
            usage: None,
            cost_usd: None,
            timings: Timings::default(),
            tool_calls: vec![],
            bytes: 2,
            request: None,
            response: None,
        })
        .unwrap();
        let (records, bad) = parse_lines(&format!("{good}\n{{\"id\":\ntruncated{good}\n\n{good}"));
        assert_eq!((records.len(), bad), (2, 2));
    }
}
