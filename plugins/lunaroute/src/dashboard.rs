//! The dashboard (its port, 8082 by default): one page for phone and
//! desktop, and the JSON API behind it — the overview (today, the last 7
//! days), the sessions, one session's requests, one recorded exchange.
//! Pure: it answers from the summaries, and reads a whole record through
//! `full`.

use crate::record::Record;
use crate::stats;
use sinc_plugin_sdk::Response;

/// The page.
const PAGE: &str = include_str!("dashboard.html");

const DAY_MS: u64 = 86_400_000;

fn json(status: u16, value: &serde_json::Value) -> Response {
    Response::json(status, value.to_string())
}

fn not_found(what: &str) -> Response {
    json(404, &serde_json::json!({ "error": format!("no {what}") }))
}

/// Answer `method path` from `summaries` (oldest first) at `now_ms`.
pub fn answer(
    method: &str,
    path: &str,
    summaries: &[Record],
    now_ms: u64,
    full: impl Fn(&Record) -> Option<Record>,
) -> Response {
    if method != "GET" {
        return json(405, &serde_json::json!({ "error": "the dashboard only reads (GET)" }));
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    match segments[..] {
        [] | ["index.html"] => Response {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/html; charset=utf-8".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: PAGE.as_bytes().to_vec(),
        },
        ["api", "overview"] => {
            let today_start = now_ms - now_ms % DAY_MS;
            let week_start = today_start.saturating_sub(6 * DAY_MS);
            let today: Vec<&Record> = summaries.iter().filter(|r| r.ts >= today_start).collect();
            let week: Vec<&Record> = summaries.iter().filter(|r| r.ts >= week_start).collect();
            json(
                200,
                &serde_json::json!({
                    "now": now_ms,
                    "today": stats::totals(today.iter().copied()),
                    "week": stats::totals(week.iter().copied()),
                    "by_day": stats::by(week.iter().copied(), Record::day),
                    "by_model": stats::by(week.iter().copied(), stats::model_key),
                }),
            )
        }
        ["api", "sessions"] => {
            let mut sessions: Vec<(String, stats::Totals)> =
                stats::by(summaries, stats::session_key).into_iter().collect();
            sessions.sort_by_key(|(_, t)| std::cmp::Reverse(t.last));
            let list: Vec<serde_json::Value> =
                sessions.into_iter().map(|(id, t)| serde_json::json!({ "session": id, "totals": t })).collect();
            json(200, &serde_json::Value::Array(list))
        }
        ["api", "sessions", id] => {
            let requests: Vec<&Record> = summaries.iter().filter(|r| stats::session_key(r) == id).collect();
            if requests.is_empty() {
                return not_found(&format!("session {id}"));
            }
            json(
                200,
                &serde_json::json!({
                    "session": id,
                    "totals": stats::totals(requests.iter().copied()),
                    "requests": requests,
                }),
            )
        }
        ["api", "requests", id] => match summaries.iter().find(|r| r.id == id).and_then(&full) {
            Some(record) => json(200, &serde_json::to_value(record).unwrap_or_default()),
            None => not_found(&format!("request {id}")),
        },
        _ => not_found(&format!("page {path}")),
    }
}
