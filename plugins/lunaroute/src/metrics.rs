//! Prometheus metrics (`GET /metrics` on the proxy port): requests, tokens,
//! cost and failures per provider and model, and histograms of the time to
//! first byte and the whole request, since the plugin started. Pure.

use crate::record::{Outcome, Record};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Histogram bucket bounds, seconds.
const BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {}", self.counts[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// The counters.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    requests: BTreeMap<(String, String, String), u64>,
    tokens: BTreeMap<(String, String, &'static str), u64>,
    cost: BTreeMap<(String, String), f64>,
    ttft: BTreeMap<String, Histogram>,
    duration: BTreeMap<String, Histogram>,
}

/// A label value, escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// Count `r`.
    pub fn observe(&mut self, r: &Record) {
        let model = label(r.model.as_deref().unwrap_or("unknown"));
        let provider = r.provider.clone();
        let outcome = match r.outcome {
            Outcome::Ok | Outcome::UpstreamError => r.status.to_string(),
            Outcome::Unreachable => "unreachable".into(),
            Outcome::ClientDisconnected => "client_disconnected".into(),
            Outcome::Broken => "broken".into(),
        };
        *self.requests.entry((provider.clone(), model.clone(), outcome)).or_default() += 1;
        if let Some(u) = &r.usage {
            for (kind, n) in [
                ("input", u.input),
                ("output", u.output),
                ("cache_read", u.cache_read),
                ("cache_write", u.cache_write),
                ("reasoning", u.reasoning),
            ] {
                *self.tokens.entry((provider.clone(), model.clone(), kind)).or_default() += n;
            }
        }
        if let Some(c) = r.cost_usd {
            *self.cost.entry((provider.clone(), model)).or_default() += c;
        }
        if r.bytes > 0 {
            self.ttft.entry(provider.clone()).or_default().observe(f64::from(r.timings.ttft_ms) / 1000.0);
        }
        self.duration.entry(provider).or_default().observe(f64::from(r.timings.total_ms) / 1000.0);
    }

    /// The exposition text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP lunaroute_requests_total Requests through the proxy, by outcome (the status, or how it failed).\n# TYPE lunaroute_requests_total counter\n");
        for ((p, m, s), n) in &self.requests {
            let _ = writeln!(out, "lunaroute_requests_total{{provider=\"{p}\",model=\"{m}\",status=\"{s}\"}} {n}");
        }
        out.push_str("# HELP lunaroute_tokens_total Tokens as the providers counted them.\n# TYPE lunaroute_tokens_total counter\n");
        for ((p, m, k), n) in &self.tokens {
            let _ = writeln!(out, "lunaroute_tokens_total{{provider=\"{p}\",model=\"{m}\",kind=\"{k}\"}} {n}");
        }
        out.push_str("# HELP lunaroute_cost_usd_total Cost of the priced requests, US dollars.\n# TYPE lunaroute_cost_usd_total counter\n");
        for ((p, m), c) in &self.cost {
            let _ = writeln!(out, "lunaroute_cost_usd_total{{provider=\"{p}\",model=\"{m}\"}} {c}");
        }
        out.push_str("# HELP lunaroute_ttft_seconds Time to the first byte of the response body.\n# TYPE lunaroute_ttft_seconds histogram\n");
        for (p, h) in &self.ttft {
            h.write(&mut out, "lunaroute_ttft_seconds", &format!("provider=\"{p}\""));
        }
        out.push_str("# HELP lunaroute_request_duration_seconds Time to the end of the response.\n# TYPE lunaroute_request_duration_seconds histogram\n");
        for (p, h) in &self.duration {
            h.write(&mut out, "lunaroute_request_duration_seconds", &format!("provider=\"{p}\""));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Timings;
    use crate::usage::Usage;

    #[test]
    fn counters_and_histograms_in_the_exposition_format() {
        let mut m = Metrics::default();
        let r = Record {
            id: "1".into(),
            ts: 0,
            session: None,
            provider: "anthropic".into(),
            endpoint: "messages".into(),
            method: "POST".into(),
            path: "/v1/messages".into(),
            model: Some("claude \"x\"".into()),
            stream: true,
            status: 200,
            outcome: Outcome::Ok,
            error: None,
            usage: Some(Usage { input: 3, output: 4, ..Usage::default() }),
            cost_usd: Some(0.25),
            timings: Timings { proxy_us: 1, headers_ms: 1, ttft_ms: 80, total_ms: 300 },
            tool_calls: vec![],
            bytes: 10,
            request: None,
            response: None,
        };
        m.observe(&r);
        m.observe(&r);
        let text = m.text();
        assert!(
            text.contains(
                "lunaroute_requests_total{provider=\"anthropic\",model=\"claude \\\"x\\\"\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("kind=\"output\"} 8"), "{text}");
        assert!(
            text.contains("lunaroute_cost_usd_total{provider=\"anthropic\",model=\"claude \\\"x\\\"\"} 0.5"),
            "{text}"
        );
        assert!(text.contains("lunaroute_ttft_seconds_bucket{provider=\"anthropic\",le=\"0.1\"} 2"), "{text}");
        assert!(text.contains("lunaroute_ttft_seconds_bucket{provider=\"anthropic\",le=\"0.05\"} 0"), "{text}");
        assert!(text.contains("lunaroute_request_duration_seconds_count{provider=\"anthropic\"} 2"), "{text}");
    }
}
