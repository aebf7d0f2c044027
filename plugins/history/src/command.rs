//! `sinc history`: its arguments, and what it prints for the sessions
//! read. Pure (the sessions come in; text goes out).

use crate::search::{Filter, find, list, search};
use crate::transcript::{Agent, Transcript, time_text};
use lexopt::prelude::*;

/// What a run printed, and its exit status (0, 1 failure, 2 usage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit status.
    pub status: u8,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    fn ok(stdout: String) -> Output {
        Output { status: 0, stdout, stderr: String::new() }
    }
    fn fail(status: u8, stderr: String) -> Output {
        Output { status, stdout: String::new(), stderr }
    }
}

/// The help text.
pub const USAGE: &str = "\
Past agent sessions on the VPS (Claude Code's and OpenCode's own logs).

usage: sinc history list   [--agent claude|opencode] [--project TEXT] [--limit N] [--json]
       sinc history search TERM… [--agent claude|opencode] [--project TEXT] [--limit N] [--json]
       sinc history show   ID [--json]

search finds TERM (any case) in the messages and titles; --project keeps
sessions whose folder contains TEXT; ID may be a unique start of an id.
";

/// What was asked.
#[derive(Debug, PartialEq)]
enum Asked {
    Help,
    List,
    Search(String),
    Show(String),
}

/// The parsed arguments.
#[derive(Debug)]
struct Args {
    asked: Asked,
    filter: Filter,
    limit: usize,
    json: bool,
}

fn parse(args: &[String]) -> Result<Args, lexopt::Error> {
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    let mut verb: Option<String> = None;
    let mut words: Vec<String> = Vec::new();
    let mut parsed = Args { asked: Asked::Help, filter: Filter::default(), limit: 20, json: false };
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(parsed),
            Long("json") => parsed.json = true,
            Long("agent") => parsed.filter.agent = Some(Agent::parse(&parser.value()?.string()?)?),
            Long("project") => parsed.filter.project = Some(parser.value()?.string()?),
            Long("limit") => parsed.limit = parser.value()?.parse()?,
            Value(v) if verb.is_none() => verb = Some(v.string()?),
            Value(v) => words.push(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let term = words.join(" ");
    parsed.asked = match (verb.as_deref(), term.is_empty()) {
        (None | Some("help"), _) => Asked::Help,
        (Some("list"), true) => Asked::List,
        (Some("search"), false) => Asked::Search(term),
        (Some("search"), true) => return Err("search needs a TERM".into()),
        (Some("show"), false) if words.len() == 1 => Asked::Show(term),
        (Some("show"), _) => return Err("show needs one session ID".into()),
        (Some("list"), false) => return Err(format!("list takes no words (did you mean `search {term}`?)").into()),
        (Some(other), _) => return Err(format!("unknown command `{other}`: list, search or show").into()),
    };
    Ok(parsed)
}

/// Run `sinc history args…` over `sessions`.
pub fn run(args: &[String], sessions: &[Transcript]) -> Output {
    let args = match parse(args) {
        Ok(a) => a,
        Err(e) => return Output::fail(2, format!("sinc history: {e}\n\n{USAGE}")),
    };
    match &args.asked {
        Asked::Help => Output::ok(USAGE.to_owned()),
        Asked::List => {
            let chosen = list(sessions, &args.filter, args.limit);
            if args.json {
                let items: Vec<_> = chosen.iter().map(|t| summary_json(t, None)).collect();
                return Output::ok(json_text(&serde_json::Value::Array(items)));
            }
            Output::ok(chosen.iter().map(|t| summary_text(t, None)).collect::<String>())
        }
        Asked::Search(term) => {
            let hits = search(sessions, term, &args.filter, args.limit);
            if args.json {
                let items: Vec<_> =
                    hits.iter().map(|h| summary_json(h.transcript, Some((h.matches, &h.snippet)))).collect();
                return Output::ok(json_text(&serde_json::Value::Array(items)));
            }
            if hits.is_empty() {
                return Output::ok(format!("no past session mentions \"{term}\"\n"));
            }
            Output::ok(hits.iter().map(|h| summary_text(h.transcript, Some(&h.snippet))).collect::<String>())
        }
        Asked::Show(id) => match find(sessions, id) {
            Ok(t) if args.json => Output::ok(json_text(&serde_json::to_value(t).unwrap_or_default())),
            Ok(t) => Output::ok(transcript_text(t)),
            Err(e) => Output::fail(1, format!("sinc history: {e}\n")),
        },
    }
}

fn json_text(value: &serde_json::Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default())
}

/// A session's summary as JSON (with the search's matches and snippet).
pub(crate) fn summary_json(t: &Transcript, hit: Option<(usize, &String)>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "agent": t.agent,
        "id": t.id,
        "project": t.project,
        "title": t.title,
        "started": time_text(t.started),
        "updated": time_text(t.updated),
        "messages": t.messages.len(),
    });
    if let Some((matches, snippet)) = hit {
        v["matches"] = matches.into();
        v["snippet"] = snippet.as_str().into();
    }
    v
}

fn summary_text(t: &Transcript, snippet: Option<&String>) -> String {
    let mut text = format!(
        "{:<8} {}  {}  {}\n    {}\n",
        t.agent.name(),
        t.id,
        time_text(t.updated),
        t.project,
        crate::transcript::one_line(&t.title, 100)
    );
    if let Some(s) = snippet {
        text.push_str(&format!("    > {s}\n"));
    }
    text
}

fn transcript_text(t: &Transcript) -> String {
    let mut text = format!(
        "{} session {}\nfolder:  {}\ntitle:   {}\nstarted: {}\nupdated: {}\n",
        t.agent.name(),
        t.id,
        t.project,
        t.title,
        time_text(t.started),
        time_text(t.updated)
    );
    for m in &t.messages {
        text.push_str(&format!("\n── {} · {}\n{}\n", m.role, time_text(m.time), m.text.trim_end()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Vec<Transcript> {
        crate::fixture_sessions()
    }

    fn run_words(words: &str) -> Output {
        let args: Vec<String> = words.split_whitespace().map(str::to_owned).collect();
        run(&args, &sessions())
    }

    #[test]
    fn search_lists_the_sessions_that_mention_a_term() {
        let out = run_words("search MIGRATION");
        assert_eq!(out.status, 0, "{}", out.stderr);
        assert!(out.stdout.starts_with("opencode ses_3a9f0c1d2e3fABCDEFGHIJKLMN  2026-03-03T01:08:10Z  /home/me/code/blog\n    Add RSS feed\n    > Add an RSS feed for the posts; the migration of the old feed URLs too\n"), "{}", out.stdout);
        assert!(out.stdout.contains("claude   5f1e2d3c-aaaa-bbbb-cccc-000000000001"), "{}", out.stdout);
        let only_claude = run_words("search migration --agent claude --json");
        let v: serde_json::Value = serde_json::from_str(&only_claude.stdout).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1);
        assert_eq!(v[0]["agent"], "claude");
        assert_eq!(v[0]["matches"], 3);
        assert_eq!(
            run_words("search nowhere-to-be-found").stdout,
            "no past session mentions \"nowhere-to-be-found\"\n"
        );
        let two_words = run_words("search old feed --project blog --json");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&two_words.stdout).unwrap()[0]["title"], "Add RSS feed");
    }

    #[test]
    fn show_prints_a_whole_session() {
        let out = run_words("show 5f1e");
        assert_eq!(out.status, 0);
        assert!(
            out.stdout
                .starts_with("claude session 5f1e2d3c-aaaa-bbbb-cccc-000000000001\nfolder:  /home/me/code/shop\n"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(
                "\n── assistant · 2026-03-02T09:16:30Z\nGenerated columns need STORED on Postgres; I added it.\n"
            ),
            "{}",
            out.stdout
        );
        let json: serde_json::Value = serde_json::from_str(&run_words("show ses_3a9f --json").stdout).unwrap();
        assert_eq!(json["messages"][1]["text"], "[tool bash]\nThe feed is at /rss.xml.");
        let missing = run_words("show nope");
        assert_eq!(missing.status, 1);
        assert!(missing.stderr.contains("no past session `nope`"));
    }

    #[test]
    fn list_is_most_recent_first_and_bad_arguments_are_usage_errors() {
        let v: serde_json::Value = serde_json::from_str(&run_words("list --json --limit 5").stdout).unwrap();
        let ids: Vec<&str> = v.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["ses_3a9f0c1d2e3fABCDEFGHIJKLMN", "5f1e2d3c-aaaa-bbbb-cccc-000000000001"]);
        for (words, says) in [
            ("search", "search needs a TERM"),
            ("show", "show needs one session ID"),
            ("show a b", "show needs one session ID"),
            ("list x", "did you mean `search x`"),
            ("frobnicate", "unknown command `frobnicate`"),
            ("list --agent gemini", "give claude or opencode"),
            ("list --limit many", "many"),
            ("list --bogus", "--bogus"),
        ] {
            let out = run_words(words);
            assert_eq!(out.status, 2, "{words}");
            assert!(out.stderr.contains(says) && out.stderr.contains("usage:"), "{words}: {}", out.stderr);
        }
        assert_eq!(run_words("").stdout, USAGE);
        assert_eq!(run_words("--help").stdout, USAGE);
    }
}
