//! What an agent printed since the last look at its screen: the lines of a
//! new snapshot (its scrollback and screen, colours removed) that were not
//! in the last one — found by where the last one's lines moved to, so
//! redrawn lines are not posted twice.

use std::collections::{HashSet, VecDeque};

/// How many of the last snapshot's lines must match to place it in the
/// new one.
const ANCHOR: usize = 3;
/// How many posted lines are remembered to skip redraws.
const REMEMBERED: usize = 400;
/// How many looks an expected echo is waited for.
const ECHO_LOOKS: u32 = 3;
/// The longest prompt before an echoed input.
const MAX_PROMPT: usize = 40;

/// One session's screen as last seen.
#[derive(Debug, Default, Clone)]
pub struct Screen {
    lines: Vec<String>,
    /// Lines posted lately, for screens redrawn in place.
    posted: VecDeque<String>,
    /// What was typed into the session (and for how many more looks),
    /// whose echo is not news.
    typed: VecDeque<(String, u32)>,
    seen: bool,
}

impl Screen {
    /// The lines of snapshot `text` that are new since the last one (none
    /// the first time: that is where following starts).
    pub fn fresh(&mut self, text: &str) -> Vec<String> {
        let current = lines_of(text);
        let (mut fresh, redrawn) = if self.seen { fresh_lines(&self.lines, &current) } else { (Vec::new(), false) };
        self.seen = true;
        self.lines = current;
        if redrawn {
            // Drawn again in place: what was posted already is not news.
            let posted: HashSet<&String> = self.posted.iter().collect();
            fresh.retain(|l| l.trim().is_empty() || !posted.contains(l));
        }
        fresh.retain(|line| !self.is_echo(line));
        for (_, looks) in &mut self.typed {
            *looks = looks.saturating_sub(1);
        }
        self.typed.retain(|(_, looks)| *looks > 0);
        for line in &fresh {
            if !line.trim().is_empty() {
                self.posted.push_back(line.clone());
            }
        }
        while self.posted.len() > REMEMBERED {
            self.posted.pop_front();
        }
        trim_blank(fresh)
    }

    /// Whether `line` echoes something typed (alone, or after a short
    /// prompt); that input is then no longer expected.
    fn is_echo(&mut self, line: &str) -> bool {
        let line = line.trim_end();
        let found = self.typed.iter().position(|(t, _)| {
            line.strip_suffix(t.as_str()).is_some_and(|prompt| prompt.chars().count() <= MAX_PROMPT)
        });
        found.map(|i| self.typed.remove(i)).is_some()
    }

    /// `input` is being typed into the session: the line that echoes it
    /// (after a prompt, perhaps) within the next few looks is not posted.
    pub fn expect(&mut self, input: &str) {
        let input = input.trim();
        if !input.is_empty() {
            self.typed.push_back((input.to_owned(), ECHO_LOOKS));
            if self.typed.len() > 16 {
                self.typed.pop_front();
            }
        }
    }
}

/// The lines of `text`, their trailing spaces and the blank lines at the
/// end removed.
fn lines_of(text: &str) -> Vec<String> {
    trim_blank(text.lines().map(|l| l.trim_end().to_owned()).collect())
}

fn trim_blank(mut lines: Vec<String>) -> Vec<String> {
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let first = lines.iter().position(|l| !l.is_empty()).unwrap_or(lines.len());
    lines.drain(..first);
    lines
}

/// The lines of `current` after those of `previous`, and whether the
/// screen was drawn again rather than scrolled. Content only scrolls up, so
/// the last lines of `previous` (but its very last, which may have been
/// still in progress) are looked for at their old place or above; a screen
/// that was cleared or redrawn matches nowhere, and then every line not in
/// `previous` is new.
fn fresh_lines(previous: &[String], current: &[String]) -> (Vec<String>, bool) {
    let Some((last, before)) = previous.split_last() else { return (current.to_vec(), false) };
    let k = before.len().min(ANCHOR);
    if k > 0 && current.len() >= k {
        let anchor = &before[before.len() - k..];
        // Where the anchor ended in `previous`, and the most it can be now.
        let highest = (before.len() - 1).min(current.len() - 1);
        for end in (k - 1..=highest).rev() {
            if current[end + 1 - k..=end] == *anchor {
                let mut rest = current[end + 1..].to_vec();
                if rest.first() == Some(last) {
                    rest.remove(0);
                }
                // The last line drawn again below the new ones: a prompt
                // or a status line, not news.
                if rest.last() == Some(last) {
                    rest.pop();
                }
                return (rest, false);
            }
        }
    } else if k == 0 && current.first() == Some(last) {
        return (current[1..].to_vec(), false);
    }
    let old: HashSet<&String> = previous.iter().collect();
    (current.iter().filter(|l| !old.contains(l)).cloned().collect(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(lines: &[&str]) -> String {
        lines.join("\n") + "\n\n\n"
    }

    #[test]
    fn the_first_look_posts_nothing_then_new_lines_are_posted_once() {
        let mut s = Screen::default();
        assert!(s.fresh(&screen(&["$ agent", "hello"])).is_empty());
        assert_eq!(s.fresh(&screen(&["$ agent", "hello", "step 1", "step 2"])), ["step 1", "step 2"]);
        assert!(s.fresh(&screen(&["$ agent", "hello", "step 1", "step 2"])).is_empty(), "nothing new");
        assert_eq!(s.fresh(&screen(&["$ agent", "hello", "step 1", "step 2", "step 3"])), ["step 3"]);
    }

    #[test]
    fn a_line_in_progress_is_posted_again_once_it_is_finished() {
        let mut s = Screen::default();
        s.fresh(&screen(&["a", "b", "c", "compiling"]));
        assert_eq!(s.fresh(&screen(&["a", "b", "c", "compiling... done", "next"])), ["compiling... done", "next"]);
    }

    #[test]
    fn scrolled_off_the_top_new_lines_are_still_found() {
        let mut s = Screen::default();
        let all: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
        let view = |from: usize, to: usize| all[from..to].join("\n");
        s.fresh(&view(0, 10));
        // Ten lines of room: five new lines push five old ones out.
        assert_eq!(s.fresh(&view(5, 15)), all[10..15].to_vec());
        assert_eq!(s.fresh(&view(14, 24)), all[15..24].to_vec());
    }

    #[test]
    fn repeated_lines_are_new_when_they_come_again() {
        let mut s = Screen::default();
        s.fresh(&screen(&["ok", "ok", "ok", "$"]));
        assert_eq!(s.fresh(&screen(&["ok", "ok", "ok", "$ run", "ok2"])), ["$ run", "ok2"]);
    }

    #[test]
    fn what_was_typed_is_not_echoed_back() {
        let mut s = Screen::default();
        s.fresh(&screen(&["agent ready", "> "]));
        s.expect("fix the tests");
        assert_eq!(s.fresh(&screen(&["agent ready", "> fix the tests", "on it"])), ["on it"]);
        assert_eq!(
            s.fresh(&screen(&["agent ready", "> fix the tests", "on it", "fix the tests"])),
            ["fix the tests"],
            "once"
        );
    }

    #[test]
    fn lines_like_earlier_ones_are_still_posted_when_they_scroll_in() {
        let mut s = Screen::default();
        s.fresh(&screen(&["run 1", "PASS a", "}", "$"]));
        assert_eq!(s.fresh(&screen(&["run 1", "PASS a", "}", "$ again", "PASS a", "}"])), ["$ again", "PASS a", "}"]);
    }

    #[test]
    fn odd_screens_never_panic() {
        let mut s = Screen::default();
        s.fresh(&screen(&["a", "b"]));
        assert!(s.fresh("").is_empty());
        assert_eq!(s.fresh("x"), ["x"]);
        s.fresh(&screen(&["a", "b", "c", "d", "e"]));
        assert_eq!(s.fresh(&screen(&["d"])), Vec::<String>::new());
    }

    #[test]
    fn an_echo_is_waited_for_a_few_looks_only() {
        let mut s = Screen::default();
        s.fresh(&screen(&["> "]));
        s.expect("y");
        for _ in 0..ECHO_LOOKS {
            s.fresh(&screen(&["> "]));
        }
        assert_eq!(s.fresh(&screen(&["> ", "Ready? y"])), ["Ready? y"], "too late to be the echo");
        s.expect("tests");
        let long = format!("{} tests", "x".repeat(60));
        assert_eq!(s.fresh(&screen(&["> ", "Ready? y", &long])), [long.as_str()], "not after a prompt that long");
    }

    #[test]
    fn a_redrawn_screen_posts_only_lines_never_posted() {
        let mut s = Screen::default();
        s.fresh(&screen(&["header", "working", "footer"]));
        assert_eq!(s.fresh(&screen(&["header", "working", "answer 42", "footer"])), ["answer 42"]);
        // Cleared and drawn again with the same answer: nothing new.
        assert!(s.fresh(&screen(&["answer 42", "footer"])).is_empty());
    }
}
