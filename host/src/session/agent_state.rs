//! What an agent is doing, read from its screen: asking the user something
//! (waiting), busy (working), or at its prompt (idle). Pure. One detection
//! for every consumer (plugins' `sessions` interface, and `sinc sessions`),
//! with patterns per agent — what OpenCode and Claude Code show, and
//! generic confirmation prompts for any other program — matched against
//! the last lines of the screen, where a question or a spinner is. Users add
//! their own per agent program (`[states.PROGRAM]` in config.toml).

use regex::RegexSet;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// An agent's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// Producing output, thinking.
    Working,
    /// Asking the user something.
    Waiting,
    /// At its prompt.
    Idle,
    /// Its program ended.
    Exited,
}

/// How many lines from the bottom of the screen are read.
const TAIL: usize = 12;

/// Questions any program may ask.
const WAITING: &[&str] = &[
    r"(?i)\((y/n|yes/no)\)",
    r"(?i)\[(y/n|Y/n|y/N)\]",
    r"(?i)\b(continue|proceed|overwrite|allow|approve)\?\s*$",
    r"(?i)do you want to\b",
    r"(?i)press enter to\b",
    r"❯\s*1\.\s*(Yes|Allow)",
    r"(?i)\b(permission required|waiting for (your )?(input|approval|confirmation))\b",
];

/// Signs of work in progress, for OpenCode, Claude Code and spinners in
/// general.
const WORKING: &[&str] = &[
    r"(?i)esc to (interrupt|cancel)",
    r"(?i)\b(thinking|working|generating|running)(\.{3}|…)",
    r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]",
    r"[✻✽✶✳✢·] \w+…",
];

/// Patterns of a question and of work in progress.
#[derive(Debug, Clone)]
pub struct Patterns {
    waiting: RegexSet,
    working: RegexSet,
}

impl Patterns {
    /// From regular expressions (an invalid one is an error).
    pub fn new<S: AsRef<str>>(waiting: &[S], working: &[S]) -> Result<Patterns, regex::Error> {
        Ok(Patterns { waiting: RegexSet::new(waiting)?, working: RegexSet::new(working)? })
    }

    /// The built-in ones, for every agent.
    pub fn builtin() -> &'static Patterns {
        static BUILTIN: OnceLock<Patterns> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Patterns::new(WAITING, WORKING)
                .unwrap_or(Patterns { waiting: RegexSet::empty(), working: RegexSet::empty() })
        })
    }
}

/// The state of an agent whose screen (plain text, no escapes) is
/// `screen`, by the built-in patterns and `extra` ones; `dead` when its
/// pane's program ended.
pub fn detect(screen: &str, dead: bool, extra: &[&Patterns]) -> AgentState {
    if dead {
        return AgentState::Exited;
    }
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(TAIL)..];
    let all: Vec<&Patterns> = std::iter::once(Patterns::builtin()).chain(extra.iter().copied()).collect();
    // A question at the very bottom wins over a spinner above it.
    let last = || tail.iter().rev().take(4);
    if all.iter().any(|p| last().any(|l| p.waiting.is_match(l))) {
        return AgentState::Waiting;
    }
    if all.iter().any(|p| tail.iter().any(|l| p.working.is_match(l))) {
        return AgentState::Working;
    }
    AgentState::Idle
}

/// The last non-empty line of `screen`.
pub fn last_line(screen: &str) -> String {
    screen.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim_end().to_owned()
}

/// The file name of the program an agent command line runs (`opencode`,
/// `claude`, a script's name): what `[states.PROGRAM]` is keyed by.
pub fn program_name(agent: &str) -> String {
    let program = crate::config::Agent::new(agent).ok().and_then(|a| a.program()).unwrap_or_default();
    program.rsplit('/').next().unwrap_or("").to_owned()
}

/// The user's extra patterns, by agent program name (`*`: every agent).
#[derive(Debug, Clone, Default)]
pub struct PatternBook {
    by_program: BTreeMap<String, Arc<Patterns>>,
}

impl PatternBook {
    /// Compile `(program, waiting, working)` triples; one that does not
    /// compile is left out and named in the second value.
    pub fn compile<'a>(
        states: impl IntoIterator<Item = (&'a str, &'a [String], &'a [String])>,
    ) -> (PatternBook, Vec<String>) {
        let mut book = PatternBook::default();
        let mut bad = Vec::new();
        for (program, waiting, working) in states {
            match Patterns::new(waiting, working) {
                Ok(p) => {
                    book.by_program.insert(program.to_owned(), Arc::new(p));
                }
                Err(e) => bad.push(format!("state patterns for {program}: {e}")),
            }
        }
        (book, bad)
    }

    /// The state of an agent running `agent` (its command line) with
    /// `screen` on its screen.
    pub fn detect(&self, agent: &str, screen: &str, dead: bool) -> AgentState {
        let name = program_name(agent);
        let extra: Vec<&Patterns> =
            [name.as_str(), "*"].iter().filter_map(|k| self.by_program.get(*k).map(Arc::as_ref)).collect();
        detect(screen, dead, &extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_spinners_and_prompts() {
        assert_eq!(
            detect("Edit main.rs?\nDo you want to make this edit?\n❯ 1. Yes\n  2. No\n", false, &[]),
            AgentState::Waiting
        );
        assert_eq!(detect("Overwrite file.txt? (y/n) ", false, &[]), AgentState::Waiting);
        assert_eq!(detect("building…\n⠙ Generating… (esc to interrupt)\n", false, &[]), AgentState::Working);
        assert_eq!(detect("✻ Pondering… (12s · esc to interrupt)\n> \n", false, &[]), AgentState::Working);
        assert_eq!(detect("Done. 3 files changed.\n> \n", false, &[]), AgentState::Idle);
        assert_eq!(detect("", false, &[]), AgentState::Idle);
        assert_eq!(detect("anything (y/n)", true, &[]), AgentState::Exited);
    }

    #[test]
    fn a_question_scrolled_far_up_no_longer_counts() {
        let old = format!("Continue? (y/n) y\n{}> \n", "output line\n".repeat(20));
        assert_eq!(detect(&old, false, &[]), AgentState::Idle);
    }

    #[test]
    fn a_users_patterns_add_to_the_built_in_ones() {
        let mine = Patterns::new(&["^Ready for review"], &["^compiling "]).unwrap();
        assert_eq!(detect("Ready for review?\n", false, &[]), AgentState::Idle);
        assert_eq!(detect("Ready for review?\n", false, &[&mine]), AgentState::Waiting);
        assert_eq!(detect("compiling foo\n", false, &[&mine]), AgentState::Working);
        assert_eq!(detect("Overwrite? (y/n)", false, &[&mine]), AgentState::Waiting);
        assert!(Patterns::new(&["("], &[] as &[&str]).is_err());
    }

    #[test]
    fn the_last_line_skips_blank_ones() {
        assert_eq!(last_line("one\ntwo  \n\n   \n"), "two");
        assert_eq!(last_line(""), "");
    }
}
