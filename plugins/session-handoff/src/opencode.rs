//! Open todos from OpenCode's own server (`opencode serve` on the VPS,
//! V1 API): the OpenCode session that worked in the project's folder on the
//! VPS during the sinc session, and its todo list. The server is reached on
//! the VPS's loopback through the session's SSH connection; when none
//! answers, the hand-off simply has no OpenCode todos.

use serde::Deserialize;
use std::time::Duration;

/// How long the server may take to answer each call.
const WAIT: Duration = Duration::from_secs(3);

/// One OpenCode session, as `GET /session` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct OpenSession {
    /// `ses_…`.
    pub id: String,
    /// Its title.
    #[serde(default)]
    pub title: String,
    /// The folder it worked in.
    #[serde(default)]
    pub directory: String,
    /// The session it is a subagent of (none for the user's own).
    #[serde(default, rename = "parentID")]
    pub parent: Option<String>,
    /// When it was created and last updated.
    pub time: Times,
}

/// A session's times, in milliseconds since the epoch.
#[derive(Debug, Clone, Deserialize)]
pub struct Times {
    /// Created.
    #[serde(default)]
    pub created: u64,
    /// Last updated.
    #[serde(default)]
    pub updated: u64,
}

/// One todo (`GET /session/:id/todo`).
#[derive(Debug, Clone, Deserialize)]
pub struct Todo {
    /// What to do.
    pub content: String,
    /// `pending`, `in_progress`, `completed` or `cancelled`.
    pub status: String,
}

/// How much earlier than the sinc session's start an OpenCode session may
/// have been updated last and still count: the start is the laptop's
/// clock, OpenCode's times the VPS's, and a start noted late (heard of
/// after the fact) is later than the real one.
pub const SLACK_MS: u64 = 10 * 60 * 1000;

/// What the hand-off says of a session's todos — where they are from, and
/// its lines — when any is still open.
pub fn render(session: &OpenSession, todos: &[Todo]) -> Option<(String, Vec<String>)> {
    if !todos.iter().any(|t| matches!(t.status.as_str(), "pending" | "in_progress")) {
        return None;
    }
    let done = todos.iter().filter(|t| t.status == "completed").count();
    let counted = todos.iter().filter(|t| t.status != "cancelled").count();
    let mut lines = vec![format!("{done} of {counted} done"), String::new()];
    lines.extend(todos.iter().filter_map(|t| match t.status.as_str() {
        "in_progress" => Some(format!("- [ ] {} (in progress)", t.content.trim())),
        "pending" => Some(format!("- [ ] {}", t.content.trim())),
        _ => None,
    }));
    let title = session.title.trim();
    let source =
        if title.is_empty() { format!("OpenCode {}", session.id) } else { format!("OpenCode {}: {title}", session.id) };
    Some((source, lines))
}

/// The user's own OpenCode session (not a subagent's) of `folder`
/// (absolute) updated last, no earlier than [`SLACK_MS`] before
/// `since_ms`.
pub fn pick<'a>(sessions: &'a [OpenSession], folder: &str, since_ms: u64) -> Option<&'a OpenSession> {
    let folder = folder.trim_end_matches('/');
    let since = since_ms.saturating_sub(SLACK_MS);
    sessions
        .iter()
        .filter(|s| s.parent.is_none() && s.directory.trim_end_matches('/') == folder)
        .filter(|s| s.time.updated.max(s.time.created) >= since)
        .max_by_key(|s| s.time.updated)
}

/// The folder on the VPS as OpenCode names it: `remote_path` if absolute,
/// else under the VPS home `home` (`~/x` and `x` both mean `$HOME/x`).
pub fn absolute(remote_path: &str, home: &str) -> String {
    if remote_path.starts_with('/') {
        return remote_path.to_owned();
    }
    let relative = remote_path.strip_prefix("~/").unwrap_or(remote_path);
    format!("{}/{relative}", home.trim_end_matches('/'))
}

/// `text` percent-encoded for a URL's path or query (`/` kept).
fn encoded(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The server at `base`, with Basic auth when a password is set.
pub struct Server {
    base: String,
    auth: Option<String>,
}

impl Server {
    /// The server at `base`, as `user` with `password` if given.
    pub fn new(base: &str, user: &str, password: Option<&str>) -> Server {
        use base64::Engine;
        let auth = password
            .map(|p| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{p}"))));
        Server { base: base.trim_end_matches('/').to_owned(), auth }
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let headers: Vec<(&str, &str)> = self.auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let url = format!("{}{path}", self.base);
        let reply = sinc_plugin_sdk::fetch::get(&url, &headers, WAIT)?;
        if !reply.ok() {
            return Err(format!("GET {url}: status {}", reply.status));
        }
        serde_json::from_slice(&reply.body).map_err(|e| format!("GET {url}: not OpenCode's answer: {e}"))
    }

    /// The open todos of the OpenCode session that worked in `remote_path`
    /// since `since_ms`: `None` when there is none.
    pub fn todos(&self, remote_path: &str, since_ms: u64) -> Result<Option<(String, Vec<String>)>, String> {
        #[derive(Deserialize)]
        struct Paths {
            home: String,
        }
        let folder = if remote_path.starts_with('/') {
            remote_path.to_owned()
        } else {
            absolute(remote_path, &self.get::<Paths>("/path")?.home)
        };
        let query = format!("directory={}", encoded(&folder));
        // Only the user's own sessions, updated since (servers that know
        // neither filter answer with every session: `pick` filters too).
        let since = since_ms.saturating_sub(SLACK_MS);
        let sessions: Vec<OpenSession> = self.get(&format!("/session?{query}&roots=true&start={since}"))?;
        let Some(session) = pick(&sessions, &folder, since_ms) else { return Ok(None) };
        let todos: Vec<Todo> = self.get(&format!("/session/{}/todo?{query}", encoded(&session.id)))?;
        Ok(render(session, &todos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, dir: &str, updated: u64) -> OpenSession {
        OpenSession {
            id: id.into(),
            title: "Fix login".into(),
            directory: dir.into(),
            parent: None,
            time: Times { created: 1, updated },
        }
    }

    #[test]
    fn the_folders_latest_own_session_since_the_start() {
        let start = SLACK_MS + 1000;
        let child = OpenSession { parent: Some("b".into()), ..session("kid", "/h/p", start + 900) };
        let all = [
            session("a", "/h/p", start + 50),
            session("b", "/h/p/", start + 80),
            session("c", "/h/q", start + 99),
            child,
        ];
        assert_eq!(pick(&all, "/h/p", start + 40).unwrap().id, "b");
        // Updated a little before the start (clocks, a start noted late): still it.
        assert_eq!(pick(&all, "/h/p", start + 90).unwrap().id, "b");
        assert!(pick(&all, "/h/p", start + SLACK_MS + 100).is_none());
        assert!(pick(&all, "/h/r", 0).is_none());
    }

    #[test]
    fn todos_render_as_open_boxes_with_a_count() {
        let todos: Vec<Todo> = serde_json::from_str(
            r#"[{"id":"1","content":"set up","status":"completed","priority":"high"},
                {"id":"2","content":"write tests","status":"in_progress","priority":"high"},
                {"id":"3","content":"docs","status":"pending","priority":"low"},
                {"id":"4","content":"old idea","status":"cancelled","priority":"low"}]"#,
        )
        .unwrap();
        let (source, lines) = render(&session("ses_1", "/h/p", 5), &todos).unwrap();
        assert_eq!(source, "OpenCode ses_1: Fix login");
        assert_eq!(lines, ["1 of 3 done", "", "- [ ] write tests (in progress)", "- [ ] docs"]);
        // Nothing open: nothing to say.
        assert!(render(&session("ses_1", "/h/p", 5), &todos[..1]).is_none());
    }

    #[test]
    fn folders_are_made_absolute_and_quoted() {
        assert_eq!(absolute("~/sinc/p", "/home/u/"), "/home/u/sinc/p");
        assert_eq!(absolute("sinc/p", "/home/u"), "/home/u/sinc/p");
        assert_eq!(absolute("/srv/p", "/home/u"), "/srv/p");
        assert_eq!(encoded("/h/my proj&x"), "/h/my%20proj%26x");
    }

    #[test]
    fn sessions_parse_from_opencodes_wire_format() {
        let s: Vec<OpenSession> = serde_json::from_str(
            r#"[{"id":"ses_9","projectID":"global","directory":"/h/p","title":"t","version":"1.0.0",
                 "time":{"created":1700000000000,"updated":1700000005000}}]"#,
        )
        .unwrap();
        assert_eq!((s[0].id.as_str(), s[0].time.updated), ("ses_9", 1_700_000_005_000));
    }
}
