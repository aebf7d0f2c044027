//! The command line of `sinc task`.

/// What `sinc task …` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskCommand {
    /// `sinc task NAME [--from REF] [--branch BRANCH] [--detach]`.
    Open {
        /// The task.
        name: String,
        /// Where a new branch starts (default: the current branch).
        from: Option<String>,
        /// The branch (default: the prefix and the name).
        branch: Option<String>,
        /// Start the session without attaching.
        detach: bool,
    },
    /// `sinc task list [--json] [--all]`.
    List {
        /// As JSON.
        json: bool,
        /// Every repository's tasks, not only this one's.
        all: bool,
    },
    /// `sinc task end NAME`.
    End {
        /// The task.
        name: String,
    },
}

/// How to use it.
pub const USAGE: &str = "usage: sinc task NAME [--from REF] [--branch BRANCH] [--detach]
       sinc task list [--json] [--all]
       sinc task end NAME
";

/// Read `args` (the words after `sinc task`).
pub fn parse(args: &[String]) -> Result<TaskCommand, String> {
    let mut words = args.iter().map(String::as_str);
    let first = words.next().ok_or_else(|| "name the task".to_owned())?;
    let rest: Vec<&str> = words.collect();
    match first {
        "list" => {
            let (mut json, mut all) = (false, false);
            for w in rest {
                match w {
                    "--json" => json = true,
                    "--all" => all = true,
                    other => return Err(format!("`sinc task list` takes --json and --all, not `{other}`")),
                }
            }
            Ok(TaskCommand::List { json, all })
        }
        "end" => match rest.as_slice() {
            [name] if !name.starts_with('-') => Ok(TaskCommand::End { name: (*name).to_owned() }),
            _ => Err("`sinc task end` takes the task's name".into()),
        },
        "-h" | "--help" | "help" => Err(String::new()),
        name if name.starts_with('-') => Err(format!("name the task before the options (`{name}`)")),
        name => {
            let (mut from, mut branch, mut detach) = (None, None, false);
            let mut rest = rest.into_iter();
            while let Some(w) = rest.next() {
                let mut value =
                    |flag: &str| rest.next().map(str::to_owned).ok_or_else(|| format!("{flag} needs a value"));
                match w {
                    "--from" => from = Some(value("--from")?),
                    "--branch" => branch = Some(value("--branch")?),
                    "--detach" | "-d" => detach = true,
                    other => return Err(format!("unknown option `{other}`")),
                }
            }
            Ok(TaskCommand::Open { name: name.to_owned(), from, branch, detach })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect()
    }

    #[test]
    fn reads_every_form() {
        assert_eq!(
            parse(&words("fix --from v1 --branch feat/x -d")),
            Ok(TaskCommand::Open {
                name: "fix".into(),
                from: Some("v1".into()),
                branch: Some("feat/x".into()),
                detach: true
            })
        );
        assert_eq!(parse(&words("list --json")), Ok(TaskCommand::List { json: true, all: false }));
        assert_eq!(parse(&words("end fix")), Ok(TaskCommand::End { name: "fix".into() }));
        for bad in ["", "--from x", "fix --from", "fix --what", "end", "end a b", "list -x"] {
            assert!(parse(&words(bad)).is_err(), "{bad}");
        }
    }
}
