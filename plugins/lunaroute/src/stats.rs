//! Sums over recorded exchanges — per session, model and day — as JSON
//! (the dashboard's API, `--json`) and as text (`sinc lunaroute stats`). Pure.

use crate::record::{Outcome, Record};
use crate::usage::Usage;
use serde::Serialize;
use std::collections::BTreeMap;

/// Sums over some exchanges.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Requests.
    pub requests: u64,
    /// Requests that did not end well.
    pub errors: u64,
    /// Tokens.
    pub usage: Usage,
    /// Dollars, over the priced requests.
    pub cost_usd: f64,
    /// Requests with tokens but no price (their model is not in the table).
    pub unpriced: u64,
    /// Tool calls.
    pub tool_calls: u64,
    /// Mean milliseconds to the first byte (time to first token when
    /// streaming), over the requests that got one.
    pub mean_ttft_ms: Option<f64>,
    /// Mean milliseconds to the end of the response.
    pub mean_total_ms: Option<f64>,
    /// First and last request (ms since the epoch).
    pub first: Option<u64>,
    /// Last request.
    pub last: Option<u64>,
    /// The models seen.
    pub models: Vec<String>,
}

/// Sum `records`.
pub fn totals<'a>(records: impl IntoIterator<Item = &'a Record>) -> Totals {
    let mut t = Totals::default();
    let (mut ttft, mut ttft_n, mut total, mut total_n) = (0u64, 0u64, 0u64, 0u64);
    for r in records {
        t.requests += 1;
        t.errors += u64::from(r.outcome != Outcome::Ok);
        if let Some(u) = &r.usage {
            t.usage.add(u);
            match r.cost_usd {
                Some(c) => t.cost_usd += c,
                None => t.unpriced += 1,
            }
        }
        t.tool_calls += r.tool_calls.len() as u64;
        if r.bytes > 0 {
            ttft += u64::from(r.timings.ttft_ms);
            ttft_n += 1;
        }
        if r.outcome == Outcome::Ok {
            total += u64::from(r.timings.total_ms);
            total_n += 1;
        }
        t.first = Some(t.first.map_or(r.ts, |f| f.min(r.ts)));
        t.last = Some(t.last.map_or(r.ts, |l| l.max(r.ts)));
        if let Some(m) = &r.model
            && !t.models.contains(m)
        {
            t.models.push(m.clone());
        }
    }
    t.mean_ttft_ms = (ttft_n > 0).then(|| ttft as f64 / ttft_n as f64);
    t.mean_total_ms = (total_n > 0).then(|| total as f64 / total_n as f64);
    t.models.sort();
    t
}

/// `records` summed per `key`.
pub fn by<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    key: impl Fn(&Record) -> String,
) -> BTreeMap<String, Totals> {
    let mut groups: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for r in records {
        groups.entry(key(r)).or_default().push(r);
    }
    groups.into_iter().map(|(k, rs)| (k, totals(rs))).collect()
}

/// The key of a record's session (`-` for none).
pub fn session_key(r: &Record) -> String {
    r.session.clone().unwrap_or_else(|| "-".into())
}

/// The key of a record's model (`unknown` for none).
pub fn model_key(r: &Record) -> String {
    r.model.clone().unwrap_or_else(|| "unknown".into())
}

/// A duration like `7d`, `24h`, `30m` or `90s`, in milliseconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a duration (like 7d, 24h, 30m)");
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let ms = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1_000,
        _ => return Err(bad()),
    };
    Ok(n * ms)
}

/// The stats the `stats` command and the dashboard show, over `records`.
pub fn report<'a>(records: impl IntoIterator<Item = &'a Record> + Clone) -> serde_json::Value {
    serde_json::json!({
        "totals": totals(records.clone()),
        "by_model": by(records.clone(), model_key),
        "by_session": by(records.clone(), session_key),
        "by_day": by(records, Record::day),
    })
}

/// Dollars for people: `$0.0123`, or `price unknown`.
pub fn dollars(cost: f64, unpriced: u64) -> String {
    match unpriced {
        0 => format!("${cost:.4}"),
        n if cost == 0.0 => format!("price unknown ({n} requests)"),
        n => format!("${cost:.4} + price unknown ({n} requests)"),
    }
}

fn row(name: &str, t: &Totals) -> String {
    format!(
        "{name:<28} {:>6} {:>10} {:>9} {:>10} {:>10}  {}",
        t.requests,
        t.usage.input,
        t.usage.output,
        t.usage.cache_read,
        t.usage.cache_write,
        dollars(t.cost_usd, t.unpriced)
    )
}

/// The text the `stats` command prints.
pub fn text<'a>(records: impl IntoIterator<Item = &'a Record> + Clone) -> String {
    let all = totals(records.clone());
    if all.requests == 0 {
        return "no requests recorded (in that range)\n".into();
    }
    let header = format!(
        "{:<28} {:>6} {:>10} {:>9} {:>10} {:>10}  cost\n",
        "", "reqs", "input", "output", "cache read", "cache write"
    );
    let mut out = String::new();
    for (title, groups) in [
        ("by model", by(records.clone(), model_key)),
        ("by session", by(records.clone(), session_key)),
        ("by day", by(records, Record::day)),
    ] {
        out.push_str(&format!("{title}\n{header}"));
        for (name, t) in &groups {
            out.push_str(&row(name, t));
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&row("total", &all));
    out.push('\n');
    let ms = |m: Option<f64>| m.map_or("-".into(), |v| format!("{v:.0} ms"));
    out.push_str(&format!(
        "{} errors, {} tool calls, mean time to first byte {}, mean total {}\n",
        all.errors,
        all.tool_calls,
        ms(all.mean_ttft_ms),
        ms(all.mean_total_ms)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Timings;

    fn rec(ts: u64, session: &str, model: &str, usage: Option<Usage>, cost: Option<f64>, outcome: Outcome) -> Record {
        Record {
            id: ts.to_string(),
            ts,
            session: Some(session.into()),
            provider: "openai".into(),
            endpoint: "chat.completions".into(),
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            model: Some(model.into()),
            stream: true,
            status: 200,
            outcome,
            error: None,
            usage,
            cost_usd: cost,
            timings: Timings { proxy_us: 50, headers_ms: 10, ttft_ms: 20, total_ms: 100 },
            tool_calls: vec!["ls".into()],
            bytes: 100,
            request: None,
            response: None,
        }
    }

    #[test]
    fn sums_per_model_session_and_day_keep_unpriced_apart() {
        let u = Usage { input: 10, output: 5, ..Usage::default() };
        let records = [
            rec(1, "s1", "gpt-4o", Some(u), Some(0.5), Outcome::Ok),
            rec(2, "s1", "local", Some(u), None, Outcome::Ok),
            rec(86_400_001, "s2", "gpt-4o", None, None, Outcome::ClientDisconnected),
        ];
        let all = totals(&records);
        assert_eq!((all.requests, all.errors, all.unpriced, all.tool_calls), (3, 1, 1, 3));
        assert_eq!(all.usage.input, 20);
        assert_eq!(all.mean_total_ms, Some(100.0));
        assert_eq!(all.models, ["gpt-4o", "local"]);
        let report = report(&records);
        assert_eq!(report["by_session"]["s1"]["requests"], 2);
        assert_eq!(report["by_day"]["1970-01-02"]["requests"], 1);
        let text = text(&records);
        assert!(text.contains("$0.5000 + price unknown (1 requests)"), "{text}");
        assert!(text.contains("price unknown (1 requests)") && text.contains("by session"), "{text}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400_000));
        assert_eq!(parse_duration("30m"), Ok(1_800_000));
        for bad in ["", "d", "7", "7w", "-1d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
