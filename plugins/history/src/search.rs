//! Finding sessions: by words in their messages or title (any case),
//! narrowed to an agent or a project, most recent first; and one session
//! by its id or a unique start of it. Pure.

use crate::transcript::{Agent, Transcript, one_line};

/// Which sessions count.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this agent's.
    pub agent: Option<Agent>,
    /// Only those whose folder contains this (any case).
    pub project: Option<String>,
}

impl Filter {
    fn admits(&self, t: &Transcript) -> bool {
        self.agent.is_none_or(|a| a == t.agent)
            && self.project.as_ref().is_none_or(|p| t.project.to_lowercase().contains(&p.to_lowercase()))
    }
}

/// A session that has the words searched for.
#[derive(Debug)]
pub struct Hit<'a> {
    /// The session.
    pub transcript: &'a Transcript,
    /// How many times they occur.
    pub matches: usize,
    /// Where they first occur in a message, with some text around.
    pub snippet: String,
}

/// Characters of context on each side of a match.
const CONTEXT: usize = 60;

/// The sessions `filter` admits, most recent first, at most `limit`.
pub fn list<'a>(all: &'a [Transcript], filter: &Filter, limit: usize) -> Vec<&'a Transcript> {
    let mut chosen: Vec<&Transcript> = all.iter().filter(|t| filter.admits(t)).collect();
    chosen.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
    chosen.truncate(limit);
    chosen
}

/// The sessions `filter` admits whose messages or title contain `query`
/// (any case), most recent first, at most `limit`.
pub fn search<'a>(all: &'a [Transcript], query: &str, filter: &Filter, limit: usize) -> Vec<Hit<'a>> {
    let needle = query.to_lowercase();
    list(all, filter, usize::MAX)
        .into_iter()
        .filter_map(|t| {
            let texts = std::iter::once(t.title.as_str()).chain(t.messages.iter().map(|m| m.text.as_str()));
            let matches: usize = texts.clone().map(|text| text.to_lowercase().matches(&needle).count()).sum();
            let snippet = t.messages.iter().find_map(|m| snippet(&m.text, &needle)).unwrap_or_else(|| t.title.clone());
            (matches > 0).then_some(Hit { transcript: t, matches, snippet })
        })
        .take(limit)
        .collect()
}

/// `text` around the first place it contains `needle` (lowercase).
fn snippet(text: &str, needle: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let at = lower.find(needle)?;
    // Lowercasing may change lengths outside ASCII: then show the lowercase.
    let source = if lower.len() == text.len() { text } else { lower.as_str() };
    let start = source.floor_char_boundary(at.saturating_sub(CONTEXT * 2));
    let end = source.ceil_char_boundary((at + needle.len() + CONTEXT * 2).min(source.len()));
    let before: String = source[start..at].chars().rev().take(CONTEXT).collect::<Vec<_>>().into_iter().rev().collect();
    let after: String = source[at..end].chars().take(needle.chars().count() + CONTEXT).collect();
    let lead = if before.chars().count() == CONTEXT { "…" } else { "" };
    Some(format!("{lead}{}", one_line(&format!("{before}{after}"), CONTEXT * 2 + needle.chars().count())))
}

/// The session whose id is `id`, or starts with it when only one does.
pub fn find<'a>(all: &'a [Transcript], id: &str) -> Result<&'a Transcript, String> {
    if let Some(exact) = all.iter().find(|t| t.id == id) {
        return Ok(exact);
    }
    let starting: Vec<&Transcript> = all.iter().filter(|t| !id.is_empty() && t.id.starts_with(id)).collect();
    match starting.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("no past session `{id}` (`sinc history list` shows them)")),
        many => Err(format!(
            "`{id}` starts {} session ids: {}",
            many.len(),
            many.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Message;

    fn t(agent: Agent, id: &str, project: &str, updated: u64, texts: &[&str]) -> Transcript {
        Transcript {
            agent,
            id: id.into(),
            project: project.into(),
            title: format!("title of {id}"),
            started: updated,
            updated,
            messages: texts.iter().map(|s| Message { role: "user".into(), time: updated, text: (*s).into() }).collect(),
        }
    }

    fn all() -> Vec<Transcript> {
        vec![
            t(Agent::Claude, "aaa-1", "/home/me/shop", 10, &["The Migration fails", "migration again"]),
            t(Agent::Opencode, "ses_b", "/home/me/blog", 30, &["rss feed; the MIGRATION of urls"]),
            t(Agent::Claude, "aab-2", "/home/me/blog", 20, &["nothing here"]),
        ]
    }

    #[test]
    fn search_finds_words_in_any_case_most_recent_first() {
        let all = all();
        let hits = search(&all, "migration", &Filter::default(), 10);
        let found: Vec<(&str, usize)> = hits.iter().map(|h| (h.transcript.id.as_str(), h.matches)).collect();
        assert_eq!(found, [("ses_b", 1), ("aaa-1", 2)]);
        assert_eq!(hits[1].snippet, "The Migration fails");
        let claude = Filter { agent: Some(Agent::Claude), project: None };
        assert_eq!(search(&all, "migration", &claude, 10).len(), 1);
        let blog = Filter { agent: None, project: Some("BLOG".into()) };
        assert_eq!(search(&all, "migration", &blog, 10)[0].transcript.id, "ses_b");
        assert_eq!(search(&all, "migration", &Filter::default(), 1).len(), 1);
        assert!(search(&all, "absent", &Filter::default(), 10).is_empty());
    }

    #[test]
    fn snippets_keep_some_context_and_cut_long_text() {
        let long = format!("{} needle {}", "x".repeat(300), "y".repeat(300));
        let s = snippet(&long, "needle").unwrap();
        assert!(s.starts_with('…') && s.contains(" needle ") && s.chars().count() < 200, "{s}");
        assert_eq!(snippet("Ünïcode NEEDLE here", "needle").as_deref(), Some("Ünïcode NEEDLE here"));
    }

    #[test]
    fn ids_are_found_whole_or_by_a_unique_start() {
        let all = all();
        assert_eq!(find(&all, "ses_b").unwrap().id, "ses_b");
        assert_eq!(find(&all, "aab").unwrap().id, "aab-2");
        assert!(find(&all, "aa").unwrap_err().contains("starts 2 session ids"));
        assert!(find(&all, "zzz").unwrap_err().contains("no past session"));
        assert_eq!(
            list(&all, &Filter::default(), 2).iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["ses_b", "aab-2"]
        );
    }
}
