//! `sinc handoff …`'s command line.

/// What `sinc handoff` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffCommand {
    /// The project's hand-offs, newest first.
    List {
        /// As JSON.
        json: bool,
    },
    /// One hand-off (the newest without an id; an id prefix is enough).
    Show {
        /// Which.
        id: Option<String>,
    },
    /// Keep a note for the next hand-off of this folder's session (none:
    /// show it; `--clear`: forget it).
    Note {
        /// The note's words.
        text: Option<String>,
        /// Forget it.
        clear: bool,
    },
}

/// How to use it.
pub const USAGE: &str = "usage: sinc handoff list [--json]
       sinc handoff show [ID]
       sinc handoff note [TEXT… | --clear]
";

/// Parse the words after `sinc handoff`; an error is empty for `--help`.
pub fn parse(args: &[String]) -> Result<HandoffCommand, String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    if words.iter().any(|w| *w == "--help" || *w == "-h") {
        return Err(String::new());
    }
    match words.as_slice() {
        [] | ["list"] => Ok(HandoffCommand::List { json: false }),
        ["list", "--json"] | ["--json"] => Ok(HandoffCommand::List { json: true }),
        ["show"] => Ok(HandoffCommand::Show { id: None }),
        ["show", id] if !id.starts_with('-') => Ok(HandoffCommand::Show { id: Some((*id).to_owned()) }),
        ["note"] => Ok(HandoffCommand::Note { text: None, clear: false }),
        ["note", "--clear"] => Ok(HandoffCommand::Note { text: None, clear: true }),
        ["note", rest @ ..] => {
            let text = rest.join(" ");
            if text.trim().is_empty() {
                return Err("the note is empty".into());
            }
            Ok(HandoffCommand::Note { text: Some(text), clear: false })
        }
        [other, ..] => Err(format!("unknown use `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> Result<HandoffCommand, String> {
        parse(&words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn every_form() {
        assert_eq!(p(&[]), Ok(HandoffCommand::List { json: false }));
        assert_eq!(p(&["list", "--json"]), Ok(HandoffCommand::List { json: true }));
        assert_eq!(p(&["show"]), Ok(HandoffCommand::Show { id: None }));
        assert_eq!(p(&["show", "sinc-app"]), Ok(HandoffCommand::Show { id: Some("sinc-app".into()) }));
        assert_eq!(
            p(&["note", "check", "the", "login", "test"]),
            Ok(HandoffCommand::Note { text: Some("check the login test".into()), clear: false })
        );
        assert_eq!(p(&["note", "--clear"]), Ok(HandoffCommand::Note { text: None, clear: true }));
        assert_eq!(p(&["--help"]), Err(String::new()));
        assert!(p(&["show", "a", "b"]).is_err() && p(&["frobnicate"]).is_err() && p(&["note", " "]).is_err());
    }
}
